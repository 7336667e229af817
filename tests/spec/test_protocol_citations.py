"""Comments cite only documents in the repository, and every ``docs/protocol.md §N`` exists.

A maintainer must be able to follow each citation: ``§N`` has to be a numbered heading
of docs/protocol.md, and no file may cite a document that is not in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = REPO_ROOT / "docs" / "protocol.md"
SOURCES = ("evervault", "scripts", "benchmarks", "tests", "spec")
TOP_LEVEL = ("README.md", "Makefile")

CITATION = re.compile(r"docs/protocol\.md\s+((?:§\d+(?:\.\d+)*(?:-\d+(?:\.\d+)*)?(?:,\s*|/)?)+)")
SECTION = re.compile(r"§?(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)
# Citations of documents that are not in the repository.
FOREIGN = re.compile(r"wire-format (?:\d|section|reference)|\bdefects? \d+[ab]?\b|\(issue \d+\)|§9[ ]item")


def text_files() -> list[Path]:
    files = [REPO_ROOT / name for name in TOP_LEVEL]
    for folder in SOURCES:
        files += [
            path
            for path in (REPO_ROOT / folder).rglob("*")
            if path.suffix in {".py", ".md", ".json"} and path.is_file() and "__pycache__" not in path.parts
        ]
    return sorted(files)


def relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def headings() -> set[str]:
    return set(HEADING.findall(PROTOCOL.read_text(encoding="utf-8")))


def test_protocol_doc_has_numbered_sections() -> None:
    found = headings()
    assert {str(section) for section in range(1, 10)} <= found
    assert {"1.6", "2.5", "3.2", "6.1", "7.3.8", "7.6", "8.4", "9.1"} <= found


@pytest.mark.parametrize("path", text_files(), ids=relative)
def test_citations_resolve_and_stay_in_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not FOREIGN.findall(text), f"{relative(path)} cites a document outside the repository"
    sections = headings()
    for match in CITATION.finditer(text):
        for cited in SECTION.findall(match.group(1)):
            assert cited in sections, f"{relative(path)}: docs/protocol.md has no §{cited}"


def test_protocol_doc_is_self_contained() -> None:
    text = PROTOCOL.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert "wire-format.md" not in text
