"""The metadata frame inside metadata-bearing plaintexts (docs/protocol.md §4).

::

    plaintext = uint16 LE length || MessagePack map {dr?, eo, et} || UTF-8 value

The map is tiny and fixed (three known keys, string and unsigned integer values),
so it is encoded and decoded here by hand rather than through a MessagePack
library: the encoder writes the exact bytes every SDK writes, and the decoder
accepts only the subset that can appear (fixmap/map16, str keys, str/uint values)
and names whatever else it finds.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from evervault.domain.errors import InvalidRoleError, MetadataError

PYTHON_ENCRYPTION_ORIGIN = 7  # the published Python SDK's "eo" code (docs/protocol.md §4.3)

ROLE_PATTERN = re.compile(r"[a-z0-9-]{1,20}")
_MAX_UINT32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Metadata:
    """What a metadata-bearing ciphertext says about itself."""

    role: str | None
    origin: int | None
    timestamp: int | None


def validate_role(role: str) -> str:
    """A data role slug: 1-20 characters of ``[a-z0-9-]`` (the rule every strict SDK applies)."""
    if not isinstance(role, str) or not ROLE_PATTERN.fullmatch(role):
        shown = f"a {type(role).__name__}" if not isinstance(role, str) else f"{len(role)} chars"
        raise InvalidRoleError(
            "A data role must be 1-20 characters of lowercase letters, digits and '-' "
            f"(got {shown}); pass role=None to encrypt without a role."
        )
    return role


def encode_map(role: str | None, origin: int, timestamp: int) -> bytes:
    """The MessagePack map exactly as the SDKs write it: keys dr, eo, et in that order."""
    if not 0 <= origin <= 0x7F:
        raise MetadataError("The encryption origin must fit a positive fixint (0-127).")
    if not 0 <= timestamp <= _MAX_UINT32:
        raise MetadataError("The encryption timestamp must fit an unsigned 32-bit integer.")
    parts = []
    if role is not None:
        role_bytes = validate_role(role).encode("ascii")
        parts.append(b"\x83\xa2dr" + bytes((0xA0 | len(role_bytes),)) + role_bytes)
    else:
        parts.append(b"\x82")
    parts.append(b"\xa2eo" + bytes((origin,)))
    parts.append(b"\xa2et\xce" + timestamp.to_bytes(4, "big"))
    return b"".join(parts)


def encode_frame(role: str | None, origin: int, timestamp: int) -> bytes:
    """Length prefix (uint16 LE) plus the map: the bytes that precede the value."""
    packed = encode_map(role, origin, timestamp)
    return struct.pack("<H", len(packed)) + packed


def split_frame(plaintext: bytes) -> tuple[Metadata, bytes]:
    """Split a decrypted plaintext into its metadata and the value bytes."""
    if len(plaintext) < 2:
        raise MetadataError("The decrypted plaintext is too short to hold a metadata frame.")
    (length,) = struct.unpack_from("<H", plaintext)
    end = 2 + length
    if end > len(plaintext):
        raise MetadataError(f"The metadata frame claims {length} bytes but only {len(plaintext) - 2} follow.")
    return decode_map(plaintext[2:end]), plaintext[end:]


def decode_map(packed: bytes) -> Metadata:
    """Decode the metadata map; unknown keys are ignored, wrong types and trailing bytes are not."""
    reader = _Reader(packed)
    entries = reader.map_header()
    fields: dict[str, str | int] = {}
    for _ in range(entries):
        key = reader.string()
        if key in fields:
            raise MetadataError(f"The metadata map repeats the key {key[:8]!r}.")
        fields[key] = reader.scalar()
    if reader.remaining:
        raise MetadataError(f"{reader.remaining} unexpected bytes follow the metadata map.")
    return Metadata(
        role=_str_field(fields, "dr"),
        origin=_int_field(fields, "eo"),
        timestamp=_int_field(fields, "et"),
    )


def _str_field(fields: dict[str, str | int], key: str) -> str | None:
    value = fields.get(key)
    if value is not None and not isinstance(value, str):
        raise MetadataError(f"The metadata field {key!r} must be a string.")
    return value


def _int_field(fields: dict[str, str | int], key: str) -> int | None:
    value = fields.get(key)
    if value is not None and not isinstance(value, int):
        raise MetadataError(f"The metadata field {key!r} must be an unsigned integer.")
    return value


class _Reader:
    """A cursor over the MessagePack subset the metadata map uses."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, count: int) -> bytes:
        if self.remaining < count:
            raise MetadataError("The metadata map is truncated.")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def _byte(self) -> int:
        return self._take(1)[0]

    def map_header(self) -> int:
        marker = self._byte()
        if 0x80 <= marker <= 0x8F:
            return marker & 0x0F
        if marker == 0xDE:
            return int.from_bytes(self._take(2), "big")
        raise MetadataError(f"The metadata is not a MessagePack map (marker 0x{marker:02x}).")

    def string(self) -> str:
        value = self.scalar()
        if not isinstance(value, str):
            raise MetadataError("A metadata map key must be a string.")
        return value

    def scalar(self) -> str | int:
        marker = self._byte()
        if marker <= 0x7F:
            return marker
        if 0xA0 <= marker <= 0xBF:
            return self._text(marker & 0x1F)
        width = _STR_WIDTHS.get(marker)
        if width is not None:
            return self._text(int.from_bytes(self._take(width), "big"))
        width = _UINT_WIDTHS.get(marker)
        if width is not None:
            return int.from_bytes(self._take(width), "big")
        raise MetadataError(f"Unsupported MessagePack type 0x{marker:02x} in the metadata map.")

    def _text(self, length: int) -> str:
        try:
            return self._take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise MetadataError("A metadata string is not valid UTF-8.") from None


_STR_WIDTHS = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_UINT_WIDTHS = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
