"""The SDK under test as a subprocess that speaks JSON lines (see conformance/README.md).

Requests ``{"id": N, "op": "...", "args": {...}}`` go to the adapter's stdin, one per
line; the adapter answers each, in order, with one line ``{"id": N, "ok": true,
"result": ...}`` or ``{"id": N, "ok": false, "error": {"type": ..., "message": ...}}``.
Anything else the adapter prints must go to stderr, whose tail is kept for reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

DEFAULT_TIMEOUT_SECONDS = 120.0
_STDERR_TAIL_CHARS = 2000
_EXIT_GRACE_SECONDS = 5.0  # an adapter should exit at EOF on stdin; after this it is killed
_EOF = object()


class AdapterError(Exception):
    """The adapter could not be started, crashed, timed out or broke the protocol."""


@dataclass(frozen=True)
class Reply:
    """One answer: ``ok`` with a ``result``, or the SDK's error (``error_type``, ``message``)."""

    ok: bool
    result: Any = field(default=None, repr=False)
    error_type: str = ""
    message: str = ""

    def describe_error(self) -> str:
        return f"{self.error_type or 'error'}: {self.message[:300]}"


class AdapterProcess:
    """One running adapter; use as a context manager so it is always stopped."""

    def __init__(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.command = command
        self._timeout = timeout_seconds
        self._next_id = 1
        self._lines: queue.Queue[object] = queue.Queue()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        argv = shlex.split(command)
        if not argv:
            raise AdapterError("The --sdk command is empty.")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - the command is the user's own adapter
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        except OSError as error:
            self._stderr.close()
            raise AdapterError(f"Cannot start the adapter {command!r}: {error.strerror or error}.") from None
        self._reader = threading.Thread(target=self._read_lines, name="conformance-adapter", daemon=True)
        self._reader.start()

    def _read_lines(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        for line in stdout:
            self._lines.put(line)
        self._lines.put(_EOF)

    def request(
        self, op: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Reply:
        """Send one request and wait for its answer (``AdapterError`` if none comes)."""
        request_id = self._next_id
        self._next_id += 1
        line = json.dumps({"id": request_id, "op": op, "args": dict(args or {})}, allow_nan=False)
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(line.encode("utf-8") + b"\n")
            stdin.flush()
        except OSError:
            raise AdapterError(f"The adapter exited before {op!r}.{self._stderr_note()}") from None
        return self._reply(op, request_id, self._timeout if timeout is None else timeout)

    def _reply(self, op: str, request_id: int, timeout: float) -> Reply:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AdapterError(f"The adapter did not answer {op!r} within {timeout:.0f} s.") from None
        if line is _EOF:
            raise AdapterError(f"The adapter exited while answering {op!r}.{self._stderr_note()}")
        assert isinstance(line, bytes)
        try:
            node = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise AdapterError(
                f"The adapter answered {op!r} with a line that is not JSON: {line[:120]!r}"
            ) from None
        return _parse_reply(node, op, request_id)

    def _stderr_note(self) -> str:
        tail = self.stderr_tail()
        return f" Its stderr ends with:\n{tail}" if tail else ""

    def stderr_tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL_CHARS))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        process = self._process
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):
                process.stdin.close()  # adapters end at EOF
        try:
            process.wait(timeout=_EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        self._reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> AdapterProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _parse_reply(node: Any, op: str, request_id: int) -> Reply:
    if not isinstance(node, dict) or not isinstance(node.get("ok"), bool):
        raise AdapterError(f"The adapter's answer to {op!r} has no boolean 'ok'.")
    if node.get("id") not in (None, request_id):
        raise AdapterError(f"The adapter answered request {node.get('id')!r} when {request_id} was expected.")
    if node["ok"]:
        return Reply(ok=True, result=node.get("result"))
    error = node.get("error")
    error = error if isinstance(error, dict) else {}
    return Reply(ok=False, error_type=str(error.get("type", "")), message=str(error.get("message", "")))
