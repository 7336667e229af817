"""The encryption engine: values, containers and files to Evervault ciphertexts.

The hot path reads the current :class:`SessionKey` into a local once and uses
only that object, so a concurrent rotation can never mix two keys. Rotation
builds a complete new session key under a lock and publishes it with a single
attribute assignment.

Speed notes (issue 7): an ev-string costs about 0.5 us of AES-GCM, so Python
call overhead is most of what is left. A single string is sealed inline in
:meth:`Encryptor.encrypt`; containers get one closure per call (:func:`_sealer`)
holding every per-key constant, so each leaf costs one Python call.
"""

from __future__ import annotations

import threading
from binascii import b2a_base64
from collections.abc import Callable
from typing import Any

from evervault.domain.ciphertext import Datatype
from evervault.domain.coercion import to_text
from evervault.domain.curves import Curve
from evervault.domain.errors import (
    ExceededMaxFileSizeError,
    InvalidArgumentError,
    UnsupportedTypeError,
)
from evervault.domain.metadata import PYTHON_ENCRYPTION_ORIGIN, encode_frame, validate_role
from evervault.domain.session import SessionKey
from evervault.domain.sources import Clock, EphemeralKeyFactory, IvSource
from evervault.domain.streaming import (
    DEFAULT_CHUNK_SIZE,
    FileEncryptor,
    ReadableStream,
    WritableStream,
    encrypt_stream,
    seal_file,
)

DEFAULT_ROTATION_SECONDS = 15.0
DEFAULT_MAX_FILE_SIZE = 25 * 1024 * 1024
_FRAME_CACHE_LIMIT = 256
_DATATYPE_INDEX = {Datatype.STRING: 0, Datatype.NUMBER: 1, Datatype.BOOLEAN: 2}
_STRING, _NUMBER, _BOOLEAN = 0, 1, 2

