"""aiohttp sessions and the urllib3 RelayPoolManager through the relay."""

from __future__ import annotations

import json
import ssl
import sys
from typing import Any

import aiohttp
import pytest
import urllib3
from pytest_httpserver import HTTPServer

from evervault.adapters.relay_urllib3 import RelayPoolManager
from evervault.bootstrap.clients import Client
from evervault.services.relay import disable_outbound_relay, enable_outbound_relay

from .conftest import AppKeys
from .relay_support import API_KEY, echo_url


async def post_json(
    session: aiohttp.ClientSession, url: str, document: Any, **options: Any
) -> dict[str, Any]:
    async with session.post(url, json=document, **options) as response:
        assert response.status == 200
        seen: dict[str, Any] = await response.json()
        return seen


# aiohttp can open TLS inside an HTTPS proxy connection only on Python 3.11+ (documented).
needs_tls_in_tls = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="aiohttp relaying needs TLS inside TLS: Python 3.11+"
)


@needs_tls_in_tls
async def test_the_given_aiohttp_session_is_relayed_for_matching_hosts_only(
    client: Client, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    document = app_keys.encryptor.encrypt({"card": "4242", "cvc": 123})
    callers_tls = ssl.create_default_context(cafile=destination_ca_file)
    async with aiohttp.ClientSession() as session, aiohttp.ClientSession() as other:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        relayed = await post_json(session, echo_url(echo), document)
        assert json.loads(relayed["body"]) == {"card": "4242", "cvc": 123}
        assert API_KEY not in json.dumps(relayed["headers"])

        direct = await post_json(session, echo_url(echo, "127.0.0.1"), document, ssl=callers_tls)
        assert json.loads(direct["body"]) == document and API_KEY not in json.dumps(direct["headers"])

        untouched = await post_json(other, echo_url(echo), document, ssl=callers_tls)  # another session
        assert json.loads(untouched["body"]) == document

        disable_outbound_relay()
        assert vars(session)["_request_class"] is aiohttp.ClientRequest
        after = await post_json(session, echo_url(echo), document, ssl=callers_tls)
        assert json.loads(after["body"]) == document


@needs_tls_in_tls
async def test_a_session_with_a_base_url_is_routed_on_the_full_url(
    client: Client, echo: HTTPServer, app_keys: AppKeys
) -> None:
    secret = app_keys.encryptor.encrypt("based")
    async with aiohttp.ClientSession(base_url=f"https://localhost:{echo.port}") as session:
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
        seen = await post_json(session, "/echo", {"v": secret})
        assert json.loads(seen["body"]) == {"v": "based"}


def test_the_urllib3_pool_manager_relays_matching_hosts_and_keeps_its_own_settings_for_others(
    client: Client, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    document = app_keys.encryptor.encrypt({"n": 7})
    relay = enable_outbound_relay(client, decryption_domains=["localhost"])
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"}
    with RelayPoolManager(relay, ca_certs=destination_ca_file) as manager:
        relayed = manager.request("POST", echo_url(echo), body=body, headers=headers)
        assert json.loads(json.loads(relayed.data)["body"]) == {"n": 7}
        direct = manager.request("POST", echo_url(echo, "127.0.0.1"), body=body, headers=headers)
        seen = json.loads(direct.data)
        assert json.loads(seen["body"]) == document and API_KEY not in json.dumps(seen["headers"])


def test_a_pool_manager_without_a_relay_follows_whichever_relay_is_enabled(
    client: Client, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    secret = app_keys.encryptor.encrypt("follow")
    with RelayPoolManager(ca_certs=destination_ca_file) as manager:

        def body_seen() -> str:
            response = manager.request(
                "POST", echo_url(echo), body=secret.encode(), headers={"Content-Type": "text/plain"}
            )
            value: str = json.loads(response.data)["body"]
            return value

        assert body_seen() == secret
        enable_outbound_relay(client, decryption_domains=["localhost"])
        assert body_seen() == "follow"
        disable_outbound_relay()
        assert body_seen() == secret


def test_a_pool_manager_with_an_untrusted_destination_still_fails_directly(
    client: Client, echo: HTTPServer
) -> None:
    relay = enable_outbound_relay(client, decryption_domains=["localhost"])
    with RelayPoolManager(relay) as manager, pytest.raises(urllib3.exceptions.MaxRetryError):
        manager.request("GET", echo_url(echo, "127.0.0.1"), retries=urllib3.Retry(0))


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="the warning is for Python 3.10 only")
async def test_relaying_an_aiohttp_session_warns_before_python_3_11(client: Client) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.warns(RuntimeWarning, match="Python 3.11"):
            enable_outbound_relay(client, decryption_domains=["localhost"], client_session=session)
