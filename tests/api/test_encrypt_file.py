"""``encrypt_file``: streaming file encryption on both clients and the facade, keys from a real server."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

import evervault
from evervault import (
    Client,
    ConfigurationError,
    ExceededMaxFileSizeError,
    InvalidArgumentError,
    ServerError,
    UnsupportedTypeError,
)
from evervault.domain import envelope
from evervault.domain.curves import Curve
from evervault.domain.decryption import Decryptor
from evervault.domain.envelope import HEADER_LENGTH, FileVersion
from evervault.domain.streaming import TRAILER_LENGTH
from tests.api.api_support import API_KEY, APP_ID, recorded

MIB = 1024 * 1024
CURVES = [Curve.SECP256K1, Curve.P256]
OVERHEAD = HEADER_LENGTH + TRAILER_LENGTH


@pytest.fixture
def keys_server(server: HTTPServer, keys_body: dict[str, str]) -> HTTPServer:
    server.expect_request("/cages/key", method="GET").respond_with_json(keys_body)
    return server


def pattern(size: int) -> bytes:
    block = bytes(i * 7 % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


def key_fetches(server: HTTPServer) -> int:
    return sum(1 for request in recorded(server) if request.path == "/cages/key")


# --- round trips and format ----------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.value)
def test_paths_in_and_out_give_a_file_the_decryptor_opens(
    keys_server: HTTPServer, make_client: Any, decryptor: Decryptor, tmp_path: Path, curve: Curve
) -> None:
    plaintext = pattern(2 * MIB + 333)
    source, destination = tmp_path / "plain.bin", tmp_path / "plain.bin.evenc"
    source.write_bytes(plaintext)

    written = make_client(curve=curve.value).encrypt_file(str(source), str(destination))

    encrypted = destination.read_bytes()
    assert written == len(encrypted) == len(plaintext) + OVERHEAD
    decrypted = decryptor.decrypt_file(encrypted)
    assert decrypted.data == plaintext
    assert decrypted.version is FileVersion.current(curve)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.value)
def test_the_format_is_the_one_encrypt_bytes_writes(
    keys_server: HTTPServer, make_client: Any, curve: Curve
) -> None:
    client = make_client(curve=curve.value)
    plaintext = pattern(10_000)
    streamed = io.BytesIO()
    client.encrypt_file(io.BytesIO(plaintext), streamed)
    in_memory = client.encrypt(plaintext)

    parsed, reference = envelope.parse(streamed.getvalue()), envelope.parse(in_memory)
    assert len(streamed.getvalue()) == len(in_memory)
    assert streamed.getvalue()[:9] == in_memory[:9]  # magic, version, data offset
    assert (parsed.version, parsed.flags) == (reference.version, reference.flags)
    assert parsed.encrypted_metadata is reference.encrypted_metadata is None
    assert parsed.iv != reference.iv  # a fresh IV per file


def test_keys_are_fetched_once_across_files_and_values(
    keys_server: HTTPServer, make_client: Any, decryptor: Decryptor
) -> None:
    client = make_client()
    outputs = [io.BytesIO() for _ in range(3)]
    for output in outputs:
        client.encrypt_file(io.BytesIO(b"some file"), output)
    assert decryptor.decrypt(client.encrypt("a value")) == "a value"
    assert key_fetches(keys_server) == 1
    assert all(decryptor.decrypt_file(o.getvalue()).data == b"some file" for o in outputs)


def test_pathlib_paths_and_file_objects_mix(
    keys_server: HTTPServer, make_client: Any, decryptor: Decryptor, tmp_path: Path
) -> None:
    client = make_client()
    plaintext = pattern(70_000)
    source = tmp_path / "in.bin"
    source.write_bytes(plaintext)

    to_object = io.BytesIO()
    client.encrypt_file(source, to_object)
    assert decryptor.decrypt_file(to_object.getvalue()).data == plaintext

    destination = tmp_path / "out.evenc"
    with source.open("rb") as reader:
        client.encrypt_file(reader, destination)
        assert not reader.closed  # the caller's object stays the caller's
    assert decryptor.decrypt_file(destination.read_bytes()).data == plaintext


def test_file_objects_are_used_from_where_they_stand_and_left_open(
    keys_server: HTTPServer, make_client: Any, decryptor: Decryptor
) -> None:
    source = io.BytesIO(b"HEADER-TO-SKIP|the file body")
    source.seek(len(b"HEADER-TO-SKIP|"))
    destination = io.BytesIO()
    destination.write(b"prefix")

    written = make_client().encrypt_file(source, destination)

    assert not source.closed and not destination.closed
    assert destination.getvalue()[:6] == b"prefix"
    assert written == len(destination.getvalue()) - 6
    assert decryptor.decrypt_file(destination.getvalue()[6:]).data == b"the file body"


def test_unbuffered_files_with_partial_reads_and_writes_work(
    keys_server: HTTPServer, make_client: Any, decryptor: Decryptor, tmp_path: Path
) -> None:
    plaintext = pattern(300_000)
    source, destination = tmp_path / "in.bin", tmp_path / "out.evenc"
    source.write_bytes(plaintext)
    with source.open("rb", buffering=0) as reader, destination.open("wb", buffering=0) as writer:
        make_client().encrypt_file(reader, writer, chunk_size=4096)
    assert decryptor.decrypt_file(destination.read_bytes()).data == plaintext


def test_files_beyond_the_in_memory_limit_stream(
    keys_server: HTTPServer, make_client: Any, decryptor: Decryptor, tmp_path: Path
) -> None:
    client = make_client(max_file_size_in_mb=1)
    plaintext = pattern(3 * MIB)
    with pytest.raises(ExceededMaxFileSizeError):
        client.encrypt(plaintext)
    destination = tmp_path / "big.evenc"
    client.encrypt_file(io.BytesIO(plaintext), destination)
    assert decryptor.decrypt_file(destination.read_bytes()).data == plaintext


def test_an_empty_file_encrypts(keys_server: HTTPServer, make_client: Any, decryptor: Decryptor) -> None:
    destination = io.BytesIO()
    assert make_client().encrypt_file(io.BytesIO(), destination) == OVERHEAD
    assert decryptor.decrypt_file(destination.getvalue()).data == b""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plaintext=st.binary(max_size=5000), chunk_size=st.integers(min_value=1, max_value=700))
def test_any_content_in_any_chunk_size_round_trips(
    keys_server: HTTPServer, decryptor: Decryptor, plaintext: bytes, chunk_size: int
) -> None:
    with Client(APP_ID, API_KEY, base_url=keys_server.url_for("/"), environ={}) as client:
        destination = io.BytesIO()
        written = client.encrypt_file(io.BytesIO(plaintext), destination, chunk_size=chunk_size)
    assert written == len(plaintext) + OVERHEAD
    assert decryptor.decrypt_file(destination.getvalue()).data == plaintext


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [b"raw bytes", bytearray(b"raw"), memoryview(b"raw"), 42, None, io.StringIO("text")],
    ids=["bytes", "bytearray", "memoryview", "int", "none", "text-file"],
)
def test_sources_that_are_not_paths_or_binary_files_are_refused_before_any_request(
    server: HTTPServer, make_client: Any, source: object
) -> None:
    with pytest.raises(UnsupportedTypeError, match="source"):
        make_client().encrypt_file(source, io.BytesIO())
    assert recorded(server) == []


@pytest.mark.parametrize(
    "destination",
    [b"bytes", 3.5, io.StringIO(), memoryview(bytearray(8))],
    ids=["bytes", "float", "text-file", "memoryview"],
)
def test_destinations_that_are_not_paths_or_binary_files_are_refused(
    server: HTTPServer, make_client: Any, destination: object
) -> None:
    with pytest.raises(UnsupportedTypeError, match="destination"):
        make_client().encrypt_file(io.BytesIO(b"data"), destination)
    assert recorded(server) == []


def test_bytes_sources_point_to_encrypt(server: HTTPServer, make_client: Any) -> None:
    with pytest.raises(UnsupportedTypeError, match=r"encrypt\(data\)"):
        make_client().encrypt_file(b"file contents", io.BytesIO())


@pytest.mark.parametrize("chunk_size", [0, -1, True, 1.5, "4096"])
def test_chunk_sizes_must_be_positive_integers(
    server: HTTPServer, make_client: Any, chunk_size: object
) -> None:
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        make_client().encrypt_file(io.BytesIO(b"x"), io.BytesIO(), chunk_size=chunk_size)
    assert recorded(server) == []


def test_a_missing_source_file_is_a_clear_error_and_creates_no_output(
    keys_server: HTTPServer, make_client: Any, tmp_path: Path
) -> None:
    destination = tmp_path / "out.evenc"
    with pytest.raises(InvalidArgumentError, match="source file") as caught:
        make_client().encrypt_file(tmp_path / "missing.bin", destination)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert not destination.exists()


def test_an_unwritable_destination_is_a_clear_error(
    keys_server: HTTPServer, make_client: Any, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError, match="destination file"):
        make_client().encrypt_file(io.BytesIO(b"x"), tmp_path / "no-such-dir" / "out.evenc")


def test_the_source_cannot_also_be_the_destination(
    server: HTTPServer, make_client: Any, tmp_path: Path
) -> None:
    path = tmp_path / "same.bin"
    path.write_bytes(b"precious")
    with pytest.raises(InvalidArgumentError, match="same file"):
        make_client().encrypt_file(path, str(path))
    assert path.read_bytes() == b"precious"
    assert recorded(server) == []


def test_a_failed_key_fetch_leaves_the_destination_untouched(
    server: HTTPServer, make_client: Any, tmp_path: Path
) -> None:
    server.expect_request("/cages/key").respond_with_data("unavailable", status=503)
    destination = tmp_path / "out.evenc"
    destination.write_bytes(b"an older file")
    with pytest.raises(ServerError):
        make_client().encrypt_file(io.BytesIO(b"x"), destination)
    assert destination.read_bytes() == b"an older file"


class FailingReader:
    """A binary source whose storage fails after the first chunk."""

    def __init__(self) -> None:
        self.calls = 0

    def readinto(self, buffer: memoryview, /) -> int:
        self.calls += 1
        if self.calls > 1:
            raise OSError(5, "Input/output error")
        buffer[:10] = b"0123456789"
        return 10


def test_a_source_failing_part_way_removes_the_partial_destination(
    keys_server: HTTPServer, make_client: Any, tmp_path: Path
) -> None:
    destination = tmp_path / "out.evenc"
    with pytest.raises(OSError, match="Input/output error"):
        make_client().encrypt_file(FailingReader(), destination, chunk_size=10)
    assert not destination.exists()


class NonBlockingReader:
    def readinto(self, _buffer: memoryview, /) -> None:
        return None  # "no data yet", as a non-blocking raw stream answers


def test_a_non_blocking_source_is_refused(keys_server: HTTPServer, make_client: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="non-blocking"):
        make_client().encrypt_file(NonBlockingReader(), io.BytesIO())


# --- the facade ----------------------------------------------------------------------------


@pytest.fixture
def initialised(keys_server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EV_API_URL", keys_server.url_for("/").rstrip("/"))
    evervault.init(APP_ID, API_KEY)
    yield
    evervault.reset()


def test_the_facade_encrypts_files(initialised: None, decryptor: Decryptor, tmp_path: Path) -> None:
    source, destination = tmp_path / "in.bin", tmp_path / "out.evenc"
    source.write_bytes(pattern(5000))
    assert evervault.encrypt_file(source, destination) == 5000 + OVERHEAD
    assert decryptor.decrypt_file(destination.read_bytes()).data == pattern(5000)
    assert "encrypt_file" in evervault.__all__


def test_the_facade_before_init_says_to_call_init(tmp_path: Path) -> None:
    evervault.reset()
    with pytest.raises(ConfigurationError, match=r"evervault\.init\("):
        evervault.encrypt_file(io.BytesIO(b"x"), tmp_path / "out.evenc")
    assert not os.path.exists(tmp_path / "out.evenc")