Encrypted = Any  # str for primitives, bytes for files, a container of those for containers
# Seals one coerced text: (datatype index, text) -> ev-string.
Seal = Callable[[int, str], str]


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
        # Bound once: they are called for every value, and an attribute chain per call
        # is measurable next to a ~0.5 us AES-GCM operation.
        self._monotonic = clock.monotonic
        self._wall_time = clock.time
        self._next_iv = iv_source.next_iv

    def __repr__(self) -> str:
        return f"Encryptor(curve={self.curve.value})"

    # --- session keys -----------------------------------------------------------------

    def current_session(self) -> SessionKey:
        """The session key to use now, rotating it when its lifetime is over."""
        session = self._session
        if session is None or self._monotonic() >= session.expires_at:
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
                self._monotonic() + self._rotation_seconds,
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
        if type(data) is str:
            return self._encrypt_string(data, role)
        if isinstance(data, (bytes, bytearray, memoryview)):
            if role is not None:
                raise InvalidArgumentError("Files cannot carry a data role; pass role=None.")
            return self.encrypt_file(data)
        if data is None:
            raise UnsupportedTypeError("Data not defined: None cannot be encrypted.")
        frame = self._frame(role) if role is not None else None
        seal = _sealer(self.current_session(), self._next_iv, frame)
        try:
            return _walk(data, seal)
        except RecursionError:
            raise InvalidArgumentError("The data is nested too deeply to encrypt.") from None
        except UnicodeEncodeError:  # a lone surrogate: str.encode() cannot write it as UTF-8
            raise _lone_surrogate_error() from None

    def encrypt_file(self, data: bytes | bytearray | memoryview) -> bytes:
        """The ``%EVENC`` file of ``data`` (version 2 on secp256k1, 3 on P-256).

        Built in a single output-sized buffer (see :func:`streaming.seal_file`).
        """
        size = memoryview(data).nbytes
        if size > self._max_file_size:
            raise ExceededMaxFileSizeError(
                f"File size must be at most {self._max_file_size} bytes, got {size}; "
                "raise the limit with EV_MAX_FILE_SIZE_IN_MB or max_file_size."
            )
        return seal_file(self.file_encryptor(), data)

    def file_encryptor(self) -> FileEncryptor:
        """A sans-I/O incremental encryptor for one ``%EVENC`` file of any size.

        It holds the current session key and a fresh IV for as long as the file takes.
        """
        iv, _ = self._next_iv()
        return FileEncryptor(self.current_session(), iv)

    def encrypt_file_stream(
        self, source: ReadableStream, destination: WritableStream, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> int:
        """Encrypt ``source`` to ``destination`` chunk by chunk; returns the bytes written.

        Memory stays at about two chunks whatever the file size, so no size limit
        applies. ``source`` needs ``readinto`` (any binary file), ``destination`` ``write``.
        """
        return encrypt_stream(self.file_encryptor(), source, destination, chunk_size)

    def encrypt_text(self, session: SessionKey, datatype: Datatype, text: str, role: str | None) -> str:
        """One ev-string for an already-coerced text (used by the spec tests)."""
        frame = self._frame(role) if role is not None else None
        return _sealer(session, self._next_iv, frame)(_DATATYPE_INDEX[datatype], text)

    # --- internals ------------------------------------------------------------------------

    def _encrypt_string(self, data: str, role: str | None) -> str:
        """The most common call, kept to one frame: the steps of :func:`_sealer` inlined."""
        frame = self._frame(role) if role is not None else None
        session = self._session
        if session is None or self._monotonic() >= session.expires_at:
            session = self._rotate(session)
        try:
            plaintext = data.encode()
        except UnicodeEncodeError:
            raise _lone_surrogate_error() from None
        iv, iv_text = self._next_iv()
        if frame is None:
            sealed = session.plain_aead.encrypt(iv, plaintext, session.plain_aad)
            head = session.plain_heads[_STRING]
        else:
            sealed = session.metadata_aead.encrypt(iv, frame + plaintext, session.metadata_aads[_STRING])
            head = session.metadata_heads[_STRING]
        body = b2a_base64(sealed, newline=False).decode("ascii").rstrip("=")
        return f"{head}{iv_text}{session.key_segment}{body}:$"

    def _frame(self, role: str) -> bytes:
        """The metadata frame for ``role`` at the current second, cached per role and second."""
        if not isinstance(role, str):  # an unhashable role must not reach the cache lookup
            validate_role(role)  # raises InvalidRoleError
        now = int(self._wall_time())
        cached = self._frames.get(role)
        if cached is not None and cached[0] == now:
            return cached[1]
        frame = encode_frame(validate_role(role), self._origin, now)
        if len(self._frames) >= _FRAME_CACHE_LIMIT:
            self._frames = {}
        self._frames[role] = (now, frame)
        return frame


def _sealer(session: SessionKey, next_iv: Callable[[], tuple[bytes, str]], frame: bytes | None) -> Seal:
    """A function sealing texts under ``session`` (and the role ``frame``, if any).

    Every constant it needs is bound in its closure, so a container's leaves each
    cost one Python call. No-role values are framed with ``b""``: concatenating the
    empty bytes returns the other operand unchanged.
    """
    if frame is None:
        aead_encrypt = session.plain_aead.encrypt
        aads = (session.plain_aad, session.plain_aad, session.plain_aad)
        heads = session.plain_heads
        prefix = b""
    else:
        aead_encrypt = session.metadata_aead.encrypt
        aads = session.metadata_aads
        heads = session.metadata_heads
        prefix = frame
    key_segment = session.key_segment

    def seal(datatype: int, text: str) -> str:
        iv, iv_text = next_iv()
        sealed = aead_encrypt(iv, prefix + text.encode(), aads[datatype])
        body = b2a_base64(sealed, newline=False).decode("ascii").rstrip("=")
        return f"{heads[datatype]}{iv_text}{key_segment}{body}:$"

    return seal


# --- container traversal -------------------------------------------------------------------


def _walk(value: object, seal: Seal) -> Encrypted:
    kind = type(value)
    if kind is str:
        return seal(_STRING, value)  # type: ignore[arg-type]
    walker = _WALKERS.get(kind)
    if walker is not None:
        return walker(value, seal)
    if isinstance(value, (str, int, float)):  # subclasses: IntEnum, str enums, ...
        datatype, text = to_text(value)
        return seal(_DATATYPE_INDEX[datatype], text)
    if isinstance(value, dict):
        return _walk_dict(value, seal)
    raise UnsupportedTypeError(_unsupported_message(value))


def _walk_dict(value: Any, seal: Seal) -> dict[Any, Encrypted]:
    # Strings and ints, the usual leaves, are sealed here without a _walk call each.
    encrypted: dict[Any, Encrypted] = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            encrypted[key] = seal(_STRING, item)
        elif kind is int:
            encrypted[key] = seal(_NUMBER, _int_text(item))
        else:
            encrypted[key] = _walk(item, seal)
    return encrypted


def _walk_list(value: Any, seal: Seal) -> list[Encrypted]:
    return [seal(_STRING, item) if type(item) is str else _walk(item, seal) for item in value]


def _walk_tuple(value: Any, seal: Seal) -> tuple[Encrypted, ...]:
    return tuple(_walk(item, seal) for item in value)


def _walk_set(value: Any, seal: Seal) -> set[Encrypted]:
    return {_walk(item, seal) for item in value}


def _walk_frozenset(value: Any, seal: Seal) -> frozenset[Encrypted]:
    return frozenset(_walk(item, seal) for item in value)


def _seal_int(value: Any, seal: Seal) -> str:
    return seal(_NUMBER, _int_text(value))


def _seal_float(value: Any, seal: Seal) -> str:
    return seal(_NUMBER, float.__repr__(value))


def _seal_bool(value: Any, seal: Seal) -> str:
    return seal(_BOOLEAN, "true" if value else "false")


def _int_text(value: int) -> str:
    try:
        return int.__repr__(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise InvalidArgumentError(
            "This integer has too many digits to encrypt; encrypt it as a string instead."
        ) from None


_WALKERS: dict[type, Callable[[Any, Seal], Encrypted]] = {
    int: _seal_int,
    float: _seal_float,
    bool: _seal_bool,
    dict: _walk_dict,
    list: _walk_list,
    tuple: _walk_tuple,
    set: _walk_set,
    frozenset: _walk_frozenset,
}


def _lone_surrogate_error() -> InvalidArgumentError:
    return InvalidArgumentError(
        "A string contains a lone surrogate code point and cannot be encoded as UTF-8."
    )


def _unsupported_message(value: object) -> str:
    if value is None:
        return "None cannot be encrypted inside a container; remove it or encrypt a placeholder."
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "Bytes can only be encrypted on their own (as a file), not inside a container."
    return f"Cannot encrypt unsupported type {type(value).__name__}."
