"""``<data dir>/serving.json``: how to reach the emulator serving a data directory.

``evervault-local serve`` writes it (mode 0600: it holds the admin API key, next to the
private keys) once listening and removes it when it stops; ``evervault-local env --data-dir
DIR`` reads it, so a second terminal or a script gets the settings with one command::

    eval "$(evervault-local env --data-dir .ev-local --wait 30)"

The file also holds the server's process id: a file left behind by a killed server is
recognised as stale (no such process) instead of being trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from evervault.domain.errors import ConfigurationError

SERVING_FILE = "serving.json"
_POLL_SECONDS = 0.1


def write_serving_file(data_dir: str, info: dict[str, Any]) -> Path:
    path = Path(data_dir) / SERVING_FILE
    temporary = path.with_name(f".{SERVING_FILE}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), **info}, handle)
    os.replace(temporary, path)
    return path


def remove_serving_file(data_dir: str) -> None:
    with contextlib.suppress(OSError):
        (Path(data_dir) / SERVING_FILE).unlink()


def read_serving_file(data_dir: str, wait_seconds: float = 0.0) -> dict[str, Any]:
    """The settings of the live emulator serving ``data_dir``, waiting up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        found = _live_settings(Path(data_dir).expanduser() / SERVING_FILE)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise ConfigurationError(
                f"No evervault-local is serving {data_dir}: start `evervault-local serve --data-dir "
                f"{data_dir}` (in another terminal, or with `&`), or pass --wait SECONDS while it starts."
            )
        time.sleep(_POLL_SECONDS)


def _live_settings(path: Path) -> dict[str, Any] | None:
    try:
        body = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or not _alive(body.get("pid")):
        return None
    return body


def _alive(pid: object) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
