"""``POST /decrypt`` with ``%EVENC`` files: streamed, verified before any plaintext, bounded memory.

Every test talks to a real emulator on a 127.0.0.1 socket. Files span several of the
server's 1 MiB chunks, so a server that released plaintext chunk by chunk before
checking the tag would already have answered 200 when the tampering is found.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from evervault.adapters.system import default_encryptor
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.envelope import HEADER_LENGTH
from evervault.domain.streaming import DEFAULT_CHUNK_SIZE, TRAILER_LENGTH
from evervault.local.server import ServerSettings, create_app
from evervault.local.state import LocalState
from evervault.services.file_streams import encrypt_stream
from tests.local.conftest import Api, FakeClock, Reply, assert_problem

MIB = 1024 * 1024
OCTET_STREAM = "application/octet-stream"
# Recognisable plaintext: if any of it leaked into an error answer, the test would see it.
MARKER = b"PLAINTEXT-MARKER"
FILE_SIZE = 3 * MIB + 12_345  # four server chunks, the last one partial
CURVES = [Curve.SECP256K1, Curve.P256]

FileApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def file_api(state: LocalState, clock: FakeClock) -> AsyncIterator[FileApiFactory]:
    """Emulators with chosen body limits: ``await file_api(max_body_bytes=..., max_file_bytes=...)``."""
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(*, max_body_bytes: int = MIB, max_file_bytes: int | None = 64 * MIB) -> Api:
        settings = ServerSettings(max_body_bytes=max_body_bytes, max_file_bytes=max_file_bytes, clock=clock)
        server = TestServer(create_app(state, (), settings), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Api(str(server.make_url("/")), session, state, clock, server.app)

    yield start
    for session in sessions:
        await session.close()
    for server in servers:
        await server.close()


def plaintext_of(size: int) -> bytes:
    counter = b"".join(MARKER + i.to_bytes(4, "big") for i in range(size // 20 + 1))
    return counter[:size]


def encrypt_for(api: Api, plaintext: bytes, curve: Curve = Curve.SECP256K1) -> bytes:
    """A real ``%EVENC`` file for the emulated app, written by the SDK's streaming encryptor."""
    public_key = compressed_point(api.state.private_keys[curve].public_key())
    encrypted = io.BytesIO()
    encrypt_stream(default_encryptor(curve, public_key).file_encryptor(), io.BytesIO(plaintext), encrypted)
    return encrypted.getvalue()


async def post_file(api: Api, body: bytes) -> Reply:
    return await api.call("POST", "decrypt", headers=api.basic(), data=body, content_type=OCTET_STREAM)


def assert_no_plaintext(reply: Reply) -> None:
    assert_problem(reply, 422, "unprocessable-content")
    assert MARKER not in reply.body


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.value)
async def test_a_multi_mib_file_round_trips_with_its_length_declared(
    file_api: FileApiFactory, curve: Curve
) -> None:
    api = await file_api()
    plaintext = plaintext_of(FILE_SIZE)
    reply = await post_file(api, encrypt_for(api, plaintext, curve))
    assert reply.status == 200
    assert reply.content_type == OCTET_STREAM
    assert reply.headers["Content-Length"] == str(FILE_SIZE)
    assert reply.body == plaintext


async def test_a_chunked_upload_without_content_length_round_trips(file_api: FileApiFactory) -> None:
    api = await file_api()
    plaintext = plaintext_of(FILE_SIZE)
    encrypted = encrypt_for(api, plaintext)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(encrypted), 100_000):  # not aligned to anything in the format
            yield encrypted[start : start + 100_000]

    headers = {**api.basic(), "Content-Type": OCTET_STREAM}
    async with api.session.post(api.url + "decrypt", data=pieces(), headers=headers) as response:
        assert response.status == 200
        assert await response.read() == plaintext


