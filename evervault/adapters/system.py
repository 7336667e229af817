"""The real clock, OS randomness and file buffers behind the encryptor, fork-safe.

:class:`SystemClock` implements :class:`evervault.ports.clock.Clock`,
:class:`OsRandomIvSource` :class:`evervault.ports.randomness.IvSource` and
:func:`generate_ephemeral_key` :class:`evervault.ports.randomness.EphemeralKeyFactory`;
:func:`default_encryptor` passes their bound methods to the domain's
:class:`~evervault.domain.encryption.Encryptor`, which takes plain callables.

IVs are drawn from ``os.urandom`` in batches: one system call and one base64
pass serve a thousand values, which is most of the difference between a 1 us
and a 2 us encrypt. Batching must never let two processes share an IV stream,
so every source (and every encryptor's session key) is reset in a child right
after ``os.fork()``.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import time
import weakref
from binascii import b2a_base64
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.domain.encryption import DEFAULT_MAX_FILE_SIZE, DEFAULT_ROTATION_SECONDS, Encryptor
from evervault.domain.errors import InvalidArgumentError

_wall_time = time.time
_monotonic_time = time.monotonic

IV_LENGTH = 12
IV_TEXT_LENGTH = 16  # 12 bytes are exactly 16 base64 characters, so a batch splits evenly


class SystemClock:
    """``time.time`` and ``time.monotonic``.

    Static aliases of the C functions rather than wrapper methods: the encryptor
    reads the monotonic clock on every call, and a Python-level wrapper would add
    a frame to each one.
    """

    time = staticmethod(_wall_time)
    monotonic = staticmethod(_monotonic_time)


class OsRandomIvSource:
    """Batched ``os.urandom`` IVs with their base64 text; thread-safe and fork-safe.

    ``next()`` on the batch iterator (a ``zip`` of C iterators that never runs
    Python code) is one C call, atomic under the GIL, so two threads can never
    receive the same batch entry; refills take a lock.
    """

    def __init__(self, batch_size: int = 1024) -> None:
        if batch_size < 1:
            raise InvalidArgumentError(f"The IV batch size must be at least 1, got {batch_size}.")
        self._batch_size = batch_size
        # One C call splits a whole batch into IVs (and their texts), instead of a
        # Python-level loop of slices per IV.
        self._iv_layout = struct.Struct(f"{IV_LENGTH}s" * batch_size)
        self._text_layout = struct.Struct(f"{IV_TEXT_LENGTH}s" * batch_size)
        self._lock = threading.Lock()
        self._ivs: Iterator[tuple[bytes, str]] = iter(())
        _FORK_RESETTABLE.add(self)

    def next_iv(self) -> tuple[bytes, str]:
        try:
            return next(self._ivs)
        except StopIteration:
            return self._refill()

    def reset(self) -> None:
        self._ivs = iter(())
        # After fork the old lock may be held by a thread that does not exist in the child.
        self._lock = threading.Lock()

    def _refill(self) -> tuple[bytes, str]:
        with self._lock:
            try:
                return next(self._ivs)  # another thread refilled while we waited
            except StopIteration:
                pass
            raw = os.urandom(IV_LENGTH * self._batch_size)
            text = b2a_base64(raw, newline=False)
            # zip/map are lazy C iterators: each next() yields one (iv, text) pair
            # atomically under the GIL, decoding the text only when it is used.
            ivs = zip(
                self._iv_layout.unpack(raw),
                map(bytes.decode, self._text_layout.unpack(text)),
                strict=True,
            )
            first = next(ivs)
            self._ivs = ivs
            return first


def generate_ephemeral_key(curve: Curve) -> ec.EllipticCurvePrivateKey:
    """A new private key from OpenSSL's CSPRNG."""
    return ec.generate_private_key(curve.ec_curve)


def build_bytes_in_place(size: int, fill: Callable[[memoryview], None]) -> bytes:
    """The no-copy :data:`~evervault.domain.streaming.BytesBuilder`: the result is the filled buffer itself.

    The buffer is the ``bytes`` object inside an ``io.BytesIO`` made from
    ``bytes(size)`` (allocated zeroed by the OS, so untouched until written).
    ``fill`` writes it through ``getbuffer()``; once that view is released,
    ``getvalue()`` hands the same object back without copying (CPython; other
    interpreters may copy, which is still correct).
    """
    buffer = io.BytesIO(bytes(size))
    with buffer.getbuffer() as view:
        fill(view)
    return buffer.getvalue()


def default_encryptor(
    curve: Curve,
    app_public_key: bytes,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    rotation_seconds: float = DEFAULT_ROTATION_SECONDS,
) -> Encryptor:
    """An encryptor on the system clock and OS randomness, reset automatically after fork."""
    clock = SystemClock()
    encryptor = Encryptor(
        curve,
        app_public_key,
        new_private_key=generate_ephemeral_key,
        # A bound method: it keeps the source (held only weakly for the fork reset) alive.
        next_iv=OsRandomIvSource().next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
        rotation_seconds=rotation_seconds,
        max_file_size=max_file_size,
        build_bytes=build_bytes_in_place,
    )
    _FORK_RESETTABLE.add(encryptor)
    return encryptor


_FORK_RESETTABLE: weakref.WeakSet[OsRandomIvSource | Encryptor] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for item in list(_FORK_RESETTABLE):
        item.reset()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_reset_after_fork)
