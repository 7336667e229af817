"""Fixtures for the ``evervault`` command: a real emulator, the installed console script, ``main()``.

``cli`` runs the console script in a subprocess with the emulator's ``EV_*`` variables;
``in_process`` calls :func:`evervault.cli.main.main` with the same environment and
captured streams. Every helper returns stdout, stderr and the exit status, so a test can
check all three (and that the API key appears in none).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from evervault.cli.main import main
from evervault.local.pytest_plugin import LocalEvervault, evervault_local  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""

    def assert_no_secret(self, secret: str) -> None:
        assert secret not in self.stdout
        assert secret not in self.stderr


def console_script() -> str:
    """The ``evervault`` script installed next to this interpreter."""
    found = shutil.which("evervault", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the evervault console script is not installed next to the interpreter")
    return found


def emulator_environment(local: LocalEvervault) -> dict[str, str]:
    """The variables a user exports for ``evervault-local serve``; no inherited EV_*."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("EV_")}
    return {
        **inherited,
        **local.environment,
        "EV_APP_ID": local.app_id,
        "EV_API_KEY": local.api_key,
    }


CliRunner = Callable[..., Outcome]


@pytest.fixture
def cli_env(evervault_local: LocalEvervault) -> dict[str, str]:  # noqa: F811
    return emulator_environment(evervault_local)


@pytest.fixture
def cli(cli_env: dict[str, str]) -> CliRunner:
    """``cli("encrypt", "x", stdin="...", env={...})``: the console script in a subprocess."""

    def run(*arguments: str, stdin: str | bytes = b"", env: dict[str, str] | None = None) -> Outcome:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        result = subprocess.run(
            [console_script(), *arguments],
            input=data,
            capture_output=True,
            env=cli_env if env is None else env,
            timeout=TIMEOUT,
            check=False,
        )
        text = result.stdout.decode(errors="replace")
        return Outcome(result.returncode, text, result.stderr.decode(), result.stdout)

    return run


@pytest.fixture
def in_process(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> CliRunner:
    """``in_process("encrypt", "x", stdin="...")``: :func:`main` with the emulator's variables."""
    for name in list(os.environ):
        if name.startswith("EV_"):
            monkeypatch.delenv(name)
    for name, value in cli_env.items():
        if name.startswith("EV_"):
            monkeypatch.setenv(name, value)

    def run(*arguments: str, stdin: str | bytes = b"") -> Outcome:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        code = main(list(arguments))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
