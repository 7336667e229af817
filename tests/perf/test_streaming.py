"""Streaming ``%EVENC``: same format as the one-shot path, bounded memory, no unverified plaintext."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.adapters.system import build_bytes_in_place, default_encryptor
from evervault.domain.curves import Curve, compressed_point, uncompressed_point
from evervault.domain.decryption import Decryptor
from evervault.domain.envelope import FileVersion, is_encrypted_file
from evervault.domain.errors import (
    CiphertextError,
    DecryptionError,
    FileChecksumError,
    InvalidArgumentError,
    MalformedFileError,
    UnsupportedTypeError,
    UnsupportedVersionError,
)
from evervault.domain.metadata import encode_map
from evervault.domain.session import DerivedKeys
from evervault.domain.streaming import FileDecryptor, FileEncryptor, build_bytes_by_copy, seal_file
from evervault.services.file_streams import decrypt_stream, encrypt_stream, verify_stream
from tests.perf.vectors import (
    FILE_CONTENT,
    FILE_VECTORS,
    FIXED_IV,
    app_private_key,
    deterministic_encryptor,
    fixed_ephemeral_key,
)

CURVES = [Curve.SECP256K1, Curve.P256]
KEYS = {curve: app_private_key(curve) for curve in CURVES}
MIB = 1024 * 1024


class ZeroSource:
    """A readable stream of ``size`` zero bytes that never holds them all in memory."""

    def __init__(self, size: int) -> None:
        self.remaining = size

    def readinto(self, buffer: memoryview) -> int:
        count = min(len(buffer), self.remaining)
        buffer[:count] = bytes(count)
        self.remaining -= count
        return count


class ChecksumSink:
    """A writable stream that keeps only a count and a CRC of what it was given."""

    def __init__(self) -> None:
        self.count = 0
        self.crc = 0

    def write(self, data: memoryview) -> int:
        self.count += len(data)
        self.crc = zlib.crc32(data, self.crc)
        return len(data)


class PartialWriter(io.BytesIO):
    """A raw-file-like destination that accepts at most 5 bytes per write call."""

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        return super().write(bytes(data)[:5])


class ChangingSource(io.BytesIO):
    """Serves ``first`` until rewound once, then ``second``: a file altered between two reads."""

    def __init__(self, first: bytes, second: bytes) -> None:
        super().__init__(first)
        self._second = second

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._second:
            replacement, self._second = self._second, b""
            self.getbuffer()[:] = replacement
        return super().seek(offset, whence)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)] or [b""]


def stream_decrypt_in_chunks(data: bytes, size: int) -> bytes:
    decryptor = FileDecryptor(KEYS)
    plaintext = b"".join(decryptor.update(chunk) for chunk in chunked(data, size))
    decryptor.finalize()
    return plaintext


# --- encryption ------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), chunk=st.integers(min_value=1, max_value=700))
def test_incremental_encryption_equals_the_one_shot_file(curve: Curve, data: bytes, chunk: int) -> None:
    session = deterministic_encryptor(curve).current_session()
    one_shot = seal_file(FileEncryptor(session, FIXED_IV), data)
    incremental = FileEncryptor(session, FIXED_IV)
    pieces = [incremental.header, *(incremental.update(piece) for piece in chunked(data, chunk))]
    assert b"".join(pieces) + incremental.finalize() == one_shot
    streamed = io.BytesIO()
    encrypt_stream(FileEncryptor(session, FIXED_IV), io.BytesIO(data), streamed, chunk)
    assert streamed.getvalue() == one_shot
    assert Decryptor(KEYS).decrypt_file(one_shot).data == data


@pytest.mark.parametrize("curve", CURVES)
def test_a_streamed_file_decrypts_with_the_one_shot_decryptor(curve: Curve) -> None:
    encryptor = default_encryptor(curve, compressed_point(KEYS[curve].public_key()))
    data = bytes(range(256)) * 4099
    destination = io.BytesIO()
    written = encrypt_stream(encryptor.file_encryptor(), io.BytesIO(data), destination, chunk_size=65536)
    assert written == len(data) + 55 + 20 == len(destination.getvalue())
    decrypted = Decryptor(KEYS).decrypt_file(destination.getvalue())
    assert decrypted.data == data
    assert decrypted.version is FileVersion.current(curve)


def test_partial_writes_are_completed() -> None:
    destination = PartialWriter()
    encrypt_stream(
        deterministic_encryptor(Curve.P256).file_encryptor(), io.BytesIO(FILE_CONTENT), destination, 4
    )
    assert destination.getvalue() == FILE_VECTORS[Curve.P256]


@pytest.mark.parametrize("curve", CURVES)
def test_both_buffer_builders_seal_the_same_file(curve: Curve) -> None:
    session = deterministic_encryptor(curve).current_session()
    data = bytes(range(256)) * 300
    in_place = seal_file(FileEncryptor(session, FIXED_IV), data, 1000, build_bytes_in_place)
    copied = seal_file(FileEncryptor(session, FIXED_IV), data, 1000, build_bytes_by_copy)
    assert type(in_place) is bytes and in_place == copied
    assert Decryptor(KEYS).decrypt_file(in_place).data == data


def test_the_in_place_builder_returns_the_filled_buffer_itself() -> None:
    """No second buffer: the 25 MiB file path keeps its one-buffer memory peak."""
    size = 8 * MIB

    def fill(view: memoryview) -> None:
        view[:4] = b"head"
        view[-4:] = b"tail"

    tracemalloc.start()
    try:
        result = build_bytes_in_place(size, fill)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert type(result) is bytes and len(result) == size
    assert result[:4] == b"head" and result[-4:] == b"tail" and result[4:-4].count(0) == size - 8
    assert peak < 1.5 * size  # a copy would hold two 8 MiB buffers at once
    assert build_bytes_by_copy(size, fill) == result


def test_streaming_has_no_size_limit_and_bounded_memory() -> None:
    # 24 MiB through 1 MiB chunks: the Python heap never holds more than a few chunks.
    encryptor = default_encryptor(
        Curve.SECP256K1, compressed_point(KEYS[Curve.SECP256K1].public_key()), max_file_size=1
    )
    sink = ChecksumSink()
    tracemalloc.start()
    try:
        encrypt_stream(encryptor.file_encryptor(), ZeroSource(24 * MIB), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.count == 24 * MIB + 75
    assert peak < 4 * MIB


def test_a_finished_file_encryptor_cannot_be_reused() -> None:
    encryptor = deterministic_encryptor(Curve.SECP256K1).file_encryptor()
    encryptor.finalize()
    for use in (
        lambda: encryptor.update(b"x"),
        encryptor.finalize,
        lambda: encryptor.update_into(b"x", bytearray(32)),
    ):
        with pytest.raises(InvalidArgumentError):
            use()


def test_every_file_gets_a_fresh_iv() -> None:
    encryptor = default_encryptor(Curve.SECP256K1, compressed_point(KEYS[Curve.SECP256K1].public_key()))
    headers = {encryptor.file_encryptor().header for _ in range(200)}
    headers |= {encryptor.encrypt(b"")[:55] for _ in range(200)}
    assert len(headers) == 400  # same session key, so the 12-byte IVs all differ


def test_the_one_shot_file_costs_one_output_sized_buffer() -> None:
    encryptor = default_encryptor(Curve.P256, compressed_point(KEYS[Curve.P256].public_key()))
    data = bytes(8 * MIB)
    encryptor.encrypt(data)  # first session key outside the measurement
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        encrypted = encryptor.encrypt(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert type(encrypted) is bytes
    assert peak - before <= len(encrypted) + 64 * 1024
    assert Decryptor(KEYS).decrypt_file(encrypted).data == data


# --- incremental decryption -----------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), chunk=st.integers(min_value=1, max_value=300))
def test_any_chunking_decrypts_to_the_plaintext(curve: Curve, data: bytes, chunk: int) -> None:
    encrypted = default_encryptor(curve, compressed_point(KEYS[curve].public_key())).encrypt(data)
    assert stream_decrypt_in_chunks(encrypted, chunk) == data


@pytest.mark.parametrize("curve", CURVES)
def test_the_header_is_known_as_soon_as_it_arrives(curve: Curve) -> None:
    decryptor = FileDecryptor(KEYS)
    vector = FILE_VECTORS[curve]
    assert decryptor.update(vector[:54]) == b"" and decryptor.header is None
    decryptor.update(vector[54:56])
    header = decryptor.header
    assert header is not None
    assert header.version is FileVersion.current(curve)
    assert header.iv == FIXED_IV and header.flags == 0 and header.metadata is None
    assert header.ephemeral_public_key == compressed_point(fixed_ephemeral_key(curve).public_key())
    decryptor.update(vector[56:])
    assert decryptor.finalize().plaintext_length == len(FILE_CONTENT)


@settings(max_examples=150, deadline=None)
@given(
    curve=st.sampled_from(CURVES),
    data=st.binary(max_size=200),
    mutation=st.sampled_from(["flip", "truncate", "extend"]),
    position=st.integers(min_value=0),
    chunk=st.integers(min_value=1, max_value=97),
)
def test_every_mutation_is_rejected_with_a_ciphertext_error(
    curve: Curve, data: bytes, mutation: str, position: int, chunk: int
) -> None:
    encrypted = bytearray(deterministic_encryptor(curve).encrypt(data))
    if mutation == "flip":
        encrypted[position % len(encrypted)] ^= 1 << (position % 8)
    elif mutation == "truncate":
        del encrypted[position % len(encrypted) :]
    else:
        encrypted += bytes([position % 256])
    with pytest.raises(CiphertextError):
        stream_decrypt_in_chunks(bytes(encrypted), chunk)
    with pytest.raises(CiphertextError):
        Decryptor(KEYS).decrypt_file(bytes(encrypted))


def with_fixed_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_a_tag_forgery_with_a_valid_checksum_is_a_decryption_error() -> None:
    encrypted = bytearray(FILE_VECTORS[Curve.SECP256K1])
    encrypted[60] ^= 0x80  # ciphertext byte altered, CRC recomputed: only the tag can tell
    forged = with_fixed_crc(bytes(encrypted[:-4]))
    with pytest.raises(DecryptionError):
        stream_decrypt_in_chunks(forged, 7)


def test_header_defects_are_named() -> None:
    vector = FILE_VECTORS[Curve.P256]
    with pytest.raises(MalformedFileError, match="%EVENC"):
        FileDecryptor(KEYS).update(b"%EVENX" + vector[6:])
    with pytest.raises(UnsupportedVersionError):
        FileDecryptor(KEYS).update(vector[:6] + b"\x09" + vector[7:])
    with pytest.raises(MalformedFileError, match="offset"):
        FileDecryptor(KEYS).update(vector[:7] + b"\x38\x00" + vector[9:])
    with pytest.raises(MalformedFileError, match="compressed"):
        FileDecryptor(KEYS).update(vector[:9] + b"\x04" + vector[10:])
    with pytest.raises(MalformedFileError, match="header"):
        incomplete = FileDecryptor(KEYS)
        incomplete.update(vector[:30])
        incomplete.finalize()
    with pytest.raises(DecryptionError, match="no app private key"):
        FileDecryptor({Curve.SECP256K1: KEYS[Curve.SECP256K1]}).update(vector)


def test_a_finished_file_decryptor_cannot_be_reused() -> None:
    decryptor = FileDecryptor(KEYS)
    decryptor.update(FILE_VECTORS[Curve.SECP256K1])
    decryptor.finalize()
    with pytest.raises(InvalidArgumentError):
        decryptor.update(b"")
    with pytest.raises(InvalidArgumentError):
        decryptor.finalize()


# --- legacy versions, built as docs/protocol.md §6.2 describes them --------------------------------------


def legacy_file(curve: Curve, version: int, data: bytes, role: str | None = None) -> bytes:
    ephemeral = fixed_ephemeral_key(curve)
    ephemeral_point = compressed_point(ephemeral.public_key())
    keys = DerivedKeys.derive(
        curve,
        ephemeral,
        compressed_point(KEYS[curve].public_key()),
        uncompressed_point(ephemeral.public_key()),
    )
    app_key = compressed_point(KEYS[curve].public_key())
    has_metadata = version >= 4
    uses_kdf = curve is Curve.P256 or has_metadata
    aead = AESGCM(keys.kdf_key if uses_kdf else keys.shared_secret)
    aad = app_key if uses_kdf else None
    block = b""
    if has_metadata:
        sealed_metadata = aead.encrypt(FIXED_IV, encode_map(role, 7, 1_700_000_000), aad)
        block = struct.pack("<H", len(sealed_metadata)) + sealed_metadata
    offset = 55 + len(block)
    body = b"%EVENC" + bytes([version]) + struct.pack("<H", offset) + ephemeral_point + FIXED_IV + b"\x00"
    body += block + aead.encrypt(FIXED_IV, data, aad)
    return with_fixed_crc(body) if version >= 2 else body


@pytest.mark.parametrize(
    ("curve", "version"),
    [(Curve.SECP256K1, 0), (Curve.P256, 1), (Curve.SECP256K1, 4), (Curve.P256, 5)],
)
@pytest.mark.parametrize("chunk", [1, 13, 4096])
def test_legacy_versions_stream_like_the_one_shot_decryptor(curve: Curve, version: int, chunk: int) -> None:
    encrypted = legacy_file(curve, version, b"legacy file body", role="my-role")
    expected = Decryptor(KEYS).decrypt_file(encrypted)
    decryptor = FileDecryptor(KEYS)
    plaintext = b"".join(decryptor.update(piece) for piece in chunked(encrypted, chunk))
    result = decryptor.finalize()
    assert plaintext == expected.data == b"legacy file body"
    assert result.header.version == expected.version == version
    assert result.header.metadata == expected.metadata
    if version >= 4:
        assert result.header.metadata is not None and result.header.metadata.role == "my-role"


# --- the two-pass stream decryptor ------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_decrypt_stream_round_trips_a_multi_chunk_file(curve: Curve) -> None:
    data = bytes(range(256)) * 1000
    encrypted = default_encryptor(curve, compressed_point(KEYS[curve].public_key())).encrypt(data)
    destination = io.BytesIO()
    result = decrypt_stream(KEYS, io.BytesIO(encrypted), destination, chunk_size=4096)
    assert destination.getvalue() == data
    assert result.plaintext_length == len(data)
    assert verify_stream(KEYS, io.BytesIO(encrypted), 999).plaintext_length == len(data)


def test_decrypt_stream_starts_at_the_current_position() -> None:
    source = io.BytesIO(b"prefix" + FILE_VECTORS[Curve.SECP256K1])
    source.seek(6)
    destination = io.BytesIO()
    decrypt_stream(KEYS, source, destination)
    assert destination.getvalue() == FILE_CONTENT


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), chunk=st.integers(min_value=1, max_value=64), fix_crc=st.booleans())
def test_no_plaintext_is_released_from_an_altered_file(position: int, chunk: int, fix_crc: bool) -> None:
    genuine = bytes(range(256)) + bytes(44)
    encrypted = bytearray(deterministic_encryptor(Curve.SECP256K1).encrypt(genuine))
    encrypted[position % (len(encrypted) - 4)] ^= 0x01
    altered = with_fixed_crc(bytes(encrypted[:-4])) if fix_crc else bytes(encrypted)
    destination = io.BytesIO()
    try:
        decrypt_stream(KEYS, io.BytesIO(altered), destination, chunk_size=chunk)
    except CiphertextError:
        assert destination.getvalue() == b""
    else:
        # Only two alterations can pass, both outside what v2 files authenticate (no AAD):
        # flipping the ephemeral key's sign byte (02 <-> 03) names the point's negation,
        # which has the same ECDH secret, and the flags byte (54) is covered by the CRC
        # alone. Either way the file still decrypts - to the genuine plaintext.
        assert fix_crc and position % (len(encrypted) - 4) in (9, 54)
        assert destination.getvalue() == genuine


def test_a_tag_failure_reaches_the_caller_before_any_byte_is_written() -> None:
    encrypted = bytearray(FILE_VECTORS[Curve.P256])
    encrypted[-10] ^= 0xFF  # inside the tag
    forged = with_fixed_crc(bytes(encrypted[:-4]))
    destination = io.BytesIO()
    with pytest.raises(DecryptionError):
        decrypt_stream(KEYS, io.BytesIO(forged), destination)
    assert destination.getvalue() == b""
    with pytest.raises(FileChecksumError):
        decrypt_stream(KEYS, io.BytesIO(bytes(encrypted)), destination)
    assert destination.getvalue() == b""


def test_a_file_changed_between_the_passes_fails_loudly() -> None:
    genuine = FILE_VECTORS[Curve.SECP256K1]
    altered = bytearray(genuine)
    altered[60] ^= 1
    source = ChangingSource(genuine, with_fixed_crc(bytes(altered[:-4])))
    with pytest.raises(DecryptionError, match="changed between"):
        decrypt_stream(KEYS, source, io.BytesIO())


def test_decrypt_stream_needs_a_seekable_source() -> None:
    class Pipe:
        def readinto(self, buffer: memoryview) -> int:
            return 0

        def seekable(self) -> bool:
            return False

        def tell(self) -> int:
            return 0

        def seek(self, offset: int, whence: int = 0) -> int:
            raise OSError("not seekable")

    with pytest.raises(InvalidArgumentError, match="seekable"):
        decrypt_stream(KEYS, Pipe(), io.BytesIO())


def test_non_blocking_streams_and_short_buffers_are_named_errors() -> None:
    class NothingYet:
        def readinto(self, buffer: memoryview) -> None:
            return None  # what a non-blocking raw stream says when no data is ready

    encryptor = deterministic_encryptor(Curve.SECP256K1)
    with pytest.raises(InvalidArgumentError, match="non-blocking"):
        encrypt_stream(encryptor.file_encryptor(), NothingYet(), io.BytesIO())
    with pytest.raises(InvalidArgumentError, match="room"):
        encryptor.file_encryptor().update_into(b"x" * 100, bytearray(100))
    with pytest.raises(InvalidArgumentError, match="room"):
        FileDecryptor(KEYS).update_into(FILE_VECTORS[Curve.SECP256K1], bytearray(10))


def test_streamed_files_are_recognised_as_encrypted() -> None:
    destination = io.BytesIO()
    encrypt_stream(deterministic_encryptor(Curve.P256).file_encryptor(), io.BytesIO(b""), destination)
    assert is_encrypted_file(destination.getvalue())
    assert Decryptor(KEYS).decrypt_file(destination.getvalue()).data == b""


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True])
def test_a_chunk_size_that_is_not_a_positive_int_is_refused_before_any_output(chunk_size: object) -> None:
    """A zero chunk size used to read nothing and write a valid file of *no* data."""
    encryptor = deterministic_encryptor(Curve.SECP256K1)
    destination = io.BytesIO()
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        encrypt_stream(encryptor.file_encryptor(), io.BytesIO(b"data"), destination, chunk_size)  # type: ignore[arg-type]
    assert destination.getvalue() == b""
    encrypted = io.BytesIO(FILE_VECTORS[Curve.SECP256K1])
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        verify_stream(KEYS, encrypted, chunk_size)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        decrypt_stream(KEYS, encrypted, io.BytesIO(), chunk_size)  # type: ignore[arg-type]


def test_text_or_missing_streams_are_named_errors() -> None:
    encryptor = deterministic_encryptor(Curve.P256)
    with pytest.raises(UnsupportedTypeError, match="source"):
        encrypt_stream(encryptor.file_encryptor(), io.StringIO("text"), io.BytesIO())  # type: ignore[arg-type]
    with pytest.raises(UnsupportedTypeError, match="destination"):
        encrypt_stream(encryptor.file_encryptor(), io.BytesIO(b"data"), io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(UnsupportedTypeError, match="source"):
        verify_stream(KEYS, None)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedTypeError, match="source"):
        decrypt_stream(KEYS, io.StringIO("x"), io.BytesIO())  # type: ignore[arg-type]
