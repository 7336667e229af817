"""Comments and docs cite only documents in the repository, and every cited section exists.

A maintainer must be able to follow each citation: ``docs/<name>.md §N`` and
``spec/README.md §N`` need a numbered heading ``N`` in that file; a bare ``§N`` is allowed
only inside docs/protocol.md (its own sections, which must exist too); and no file may cite
a document that is not in the repository (a wire-format reference, a seed README, issues,
numbered defects or items, anything under ``../shared``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = REPO_ROOT / "docs" / "protocol.md"
SOURCES = ("evervault", "scripts", "benchmarks", "hardening", "fuzz", "conformance", "spec", "docs", "tests")
TOP_LEVEL = ("README.md", "Makefile")
SUFFIXES = {".py", ".md", ".json", ".js", ".java", ".sh", ".toml", ".txt", ".yml", ".yaml"}
SKIPPED_PARTS = {"__pycache__", "node_modules"}
# This file spells the forbidden patterns out.
SELF = Path(__file__).resolve()

SECTIONS = r"§\d+(?:\.\d+)*(?:-\d+(?:\.\d+)*)?"
# ``docs/protocol.md §1.6, §2.6``, ``§1.6 / §6.1``, ``§1.6 and §6.1``, ``§2.3-2.6`` (line breaks allowed).
CITATION = re.compile(rf"((?:docs/[\w.-]+|spec/README)\.md)\s+((?:{SECTIONS}(?:,\s*|\s*/\s*|\s+and\s+)?)+)")
SECTION = re.compile(r"§?(\d+(?:\.\d+)*)")
BARE_SECTION = re.compile(SECTIONS)
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)
# Citations of documents that are not in the repository.
FOREIGN = re.compile(
    r"wire-format(?:\.md| reference| section| §| \d)"
    r"|\.\./shared|/work/shared|README-seed|seed README"
    r"|\bissues? #?\d+|\bdefects? \d+[a-z]?\b|\bitem \d+|§\s*\d+(?:\.\d+)* item",
    re.IGNORECASE,
)


def text_files() -> list[Path]:
    files = [REPO_ROOT / name for name in TOP_LEVEL]
    for folder in SOURCES:
        files += [
            path
            for path in (REPO_ROOT / folder).rglob("*")
            if path.suffix in SUFFIXES and path.is_file() and not SKIPPED_PARTS & set(path.parts)
        ]
    return sorted(files)


def relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@cache
def headings(document: str) -> frozenset[str]:
    path = REPO_ROOT / document
    return frozenset(HEADING.findall(path.read_text(encoding="utf-8"))) if path.is_file() else frozenset()


def test_protocol_doc_has_numbered_sections() -> None:
    found = headings("docs/protocol.md")
    assert {str(section) for section in range(1, 10)} <= found
    assert {"1.6", "2.5", "3.2", "6.1", "7.3.8", "7.6", "8.4", "9.1"} <= found


@pytest.mark.parametrize("path", [path for path in text_files() if path != SELF], ids=relative)
def test_citations_resolve_and_stay_in_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    foreign = sorted({match.group(0) for match in FOREIGN.finditer(text)})
    assert not foreign, f"{relative(path)} cites documents outside the repository: {foreign}"
    cited_spans = []
    for match in CITATION.finditer(text):
        document = match.group(1)
        cited_spans.append(match.span(2))
        for cited in SECTION.findall(match.group(2)):
            assert cited in headings(document), f"{relative(path)}: {document} has no §{cited}"
    bare = [
        match.group(0)
        for match in BARE_SECTION.finditer(text)
        if not any(start <= match.start() < end for start, end in cited_spans)
    ]
    if path == PROTOCOL:  # its own sections
        referred = {cited for section in bare for cited in SECTION.findall(section)}
        missing = referred - headings("docs/protocol.md")
        assert not missing, f"docs/protocol.md refers to missing sections {sorted(missing)}"
    else:
        assert not bare, f"{relative(path)}: {bare} without the document they are in (docs/protocol.md §N)"


def test_the_patterns_catch_foreign_citations() -> None:
    for foreign in (
        "see wire-format §3",
        "Wire-format reference sections 2.3",
        "per the seed README",
        "fixed in issue 7",
        "defect 11a",
        "§9 item 13",
        "../shared/reference",
    ):
        assert FOREIGN.search(foreign), foreign
    for fine in ("the wire format", "a known defect of published SDKs", "the CA may issue a leaf"):
        assert not FOREIGN.search(fine), fine


def test_protocol_doc_is_self_contained() -> None:
    text = PROTOCOL.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert "wire-format.md" not in text
