"""``%EVENC`` files of any size, incrementally, in bounded memory.

Encryption: :class:`FileEncryptor` is sans-I/O. The header (magic, version,
ephemeral key, IV) is known before the first data byte, AES-GCM runs chunk by
chunk, and the CRC-32 is carried along over every byte written, so
:meth:`~FileEncryptor.finalize` only has to append the tag and the checksum.
:func:`seal_file` drives it over one in-memory buffer with no extra copy;
:func:`encrypt_stream` drives it between two binary file objects.

Decryption: :class:`FileDecryptor` is sans-I/O too, but whatever it returns
before :meth:`~FileDecryptor.finalize` succeeds is **unverified** plaintext.
:func:`decrypt_stream` therefore never releases plaintext before the GCM tag
is checked: it makes two passes over a seekable source, the first only to
verify the checksum and tag, the second to write the plaintext out.

The file objects are the caller's: nothing here opens files or sockets.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import (
    AEADDecryptionContext,
    AEADEncryptionContext,
    Cipher,
)
from cryptography.hazmat.primitives.ciphers import algorithms as cipher_algorithms
from cryptography.hazmat.primitives.ciphers import modes as cipher_modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from evervault.domain.ciphertext import TAG_LENGTH
from evervault.domain.curves import Curve, compressed_point, load_public_point, uncompressed_point
from evervault.domain.defaults import DEFAULT_CHUNK_SIZE as DEFAULT_CHUNK_SIZE
from evervault.domain.envelope import (
    CRC_FORMAT,
    CRC_LENGTH,
    FLAGS_OFFSET,
    HEADER_LENGTH,
    IV_OFFSET,
    MAGIC,
    METADATA_START,
    Buffer,
    FileVersion,
    compressed_ephemeral_key,
    crc32,
    file_version,
    header,
    is_encrypted_file,
    metadata_length,
    not_an_encrypted_file,
    require_crc,
    require_data_offset,
)
from evervault.domain.errors import (
    DecryptionError,
    InvalidArgumentError,
    MalformedFileError,
    UnsupportedTypeError,
)
from evervault.domain.metadata import Metadata, decode_map
from evervault.domain.session import DerivedKeys, SessionKey

TRAILER_LENGTH = TAG_LENGTH + CRC_LENGTH
# A chunk of AES-GCM output into a caller's buffer may need up to a block more room.
_UPDATE_SLACK = 15


class ReadableStream(Protocol):
    """A binary file opened for reading (``open(path, "rb")``, ``io.BytesIO``, ...)."""

    def readinto(self, buffer: memoryview, /) -> int | None:
        """Fill ``buffer`` from the stream; the number of bytes read, 0 at the end."""


class SeekableStream(ReadableStream, Protocol):
    """A readable binary file that can be rewound (a regular or temporary file)."""

    def seekable(self) -> bool:
        """Whether :meth:`seek` works."""

    def tell(self) -> int:
        """The current position."""

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Move to ``offset``."""


class WritableStream(Protocol):
    """A binary file opened for writing."""

    def write(self, data: memoryview, /) -> int | None:
        """Write some or all of ``data``; the number of bytes written."""


# --- encryption ------------------------------------------------------------------------------


class FileEncryptor:
    """Writes one current-version (v2/v3) ``%EVENC`` file incrementally; not thread-safe.

    Output, in order: :attr:`header`, the result of every :meth:`update` (or
    :meth:`update_into`), then :meth:`finalize` (tag and CRC-32, 20 bytes).
    """

    def __init__(self, session: SessionKey, iv: bytes) -> None:
        self.header = header(FileVersion.current(session.curve), session.ephemeral_public_key, iv)
        cipher = Cipher(cipher_algorithms.AES(session.file_key), cipher_modes.GCM(iv)).encryptor()
        if session.file_aad is not None:
            cipher.authenticate_additional_data(session.file_aad)
        self._cipher: AEADEncryptionContext = cipher
        self._crc = crc32(self.header)
        self._finished = False

    def __repr__(self) -> str:
        return f"FileEncryptor(finished={self._finished})"

    def update(self, chunk: Buffer) -> bytes:
        """The ciphertext of the next ``chunk`` (same length)."""
        self._require_open()
        sealed = self._cipher.update(chunk)
        self._crc = crc32(sealed, self._crc)
        return sealed

    def update_into(self, chunk: Buffer, out: bytearray | memoryview) -> int:
        """Write the ciphertext of ``chunk`` at the start of ``out``; returns its length.

        ``out`` must have room for ``len(chunk) + 15`` bytes.
        """
        self._require_open()
        _require_room(out, memoryview(chunk).nbytes + _UPDATE_SLACK)
        written = self._cipher.update_into(chunk, out)
        self._crc = crc32(memoryview(out)[:written], self._crc)
        return written

    def finalize(self) -> bytes:
        """The file's last 20 bytes: the GCM tag, then the CRC-32 of everything before."""
        self._require_open()
        self._finished = True
        self._cipher.finalize()  # GCM is a stream mode: no buffered bytes remain
        tag: bytes = self._cipher.tag
        return tag + CRC_FORMAT.pack(crc32(tag, self._crc))

    def _require_open(self) -> None:
        if self._finished:
            raise InvalidArgumentError("This file encryptor is finished; start a new one per file.")


