"""``POST /decrypt`` of ``%EVENC`` files of any size, in bounded memory.

The request body is spooled chunk by chunk to an anonymous temporary file (the
limit is enforced while spooling, so a chunked upload cannot exceed it either).
A worker thread then checks the whole file's CRC-32 and GCM tag
(:func:`~evervault.services.file_streams.verify_stream`): a tampered or truncated
file gets the usual 422 before any response byte is sent. Only then is the
spool read a second time and its plaintext streamed out, one chunk per worker
thread call, so the response is written no faster than the client reads it.

Memory stays at a few chunks whatever the file size: neither the ciphertext
nor the plaintext is ever held whole.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable, Mapping
from typing import IO, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.domain.errors import CiphertextError
from evervault.domain.streaming import (
    DEFAULT_CHUNK_SIZE,
    TRAILER_LENGTH,
    UPDATE_SLACK,
    FileDecryptor,
    StreamResult,
)
from evervault.ports.streams import ReadableStream
from evervault.services.file_streams import verify_stream

logger = logging.getLogger("evervault.local")

OCTET_STREAM = "application/octet-stream"
PrivateKeys = Mapping[Curve, ec.EllipticCurvePrivateKey]
_T = TypeVar("_T")


async def stream_decrypted_file(
    request: web.Request,
    private_keys: PrivateKeys,
    limit: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> web.StreamResponse:
    """Answer a file decrypt: 413 beyond ``limit``, 422 if the file does not verify, else its plaintext."""
    with tempfile.TemporaryFile() as spool:
        await spool_body(request, spool, limit, chunk_size)
        spool.seek(0)
        verified = await off_loop(lambda: verify_stream(private_keys, spool, chunk_size))
        spool.seek(0)
        return await _send_plaintext(request, PlaintextChunks(private_keys, spool, chunk_size), verified)


async def spool_body(request: web.Request, spool: IO[bytes], limit: int, chunk_size: int) -> int:
    """Copy the request body to ``spool``; 413 as soon as it is known to exceed ``limit``.

    Writes to the temporary file land in the page cache and take microseconds per
    chunk, less than a hop to a worker thread would.
    """
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    received = 0
    async for chunk in request.content.iter_chunked(chunk_size):
        received += len(chunk)
        if received > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=received)
        spool.write(chunk)
    return received


class PlaintextChunks:
    """The decryption pass over an already verified spool, one chunk per :meth:`next_chunk` call.

    The plaintext it returns before the end is released on the strength of the
    verification pass: the spool is an unlinked temporary file only this request
    holds, so its bytes cannot change between the passes. The final tag check is
    still made, and a failure there raises (the caller then aborts the response).
    """

    def __init__(self, private_keys: PrivateKeys, source: ReadableStream, chunk_size: int) -> None:
        self._decryptor = FileDecryptor(private_keys)
        self._source = source
        self._incoming = bytearray(chunk_size)
        self._outgoing = bytearray(chunk_size + TRAILER_LENGTH + UPDATE_SLACK)
        self._finished = False

    def next_chunk(self) -> bytes:
        """The next non-empty piece of plaintext, or ``b""`` once the file is done and checked."""
        with memoryview(self._incoming) as incoming:
            while not self._finished:
                count = self._source.readinto(incoming)
                if not count:  # the spool is a blocking file: None never comes, 0 is the end
                    self._finished = True
                    self._decryptor.finalize()
                    break
                written = self._decryptor.update_into(incoming[:count], self._outgoing)
                if written:  # zero while only header bytes or the held-back trailer arrived
                    return bytes(self._outgoing[:written])
        return b""


async def _send_plaintext(
    request: web.Request, chunks: PlaintextChunks, verified: StreamResult
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": OCTET_STREAM})
    # A declared length lets the client notice a response cut short by a late failure.
    response.content_length = verified.plaintext_length
    await response.prepare(request)
    try:
        while chunk := await off_loop(chunks.next_chunk):
            await response.write(chunk)
    except ConnectionError:
        return response  # the client went away: nothing left to do
    except CiphertextError:
        # Unreachable unless the spool changed on disk; the status is already sent,
        # so the only honest signal left is to cut the connection short.
        logger.error("A verified file failed its decryption pass; response aborted.")
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def off_loop(work: Callable[[], _T]) -> _T:
    """Run blocking ``work`` on a worker thread.

    If the request is cancelled meanwhile, wait for the worker before unwinding:
    it is still reading the spool, which must not be closed under it.
    """
    future = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise
