"""A loopback HTTP server that misbehaves on purpose, one behaviour per URL prefix.

``http://127.0.0.1:<port>/<mode>-<case>/...`` behaves as ``<mode>`` (see :data:`MODES`);
``<case>`` only separates the request counts of different test cases. ``GET
/_counts/<mode>-<case>`` answers with how many requests that prefix received (read in
full, so the server may have processed them). The server runs in its own process
(``python -m hardening.fault_server``, printing its port) so a client's leak checks count
only the client's threads and sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import sys
from collections import Counter
from collections.abc import Awaitable, Callable

DRIP_INTERVAL = 0.2  # one byte per interval: each read succeeds, the whole never ends
DRIP_FOR = 120.0

Writer = asyncio.StreamWriter
Behaviour = Callable[[Writer], Awaitable[None]]


def response(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines.append("Connection: close")  # every connection ends after one exchange
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reset(writer: Writer) -> None:
    """Close with RST (SO_LINGER 0): the peer sees 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def drip(writer: Writer, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRIP_FOR
    for byte in data:
        if loop.time() > deadline or writer.is_closing():
            return
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(DRIP_INTERVAL)


def answer(data: bytes) -> Behaviour:
    async def behave(writer: Writer) -> None:
        writer.write(data)
        await writer.drain()

    return behave


async def reset_before_answer(writer: Writer) -> None:
    reset(writer)


async def reset_mid_body(writer: Writer) -> None:
    writer.write(response(200, b'{"data": "' + b"x" * 5000 + b'"}')[:200])
    await writer.drain()
    await asyncio.sleep(0.05)
    reset(writer)


async def truncated(writer: Writer) -> None:
    writer.write(response(200, b'{"data": ["' + b"y" * 400 + b'"]}')[:120])
    await writer.drain()
    writer.close()


async def close_without_answer(writer: Writer) -> None:
    writer.close()


async def silent(writer: Writer) -> None:
    await asyncio.sleep(DRIP_FOR)


async def slow_body(writer: Writer) -> None:
    head = response(200, b"{" + b" " * 4000 + b"}")
    split = head.index(b"\r\n\r\n") + 4
    writer.write(head[:split])
    await drip(writer, head[split:])


async def slow_headers(writer: Writer) -> None:
    await drip(writer, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 4000 + b"\r\n\r\n{}")


MODES: dict[str, Behaviour] = {
    "reset-before-answer": reset_before_answer,
    "reset-mid-body": reset_mid_body,
    "close-without-answer": close_without_answer,
    "truncated-body": truncated,
    "silent": silent,
    "slow-drip-body": slow_body,
    "slow-drip-headers": slow_headers,
    "non-json-200": answer(response(200, b"this is not json", "text/plain")),
    "html-200": answer(response(200, b"<html><body>Bad gateway</body></html>", "text/html")),
    "json-array-200": answer(response(200, b"[1, 2, 3]")),
    "empty-200": answer(response(200, b"")),
    "binary-200": answer(response(200, b"\xff\xfe\x00garbage", "application/octet-stream")),
    "429": answer(response(429, b'{"title": "slow down"}')),
    "429-retry-after": answer(response(429, b"{}", Retry_After="0")),
    "503": answer(response(503, b"unavailable", "text/plain")),
    "503-retry-after": answer(response(503, b"{}", Retry_After="0")),
    "500": answer(response(500, b"<h1>oops</h1>", "text/html")),
    "502": answer(response(502, b"")),
    "504": answer(response(504, b'{"detail": 7}')),
    "huge-retry-after": answer(response(429, b"{}", Retry_After="86400")),
}

MAX_HEAD = 64 * 1024


class FaultServer:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEAD:
                return
            lines = head.decode("latin-1").split("\r\n")
            _method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            prefix = target.lstrip("/").split("/", 1)[0]
            if prefix == "_counts":
                key = target.split("/", 2)[2]
                writer.write(response(200, json.dumps({"count": self.counts[key]}).encode()))
                await writer.drain()
                return
            self.counts[prefix] += 1
            behaviour = MODES.get(prefix.rsplit("-", 1)[0])
            if behaviour is None:
                writer.write(response(404, b"{}"))
                await writer.drain()
                return
            await behaviour(writer)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


async def serve(port: int = 0) -> None:
    server = FaultServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, limit=MAX_HEAD)
    print(listener.sockets[0].getsockname()[1], flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
