"""The encryption engine: values, containers and files to Evervault ciphertexts.

The hot path reads the current :class:`SessionKey` into a local once and uses
only that object, so a concurrent rotation can never mix two keys. Rotation
builds a complete new session key under a lock and publishes it with a single
attribute assignment.
"""

from __future__ import annotations

import threading
from binascii import b2a_base64
from collections.abc import Callable
from typing import Any

from evervault.domain.ciphertext import Datatype
from evervault.domain.coercion import to_text
from evervault.domain.curves import Curve
from evervault.domain.envelope import FileVersion
from evervault.domain.envelope import encode as encode_file
from evervault.domain.errors import (
    ExceededMaxFileSizeError,
    InvalidArgumentError,
    UnsupportedTypeError,
)
from evervault.domain.metadata import PYTHON_ENCRYPTION_ORIGIN, encode_frame, validate_role
from evervault.domain.session import SessionKey
from evervault.domain.sources import Clock, EphemeralKeyFactory, IvSource

DEFAULT_ROTATION_SECONDS = 15.0
DEFAULT_MAX_FILE_SIZE = 25 * 1024 * 1024
_FRAME_CACHE_LIMIT = 256
_DATATYPE_INDEX = {Datatype.STRING: 0, Datatype.NUMBER: 1, Datatype.BOOLEAN: 2}

Encrypted = Any  # str for primitives, bytes for files, a container of those for containers