def seal_file(encryptor: FileEncryptor, data: Buffer, chunk_size: int = DEFAULT_CHUNK_SIZE) -> bytes:
    """A whole ``%EVENC`` file for ``data``, built in one output-sized buffer.

    The buffer is the ``bytes`` object inside an ``io.BytesIO`` made from
    ``bytes(total)`` (allocated zeroed by the OS, so untouched until written).
    AES-GCM writes into it through ``getbuffer()``; once that view is released,
    ``getvalue()`` hands the same object back without copying (CPython; other
    interpreters may copy, which is still correct). The CRC-32 is computed per
    chunk right after encryption, while the chunk is still in cache.
    """
    source = memoryview(data).cast("B")
    size = len(source)
    buffer = io.BytesIO(bytes(HEADER_LENGTH + size + TRAILER_LENGTH))
    with buffer.getbuffer() as out:
        out[:HEADER_LENGTH] = encryptor.header
        position = HEADER_LENGTH
        for start in range(0, size, chunk_size):
            position += encryptor.update_into(source[start : start + chunk_size], out[position:])
        out[position:] = encryptor.finalize()
    return buffer.getvalue()


def encrypt_stream(
    encryptor: FileEncryptor,
    source: ReadableStream,
    destination: WritableStream,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Copy ``source`` to ``destination`` as an ``%EVENC`` file; returns the bytes written.

    Two chunk-sized buffers are reused throughout, so memory does not grow with the file.
    """
    check_stream_arguments(source, destination, chunk_size)
    read_buffer = bytearray(chunk_size)
    write_buffer = bytearray(chunk_size + _UPDATE_SLACK)
    written = _write_all(destination, encryptor.header)
    with memoryview(read_buffer) as incoming, memoryview(write_buffer) as outgoing:
        while count := _read_into(source, incoming):
            sealed = encryptor.update_into(incoming[:count], outgoing)
            written += _write_all(destination, outgoing[:sealed])
    return written + _write_all(destination, encryptor.finalize())


def check_stream_arguments(source: object, destination: object, chunk_size: object) -> None:
    """Refuse what would fail obscurely (or, for a zero chunk size, silently encrypt nothing)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidArgumentError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}.")
    if isinstance(source, io.TextIOBase) or not callable(getattr(source, "readinto", None)):
        raise UnsupportedTypeError(
            f"The source must be a binary file object with readinto(), such as open(path, 'rb'); "
            f"got {type(source).__name__}."
        )
    if destination is not None and (
        isinstance(destination, io.TextIOBase) or not callable(getattr(destination, "write", None))
    ):
        raise UnsupportedTypeError(
            f"The destination must be a binary file object with write(), such as open(path, 'wb'); "
            f"got {type(destination).__name__}."
        )


def _read_into(source: ReadableStream, buffer: memoryview) -> int:
    """``readinto``, refusing a non-blocking stream's "nothing yet" (None) rather than taking it for EOF."""
    count = source.readinto(buffer)
    if count is None:
        raise InvalidArgumentError("The source is non-blocking; pass a blocking file object.")
    return count


def _write_all(destination: WritableStream, data: Buffer) -> int:
    """``write`` may be partial on raw files; loop until everything is written."""
    view = memoryview(data)
    total = len(view)
    while view:
        count = destination.write(view)
        if count is None:  # a non-blocking raw stream that could not write now
            raise InvalidArgumentError("The destination is non-blocking; pass a blocking file object.")
        view = view[count:]
    return total


# --- decryption ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamHeader:
    """What the start of a ``%EVENC`` file says, known before any data is decrypted."""

    version: FileVersion
    ephemeral_public_key: bytes
    iv: bytes
    flags: int
    metadata: Metadata | None


