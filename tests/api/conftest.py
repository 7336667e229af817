"""Fixtures for the API client tests: real local HTTP servers, real app key pairs, both clients."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer

from evervault import AsyncClient, Client
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.decryption import Decryptor
from tests.api.api_support import API_KEY, APP_ID, AsyncAsSync


@pytest.fixture
def server(httpserver_ipv4: HTTPServer) -> HTTPServer:
    """A real HTTP server on 127.0.0.1, emptied before each test."""
    httpserver_ipv4.clear()
    return httpserver_ipv4


@pytest.fixture(scope="session")
def app_private_keys() -> dict[Curve, ec.EllipticCurvePrivateKey]:
    return {
        Curve.SECP256K1: ec.generate_private_key(ec.SECP256K1()),
        Curve.P256: ec.generate_private_key(ec.SECP256R1()),
    }


@pytest.fixture(scope="session")
def decryptor(app_private_keys: dict[Curve, ec.EllipticCurvePrivateKey]) -> Decryptor:
    return Decryptor(app_private_keys)


@pytest.fixture(scope="session")
def keys_body(app_private_keys: dict[Curve, ec.EllipticCurvePrivateKey]) -> dict[str, str]:
    def b64(curve: Curve) -> str:
        return base64.b64encode(compressed_point(app_private_keys[curve].public_key())).decode()

    return {
        "appUuid": APP_ID,
        "teamUuid": "team_0123456789",
        "ecdhKey": b64(Curve.SECP256K1),
        "ecdhP256Key": b64(Curve.P256),
    }


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


ClientFactory = Callable[..., Any]


@pytest.fixture
def make_client(client_kind: str, server: HTTPServer) -> Iterator[ClientFactory]:
    """Builds a Client, or an AsyncClient behind :class:`AsyncAsSync`, aimed at ``server``."""
    loop = asyncio.new_event_loop()
    made: list[Any] = []

    def factory(**options: Any) -> Any:
        options.setdefault("base_url", server.url_for("/"))
        options.setdefault("environ", {})
        if client_kind == "sync":
            client: Any = Client(APP_ID, API_KEY, **options)
        else:
            client = AsyncAsSync(AsyncClient(APP_ID, API_KEY, **options), loop)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
    loop.close()


@pytest.fixture
def client(make_client: ClientFactory) -> Any:
    return make_client()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port with nothing listening: connecting is refused, nothing is sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port

