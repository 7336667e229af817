"""The %EVENC file envelope (docs/protocol.md §6)."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain import envelope
from evervault.domain.curves import Curve
from evervault.domain.envelope import HEADER_LENGTH, FileVersion
from evervault.domain.errors import (
    CiphertextError,
    FileChecksumError,
    MalformedFileError,
    UnsupportedVersionError,
)

KEY = b"\x03" + bytes(range(32))
IV = bytes(range(1, 13))


@pytest.mark.parametrize(
    ("version", "curve", "crc", "metadata", "kdf"),
    [
        (FileVersion.SECP256K1_NO_CRC, Curve.SECP256K1, False, False, False),
        (FileVersion.P256_NO_CRC, Curve.P256, False, False, True),
        (FileVersion.SECP256K1, Curve.SECP256K1, True, False, False),
        (FileVersion.P256, Curve.P256, True, False, True),
        (FileVersion.SECP256K1_METADATA, Curve.SECP256K1, True, True, True),
        (FileVersion.P256_METADATA, Curve.P256, True, True, True),
    ],
)
def test_file_version_traits(
    version: FileVersion, curve: Curve, crc: bool, metadata: bool, kdf: bool
) -> None:
    assert (version.curve, version.has_crc, version.has_metadata) == (curve, crc, metadata)
    assert version.uses_kdf is kdf and version.uses_app_key_aad is kdf


def test_current_file_versions() -> None:
    assert FileVersion.current(Curve.SECP256K1) is FileVersion.SECP256K1
    assert FileVersion.current(Curve.P256) is FileVersion.P256


def test_layout_of_an_encoded_file() -> None:
    ciphertext = bytes(range(20))
    data = envelope.encode(FileVersion.P256, KEY, IV, ciphertext)
    assert data[:6] == b"%EVENC" and data[6] == 3
    assert struct.unpack_from("<H", data, 7) == (HEADER_LENGTH,)
    assert data[9:42] == KEY and data[42:54] == IV and data[54] == 0
    assert data[55:-4] == ciphertext
    assert struct.unpack("<I", data[-4:]) == (zlib.crc32(data[:-4]),)
    assert len(data) == 55 + len(ciphertext) + 4
    assert envelope.is_encrypted_file(data) and envelope.is_encrypted_file(memoryview(data))


@pytest.mark.parametrize("version", [0, 1, 4, 5])
def test_only_current_versions_are_written(version: int) -> None:
    with pytest.raises(UnsupportedVersionError):
        envelope.encode(FileVersion(version), KEY, IV, bytes(16))


def test_header_needs_compressed_key_and_twelve_byte_iv() -> None:
    with pytest.raises(MalformedFileError):
        envelope.header(FileVersion.SECP256K1, KEY[:-1], IV)
    with pytest.raises(MalformedFileError):
        envelope.header(FileVersion.SECP256K1, KEY, IV[:-1])


@settings(max_examples=50)
@given(st.binary(max_size=300), st.sampled_from([0, 1, 2**31, 2**32 - 1]))
def test_crc32_is_zlibs(data: bytes, start: int) -> None:
    assert envelope.crc32(data, start) == zlib.crc32(data, start)


@settings(max_examples=60)
@given(version=st.sampled_from([FileVersion.SECP256K1, FileVersion.P256]), ciphertext=st.binary(min_size=16))
def test_encode_parse_round_trip(version: FileVersion, ciphertext: bytes) -> None:
    parsed = envelope.parse(bytearray(envelope.encode(version, KEY, IV, ciphertext)))
    assert (parsed.version, parsed.ephemeral_public_key, parsed.iv) == (version, KEY, IV)
    assert (parsed.flags, parsed.ciphertext, parsed.encrypted_metadata) == (0, ciphertext, None)


def test_parse_metadata_layout() -> None:
    encrypted_metadata, ciphertext = bytes(range(30)), bytes(range(100, 120))
    block = struct.pack("<H", len(encrypted_metadata)) + encrypted_metadata
    head = b"%EVENC\x05" + struct.pack("<H", 55 + len(block)) + KEY + IV + b"\x00"
    body = head + block + ciphertext
    parsed = envelope.parse(body + struct.pack("<I", zlib.crc32(body)))
    assert parsed.version is FileVersion.P256_METADATA
    assert (parsed.encrypted_metadata, parsed.ciphertext) == (encrypted_metadata, ciphertext)


def test_checksum_error_is_a_malformed_file_error() -> None:
    data = bytearray(envelope.encode(FileVersion.SECP256K1, KEY, IV, bytes(16)))
    data[-1] ^= 0xFF
    with pytest.raises(FileChecksumError) as caught:
        envelope.parse(data)
    assert isinstance(caught.value, MalformedFileError)


@settings(max_examples=100)
@given(st.binary(max_size=120), st.sampled_from([b"", b"%EVENC", b"%EVENC\x02", b"%EVENC\x05"]))
def test_parsing_arbitrary_bytes_only_ever_raises_ciphertext_errors(tail: bytes, head: bytes) -> None:
    data = head + tail
    try:
        parsed = envelope.parse(data)
    except CiphertextError:
        return
    assert len(parsed.ciphertext) >= 16 and parsed.ephemeral_public_key[0] in (2, 3)
