"""Type checkers see precise types: mypy checks ``assert_types.py``, and finds the installed
package from a project outside this repository (the install ``make`` creates exposes it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

pytest.importorskip("mypy", reason="mypy is part of the 'test' extra")


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One cache for both runs (the second reuses the package's analysis), outside the repo's.
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(target: Path, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    # The environment without PYTHONPATH/MYPYPATH: the package must be found as installed.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MYPYPATH"}}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "--no-error-summary",
         "--python-version", "3.10", str(target)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_encrypt_and_decrypt_have_precise_types(mypy_cache: Path) -> None:
    result = _mypy(HERE / "assert_types.py", REPO_ROOT, mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_project_outside_the_repository_type_checks_against_the_installed_package(
    tmp_path: Path, mypy_cache: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import evervault\n\n"
        "def card() -> str:\n"
        "    return evervault.encrypt('4242')\n\n"
        "def wrong() -> int:\n"
        "    return evervault.encrypt(b'pdf')\n"
    )
    result = _mypy(app, tmp_path, mypy_cache)
    # Found (no import-not-found / missing stubs) and checked: exactly the one real error.
    assert "import-not-found" not in result.stdout and "import-untyped" not in result.stdout, result.stdout
    assert result.returncode == 1
    assert 'app.py:7: error: Incompatible return value type (got "bytes", expected "int")' in result.stdout
