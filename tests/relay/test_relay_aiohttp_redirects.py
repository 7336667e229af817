"""aiohttp relay hook and redirects: every hop is routed on its own URL.

A relayed hop goes through the relay (decrypting); a hop to a non-relayed host leaves the
relay and uses the caller's own ``ssl=``/``proxy=``. All servers are real and on loopback.
"""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from yarl import URL

from evervault.bootstrap.clients import Client
from evervault.services.relay import enable_outbound_relay

from .conftest import AppKeys
from .relay_support import RecordingTunnelProxy, echo_url, running_echo_server

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="aiohttp relaying needs TLS inside TLS: Python 3.11+"
)


def redirect_handler(request: Request) -> Response:
    """``/hop?to=<url>&status=<code>`` answers with a redirect to ``to``."""
    status = int(request.args.get("status", "307"))
    return Response("", status=status, headers={"Location": request.args["to"]})


@pytest.fixture(scope="module")
def hops(destination_ca: trustme.CA) -> Iterator[HTTPServer]:
    """An HTTPS server for ``localhost`` and ``127.0.0.1``: ``/echo`` plus ``/hop`` redirects."""
    with running_echo_server(destination_ca) as server:
        server.expect_request("/hop").respond_with_handler(redirect_handler)
        yield server


def hop_url(server: HTTPServer, host: str, to: str, status: int = 307) -> str:
    return str(
        URL(f"https://{host}:{server.port}/hop").with_query(to=to, status=str(status))
    )


@pytest.fixture
def callers_tls(destination_ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=destination_ca_file)


async def echoed(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.status == 200, await response.text()
    seen: dict[str, Any] = await response.json()
    return seen


async def test_a_redirect_from_a_relayed_host_to_another_host_leaves_the_relay_with_the_callers_tls(
    client: Client, hops: HTTPServer, app_keys: AppKeys, callers_tls: ssl.SSLContext
) -> None:
    secret = app_keys.encryptor.encrypt("4242 4242 4242 4242")
    start = hop_url(hops, "localhost", echo_url(hops, "127.0.0.1"))
    async with aiohttp.ClientSession() as session:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        # The second hop (127.0.0.1) is verified by the caller's CA only: through the relay's
        # context it would fail certificate verification.
        async with session.post(start, data=secret, ssl=callers_tls) as response:
            seen = await echoed(response)
            assert [str(hop.url.host) for hop in response.history] == ["localhost"]
    assert seen["body"] == secret  # not relayed, so not decrypted


async def test_the_non_relayed_hop_goes_through_the_callers_own_proxy(
    client: Client,
    hops: HTTPServer,
    app_keys: AppKeys,
    callers_tls: ssl.SSLContext,
    callers_proxy: RecordingTunnelProxy,
) -> None:
    secret = app_keys.encryptor.encrypt("through my proxy")
    start = hop_url(hops, "localhost", echo_url(hops, "127.0.0.1"))
    async with aiohttp.ClientSession() as session:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        async with session.post(start, data=secret, ssl=callers_tls, proxy=callers_proxy.url) as response:
            seen = await echoed(response)
    assert seen["body"] == secret
    # The caller's proxy saw only the direct hop; the relayed hop went to the relay.
    assert [connect.target for connect in callers_proxy.seen] == [f"127.0.0.1:{hops.port}"]


async def test_a_redirect_from_a_direct_host_to_a_relayed_host_goes_through_the_relay(
    client: Client, hops: HTTPServer, app_keys: AppKeys, callers_tls: ssl.SSLContext
) -> None:
    secret = app_keys.encryptor.encrypt({"card": "4242"})
    start = hop_url(hops, "127.0.0.1", echo_url(hops, "localhost"))
    async with aiohttp.ClientSession() as session:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        async with session.post(start, json=secret, ssl=callers_tls) as response:
            seen = await echoed(response)
    assert json.loads(seen["body"]) == {"card": "4242"}  # decrypted by the relay


async def test_a_chain_is_routed_hop_by_hop_and_a_303_becomes_a_get(
    client: Client, hops: HTTPServer, app_keys: AppKeys, callers_tls: ssl.SSLContext
) -> None:
    secret = app_keys.encryptor.encrypt("chained")
    last = hop_url(hops, "localhost", echo_url(hops, "localhost"))  # relayed, 307 keeps the body
    middle = hop_url(hops, "127.0.0.1", last)  # direct
    start = hop_url(hops, "localhost", middle)  # relayed
    async with aiohttp.ClientSession() as session:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        async with session.post(start, data=secret, ssl=callers_tls) as response:
            seen = await echoed(response)
            assert [hop.url.host for hop in response.history] == ["localhost", "127.0.0.1", "localhost"]
        assert seen["body"] == "chained"

        to_get = hop_url(hops, "localhost", echo_url(hops, "127.0.0.1"), status=303)
        async with session.post(to_get, data=secret, ssl=callers_tls) as response:
            assert (await echoed(response))["body"] == ""
            assert response.method == "GET"


async def test_without_redirects_a_relayed_request_still_uses_the_relay_and_returns_the_redirect(
    client: Client, hops: HTTPServer, callers_tls: ssl.SSLContext
) -> None:
    start = hop_url(hops, "localhost", echo_url(hops, "127.0.0.1"))
    async with aiohttp.ClientSession() as session:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        async with session.get(start, allow_redirects=False, ssl=callers_tls) as response:
            assert response.status == 307
            assert response.headers["Location"] == echo_url(hops, "127.0.0.1")
