"""``python -m evervault.local serve`` as a child process (its own core, its own GIL)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evervault.bootstrap.clients import AsyncClient, Client

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


@dataclass
class ServedEmulator:
    process: subprocess.Popen[str]
    line: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.line["api_url"])

    @property
    def app_id(self) -> str:
        return str(self.line["app_id"])

    @property
    def api_key(self) -> str:
        return str(self.line["api_key"])

    def client(self, api_key: str | None = None, **options: Any) -> Client:
        return Client(self.app_id, api_key or self.api_key, base_url=self.api_url, environ={}, **options)

    def async_client(self, **options: Any) -> AsyncClient:
        return AsyncClient(self.app_id, self.api_key, base_url=self.api_url, environ={}, **options)


@contextlib.contextmanager
def served(data_dir: Path, *arguments: str) -> Iterator[ServedEmulator]:
    """A running ``serve --data-dir data_dir``; killed (if still alive) on exit."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EV_")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evervault.local",
            "serve",
            "--data-dir",
            str(data_dir),
            "--no-relay",
            *arguments,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(START_TIMEOUT, process.kill)  # a hung start fails, not hangs
    watchdog.start()
    try:
        first = process.stdout.readline() if process.stdout else ""
        watchdog.cancel()
        if not first:
            raise RuntimeError(f"evervault-local serve did not start (exit {process.poll()})")
        yield ServedEmulator(process, json.loads(first))
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout:
            process.stdout.close()
