"""The relay hooks depend on the ``RelayRouter`` port only: any router works, no service needed.

A fixed router (no ``OutboundRelay``, no ``Client``, no registry) sends ``localhost`` through
the real local relay proxy and everything else directly; the requests, urllib3 and aiohttp
hooks must each follow it, and ask it for every request.
"""

from __future__ import annotations

import ast
import json
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
import requests
from pytest_httpserver import HTTPServer

import evervault
from evervault.adapters import relay_requests, relay_urllib3
from evervault.adapters.relay_aiohttp import AiohttpRelay
from evervault.bootstrap.relay import ENABLED_RELAY, active_relay
from evervault.local.pki import LocalCA
from evervault.local.relay_proxy import RelayProxy
from evervault.ports.relay import RelayRoute

from .conftest import AppKeys
from .relay_support import API_KEY, echo_url

PACKAGE = Path(evervault.__file__).parent


@dataclass
class FixedRouter:
    """Relays one host through a fixed route; records every URL it was asked about."""

    host: str
    relay_route: RelayRoute
    asked: list[str] = field(default_factory=list)

    def route(self, url: str) -> RelayRoute | None:
        self.asked.append(url)
        return self.relay_route if urlsplit(url).hostname == self.host else None


@pytest.fixture
def router(relay_proxy: RelayProxy, relay_ca: LocalCA) -> FixedRouter:
    assert relay_proxy.url is not None  # the proxy is running
    trust = ssl.create_default_context(cadata=relay_ca.cert_pem.decode("ascii"))
    return FixedRouter("localhost", RelayRoute(relay_proxy.url, {"Proxy-Authorization": API_KEY}, trust))


def test_the_requests_hook_follows_any_router(
    router: FixedRouter, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    secret = app_keys.encryptor.encrypt("through a fixed route")
    headers = {"Content-Type": "text/plain"}
    assert active_relay() is None  # no service and no registry involved
    relay_requests.install(router)
    try:
        relayed = requests.post(echo_url(echo), data=secret, headers=headers, timeout=10).json()
        direct = requests.post(
            echo_url(echo, "127.0.0.1"), data=secret, headers=headers, timeout=10, verify=destination_ca_file
        ).json()
    finally:
        relay_requests.uninstall()
    assert relayed["body"] == "through a fixed route"
    assert direct["body"] == secret and API_KEY not in json.dumps(direct["headers"])
    assert router.asked == [echo_url(echo), echo_url(echo, "127.0.0.1")]
    assert not relay_requests.is_installed()


def test_the_urllib3_pool_manager_follows_any_router(
    router: FixedRouter, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    secret = app_keys.encryptor.encrypt("pooled").encode()
    headers = {"Content-Type": "text/plain"}
    with relay_urllib3.RelayPoolManager(router=router, ca_certs=destination_ca_file) as manager:
        relayed = json.loads(manager.request("POST", echo_url(echo), body=secret, headers=headers).data)
        direct = json.loads(
            manager.request("POST", echo_url(echo, "127.0.0.1"), body=secret, headers=headers).data
        )
    assert relayed["body"] == "pooled"
    assert direct["body"] == secret.decode() and API_KEY not in json.dumps(direct["headers"])
    assert router.asked == [f"https://localhost:{echo.port}/", f"https://127.0.0.1:{echo.port}/"]


def test_the_public_pool_manager_takes_any_router(
    router: FixedRouter, echo: HTTPServer, app_keys: AppKeys
) -> None:
    secret = app_keys.encryptor.encrypt("public").encode()
    with evervault.RelayPoolManager(router) as manager:
        seen = json.loads(
            manager.request("POST", echo_url(echo), body=secret, headers={"Content-Type": "text/plain"}).data
        )
    assert seen["body"] == "public"
    assert isinstance(manager, relay_urllib3.RelayPoolManager)
    assert ENABLED_RELAY.route(echo_url(echo)) is None  # nothing enabled: everything goes direct


@pytest.mark.skipif(sys.version_info < (3, 11), reason="aiohttp relaying needs TLS inside TLS: Python 3.11+")
async def test_the_aiohttp_hook_follows_any_router(
    router: FixedRouter, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    secret = app_keys.encryptor.encrypt("async fixed route")
    callers_tls = ssl.create_default_context(cafile=destination_ca_file)
    async with aiohttp.ClientSession() as session:
        hook = AiohttpRelay(session, router)
        hook.install()
        try:
            async with session.post(echo_url(echo), data=secret) as response:
                relayed = await response.json()
            async with session.post(echo_url(echo, "127.0.0.1"), data=secret, ssl=callers_tls) as response:
                direct = await response.json()
        finally:
            hook.uninstall()
        assert vars(session)["_request_class"] is aiohttp.ClientRequest
    assert relayed["body"] == "async fixed route"
    assert direct["body"] == secret and API_KEY not in json.dumps(direct["headers"])
    assert router.asked == [echo_url(echo), echo_url(echo, "127.0.0.1")]


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def ours_outside(names: set[str], allowed: tuple[str, ...]) -> set[str]:
    return {
        name
        for name in names
        if name.startswith("evervault.") and not name.startswith(allowed)
    }


@pytest.mark.parametrize("adapter", ["relay_requests.py", "relay_urllib3.py", "relay_aiohttp.py"])
def test_the_relay_adapters_import_only_the_domain_ports_and_sibling_adapters(adapter: str) -> None:
    names = imported_modules(PACKAGE / "adapters" / adapter)
    assert "evervault.ports.relay" in names
    assert ours_outside(names, ("evervault.domain", "evervault.ports", "evervault.adapters")) == set()


def test_the_relay_service_imports_no_adapter_and_no_wiring() -> None:
    names = imported_modules(PACKAGE / "services" / "relay.py")
    assert ours_outside(names, ("evervault.domain", "evervault.ports", "evervault.services")) == set()
