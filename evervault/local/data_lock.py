"""One emulator per data directory: an advisory lock on ``<data dir>/.lock``.

Two emulators writing the same ``state.json`` would overwrite each other's API keys and
relay destinations, so the second one refuses to start. The lock is an OS file lock
(``flock`` on POSIX, ``msvcrt.locking`` on Windows) held for as long as the emulator runs:
the operating system releases it when the process ends, however it ends, so a crashed
emulator never leaves a stale lock behind. The lock file holds the owner's process id,
only to name it in the error message.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO

from evervault.domain.errors import ConfigurationError

LOCK_FILE = ".lock"


class DataDirectoryLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> DataDirectoryLock:
        handle = self._open()
        if not _try_lock(handle):
            owner = handle.read().strip()
            handle.close()
            who = f" (process {owner})" if owner.isdigit() else ""
            raise ConfigurationError(
                f"Another evervault-local{who} is already serving the data directory {self.path.parent}. "
                "Stop it first, or start this one with another --data-dir."
            )
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
        _unlock(handle)
        handle.close()

    def _open(self) -> IO[str]:
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise ConfigurationError(
                f"Cannot create the lock file {self.path} ({error.strerror}); choose another --data-dir."
            ) from None
        return os.fdopen(descriptor, "r+", encoding="ascii", errors="replace")


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
