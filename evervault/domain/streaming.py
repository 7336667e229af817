"""``%EVENC`` files of any size, incrementally, in bounded memory; sans-I/O.

Encryption: :class:`FileEncryptor` knows the header (magic, version, ephemeral
key, IV) before the first data byte, runs AES-GCM chunk by chunk, and carries
the CRC-32 along over every byte produced, so :meth:`~FileEncryptor.finalize`
only has to append the tag and the checksum. :func:`seal_file` drives it over
one in-memory buffer.

Decryption: :class:`FileDecryptor` takes the file's bytes in any chunking, but
whatever it returns before :meth:`~FileDecryptor.finalize` succeeds is
**unverified** plaintext.

Nothing here reads or writes a file: the loops between binary file objects
(``encrypt_stream``, ``verify_stream`` and the two-pass ``decrypt_stream``, which
releases no plaintext before the tag is checked) are in
:mod:`evervault.services.file_streams`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

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
from evervault.domain.errors import DecryptionError, InvalidArgumentError, MalformedFileError
from evervault.domain.metadata import Metadata, decode_map
from evervault.domain.session import DerivedKeys, SessionKey

TRAILER_LENGTH = TAG_LENGTH + CRC_LENGTH
# A chunk of AES-GCM output into a caller's buffer may need up to a block more room.
UPDATE_SLACK = 15

# Makes a ``bytes`` object of ``size`` bytes: calls ``fill`` once with a writable view of
# a fresh ``size``-byte buffer, then returns what was written as ``bytes``. The domain
# has the portable build_bytes_by_copy; evervault.adapters.system has one that hands
# back the filled buffer itself, with no copy.
BytesBuilder = Callable[[int, Callable[[memoryview], None]], bytes]


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
        _require_room(out, memoryview(chunk).nbytes + UPDATE_SLACK)
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


def build_bytes_by_copy(size: int, fill: Callable[[memoryview], None]) -> bytes:
    """The portable :data:`BytesBuilder`: fills a ``bytearray``, then copies it once into ``bytes``."""
    buffer = bytearray(size)
    with memoryview(buffer) as view:
        fill(view)
    return bytes(buffer)


def seal_file(
    encryptor: FileEncryptor,
    data: Buffer,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    build_bytes: BytesBuilder = build_bytes_by_copy,
) -> bytes:
    """A whole ``%EVENC`` file for ``data``, written straight into one output-sized buffer.

    ``build_bytes`` provides that buffer; with an in-place builder (the one
    :func:`evervault.adapters.system.default_encryptor` wires in) the result is that
    very buffer, so the file is never copied. The CRC-32 is computed per chunk right
    after encryption, while the chunk is still in cache.
    """
    source = memoryview(data).cast("B")
    size = len(source)

    def fill(out: memoryview) -> None:
        out[:HEADER_LENGTH] = encryptor.header
        position = HEADER_LENGTH
        for start in range(0, size, chunk_size):
            position += encryptor.update_into(source[start : start + chunk_size], out[position:])
        out[position:] = encryptor.finalize()

    return build_bytes(HEADER_LENGTH + size + TRAILER_LENGTH, fill)


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
        out = bytearray(memoryview(data).nbytes + TRAILER_LENGTH + UPDATE_SLACK)
        return bytes(out[: self.update_into(data, out)])

    def update_into(self, data: Buffer, out: bytearray | memoryview) -> int:
        """Write UNVERIFIED plaintext into ``out`` (room: ``len(data) + 35`` bytes); returns its length."""
        self._require_open()
        view = memoryview(data).cast("B")
        _require_room(out, len(view) + TRAILER_LENGTH + UPDATE_SLACK)
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


def _require_room(out: bytearray | memoryview, needed: int) -> None:
    if memoryview(out).nbytes < needed:
        raise InvalidArgumentError(f"The output buffer needs room for {needed} bytes for this chunk.")


def _authentication_error() -> DecryptionError:
    return DecryptionError(
        "The file failed authentication: it was altered, or encrypted for another app or key."
    )
