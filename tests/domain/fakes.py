"""Deterministic stand-ins for the domain's ports (clock, IVs, ephemeral keys).

They are real implementations of the ports in ``evervault.ports.clock`` and
``evervault.ports.randomness``, not mocks: the domain runs unchanged (it takes their
bound methods), only its randomness and time are fixed.
"""

from __future__ import annotations

import base64
import itertools
import threading

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve, compressed_point, private_key_from_scalar
from evervault.domain.decryption import Decryptor
from evervault.domain.encryption import DEFAULT_MAX_FILE_SIZE, DEFAULT_ROTATION_SECONDS, Encryptor

APP_SCALAR = bytes([0x11]) * 32
OTHER_APP_SCALAR = bytes([0x33]) * 32
EPHEMERAL_SCALAR = bytes([0x22]) * 32
DOC_IV = bytes(range(1, 13))
DOC_TIMESTAMP = 1700000000


class FakeClock:
    """Wall and monotonic time that move only when a test says so."""

    def __init__(self, wall: float = DOC_TIMESTAMP, monotonic: float = 0.0) -> None:
        self.wall = wall
        self.mono = monotonic

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class FixedIvSource:
    """Always the same IV: only for single-value, byte-exact vectors."""

    def __init__(self, iv: bytes = DOC_IV) -> None:
        self._iv = iv
        self._text = base64.b64encode(iv).decode("ascii")

    def next_iv(self) -> tuple[bytes, str]:
        return self._iv, self._text


class CountingIvSource:
    """Distinct IVs (a 96-bit counter), thread-safe, so many values can share a session key."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next_iv(self) -> tuple[bytes, str]:
        with self._lock:
            iv = next(self._counter).to_bytes(12, "big")
        return iv, base64.b64encode(iv).decode("ascii")


class FixedEphemeralKey:
    """Always the same ephemeral key: only for byte-exact vectors."""

    def __init__(self, scalar: bytes = EPHEMERAL_SCALAR) -> None:
        self._scalar = scalar

    def __call__(self, curve: Curve) -> ec.EllipticCurvePrivateKey:
        return private_key_from_scalar(curve, self._scalar)


class SequentialEphemeralKeys:
    """A new, predictable ephemeral key per call (scalars 1000, 1001, ...); counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, curve: Curve) -> ec.EllipticCurvePrivateKey:
        with self._lock:
            self.calls += 1
            scalar = 999 + self.calls
        return private_key_from_scalar(curve, scalar.to_bytes(32, "big"))


def app_public_key(curve: Curve, scalar: bytes = APP_SCALAR) -> bytes:
    return compressed_point(private_key_from_scalar(curve, scalar).public_key())


def fixed_encryptor(
    curve: Curve,
    *,
    app_scalar: bytes = APP_SCALAR,
    ephemeral_scalar: bytes = EPHEMERAL_SCALAR,
    iv: bytes = DOC_IV,
    timestamp: int = DOC_TIMESTAMP,
) -> Encryptor:
    """An encryptor whose output is byte-for-byte predictable (one value per instance)."""
    clock = FakeClock(wall=timestamp)
    return Encryptor(
        curve,
        app_public_key(curve, app_scalar),
        new_private_key=FixedEphemeralKey(ephemeral_scalar),
        next_iv=FixedIvSource(iv).next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
    )


def counting_encryptor(
    curve: Curve,
    clock: FakeClock | None = None,
    *,
    ephemeral_keys: SequentialEphemeralKeys | None = None,
    rotation_seconds: float = DEFAULT_ROTATION_SECONDS,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> Encryptor:
    """An encryptor with unique IVs and fresh ephemeral keys, for many values."""
    clock = clock or FakeClock()
    return Encryptor(
        curve,
        app_public_key(curve),
        new_private_key=ephemeral_keys or SequentialEphemeralKeys(),
        next_iv=CountingIvSource().next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
        rotation_seconds=rotation_seconds,
        max_file_size=max_file_size,
    )


def decryptor(app_scalar: bytes = APP_SCALAR) -> Decryptor:
    return Decryptor({curve: private_key_from_scalar(curve, app_scalar) for curve in Curve})
