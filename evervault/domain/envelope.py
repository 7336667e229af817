"""The ``%EVENC`` binary file envelope (wire-format section 6).

Layout of the current versions (2 = secp256k1, 3 = P-256)::

    0   6  magic "%EVENC"
    6   1  version
    7   2  offset of the ciphertext, uint16 LE (55)
    9  33  ephemeral public key, compressed
    42 12  IV
    54  1  flags
    55  n  AES-GCM ciphertext || 16-byte tag
    -4  4  CRC-32 (zlib) of every preceding byte, LE

Versions 0/1 lack the CRC; versions 4/5 (withdrawn, decode only) carry an
encrypted metadata block between the flags and the data.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from evervault.domain.ciphertext import IV_LENGTH, TAG_LENGTH
from evervault.domain.curves import COMPRESSED_POINT_LENGTH, Curve
from evervault.domain.errors import (
    FileChecksumError,
    MalformedFileError,
    UnsupportedVersionError,
)

try:  # ISA-L's CRC-32 is ~13x faster than zlib's on large files; same polynomial and result.
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover - platforms without an isal wheel (see pyproject.toml)
    from zlib import crc32 as _crc32

MAGIC = b"%EVENC"
HEADER_LENGTH = 55
CRC_LENGTH = 4
CRC_FORMAT = struct.Struct("<I")
KEY_OFFSET = 9
IV_OFFSET = KEY_OFFSET + COMPRESSED_POINT_LENGTH
FLAGS_OFFSET = IV_OFFSET + IV_LENGTH
METADATA_START = HEADER_LENGTH + 2  # v4/v5: a uint16 LE length, then the sealed metadata
_DATA_OFFSET_FORMAT = struct.Struct("<H")
_METADATA_LENGTH_FORMAT = struct.Struct("<H")


Buffer = bytes | bytearray | memoryview


def crc32(data: Buffer, value: int = 0) -> int:
    """IEEE CRC-32 as zlib computes it (ISA-L when installed)."""
    return int(_crc32(data, value))


class FileVersion(enum.IntEnum):
    """Every ``%EVENC`` version byte; 2 and 3 are emitted, the others decoded."""

    SECP256K1_NO_CRC = 0
    P256_NO_CRC = 1
    SECP256K1 = 2
    P256 = 3
    SECP256K1_METADATA = 4
    P256_METADATA = 5

    @property
    def curve(self) -> Curve:
        return Curve.SECP256K1 if self % 2 == 0 else Curve.P256

    @property
    def has_crc(self) -> bool:
        return self >= FileVersion.SECP256K1

    @property
    def has_metadata(self) -> bool:
        return self >= FileVersion.SECP256K1_METADATA

    @property
    def uses_kdf(self) -> bool:
        """secp256k1 files without metadata use the raw ECDH secret; all others the KDF."""
        return self.curve is Curve.P256 or self.has_metadata

    @property
    def uses_app_key_aad(self) -> bool:
        return self.uses_kdf

    @classmethod
    def current(cls, curve: Curve) -> FileVersion:
        return cls.SECP256K1 if curve is Curve.SECP256K1 else cls.P256


@dataclass(frozen=True)
class FileEnvelope:
    """A parsed ``%EVENC`` file. ``ciphertext`` is the data's AES-GCM output with its tag."""

    version: FileVersion
    ephemeral_public_key: bytes
    iv: bytes
    flags: int
    ciphertext: bytes
    encrypted_metadata: bytes | None = None


def is_encrypted_file(data: bytes | bytearray | memoryview) -> bool:
    return bytes(data[:6]) == MAGIC


def header(version: FileVersion, ephemeral_public_key: bytes, iv: bytes, flags: int = 0) -> bytes:
    """The 55-byte header of a current (v2/v3) file."""
    if len(ephemeral_public_key) != COMPRESSED_POINT_LENGTH or len(iv) != IV_LENGTH:
        raise MalformedFileError("A file header needs a 33-byte compressed key and a 12-byte IV.")
    return (
        MAGIC
        + bytes((version,))
        + struct.pack("<H", HEADER_LENGTH)
        + ephemeral_public_key
        + iv
        + bytes((flags,))
    )


