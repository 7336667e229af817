"""Fixtures for the emulator tests: a real emulator on a real 127.0.0.1 socket.

``api`` serves :func:`evervault.local.server.create_app` through aiohttp's test server
(a real listening socket) with a controllable clock; ``encryptor_for`` encrypts for
the emulated app with the same engine as the SDK.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from evervault.adapters.system import default_encryptor
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.encryption import Encryptor
from evervault.local.functions import RegisteredFunction
from evervault.local.pki import LocalCA
from evervault.local.pytest_plugin import evervault_local, evervault_local_client  # noqa: F401
from evervault.local.runner import EmulatorOptions, registered_functions
from evervault.local.server import ServerSettings, create_app
from evervault.local.state import ALL_PERMISSIONS, LocalState, Permission


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()


@dataclass
class Api:
    """A running emulator and credentials to call it with."""

    url: str
    session: aiohttp.ClientSession
    state: LocalState
    clock: FakeClock
    app: web.Application
    encryptors: dict[Curve, Encryptor] = field(default_factory=dict)

    @property
    def api_key(self) -> str:
        return self.state.admin_key().value

    def basic(self, api_key: str | None = None, app_id: str | None = None) -> dict[str, str]:
        credentials = f"{app_id or self.state.app_id}:{api_key or self.api_key}".encode()
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}

    def api_key_header(self, api_key: str | None = None) -> dict[str, str]:
        return {"Api-Key": api_key or self.api_key}

    def key_with(self, *permissions: Permission) -> str:
        return self.state.add_api_key(permissions).value

    def encrypt(self, value: Any, curve: Curve = Curve.SECP256K1, role: str | None = None) -> Any:
        if curve not in self.encryptors:
            public_key = self.state.private_keys[curve].public_key()
            self.encryptors[curve] = default_encryptor(curve, compressed_point(public_key))
        return self.encryptors[curve].encrypt(value, role)

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> Reply:
        sent_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        if content_type is not None:
            sent_headers["Content-Type"] = content_type
        async with self.session.request(method, self.url + path, headers=sent_headers, data=data) as response:
            return Reply(response.status, dict(response.headers), await response.read())


def assert_problem(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """The reply is a Problem-JSON error with this status and code."""
    assert reply.status == status, reply.body
    assert reply.content_type == "application/problem+json"
    body = reply.json()
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    problem: dict[str, Any] = body
    return problem


ApiFactory = Callable[..., Any]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(tmp_path: Path) -> LocalState:
    return LocalState.load_or_create(tmp_path / "data")


@pytest.fixture
async def api_factory(state: LocalState, clock: FakeClock) -> AsyncIterator[ApiFactory]:
    """Start emulators over ``state``: ``await api_factory(functions=[...], max_body_bytes=...)``."""
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(
        functions: list[RegisteredFunction] | None = None,
        *,
        max_body_bytes: int = 1024 * 1024,
        sample_functions: bool = True,
        unsafe_echo_function: bool = False,
        extra_routes: Callable[[web.Application], None] | None = None,
    ) -> Api:
        options = EmulatorOptions(
            sample_functions=sample_functions,
            unsafe_echo_function=unsafe_echo_function,
            extra_functions=tuple(functions or ()),
        )
        registered = registered_functions(state, options)
        settings = ServerSettings(
            max_body_bytes=max_body_bytes,
            relay_poll_interval=2.5,
            ca_certificate_pem=LocalCA.load_or_create(state.data_dir).cert_pem,
            clock=clock,
        )
        app = create_app(state, registered, settings)
        if extra_routes is not None:
            extra_routes(app)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Api(str(server.make_url("/")), session, state, clock, app)

    yield start
    for session in sessions:
        await session.close()
    for server in servers:
        await server.close()


@pytest.fixture
async def api(api_factory: ApiFactory) -> Api:
    result: Api = await api_factory()
    return result


__all__ = ["ALL_PERMISSIONS", "Api", "FakeClock", "Reply", "assert_problem"]
