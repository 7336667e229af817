"""The app-side relay service: configuration polling, the CA in memory, debug logging."""

from __future__ import annotations

import logging
import ssl

import pytest
import requests
from pytest_httpserver import HTTPServer

from evervault.bootstrap.clients import Client
from evervault.domain.errors import InvalidArgumentError, RelayError
from evervault.services.relay import (
    OutboundRelay,
    RelayTrust,
    active_relay,
    disable_outbound_relay,
    enable_outbound_relay,
)

from .conftest import AppKeys, FakeApi
from .relay_support import API_KEY, APP_ID, echo_url

POLL_WAIT = 30.0  # generous upper bound for waiting on the poller; never asserted as a duration


def relayed_value(echo: HTTPServer, host: str, app_keys: AppKeys, verify: str | bool = True) -> str:
    secret = app_keys.encryptor.encrypt("plain")
    response = requests.post(
        echo_url(echo, host), data=secret, verify=verify, timeout=10, headers={"Content-Type": "text/plain"}
    )
    body: str = response.json()["body"]
    return "relayed" if body == "plain" else "direct"


def test_configuration_mode_applies_new_destinations_after_the_next_poll(
    client: Client,
    fake_api: FakeApi,
    echo: HTTPServer,
    app_keys: AppKeys,
    destination_ca_file: str,
    proxy_destinations: list[str],
) -> None:
    proxy_destinations[:] = ["localhost"]
    relay = enable_outbound_relay(client)
    assert domains(relay) == ("localhost",)
    assert relayed_value(echo, "localhost", app_keys) == "relayed"
    assert relayed_value(echo, "127.0.0.1", app_keys, destination_ca_file) == "direct"

    proxy_destinations.append("127.0.0.1")  # the dashboard (and the proxy) change while the app runs
    # Two more polls: the first may have fetched the configuration just before the change.
    assert relay.wait_for_polls(relay_polls(relay) + 2, POLL_WAIT)
    assert domains(relay) == ("localhost", "127.0.0.1")
    assert relayed_value(echo, "127.0.0.1", app_keys) == "relayed"
    assert relay.poll_interval == pytest.approx(0.05)


def domains(relay: OutboundRelay) -> tuple[str, ...]:
    """The relay's current domains (a call, so type checkers do not assume they stay fixed)."""
    return relay.policy.domains


def relay_polls(relay: OutboundRelay) -> int:
    count = 0
    while relay.wait_for_polls(count + 1, 0):
        count += 1
    return count


def test_a_failed_poll_keeps_the_last_configuration_and_warns(
    client: Client, fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    relay = enable_outbound_relay(client)
    fake_api.failing = True
    with caplog.at_level(logging.WARNING, logger="evervault.relay"):
        assert relay.wait_for_polls(relay_polls(relay) + 2, POLL_WAIT)
    assert domains(relay) == ("localhost",)
    assert relay.is_polling
    assert any("keeping the last one" in record.getMessage() for record in caplog.records)
    assert API_KEY not in caplog.text
    fake_api.failing = False
    fake_api.destinations.append("example.test")
    assert relay.wait_for_polls(relay_polls(relay) + 2, POLL_WAIT)
    assert domains(relay) == ("localhost", "example.test")


def test_a_missing_poll_interval_header_keeps_the_default(client: Client, fake_api: FakeApi) -> None:
    fake_api.poll_interval = "not a number"
    relay = OutboundRelay(client)
    relay.start()
    try:
        assert relay.poll_interval == 5.0
    finally:
        relay.stop()
    assert not relay.is_polling


def test_the_ca_is_fetched_without_the_api_key_and_refreshed_when_it_expires(
    client: Client, fake_api: FakeApi
) -> None:
    now = [1_800_000_000.0]
    relay = OutboundRelay(client, decryption_domains=["localhost"], clock=lambda: now[0])
    first = relay.trust()
    assert first.is_valid_at(now[0])
    assert isinstance(first.ssl_context, ssl.SSLContext)
    assert relay.trust() is first
    now[0] = first.not_after + 1
    assert relay.trust() is not first
    assert len(fake_api.ca_requests) == 2  # once at first use, once after expiry
    for headers in fake_api.ca_requests:
        assert "Api-Key" not in headers and "Authorization" not in headers
        assert API_KEY not in str(headers)


def test_unusable_ca_and_configuration_fail_with_relay_errors(fake_api: FakeApi, relay_proxy: object) -> None:
    broken = Client(
        APP_ID, API_KEY, base_url=fake_api.url("/missing/"), ca_host=fake_api.url("/missing-ca"), environ={}
    )
    with pytest.raises(RelayError, match="CA certificate"):
        enable_outbound_relay(broken, decryption_domains=["localhost"])
    no_config = Client(
        APP_ID, API_KEY, base_url=fake_api.url("/missing/"), ca_host=fake_api.url("/ca.crt"), environ={}
    )
    with pytest.raises(RelayError, match="configuration"):
        enable_outbound_relay(no_config)
    with pytest.raises(RelayError, match="PEM"):
        RelayTrust.from_pem(b"not a certificate")


def test_debug_requests_logs_each_host_and_whether_it_was_relayed_but_never_the_key(
    client: Client,
    echo: HTTPServer,
    app_keys: AppKeys,
    destination_ca_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enable_outbound_relay(client, decryption_domains=["localhost"], debug_requests=True)
    with caplog.at_level(logging.INFO, logger="evervault.relay"):
        relayed_value(echo, "localhost", app_keys)
        relayed_value(echo, "127.0.0.1", app_keys, destination_ca_file)
    messages = [record.getMessage() for record in caplog.records if record.name == "evervault.relay"]
    assert "Outbound Relay: request to localhost relayed" in messages
    assert any(message.startswith("Outbound Relay: request to 127.0.0.1 not relayed") for message in messages)
    assert API_KEY not in caplog.text


def test_invalid_arguments_are_refused_before_anything_starts(client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="list of host names"):
        enable_outbound_relay(client, decryption_domains="localhost")
    with pytest.raises(InvalidArgumentError, match="not a host name"):
        enable_outbound_relay(client, decryption_domains=["https://localhost/"])
    with pytest.raises(TypeError, match=r"aiohttp\.ClientSession"):
        enable_outbound_relay(client, decryption_domains=["localhost"], client_session=object())


def test_repr_never_shows_the_key(client: Client) -> None:
    relay = OutboundRelay(client, decryption_domains=["localhost"])
    assert API_KEY not in repr(relay)
    route = relay.route("https://localhost/")
    assert route is not None and API_KEY not in repr(route)


def test_disabling_for_another_client_leaves_the_active_relay_alone(
    client: Client, fake_api: FakeApi
) -> None:
    relay = enable_outbound_relay(client)
    other = Client(APP_ID, API_KEY, base_url=fake_api.url("/"), environ={})
    disable_outbound_relay(other)
    assert active_relay() is relay and relay.is_polling
    disable_outbound_relay(client)
    assert active_relay() is None and not relay.is_polling
