"""The domain is pure: no I/O, no concurrency, no clocks, no randomness, no ports of its own.

Every module under ``evervault/domain/`` is parsed (not imported) and every import,
lazy ones inside functions included, is checked against the modules that reach the
outside world. The clock, IVs, ephemeral keys and file buffers come in as plain
callables; files and sockets are driven by ``evervault.services.file_streams``; locks
live in the adapters. The domain also defines no ``Protocol``: ports are in
``evervault.ports``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import evervault.domain

DOMAIN_ROOT = Path(evervault.domain.__file__).parent

# Top-level modules (and their submodules) the domain must not import, by concern.
FORBIDDEN_MODULES = frozenset(
    {
        # files, streams and the operating system
        "io", "os", "sys", "pathlib", "shutil", "tempfile", "glob", "fcntl", "mmap", "logging",
        "importlib",
        # concurrency and blocking
        "threading", "_thread", "multiprocessing", "concurrent", "asyncio", "subprocess",
        "signal", "select", "selectors", "queue", "sched",
        # clocks and randomness (they come in as callables)
        "time", "random", "secrets", "uuid",
        # the network
        "socket", "socketserver", "ssl", "http", "urllib", "urllib3", "requests", "aiohttp",
        "httpx", "h11",
    }
)  # fmt: skip
# Pure string functions inside an otherwise forbidden package.
ALLOWED_SUBMODULES = frozenset({"urllib.parse"})
# Calls that read a clock, draw randomness or do I/O (a file object's methods: the
# blocking loops over them live in the services), whatever the object they are made on.
FORBIDDEN_CALLS = frozenset(
    {
        "open", "input", "print", "breakpoint", "urandom", "now", "utcnow", "today",
        "generate_private_key", "read", "readinto", "write", "seek", "tell", "flush",
        "recv", "recv_into", "send", "sendall",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Violation:
    line: int
    what: str


def violations(source: str) -> list[Violation]:
    """Everything in ``source`` that would make the domain impure."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        for module in imported_modules(node):
            if module.split(".")[0] in FORBIDDEN_MODULES and not is_allowed(module):
                found.append(Violation(line, f"imports {module}"))
        if isinstance(node, ast.Call) and called_name(node.func) in FORBIDDEN_CALLS:
            found.append(Violation(line, f"calls {called_name(node.func)}()"))
        if isinstance(node, ast.ClassDef) and any(called_name(base) == "Protocol" for base in node.bases):
            found.append(Violation(line, f"defines the Protocol {node.name} (ports: evervault.ports)"))
    return found


def imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
        # "from os import path" imports os.path; "from urllib import request" urllib.request.
        return [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def is_allowed(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED_SUBMODULES)


def called_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def domain_modules() -> list[Path]:
    return sorted(DOMAIN_ROOT.rglob("*.py"))


def test_the_domain_has_modules_to_check() -> None:
    names = {path.name for path in domain_modules()}
    assert {"encryption.py", "streaming.py", "session.py", "decryption.py"} <= names


@pytest.mark.parametrize("path", domain_modules(), ids=lambda path: str(path.relative_to(DOMAIN_ROOT)))
def test_a_domain_module_does_no_io_and_no_concurrency(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import io",
        "import threading",
        "from threading import Lock",
        "import os.path",
        "from os import urandom",
        "import concurrent.futures",
        "from urllib import request",
        "from urllib.request import urlopen",
        "import aiohttp.web",
        "def later():\n    import socket",
        "value = open('file')",
        "while count := source.readinto(buffer):\n    destination.write(buffer[:count])",
        "source.seek(start)",
        "key = ec.generate_private_key(curve)",
        "stamp = datetime.now(timezone.utc)",
        "class Clock(Protocol):\n    pass",
        "class Clock(typing.Protocol):\n    pass",
    ],
)
def test_the_check_catches_what_it_must(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "from urllib.parse import urlsplit",
        "import itertools",
        "from datetime import datetime, timezone",
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM",
        "from evervault.domain.iostuff import thing",
        "import iso8601",
    ],
)
def test_the_check_lets_pure_modules_through(source: str) -> None:
    assert violations(source) == []