@pytest.mark.parametrize("size", [0, 1, HEADER_LENGTH, DEFAULT_CHUNK_SIZE - HEADER_LENGTH - TRAILER_LENGTH])
async def test_sizes_at_the_edges_round_trip(file_api: FileApiFactory, size: int) -> None:
    """Empty, one byte, and a file ending exactly on the server's first chunk boundary."""
    api = await file_api()
    plaintext = plaintext_of(size)
    reply = await post_file(api, encrypt_for(api, plaintext))
    assert reply.status == 200
    assert reply.body == plaintext


# --- tampered and truncated files ----------------------------------------------------------

ENCRYPTED_SIZE = HEADER_LENGTH + FILE_SIZE + TRAILER_LENGTH
TAMPERED_OFFSETS = {
    "magic": 0,
    "version": 6,
    "ephemeral-key": 20,
    "iv": 45,
    "first-data-byte": HEADER_LENGTH,
    "first-chunk": MIB // 2,
    "last-chunk": ENCRYPTED_SIZE - TRAILER_LENGTH - 100,
    "last-data-byte": ENCRYPTED_SIZE - TRAILER_LENGTH - 1,
    "tag": ENCRYPTED_SIZE - TRAILER_LENGTH,
    "crc": ENCRYPTED_SIZE - 1,
}


@pytest.mark.parametrize("offset", TAMPERED_OFFSETS.values(), ids=TAMPERED_OFFSETS.keys())
async def test_a_tampered_file_is_422_with_no_plaintext(file_api: FileApiFactory, offset: int) -> None:
    api = await file_api()
    encrypted = bytearray(encrypt_for(api, plaintext_of(FILE_SIZE)))
    assert len(encrypted) == ENCRYPTED_SIZE
    encrypted[offset] ^= 0x01
    assert_no_plaintext(await post_file(api, bytes(encrypted)))


TRUNCATED_LENGTHS = {
    "empty": 0,
    "magic-only": 6,
    "inside-header": HEADER_LENGTH - 1,
    "header-only": HEADER_LENGTH,
    "after-first-chunk": MIB + 7,
    "half": ENCRYPTED_SIZE // 2,
    "without-trailer": ENCRYPTED_SIZE - TRAILER_LENGTH,
    "without-crc": ENCRYPTED_SIZE - 4,
    "one-byte-short": ENCRYPTED_SIZE - 1,
}


@pytest.mark.parametrize("length", TRUNCATED_LENGTHS.values(), ids=TRUNCATED_LENGTHS.keys())
async def test_a_truncated_file_is_422_with_no_plaintext(file_api: FileApiFactory, length: int) -> None:
    api = await file_api()
    encrypted = encrypt_for(api, plaintext_of(FILE_SIZE))
    assert_no_plaintext(await post_file(api, encrypted[:length]))


async def test_a_file_with_bytes_appended_is_422_with_no_plaintext(file_api: FileApiFactory) -> None:
    api = await file_api()
    encrypted = encrypt_for(api, plaintext_of(FILE_SIZE))
    assert_no_plaintext(await post_file(api, encrypted + b"\x00" * 20))


async def test_a_file_for_another_app_is_422(file_api: FileApiFactory, tmp_path: Path) -> None:
    api = await file_api()
    other = LocalState.load_or_create(tmp_path / "other-app")
    foreign_public_key = compressed_point(other.private_keys[Curve.P256].public_key())
    encrypted = io.BytesIO()
    encrypt_stream(
        default_encryptor(Curve.P256, foreign_public_key).file_encryptor(),
        io.BytesIO(plaintext_of(FILE_SIZE)),
        encrypted,
    )
    assert_no_plaintext(await post_file(api, encrypted.getvalue()))


async def test_the_server_keeps_serving_after_rejected_files(file_api: FileApiFactory) -> None:
    api = await file_api()
    plaintext = plaintext_of(FILE_SIZE)
    encrypted = encrypt_for(api, plaintext)
    assert_no_plaintext(await post_file(api, encrypted[:-1]))
    assert (await post_file(api, encrypted)).body == plaintext


# --- limits --------------------------------------------------------------------------------


