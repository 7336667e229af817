"""Randomness ports: the IV source and the ephemeral key factory of the encryptor.

The domain takes them as plain callables (``next_iv`` and ``new_private_key``);
:mod:`evervault.adapters.system` implements them on OS randomness, fork-safe.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve


class IvSource(Protocol):
    """Unique 12-byte AES-GCM nonces, each with its unpadded base64 text (16 characters)."""

    def next_iv(self) -> tuple[bytes, str]:
        """A fresh IV; never returns the same IV twice for the life of a session key."""


class EphemeralKeyFactory(Protocol):
    """Makes the ephemeral key pair of a new session key."""

    def __call__(self, curve: Curve) -> ec.EllipticCurvePrivateKey:
        """A new private key on ``curve``."""
