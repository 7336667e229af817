"""Files to ``%EVENC`` and back, streaming: memory stays at a few MiB whatever the size.

Encryption is local (:meth:`Client.encrypt_file`). Decryption goes through the API's
binary decrypt (``POST decrypt`` with ``application/octet-stream``): the file is uploaded
chunk by chunk and the plaintext streamed back into the destination. Evervault (and the
emulator) verify the whole file before answering, so an error arrives before any
plaintext. A destination path is written to a temporary file beside it and renamed into
place only once complete, so a failure never leaves a partial or truncated file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import certifi
import urllib3
from urllib3 import exceptions as u3

from evervault.bootstrap.clients import Client
from evervault.cli import UsageError
from evervault.cli.output import interactive
from evervault.domain.errors import ConnectError, RequestTimeoutError, TransportError
from evervault.domain.streaming import DEFAULT_CHUNK_SIZE
from evervault.ports.http import Headers, HttpResponse
from evervault.services.http_errors import error_for_response
from evervault.services.operations import requests_for

STANDARD_STREAM = "-"
MAX_ERROR_BODY = 64 * 1024
PROGRESS_INTERVAL = 0.25  # seconds between progress redraws


@dataclass(frozen=True)
class FileResult:
    source: str
    destination: str
    bytes_read: int
    bytes_written: int

    def to_json(self) -> dict[str, object]:
        return {
            "in": self.source,
            "out": self.destination,
            "bytes_in": self.bytes_read,
            "bytes_out": self.bytes_written,
        }


def encrypt_file(client: Client, source: str, destination: str) -> FileResult:
    _check_paths(source, destination)
    with _opened_source(source, "encrypting") as reader, _opened_destination(destination) as writer:
        written = client.encrypt_file(reader, writer)
    return FileResult(source, destination, reader.count, written)


def decrypt_file(client: Client, source: str, destination: str) -> FileResult:
    _check_paths(source, destination)
    with _opened_source(source, "decrypting") as reader, _opened_destination(destination) as writer:
        written = _decrypt_through_api(client, reader, writer)
    return FileResult(source, destination, reader.count, written)


# --- the API's streamed binary decrypt -------------------------------------------------------


def _decrypt_through_api(client: Client, source: CountingReader, destination: BinaryIO) -> int:
    request = requests_for(client.config).decrypt(b"")  # URL and headers; the body is streamed
    headers = dict(request.headers)
    if source.size is not None:
        headers["Content-Length"] = str(source.size)
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    where = f"POST {request.url}"
    try:
        response = pool.urlopen(
            "POST",
            request.url,
            body=source,
            headers=headers,
            chunked=source.size is None,
            timeout=urllib3.Timeout(connect=request.timeout, read=request.timeout),
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=True,
        )
        try:
            return _copy_response(response, destination)
        finally:
            response.release_conn()
    except u3.HTTPError as error:
        raise _transport_error(where, request.timeout, error) from None
    finally:
        pool.clear()


def _copy_response(response: urllib3.BaseHTTPResponse, destination: BinaryIO) -> int:
    if not 200 <= response.status < 300:
        body = response.read(MAX_ERROR_BODY)
        raise error_for_response(HttpResponse(response.status, Headers(response.headers.items()), body))
    written = 0
    for chunk in response.stream(DEFAULT_CHUNK_SIZE):
        destination.write(chunk)
        written += len(chunk)
    return written


def _transport_error(where: str, timeout: float, error: u3.HTTPError) -> TransportError:
    if isinstance(error, u3.ConnectTimeoutError):  # includes refused connections and DNS failures
        return ConnectError(
            f"Could not connect for {where} ({type(error).__name__}); nothing was sent. "
            "Check the network and EV_API_URL."
        )
    if isinstance(error, u3.ReadTimeoutError):
        return RequestTimeoutError(f"No answer to {where} within {timeout} s; retry later.")
    return TransportError(f"The connection failed during {where} ({type(error).__name__}); try again.")


# --- sources and destinations ---------------------------------------------------------------


class CountingReader:
    """A binary source that counts what was read and, on a terminal, draws progress."""

    def __init__(self, raw: BinaryIO, size: int | None, label: str) -> None:
        self._raw = raw
        self.size = size
        self.count = 0
        self._label = label
        self._show = interactive()
        self._drawn_at = 0.0

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        return self._advance(count or 0)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._advance(len(data))
        return data

    def _advance(self, count: int) -> int:
        self.count += count
        now = time.monotonic()
        if self._show and (count == 0 or now - self._drawn_at >= PROGRESS_INTERVAL):
            self._drawn_at = now
            total = f" / {_mebibytes(self.size)}" if self.size else ""
            print(f"\r{self._label} {_mebibytes(self.count)}{total}", end="", file=sys.stderr, flush=True)
        return count

    def finish(self) -> None:
        if self._show:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _mebibytes(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MiB"


@contextlib.contextmanager
def _opened_source(path: str, label: str) -> Iterator[CountingReader]:
    if path == STANDARD_STREAM:
        reader = CountingReader(sys.stdin.buffer, None, label)
        try:
            yield reader
        finally:
            reader.finish()
        return
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below, after the caller is done
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    with raw:
        info = os.fstat(raw.fileno())
        reader = CountingReader(raw, info.st_size if stat.S_ISREG(info.st_mode) else None, label)
        try:
            yield reader
        finally:
            reader.finish()


@contextlib.contextmanager
def _opened_destination(path: str) -> Iterator[BinaryIO]:
    """``path`` appears only complete: written to a temporary file, renamed when done."""
    if path == STANDARD_STREAM:
        if sys.stdout.isatty():
            raise UsageError("refusing to write binary data to a terminal; use --out FILE or a pipe")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".evervault-", suffix=".part")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as writer:
            yield writer
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _check_paths(source: str, destination: str) -> None:
    if STANDARD_STREAM in (source, destination):
        return
    with contextlib.suppress(OSError):  # a missing file cannot be the same as another
        if os.path.samefile(source, destination):
            raise UsageError("--in and --out are the same file; write the output to another path")
