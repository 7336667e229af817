"""Run ``python -m evervault.local serve`` as a real subprocess and read its JSON line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evervault.bootstrap.clients import Client

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def child_env(extra_path: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EV_")}
    paths = [str(REPO_ROOT), *([str(extra_path)] if extra_path else []), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


class Served:
    def __init__(self, process: subprocess.Popen[str], line: dict[str, Any]) -> None:
        self.process = process
        self.line = line

    def client(self, **options: Any) -> Client:
        return Client(self.line["app_id"], self.line["api_key"], base_url=self.line["api_url"], **options)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(START_TIMEOUT)


@contextmanager
def serve(*arguments: str, cwd: Path = REPO_ROOT, extra_path: Path | None = None) -> Iterator[Served]:
    # A free port unless the test names one: `serve` defaults to a fixed port, and tests run
    # side by side.
    port = () if "--port" in arguments else ("--port", "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "evervault.local", "serve", *port, *arguments],
        cwd=cwd,
        env=child_env(extra_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A watchdog instead of a timed assertion: a hung start fails the test instead of the suite.
    watchdog = threading.Timer(START_TIMEOUT, process.kill)
    watchdog.start()
    try:
        first = process.stdout.readline() if process.stdout else ""
        watchdog.cancel()
        if not first:
            raise AssertionError(
                f"serve printed nothing; stderr: {process.stderr.read() if process.stderr else ''}"
            )
        yield Served(process, json.loads(first))
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
