"""``evervault-local`` without the ``local`` extra: one line naming the extra, exit 1.

Each case runs in a fresh interpreter whose import system refuses aiohttp and/or h11
exactly as if they were not installed (``ModuleNotFoundError`` from the finder), then
starts the command the way the console script and ``python -m`` do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

HIDE_MODULES = """
import importlib.abc, sys

class HideModules(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideModules())
"""

CONSOLE_SCRIPT = "from evervault.local.entry import main\nraise SystemExit(main())\n"
PYTHON_M = "import runpy\nrunpy.run_module('evervault.local', run_name='__main__', alter_sys=True)\n"


def run_hidden(hidden: set[str], program: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    code = f"HIDDEN = {sorted(hidden)!r}\n{HIDE_MODULES}\n{program}"
    return subprocess.run(
        [sys.executable, "-c", code, *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_script_points_at_the_entry_module() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '\nevervault-local = "evervault.local.entry:main"\n' in pyproject


def test_the_hiding_works() -> None:
    """Control: without the entry module's check, the emulator dies with a traceback."""
    result = run_hidden({"aiohttp", "h11"}, "import evervault.local.cli\n")
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'aiohttp'" in result.stderr


@pytest.mark.parametrize("program", [CONSOLE_SCRIPT, PYTHON_M], ids=["console-script", "python-m"])
@pytest.mark.parametrize("command", ["demo", "serve"])
def test_missing_extra_is_one_line_and_exit_1(program: str, command: str) -> None:
    result = run_hidden({"aiohttp", "h11"}, program, command)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "aiohttp and h11" in lines[0]
    assert "pip install 'evervault-sdk[local]'" in lines[0]
    assert "pip install -e '.[local]'" in lines[0]


def test_names_only_the_missing_module() -> None:
    result = run_hidden({"h11"}, CONSOLE_SCRIPT, "demo")
    assert result.returncode == 1
    assert result.stderr.startswith("evervault-local needs h11 (the 'local' extra)")
    assert "aiohttp" not in result.stderr


def test_with_the_extra_the_command_runs() -> None:
    result = run_hidden(set(), CONSOLE_SCRIPT, "--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert "demo" in result.stdout
