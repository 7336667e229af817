"""The clock port: wall time for metadata timestamps, monotonic time for key rotation.

The domain takes the two readings as plain callables (``now`` and ``monotonic``);
:class:`evervault.adapters.system.SystemClock` implements this Protocol and
:func:`~evervault.adapters.system.default_encryptor` passes its bound methods in.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Wall time for metadata timestamps, monotonic time for key rotation."""

    def time(self) -> float:
        """Seconds since the Unix epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
