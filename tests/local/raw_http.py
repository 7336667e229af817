"""HTTP/1.1 over a plain socket, for requests no HTTP client will send (arbitrary header bytes)."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawReply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def address_of(api_url: str) -> tuple[str, int]:
    parts = urlsplit(api_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def raw_request(
    api_url: str,
    method: str,
    path: str,
    header_lines: list[bytes],
    body: bytes = b"",
    content_type: bytes = b"application/json",
) -> RawReply:
    """Send ``header_lines`` (``b"Name: value"``) exactly as given; read the whole answer."""
    head = [
        f"{method} /{path} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Content-Type: " + content_type,
        b"Content-Length: " + str(len(body)).encode(),
        *header_lines,
    ]
    with socket.create_connection(address_of(api_url), timeout=30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        content = response.read()
        content_type_header = response.getheader("Content-Type") or ""
        return RawReply(response.status, content_type_header.split(";")[0].strip(), content)


def assert_problem_json(reply: RawReply, statuses: tuple[int, ...]) -> dict[str, Any]:
    """A Problem-JSON answer with one of ``statuses``."""
    assert reply.status in statuses, (reply.status, reply.body)
    assert reply.content_type == "application/problem+json", reply.body
    problem: dict[str, Any] = reply.json()
    assert problem["status"] == reply.status and problem["code"] and problem["detail"]
    return problem
