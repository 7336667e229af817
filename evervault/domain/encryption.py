"""The encryption engine: values, containers and files to Evervault ciphertexts.

The hot path reads the current :class:`SessionKey` into a local once and uses
only that object, so a concurrent rotation can never mix two keys. Rotation is
lock-free: it builds a complete new session key and publishes it with a single
attribute assignment, and a claim on the expired key (see :meth:`Encryptor._rotate`)
lets only one of several racing threads build it.

Everything from outside comes in as a plain callable: the clocks (``now``,
``monotonic``), the IV source (``next_iv``), the ephemeral key factory
(``new_private_key``) and the file buffer (``build_bytes``); the adapters in
:mod:`evervault.adapters.system` provide the real ones.

Speed notes: an ev-string costs about 0.5 us of AES-GCM, so Python
call overhead is most of what is left. A single string is sealed inline in
:meth:`Encryptor.encrypt`; containers get a :class:`_Walker` per call holding every
per-key constant, and every container's string and int leaves are sealed inside one
loop (:meth:`_Walker.seal_items`).
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.ciphertext import Datatype
from evervault.domain.coercion import to_text
from evervault.domain.curves import Curve
from evervault.domain.defaults import DEFAULT_MAX_FILE_SIZE as DEFAULT_MAX_FILE_SIZE
from evervault.domain.defaults import DEFAULT_ROTATION_SECONDS as DEFAULT_ROTATION_SECONDS
from evervault.domain.errors import (
    ExceededMaxFileSizeError,
    InvalidArgumentError,
    UnsupportedTypeError,
)
from evervault.domain.metadata import PYTHON_ENCRYPTION_ORIGIN, encode_frame, validate_role
from evervault.domain.session import SessionKey
from evervault.domain.streaming import BytesBuilder, FileEncryptor, build_bytes_by_copy, seal_file

_FRAME_CACHE_LIMIT = 256
_DATATYPE_INDEX = {Datatype.STRING: 0, Datatype.NUMBER: 1, Datatype.BOOLEAN: 2}
_STRING, _NUMBER, _BOOLEAN = 0, 1, 2
_PAD = "=\n"  # base64 padding and the newline b2a_base64 appends: unpadded base64 (docs/protocol.md §1.3)

Encrypted = Any  # str for primitives, bytes for files, a container of those for containers


class Encryptor:
    """Encrypts for one app key on one curve; thread-safe."""

    def __init__(
        self,
        curve: Curve,
        app_public_key: bytes,
        *,
        new_private_key: Callable[[Curve], ec.EllipticCurvePrivateKey],
        next_iv: Callable[[], tuple[bytes, str]],
        now: Callable[[], float],
        monotonic: Callable[[], float],
        rotation_seconds: float = DEFAULT_ROTATION_SECONDS,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        origin: int = PYTHON_ENCRYPTION_ORIGIN,
        build_bytes: BytesBuilder = build_bytes_by_copy,
    ) -> None:
        """``new_private_key(curve)``: a fresh ephemeral key for each session key.
        ``next_iv()``: a 12-byte IV never returned before for the life of a session key,
        with its unpadded base64 text (16 characters). ``now()``: seconds since the Unix
        epoch (metadata timestamps). ``monotonic()``: seconds on a clock that never goes
        back (session key lifetime). ``build_bytes``: see :data:`streaming.BytesBuilder`.
        All of them may be called from several threads at once.
        """
        self.curve = curve
        self._app_public_key = app_public_key
        self._new_private_key = new_private_key
        self._rotation_seconds = rotation_seconds
        self._max_file_size = max_file_size
        self._origin = origin
        self._build_bytes = build_bytes
        self._session: SessionKey | None = None
        self._frames: dict[str, tuple[int, int, bytes]] = {}
        # The last frame built or found: (role, second start, second end, frame). A
        # caller passing the same role object each time skips the dict lookup.
        self._last_frame: tuple[str | None, float, float, bytes] = (None, 0.0, 0.0, b"")
        # Kept as plain attributes: they are called for every value, and an attribute
        # chain per call is measurable next to a ~0.5 us AES-GCM operation.
        self._monotonic = monotonic
        self._wall_time = now
        self._next_iv = next_iv

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
        """Replace the expired session key ``stale`` (``None``: there is none yet); lock-free.

        Of the threads that find the same key expired, only the first to claim it
        (``next()`` on its claim counter, one C call, atomic under the GIL) builds the
        successor; the others go on using ``stale`` for the moment that takes. An
        expired key is still a complete, valid key: expiry bounds how long a key is
        used, it does not make its ciphertexts wrong. Before the first key exists every
        racing thread builds its own, and the last one published stays. Either way each
        value is sealed under exactly one immutable session key, and IVs come from one
        source that never repeats, so nothing is lost or mixed.
        """
        current = self._session
        if current is not stale and current is not None:
            return current  # another thread has already replaced it
        if stale is not None and next(stale.rotation_claims):
            return stale  # another thread is building the successor
        try:
            session = SessionKey.create(
                self.curve,
                self._app_public_key,
                self._new_private_key(self.curve),
                self._monotonic() + self._rotation_seconds,
            )
        except BaseException:
            # The claim on ``stale`` is spent: unpublish it so the next call tries again.
            if self._session is stale:
                self._session = None
            raise
        self._session = session
        return session

    def reset(self) -> None:
        """Forget the session key (e.g. in a child process after fork); the next call makes one."""
        self._session = None
        self._frames = {}
        self._last_frame = (None, 0.0, 0.0, b"")

    # --- public operations --------------------------------------------------------------

    def encrypt(self, data: object, role: str | None = None) -> Encrypted:
        """Encrypt a primitive, a (nested) dict/list/tuple/set of primitives, or a file's bytes."""
        # Strings are sealed inline (the same steps as _Walker.seal()): on a ~1 us
        # operation each Python call saved is several percent. Without a role first,
        # the most common call of all.
        if role is None and type(data) is str:
            session = self._session
            if session is None or self._monotonic() >= session.expires_at:
                session = self._rotate(session)
            iv, iv_text = self._next_iv()
            try:
                sealed = session.plain_encrypt(iv, data.encode(), session.plain_aad)
            except UnicodeEncodeError:
                raise _lone_surrogate_error() from None
            # Positional b2a_base64 (keyword parsing costs more than stripping the newline);
            # decode() as UTF-8, the fastest codec call, exact for base64's ASCII.
            body = b2a_base64(sealed).decode().rstrip(_PAD)
            return f"{session.plain_string_head}{iv_text}{session.key_segment}{body}:$"
        if role is not None and type(data) is str:
            now = self._wall_time()
            last_role, start, end, role_frame = self._last_frame
            if role is not last_role or not start <= now < end:
                role_frame = self._frame(role, now)
            session = self._session
            if session is None or self._monotonic() >= session.expires_at:
                session = self._rotate(session)
            iv, iv_text = self._next_iv()
            try:
                plaintext = role_frame + data.encode()
            except UnicodeEncodeError:
                raise _lone_surrogate_error() from None
            sealed = session.metadata_aead.encrypt(iv, plaintext, session.metadata_aads[_STRING])
            body = b2a_base64(sealed).decode().rstrip(_PAD)
            return f"{session.metadata_heads[_STRING]}{iv_text}{session.key_segment}{body}:$"
        if isinstance(data, (bytes, bytearray, memoryview)):
            if role is not None:
                raise InvalidArgumentError("Files cannot carry a data role; pass role=None.")
            return self.encrypt_file(data)
        if data is None:
            raise UnsupportedTypeError("Data not defined: None cannot be encrypted.")
        frame = self._frame(role) if role is not None else None
        walker = _Walker(self.current_session(), self._next_iv, frame)
        try:
            return walker.walk(data)
        except RecursionError:
            raise InvalidArgumentError("The data is nested too deeply to encrypt.") from None
        except UnicodeEncodeError:  # a lone surrogate: str.encode() cannot write it as UTF-8
            raise _lone_surrogate_error() from None

    def encrypt_file(self, data: bytes | bytearray | memoryview) -> bytes:
        """The ``%EVENC`` file of ``data`` (version 2 on secp256k1, 3 on P-256).

        Built in a single output-sized buffer (see :func:`streaming.seal_file`), made by
        ``build_bytes``.
        """
        view = memoryview(data)
        if not view.c_contiguous:  # e.g. a strided slice: AES-GCM needs contiguous bytes
            view = memoryview(view.tobytes())
        size = view.nbytes
        if size > self._max_file_size:
            raise ExceededMaxFileSizeError(
                f"File size must be at most {self._max_file_size} bytes, got {size}; "
                "raise the limit with EV_MAX_FILE_SIZE_IN_MB or max_file_size."
            )
        return seal_file(self.file_encryptor(), view, build_bytes=self._build_bytes)

    def file_encryptor(self) -> FileEncryptor:
        """A sans-I/O incremental encryptor for one ``%EVENC`` file of any size.

        It holds the current session key and a fresh IV for as long as the file takes;
        :func:`evervault.services.file_streams.encrypt_stream` drives it between files.
        """
        iv, _ = self._next_iv()
        return FileEncryptor(self.current_session(), iv)

    def encrypt_text(self, session: SessionKey, datatype: Datatype, text: str, role: str | None) -> str:
        """One ev-string for an already-coerced text (used by the spec tests)."""
        frame = self._frame(role) if role is not None else None
        return _Walker(session, self._next_iv, frame).seal(_DATATYPE_INDEX[datatype], text)

    # --- internals ------------------------------------------------------------------------

    def _frame(self, role: str, now: float | None = None) -> bytes:
        """The metadata frame for ``role`` at the current second, cached per role and second.

        A cached frame stays valid while the wall clock is inside its second: two float
        comparisons per call instead of truncating the time and rebuilding the frame.
        """
        if now is None:
            now = self._wall_time()
        try:
            cached = self._frames.get(role)
        except TypeError:  # unhashable, so not a str: must not reach the cache
            validate_role(role)  # raises InvalidRoleError
            raise
        if cached is None or not cached[0] <= now < cached[1]:
            second = int(now)
            cached = (second, second + 1, encode_frame(validate_role(role), self._origin, second))
            if len(self._frames) >= _FRAME_CACHE_LIMIT:
                self._frames = {}
            self._frames[role] = cached
        self._last_frame = (role, *cached)  # one assignment: threads see old or new, never a mix
        return cached[2]


