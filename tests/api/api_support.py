"""Shared constants and helpers of the API client tests (imported by test modules)."""

from __future__ import annotations

import asyncio
import base64
import inspect
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request

from evervault import AsyncClient

APP_ID = "app_1234abcd5678"
# Shaped like a real scoped key (docs/protocol.md §7.3) so leaks are easy to spot in any text.
API_KEY = "ev:key:1:3bQrUeGSQLtRBZ0ALg9bH4MIIeX:ti6aDz:TOPSECRETVALUE"
BASIC_AUTH = "Basic " + base64.b64encode(f"{APP_ID}:{API_KEY}".encode()).decode()


class AsyncAsSync:
    """Drives an AsyncClient from a synchronous test on one private event loop.

    Lets one test body exercise both clients with identical assertions.
    """

    def __init__(self, client: AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(attribute(*args, **kwargs))

        return call

    def __repr__(self) -> str:
        return repr(self.client)



def recorded(server: HTTPServer) -> list[Request]:
    """The requests the server received, in order."""
    return [request for request, _ in server.log]


def only_request(server: HTTPServer) -> Request:
    requests = recorded(server)
    assert len(requests) == 1, f"expected exactly one request, got {len(requests)}"
    return requests[0]


def raw_path(request: Request) -> str:
    """The request target exactly as sent (werkzeug's ``path`` is percent-decoded)."""
    return str(request.environ.get("RAW_URI") or request.environ["REQUEST_URI"])
