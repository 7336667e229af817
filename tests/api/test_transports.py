"""Transports: swapping urllib3 / aiohttp / recording under unchanged services, TLS, failures."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from evervault import AsyncClient, Client, ConnectError, RequestTimeoutError, TransportError
from evervault.adapters.aiohttp_http import AiohttpTransport
from evervault.adapters.recording_http import AsyncRecordingTransport, RecordingTransport
from evervault.adapters.urllib3_http import Urllib3Transport
from evervault.ports.http import Headers, HttpRequest, HttpResponse
from tests.api.api_support import API_KEY, APP_ID, only_request, raw_path

RUN_RESULT = {"id": "func_run_1", "status": "success", "result": {"n": 1}}
ENCODED_RESULT = b'{"id": "func_run_1", "status": "success", "result": {"n": 1}}'


def wire_view(method: str, path: str, headers: Any, body: bytes) -> dict[str, Any]:
    """The parts of a request the services decide, in a transport-neutral shape."""
    wanted = ("user-agent", "accept", "accept-encoding", "content-type", "authorization", "api-key")
    lowered = {name.lower(): value for name, value in headers.items()}
    return {
        "method": method,
        "path": path,
        "headers": {name: lowered.get(name) for name in wanted},
        "body": body,
    }


def test_same_services_over_urllib3_aiohttp_and_recording_send_identical_requests(
    server: HTTPServer,
) -> None:
    import asyncio

    server.expect_request("/functions/fn/runs").respond_with_json(RUN_RESULT)
    base_url = server.url_for("/")
    views = []

    with Client(APP_ID, API_KEY, base_url=base_url, environ={}, transport=Urllib3Transport()) as client:
        assert client.run("fn", {"card": "ev:x"}) == RUN_RESULT
    seen = only_request(server)
    views.append(wire_view(seen.method, raw_path(seen), seen.headers, seen.get_data()))
    server.clear_log()

    async def over_aiohttp() -> dict[str, Any]:
        async with AsyncClient(
            APP_ID, API_KEY, base_url=base_url, environ={}, transport=AiohttpTransport()
        ) as async_client:
            return await async_client.run("fn", {"card": "ev:x"})

    assert asyncio.run(over_aiohttp()) == RUN_RESULT
    seen = only_request(server)
    views.append(wire_view(seen.method, raw_path(seen), seen.headers, seen.get_data()))

    recording = RecordingTransport([HttpResponse(200, body=ENCODED_RESULT)])
    with Client(APP_ID, API_KEY, base_url=base_url, environ={}, transport=recording) as client:
        assert client.run("fn", {"card": "ev:x"}) == RUN_RESULT
    sent = recording.requests[0]
    path = sent.url.removeprefix(base_url.rstrip("/"))
    views.append(wire_view(sent.method, path, sent.headers, sent.body or b""))

    assert views[0] == views[1] == views[2]
    assert recording.closed


async def test_async_recording_transport_under_async_client() -> None:
    transport = AsyncRecordingTransport(lambda request: HttpResponse(200, body=b'{"data": "plain"}'))
    async with AsyncClient(APP_ID, API_KEY, environ={}, transport=transport) as client:
        assert await client.decrypt("ev:RFVC:x:$") == "plain"
    assert [request.url for request in transport.requests] == ["https://api.evervault.com/decrypt"]
    assert transport.closed


def test_exhausted_script_is_a_clear_error() -> None:
    from evervault import ConfigurationError

    client = Client(APP_ID, API_KEY, environ={}, transport=RecordingTransport([]))
    with pytest.raises(ConfigurationError, match="exhausted"):
        client.create_run_token("f")


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tls_ca: trustme.CA) -> Iterator[HTTPServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    tls = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    tls.start()
    tls.expect_request("/v2/functions/f/run-token").respond_with_json({"token": "over-tls"})
    yield tls
    tls.clear()
    tls.stop()


@pytest.fixture
def ca_file(tls_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_urllib3_verifies_tls_against_the_given_ca(tls_server: HTTPServer, ca_file: str) -> None:
    base_url = tls_server.url_for("/")
    assert base_url.startswith("https://")
    with Client(
        APP_ID, API_KEY, base_url=base_url, environ={}, transport=Urllib3Transport(ca_certs=ca_file)
    ) as c:
        assert c.create_run_token("f") == {"token": "over-tls"}


def test_urllib3_default_trust_store_rejects_an_unknown_ca(tls_server: HTTPServer) -> None:
    client = Client(APP_ID, API_KEY, base_url=tls_server.url_for("/"), environ={})
    with client, pytest.raises(TransportError, match="TLS") as caught:
        client.create_run_token("f")
    assert type(caught.value) is TransportError
    assert tls_server.log == []


async def test_aiohttp_verifies_tls_against_the_given_ca(tls_server: HTTPServer, ca_file: str) -> None:
    transport = AiohttpTransport(ca_certs=ca_file)
    base_url = tls_server.url_for("/")
    async with AsyncClient(APP_ID, API_KEY, base_url=base_url, environ={}, transport=transport) as client:
        assert await client.create_run_token("f") == {"token": "over-tls"}


async def test_aiohttp_default_trust_store_rejects_an_unknown_ca(tls_server: HTTPServer) -> None:
    async with AsyncClient(APP_ID, API_KEY, base_url=tls_server.url_for("/"), environ={}) as client:
        with pytest.raises(TransportError, match="TLS") as caught:
            await client.create_run_token("f")
    assert type(caught.value) is TransportError


# --- network failures -------------------------------------------------------------------------------


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


def test_refused_connection_is_connect_error(make_client: Any, refused_url: str) -> None:
    client = make_client(base_url=refused_url)
    with pytest.raises(ConnectError, match="nothing was sent"):
        client.create_run_token("f")


def test_no_answer_within_timeout_is_request_timeout(make_client: Any, silent_url: str) -> None:
    client = make_client(base_url=silent_url, request_timeout=0.3)
    with pytest.raises(RequestTimeoutError):
        client.create_run_token("f")


# --- value objects ----------------------------------------------------------------------------------

header_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"), min_size=1
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(header_names, st.text(max_size=20), max_size=8))
def test_headers_lookup_ignores_case_and_keeps_spelling(pairs: dict[str, str]) -> None:
    headers = Headers(pairs)
    unique = {name.lower(): name for name in pairs}
    assert len(headers) == len(unique)
    for name in pairs:
        assert name.upper() in headers and name.lower() in headers
        assert headers[name.swapcase()] == headers[name]
    assert set(headers) <= set(pairs)
    assert headers == Headers({name.upper(): value for name, value in headers.items()})


def test_repeated_headers_are_joined_and_reprs_hide_values() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Api-Key", API_KEY)])
    assert headers["SET-COOKIE"] == "a=1, b=2"
    request = HttpRequest("POST", "https://x/decrypt", headers=headers, body=b"secret plaintext")
    response = HttpResponse(200, headers=headers, body=b"secret plaintext")
    for text in (repr(headers), repr(request), repr(response)):
        assert API_KEY not in text and "secret plaintext" not in text
    assert response.header("api-key") == API_KEY
    assert response.header("missing") is None


def test_async_client_works_on_a_new_event_loop_after_close(server: HTTPServer) -> None:
    import asyncio

    from evervault import ConfigurationError

    server.expect_request("/v2/functions/f/run-token").respond_with_json({"token": "t"})
    client = AsyncClient(APP_ID, API_KEY, base_url=server.url_for("/"), environ={})

    async def one_call(close: bool) -> dict[str, Any]:
        try:
            return await client.create_run_token("f")
        finally:
            if close:
                await client.close()

    assert asyncio.run(one_call(close=False)) == {"token": "t"}
    with pytest.raises(ConfigurationError, match="another event loop"):
        asyncio.run(one_call(close=True))
    assert asyncio.run(one_call(close=True)) == {"token": "t"}