class _Walker:
    """Encrypts one container under one session key (and role frame): made per call.

    It holds every per-key constant, and :meth:`seal_items` loads them into locals
    once, so a leaf costs its AES-GCM call plus a few bytecodes. ``prefix`` is the
    role's metadata frame, or ``b""`` without a role.
    """

    __slots__ = ("aads", "aead_encrypt", "heads", "key_segment", "next_iv", "prefix")

    def __init__(
        self,
        session: SessionKey,
        next_iv: Callable[[], tuple[bytes, str]],
        frame: bytes | None,
    ) -> None:
        self.next_iv = next_iv
        self.key_segment = session.key_segment
        if frame is None:
            self.aead_encrypt = session.plain_aead.encrypt
            self.aads = (session.plain_aad, session.plain_aad, session.plain_aad)
            self.heads = session.plain_heads
            self.prefix = b""
        else:
            self.aead_encrypt = session.metadata_aead.encrypt
            self.aads = session.metadata_aads
            self.heads = session.metadata_heads
            self.prefix = frame

    def seal(self, datatype: int, text: str) -> str:
        plaintext = text.encode()
        if self.prefix:
            plaintext = self.prefix + plaintext
        iv, iv_text = self.next_iv()
        sealed = self.aead_encrypt(iv, plaintext, self.aads[datatype])
        body = b2a_base64(sealed).decode().rstrip(_PAD)
        return f"{self.heads[datatype]}{iv_text}{self.key_segment}{body}:$"

    def walk(self, value: Any) -> Encrypted:
        kind = type(value)
        if kind is dict:
            return self.seal_items(value.items())
        if kind is str:
            return self.seal(_STRING, value)
        if kind is int:
            return self.seal(_NUMBER, _int_text(value))
        if kind is float:
            return self.seal(_NUMBER, float.__repr__(value))
        if kind is bool:
            return self.seal(_BOOLEAN, "true" if value else "false")
        if kind is list:
            return list(self.seal_items(enumerate(value)).values())
        if kind is tuple:
            return tuple(self.seal_items(enumerate(value)).values())
        if kind is set:
            return set(self.seal_items(enumerate(value)).values())
        if kind is frozenset:
            return frozenset(self.seal_items(enumerate(value)).values())
        if isinstance(value, (str, int, float)):  # subclasses: IntEnum, str enums, ...
            datatype, text = to_text(value)
            return self.seal(_DATATYPE_INDEX[datatype], text)
        if isinstance(value, dict):
            return self.seal_items(value.items())
        raise UnsupportedTypeError(_unsupported_message(value))

    def seal_items(self, items: Iterable[tuple[Any, Any]]) -> dict[Any, Encrypted]:
        """Encrypt each (key, value) pair's value; sequences come in as enumerate() pairs.

        The hot loop (a form post, a row, a column): string and int leaves are sealed
        right here, the steps of seal() inlined, with every constant in a local.
        """
        next_iv, aead_encrypt, prefix = self.next_iv, self.aead_encrypt, self.prefix
        key_segment = self.key_segment
        string_head, string_aad = self.heads[_STRING], self.aads[_STRING]
        number_head, number_aad = self.heads[_NUMBER], self.aads[_NUMBER]
        encrypted: dict[Any, Encrypted] = {}
        for key, item in items:
            kind = type(item)
            if kind is str:
                head, aad, plaintext = string_head, string_aad, item.encode()
            elif kind is int:
                try:
                    text = repr(item)  # int.__repr__, as item is exactly an int
                except ValueError:  # beyond sys.get_int_max_str_digits()
                    raise _too_many_digits_error() from None
                head, aad, plaintext = number_head, number_aad, text.encode()
            else:
                encrypted[key] = self.walk(item)
                continue
            if prefix:  # concatenating even b"" costs more than this test
                plaintext = prefix + plaintext
            iv, iv_text = next_iv()
            body = b2a_base64(aead_encrypt(iv, plaintext, aad)).decode().rstrip(_PAD)
            encrypted[key] = f"{head}{iv_text}{key_segment}{body}:$"
        return encrypted


def _int_text(value: int) -> str:
    """Decimal text of an exact ``int`` (``repr`` is ``int.__repr__`` here, and faster to call)."""
    try:
        return repr(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise _too_many_digits_error() from None


def _too_many_digits_error() -> InvalidArgumentError:
    return InvalidArgumentError(
        "This integer has too many digits to encrypt; encrypt it as a string instead."
    )


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
