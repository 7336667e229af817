"""Identity and noise: the version comes from the package metadata, the build and test runs
print no deprecation warnings, and ``make`` shows what it does during the first install."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import evervault

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (REPO_ROOT / "pyproject.toml").read_text("utf-8")  # tomllib is 3.11+: plain text checks


def test_version_is_the_installed_distribution_version() -> None:
    version = metadata.version("evervault-sdk")
    assert evervault.__version__ == version
    assert f'\nversion = "{version}"\n' in PYPROJECT


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    # A table (`{ text = "MIT" }`) makes setuptools >= 77 warn on every build.
    assert '\nlicense = "MIT"' in PYPROJECT
    assert 'requires = ["setuptools>=77"' in PYPROJECT
    assert metadata.metadata("evervault-sdk")["License-Expression"] == "MIT"


def test_a_pytest_run_prints_no_loop_scope_deprecation_warning(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("async def test_nothing():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-c", str(REPO_ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "test_nothing.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "asyncio_default_fixture_loop_scope" not in result.stdout + result.stderr
    assert "PytestDeprecationWarning" not in result.stdout + result.stderr


def test_make_shows_each_install_step_and_uses_a_type_checker_visible_install() -> None:
    result = subprocess.run(
        ["make", "-n", "-B", "-f", str(REPO_ROOT / "Makefile"), ".venv/.installed"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    install = [line for line in result.stdout.splitlines() if "pip" in line and "install" in line]
    assert install and not any("--quiet" in line or " -q" in line for line in install)
    assert any("editable_mode=compat" in line for line in install)
    assert sum(line.startswith("echo") for line in result.stdout.splitlines()) >= 3