def encode(version: FileVersion, ephemeral_public_key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """A complete v2/v3 file: header, ciphertext with tag, CRC-32 of all of it."""
    if version.has_metadata or not version.has_crc:
        raise UnsupportedVersionError("Only file versions 2 and 3 are written.")
    head = header(version, ephemeral_public_key, iv)
    checksum = crc32(ciphertext, crc32(head))
    return b"".join((head, ciphertext, CRC_FORMAT.pack(checksum)))


def parse(data: bytes | bytearray | memoryview) -> FileEnvelope:
    """Parse and checksum-verify a file; every defect raises a :class:`MalformedFileError`."""
    try:
        view = memoryview(data).cast("B")
    except TypeError:  # not bytes-like at all (e.g. a str), or a view that cannot be flattened
        raise MalformedFileError(
            f"An encrypted file must be bytes-like (bytes, bytearray), got {type(data).__name__}."
        ) from None
    if len(view) < HEADER_LENGTH or not is_encrypted_file(view):
        raise not_an_encrypted_file()
    version = file_version(view[6])
    body_end = _verified_body_end(view, version)
    metadata = None
    data_offset = HEADER_LENGTH
    if version.has_metadata:
        metadata, data_offset = _metadata_block(view, body_end)
    require_data_offset(view, data_offset)
    if body_end - data_offset < TAG_LENGTH:
        raise MalformedFileError("The file is too short to hold the 16-byte GCM tag.")
    return FileEnvelope(
        version=version,
        ephemeral_public_key=compressed_ephemeral_key(view),
        iv=bytes(view[IV_OFFSET:FLAGS_OFFSET]),
        flags=view[FLAGS_OFFSET],
        ciphertext=bytes(view[data_offset:body_end]),
        encrypted_metadata=metadata,
    )


# --- checks shared with the incremental reader (streaming.py) --------------------------------


def not_an_encrypted_file() -> MalformedFileError:
    return MalformedFileError("Not an Evervault encrypted file: it must start with '%EVENC'.")


def file_version(byte: int) -> FileVersion:
    """The version byte as a :class:`FileVersion`; unknown values are refused."""
    try:
        return FileVersion(byte)
    except ValueError:
        raise UnsupportedVersionError(
            f"Unknown encrypted file version {byte}; known versions are 0-5."
        ) from None


def require_data_offset(head: Buffer, expected: int) -> None:
    """The header's ciphertext offset field must name where this layout's data starts."""
    (offset,) = _DATA_OFFSET_FORMAT.unpack_from(head, 7)
    if offset != expected:
        raise MalformedFileError(f"The ciphertext offset field is {offset}; this layout requires {expected}.")


def compressed_ephemeral_key(head: Buffer) -> bytes:
    """The header's ephemeral public key, which must carry a compressed-point prefix."""
    ephemeral_public_key = bytes(head[KEY_OFFSET:IV_OFFSET])
    if ephemeral_public_key[0] not in (2, 3):
        raise MalformedFileError("The file's ephemeral public key is not a compressed point.")
    return ephemeral_public_key


def metadata_length(head: Buffer, room: int | None = None) -> int:
    """The v4/v5 sealed-metadata length: at least a GCM tag, and at most ``room`` when known."""
    (length,) = _METADATA_LENGTH_FORMAT.unpack_from(head, HEADER_LENGTH)
    if length < TAG_LENGTH or (room is not None and length > room):
        raise MalformedFileError(f"The encrypted metadata length {length} is out of range.")
    return int(length)


def require_crc(computed: int, stored: int) -> None:
    if computed != stored:
        raise FileChecksumError("The file's CRC-32 does not match its contents: it was truncated or altered.")


def _verified_body_end(view: memoryview, version: FileVersion) -> int:
    if not version.has_crc:
        return len(view)
    body_end = len(view) - CRC_LENGTH
    if body_end < HEADER_LENGTH:
        raise MalformedFileError("The file is too short to hold its CRC-32.")
    (stored,) = CRC_FORMAT.unpack_from(view, body_end)
    require_crc(crc32(view[:body_end]), stored)
    return body_end


def _metadata_block(view: memoryview, body_end: int) -> tuple[bytes, int]:
    if body_end < METADATA_START:
        raise MalformedFileError("The file is too short to hold its metadata length.")
    end = METADATA_START + metadata_length(view, body_end - METADATA_START)
    return bytes(view[METADATA_START:end]), end