class Encryptor:
    """Encrypts for one app key on one curve; thread-safe."""

    def __init__(
        self,
        curve: Curve,
        app_public_key: bytes,
        *,
        ephemeral_keys: EphemeralKeyFactory,
        iv_source: IvSource,
        clock: Clock,
        rotation_seconds: float = DEFAULT_ROTATION_SECONDS,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        origin: int = PYTHON_ENCRYPTION_ORIGIN,
    ) -> None:
        self.curve = curve
        self._app_public_key = app_public_key
        self._ephemeral_keys = ephemeral_keys
        self._iv_source = iv_source
        self._clock = clock
        self._rotation_seconds = rotation_seconds
        self._max_file_size = max_file_size
        self._origin = origin
        self._rotation_lock = threading.Lock()
        self._session: SessionKey | None = None
        self._frames: dict[str | None, tuple[int, bytes]] = {}

    def __repr__(self) -> str:
        return f"Encryptor(curve={self.curve.value})"

    # --- session keys -----------------------------------------------------------------

    def current_session(self) -> SessionKey:
        """The session key to use now, rotating it when its lifetime is over."""
        session = self._session
        if session is None or self._clock.monotonic() >= session.expires_at:
            return self._rotate(session)
        return session

    def _rotate(self, stale: SessionKey | None) -> SessionKey:
        with self._rotation_lock:
            session = self._session
            if session is not stale and session is not None:
                return session  # another thread rotated while we waited
            session = SessionKey.create(
                self.curve,
                self._app_public_key,
                self._ephemeral_keys(self.curve),
                self._clock.monotonic() + self._rotation_seconds,
            )
            self._session = session
            return session

    def reset(self) -> None:
        """Forget the session key (e.g. in a child process after fork); the next call makes one."""
        self._session = None
        self._frames = {}

    # --- public operations --------------------------------------------------------------

    def encrypt(self, data: object, role: str | None = None) -> Encrypted:
        """Encrypt a primitive, a (nested) dict/list/tuple/set of primitives, or a file's bytes."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            if role is not None:
                raise InvalidArgumentError("Files cannot carry a data role; pass role=None.")
            return self.encrypt_file(data)
        if data is None:
            raise UnsupportedTypeError("Data not defined: None cannot be encrypted.")
        frame = self._frame(role) if role is not None else None
        session = self.current_session()
        try:
            return self._walk(session, data, frame)
        except RecursionError:
            raise InvalidArgumentError("The data is nested too deeply to encrypt.") from None
        except UnicodeEncodeError:  # a lone surrogate: str.encode() cannot write it as UTF-8
            raise InvalidArgumentError(
                "A string contains a lone surrogate code point and cannot be encoded as UTF-8."
            ) from None

    def encrypt_file(self, data: bytes | bytearray | memoryview) -> bytes:
        """The ``%EVENC`` file of ``data`` (version 2 on secp256k1, 3 on P-256)."""
        size = memoryview(data).nbytes
        if size > self._max_file_size:
            raise ExceededMaxFileSizeError(
                f"File size must be at most {self._max_file_size} bytes, got {size}; "
                "raise the limit with EV_MAX_FILE_SIZE_IN_MB or max_file_size."
            )
        session = self.current_session()
        iv, _ = self._iv_source.next_iv()
        ciphertext = session.file_aead.encrypt(iv, data, session.file_aad)
        return encode_file(FileVersion.current(self.curve), session.ephemeral_public_key, iv, ciphertext)

    def encrypt_text(self, session: SessionKey, datatype: Datatype, text: str, role: str | None) -> str:
        """One ev-string for an already-coerced text (used by the spec tests)."""
        frame = self._frame(role) if role is not None else None
        return self._seal(session, _DATATYPE_INDEX[datatype], text, frame)

    # --- internals ------------------------------------------------------------------------

    def _walk(self, session: SessionKey, value: object, frame: bytes | None) -> Encrypted:
        kind = type(value)
        if kind is str:
            return self._seal(session, 0, value, frame)  # type: ignore[arg-type]
        container = _CONTAINERS.get(kind)
        if container is not None:
            return container(self, session, value, frame)
        if isinstance(value, (str, int, float)):
            datatype, text = to_text(value)
            return self._seal(session, _DATATYPE_INDEX[datatype], text, frame)
        if isinstance(value, dict):
            return _encrypt_dict(self, session, value, frame)
        raise UnsupportedTypeError(_unsupported_message(value))

    def _seal(self, session: SessionKey, datatype: int, text: str, frame: bytes | None) -> str:
        iv, iv_text = self._iv_source.next_iv()
        if frame is None:
            ciphertext = session.plain_aead.encrypt(iv, text.encode(), session.plain_aad)
            head = session.plain_heads[datatype]
        else:
            ciphertext = session.keys.kdf_aead.encrypt(
                iv, frame + text.encode(), session.metadata_aads[datatype]
            )
            head = session.metadata_heads[datatype]
        body = b2a_base64(ciphertext, newline=False).decode("ascii").rstrip("=")
        return head + iv_text + session.key_segment + body + ":$"

    def _frame(self, role: str) -> bytes:
        """The metadata frame for ``role`` at the current second, cached per role and second."""
        now = int(self._clock.time())
        cached = self._frames.get(role)
        if cached is not None and cached[0] == now:
            return cached[1]
        frame = encode_frame(validate_role(role), self._origin, now)
        if len(self._frames) >= _FRAME_CACHE_LIMIT:
            self._frames = {}
        self._frames[role] = (now, frame)
        return frame


def _encrypt_primitive(encryptor: Encryptor, session: SessionKey, value: Any, frame: bytes | None) -> str:
    datatype, text = to_text(value)
    return encryptor._seal(session, _DATATYPE_INDEX[datatype], text, frame)


def _encrypt_dict(
    encryptor: Encryptor, session: SessionKey, value: Any, frame: bytes | None
) -> dict[Any, Encrypted]:
    return {key: encryptor._walk(session, item, frame) for key, item in value.items()}


def _encrypt_list(
    encryptor: Encryptor, session: SessionKey, value: Any, frame: bytes | None
) -> list[Encrypted]:
    return [encryptor._walk(session, item, frame) for item in value]


def _encrypt_tuple(
    encryptor: Encryptor, session: SessionKey, value: Any, frame: bytes | None
) -> tuple[Encrypted, ...]:
    return tuple(encryptor._walk(session, item, frame) for item in value)


def _encrypt_set(
    encryptor: Encryptor, session: SessionKey, value: Any, frame: bytes | None
) -> set[Encrypted]:
    return {encryptor._walk(session, item, frame) for item in value}


def _encrypt_frozenset(
    encryptor: Encryptor, session: SessionKey, value: Any, frame: bytes | None
) -> frozenset[Encrypted]:
    return frozenset(encryptor._walk(session, item, frame) for item in value)


_Walker = Callable[[Encryptor, SessionKey, Any, "bytes | None"], Encrypted]
_CONTAINERS: dict[type, _Walker] = {
    int: _encrypt_primitive,
    float: _encrypt_primitive,
    bool: _encrypt_primitive,
    dict: _encrypt_dict,
    list: _encrypt_list,
    tuple: _encrypt_tuple,
    set: _encrypt_set,
    frozenset: _encrypt_frozenset,
}


def _unsupported_message(value: object) -> str:
    if value is None:
        return "None cannot be encrypted inside a container; remove it or encrypt a placeholder."
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "Bytes can only be encrypted on their own (as a file), not inside a container."
    return f"Cannot encrypt unsupported type {type(value).__name__}."
