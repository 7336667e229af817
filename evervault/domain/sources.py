"""What the domain needs from the outside world, as small Protocols.

They are defined here (and re-exported by :mod:`evervault.ports`) because the
domain may import nothing of ours outside itself; adapters implement them
(:mod:`evervault.adapters.system` for the real clock and OS randomness).
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve


class Clock(Protocol):
    """Wall time for metadata timestamps, monotonic time for key rotation."""

    def time(self) -> float:
        """Seconds since the Unix epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""


class IvSource(Protocol):
    """Unique 12-byte AES-GCM nonces, each with its unpadded base64 text (16 characters)."""

    def next_iv(self) -> tuple[bytes, str]:
        """A fresh IV; never returns the same IV twice for the life of a session key."""


class EphemeralKeyFactory(Protocol):
    """Makes the ephemeral key pair of a new session key."""

    def __call__(self, curve: Curve) -> ec.EllipticCurvePrivateKey:
        """A new private key on ``curve``."""