async def test_files_have_their_own_limit_above_the_json_limit(file_api: FileApiFactory) -> None:
    api = await file_api(max_body_bytes=64 * 1024, max_file_bytes=8 * MIB)
    plaintext = plaintext_of(FILE_SIZE)
    assert (await post_file(api, encrypt_for(api, plaintext))).body == plaintext
    too_big_json = {"data": "x" * 100_000}
    reply = await api.call("POST", "decrypt", headers=api.basic(), json_body=too_big_json)
    assert_problem(reply, 413, "payload-too-large")


async def test_without_a_file_limit_files_share_the_body_limit(file_api: FileApiFactory) -> None:
    api = await file_api(max_body_bytes=MIB, max_file_bytes=None)
    assert_problem(await post_file(api, encrypt_for(api, plaintext_of(FILE_SIZE))), 413, "payload-too-large")


async def test_a_file_over_the_limit_is_413_by_its_content_length(file_api: FileApiFactory) -> None:
    api = await file_api(max_file_bytes=MIB)
    assert_problem(await post_file(api, encrypt_for(api, plaintext_of(FILE_SIZE))), 413, "payload-too-large")


async def test_a_chunked_upload_is_413_once_it_passes_the_limit(file_api: FileApiFactory) -> None:
    api = await file_api(max_file_bytes=MIB)

    async def endless_zeros() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB in all, no Content-Length
            yield bytes(64 * 1024)

    headers = {**api.basic(), "Content-Type": OCTET_STREAM}
    async with api.session.post(api.url + "decrypt", data=endless_zeros(), headers=headers) as response:
        assert response.status == 413
        assert (await response.json(content_type=None))["code"] == "payload-too-large"


def test_a_non_positive_file_limit_is_refused(state: LocalState) -> None:
    from evervault.domain.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="max_file_bytes"):
        create_app(state, (), ServerSettings(max_file_bytes=0))


# --- memory --------------------------------------------------------------------------------

BIG_FILE_SIZE = 48 * MIB
# Far below one copy of the file: holding the body, the plaintext or both would need
# 48, 48 or 96 MiB. What remains is a few 1 MiB chunks and socket buffers.
PEAK_LIMIT = 12 * MIB


class GeneratedPlaintext:
    """A readable stream of ``size`` marker bytes made as they are read, hashed on the way."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = 0
        self.digest = hashlib.sha256()

    def readinto(self, buffer: memoryview, /) -> int:
        count = min(len(buffer), self.remaining)
        piece = (MARKER + self.block.to_bytes(4, "big")) * (count // 20 + 1)
        buffer[:count] = piece[:count]
        self.digest.update(piece[:count])
        self.remaining -= count
        self.block += 1
        return count


def write_big_encrypted_file(api: Api, path: Path) -> str:
    """Encrypt ``BIG_FILE_SIZE`` bytes to ``path`` chunk by chunk; the plaintext's SHA-256."""
    public_key = compressed_point(api.state.private_keys[Curve.SECP256K1].public_key())
    plaintext = GeneratedPlaintext(BIG_FILE_SIZE)
    with path.open("wb") as destination:
        encrypt_stream(
            default_encryptor(Curve.SECP256K1, public_key).file_encryptor(), plaintext, destination
        )
    return plaintext.digest.hexdigest()


async def test_decrypting_a_large_file_holds_neither_the_body_nor_the_plaintext(
    file_api: FileApiFactory, tmp_path: Path
) -> None:
    api = await file_api(max_file_bytes=64 * MIB)
    path = tmp_path / "big.evenc"
    expected_digest = write_big_encrypted_file(api, path)
    received = hashlib.sha256()
    received_length = 0

    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        headers = {**api.basic(), "Content-Type": OCTET_STREAM}
        with path.open("rb") as upload:
            async with api.session.post(api.url + "decrypt", data=upload, headers=headers) as response:
                assert response.status == 200
                async for chunk in response.content.iter_chunked(256 * 1024):
                    received.update(chunk)
                    received_length += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert received_length == BIG_FILE_SIZE
    assert received.hexdigest() == expected_digest
    # Client and server share this process, so the bound covers both sides at once.
    assert peak - baseline < PEAK_LIMIT, f"peak {(peak - baseline) / MIB:.1f} MiB"
