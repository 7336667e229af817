"""The anchors' virtualenvs and the long-lived driver processes the benchmark talks to.

Each anchor lives in its own cached virtualenv at the repository root (git-ignored):
``.bench-venv`` (the published ``evervault==5.1.3``) and ``.bench-attest-venv``
(Evervault's Rust attestation bindings). Each is reused while it holds the pinned version;
delete the folder to rebuild it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"


@dataclass(frozen=True)
class CachedVenv:
    folder: Path
    distribution: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    def _python(self) -> Path:
        scripts = "Scripts" if os.name == "nt" else "bin"
        return self.folder / scripts / ("python.exe" if os.name == "nt" else "python")

    def python(self) -> Path:
        """The virtualenv's Python, building the virtualenv first if needed."""
        python = self._python()
        if python.exists() and self._installed_version(python) == self.version:
            return python
        print(f"building {self.folder.name} with {self.requirement} (once; cached) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.folder)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*install, self.requirement], check=True)
        if self._installed_version(python) != self.version:
            raise SystemExit(f"{self.folder} does not hold {self.requirement} after installing it")
        return python

    def _installed_version(self, python: Path) -> str | None:
        probe = f"import importlib.metadata as m; print(m.version({self.distribution!r}))"
        result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else None


PUBLISHED_SDK = CachedVenv(REPO / ".bench-venv", "evervault", "5.1.3")
RUST_BINDINGS = CachedVenv(REPO / ".bench-attest-venv", "evervault-attestation-bindings", "0.5.0")


class DriverProcess:
    """One long-lived driver script: one JSON command per line, one JSON reply per line."""

    def __init__(
        self, name: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None
    ) -> None:
        self.name = name
        # A neutral working directory: an anchor must never import this repository's package.
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd or tempfile.gettempdir(),
        )

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} driver exited (see its error output above)")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        if self._process.poll() is None and self._process.stdin is not None:
            self._process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self._process.stdin.close()
        self._process.wait(timeout=30)


def sdk_driver(python: Path, api_url: str, *, ours: bool, name: str) -> DriverProcess:
    env = dict(os.environ, EV_API_URL=api_url, EV_MAX_FILE_SIZE_IN_MB="25")
    env.pop("PYTHONPATH", None)
    if ours:
        env["PYTHONPATH"] = str(REPO)
    return DriverProcess(name, [str(python), str(BENCH_DIR / "sdk_driver.py")], env=env)


def faketime_command() -> str | None:
    return shutil.which("faketime")


def attestation_driver(*, ours: bool, name: str, fake_instant: str | None = None) -> DriverProcess:
    """This SDK's verifier, or the Rust bindings under ``faketime`` at ``fake_instant``."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    script = str(BENCH_DIR / "attestation_driver.py")
    if ours:
        env["PYTHONPATH"] = str(REPO)
        return DriverProcess(name, [sys.executable, script], env=env)
    faketime = faketime_command()
    if faketime is None or fake_instant is None:
        raise SystemExit("the Rust bindings need Debian's faketime (apt-get install faketime)")
    return DriverProcess(name, [faketime, fake_instant, str(RUST_BINDINGS.python()), script], env=env)