@dataclass(frozen=True)
class StreamResult:
    """A verified stream: its header and the plaintext length."""

    header: StreamHeader
    plaintext_length: int


class FileDecryptor:
    """Reads one ``%EVENC`` file (any version, 0-5) incrementally; not thread-safe.

    Feed the file's bytes in any chunking to :meth:`update` (or :meth:`update_into`),
    then call :meth:`finalize`. What those return is **unverified** plaintext: do not
    release it (to a client, a disk, a log) until :meth:`finalize` has returned.
    Only the last 16-20 bytes (tag and CRC) are held back between calls.
    """

    def __init__(self, private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]) -> None:
        self._private_keys = dict(private_keys)
        self._head = bytearray()  # the bytes before the data, until the header is complete
        self._tail = bytearray()  # held back: possibly the tag and CRC
        self._header: StreamHeader | None = None
        self._cipher: AEADDecryptionContext | None = None
        self._has_crc = True
        self._trailer_length = TRAILER_LENGTH
        self._crc = 0
        self._plaintext_length = 0
        self._finished = False

    def __repr__(self) -> str:
        return f"FileDecryptor(header_read={self._header is not None}, finished={self._finished})"

    @property
    def header(self) -> StreamHeader | None:
        """The parsed header once enough bytes have arrived (the metadata, if any, is authenticated)."""
        return self._header

    def update(self, data: Buffer) -> bytes:
        """UNVERIFIED plaintext for the file bytes released so far."""
        out = bytearray(memoryview(data).nbytes + TRAILER_LENGTH + _UPDATE_SLACK)
        return bytes(out[: self.update_into(data, out)])

    def update_into(self, data: Buffer, out: bytearray | memoryview) -> int:
        """Write UNVERIFIED plaintext into ``out`` (room: ``len(data) + 35`` bytes); returns its length."""
        self._require_open()
        view = memoryview(data).cast("B")
        _require_room(out, len(view) + TRAILER_LENGTH + _UPDATE_SLACK)
        if self._cipher is None:
            view = self._read_header(view)
            if self._cipher is None:
                return 0
        held, body = self._release(view)
        cipher = self._cipher
        written = 0
        with memoryview(out) as target:
            for piece in (held, body):
                if piece:
                    if self._has_crc:
                        self._crc = crc32(piece, self._crc)
                    written += cipher.update_into(piece, target[written:])
        self._plaintext_length += written
        return written

    def finalize(self) -> StreamResult:
        """Check the CRC-32 and the GCM tag; only now is the plaintext returned so far genuine."""
        self._require_open()
        self._finished = True
        if self._cipher is None or self._header is None:
            raise MalformedFileError("The file ended before its header was complete.")
        if len(self._tail) < self._trailer_length:
            raise MalformedFileError("The file is too short to hold its 16-byte GCM tag.")
        tag = bytes(self._tail[:TAG_LENGTH])
        if self._has_crc:
            require_crc(crc32(tag, self._crc), CRC_FORMAT.unpack_from(self._tail, TAG_LENGTH)[0])
        try:
            self._cipher.finalize_with_tag(tag)
        except InvalidTag:
            raise _authentication_error() from None
        return StreamResult(self._header, self._plaintext_length)

    # --- header ---------------------------------------------------------------------------

    def _read_header(self, view: memoryview) -> memoryview:
        """Move header bytes from ``view`` into ``_head``; open the cipher once it is complete."""
        while True:
            needed = self._header_length()
            missing = needed - len(self._head)
            if missing <= 0:
                break
            if not view:
                return view
            self._head += view[:missing]
            view = view[missing:]
        self._open(bytes(self._head))
        return view

    def _header_length(self) -> int:
        """How many bytes precede the data, as far as the bytes read so far tell."""
        head = self._head
        if len(head) >= len(MAGIC) and not is_encrypted_file(head):
            raise not_an_encrypted_file()
        if len(head) < HEADER_LENGTH or not file_version(head[6]).has_metadata:
            return HEADER_LENGTH
        if len(head) < METADATA_START:
            return METADATA_START
        # The end of the file is not known yet, so only the lower bound can be checked here.
        return METADATA_START + metadata_length(head)

    def _open(self, head: bytes) -> None:
        version = file_version(head[6])
        require_data_offset(head, len(head))
        ephemeral_public_key = compressed_ephemeral_key(head)
        iv = head[IV_OFFSET:FLAGS_OFFSET]
        key, aad = self._file_key(version, ephemeral_public_key)
        metadata = None
        if version.has_metadata:
            # Withdrawn v4/v5: the metadata map sealed with the same key and IV as the data.
            try:
                metadata = decode_map(AESGCM(key).decrypt(iv, head[METADATA_START:], aad))
            except InvalidTag:
                raise _authentication_error() from None
        cipher = Cipher(cipher_algorithms.AES(key), cipher_modes.GCM(iv)).decryptor()
        if aad is not None:
            cipher.authenticate_additional_data(aad)
        self._has_crc = version.has_crc
        self._trailer_length = TRAILER_LENGTH if version.has_crc else TAG_LENGTH
        self._crc = crc32(head) if version.has_crc else 0
        self._header = StreamHeader(version, ephemeral_public_key, iv, head[FLAGS_OFFSET], metadata)
        self._cipher = cipher

    def _file_key(self, version: FileVersion, ephemeral_public_key: bytes) -> tuple[bytes, bytes | None]:
        private_key = self._private_keys.get(version.curve)
        if private_key is None:
            raise DecryptionError(
                f"This file was encrypted on {version.curve.value}, for which no app private key is loaded."
            )
        ephemeral = load_public_point(version.curve, ephemeral_public_key)
        keys = DerivedKeys.derive(
            version.curve, private_key, ephemeral_public_key, uncompressed_point(ephemeral)
        )
        key = keys.kdf_key if version.uses_kdf else keys.shared_secret
        aad = compressed_point(private_key.public_key()) if version.uses_app_key_aad else None
        return key, aad

    # --- body -----------------------------------------------------------------------------

    def _release(self, view: memoryview) -> tuple[bytes, memoryview]:
        """Split held-back and new bytes into what is surely data and a new held-back tail."""
        tail = self._tail
        releasable = len(tail) + len(view) - self._trailer_length
        if releasable <= 0:
            tail += view
            return b"", view[:0]
        from_tail = min(releasable, len(tail))
        held = bytes(tail[:from_tail])
        del tail[:from_tail]
        from_view = releasable - from_tail
        tail += view[from_view:]
        return held, view[:from_view]

    def _require_open(self) -> None:
        if self._finished:
            raise InvalidArgumentError("This file decryptor is finished; start a new one per file.")


def verify_stream(
    private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey],
    source: ReadableStream,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StreamResult:
    """Read ``source`` to its end and check its CRC-32 and GCM tag; no plaintext leaves."""
    check_stream_arguments(source, None, chunk_size)
    decryptor = FileDecryptor(private_keys)
    read_buffer = bytearray(chunk_size)
    scratch = bytearray(chunk_size + TRAILER_LENGTH + _UPDATE_SLACK)
    with memoryview(read_buffer) as incoming:
        while count := _read_into(source, incoming):
            decryptor.update_into(incoming[:count], scratch)
    return decryptor.finalize()


def decrypt_stream(
    private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey],
    source: SeekableStream,
    destination: WritableStream,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StreamResult:
    """Decrypt a seekable ``source`` into ``destination``, releasing nothing unverified.

    Pass one reads the whole file and checks its CRC-32 and tag without keeping
    any plaintext; only then does pass two decrypt and write. Costs two AES-GCM
    passes and no extra storage; memory stays at about three chunks. If the source
    changes between the passes, pass two fails authentication and raises (with a
    partial ``destination``, which the caller must discard, as after any error).
    """
    check_stream_arguments(source, destination, chunk_size)
    if not source.seekable():
        raise InvalidArgumentError(
            "Streaming decryption needs a seekable source (it is read twice); "
            "spool the ciphertext to a temporary file first."
        )
    start = source.tell()
    verify_stream(private_keys, source, chunk_size)
    source.seek(start)
    decryptor = FileDecryptor(private_keys)
    read_buffer = bytearray(chunk_size)
    write_buffer = bytearray(chunk_size + TRAILER_LENGTH + _UPDATE_SLACK)
    with memoryview(read_buffer) as incoming, memoryview(write_buffer) as outgoing:
        while count := _read_into(source, incoming):
            _write_all(destination, outgoing[: decryptor.update_into(incoming[:count], outgoing)])
    try:
        return decryptor.finalize()
    except DecryptionError:
        raise DecryptionError(
            "The file changed between the verification and decryption passes; discard the output."
        ) from None


def _require_room(out: bytearray | memoryview, needed: int) -> None:
    if memoryview(out).nbytes < needed:
        raise InvalidArgumentError(f"The output buffer needs room for {needed} bytes for this chunk.")


def _authentication_error() -> DecryptionError:
    return DecryptionError(
        "The file failed authentication: it was altered, or encrypted for another app or key."
    )
