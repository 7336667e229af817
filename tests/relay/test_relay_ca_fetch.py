"""The relay CA comes from ``Client.fetch_relay_ca``: the client's retries and debug logging apply.

Observed with a real loopback HTTP server that fails a given number of times before serving
the CA, and through the ``RelayConfigSource`` port with a source that is not a client at all.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from evervault.bootstrap.clients import Client
from evervault.bootstrap.relay import outbound_relay_for
from evervault.domain.errors import RelayError
from evervault.domain.relay import RelayOutboundConfig
from evervault.local.pki import LocalCA
from evervault.services.relay import OutboundRelay
from evervault.services.retry import RetryPolicy

from .relay_support import API_KEY, APP_ID


@dataclass
class FlakyCa:
    """``/ca.crt`` answers ``failure_status`` ``failures`` times, then the CA; records headers."""

    server: HTTPServer
    pem: bytes
    failures: int = 0
    failure_status: int = 503
    seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url_for("/ca.crt")

    def handle(self, request: Request) -> Response:
        self.seen.append(dict(request.headers))
        if len(self.seen) <= self.failures:
            return Response("try again", status=self.failure_status)
        return Response(self.pem, content_type="application/x-pem-file")


@pytest.fixture
def flaky_ca(relay_ca: LocalCA) -> Iterator[FlakyCa]:
    server = HTTPServer(host="127.0.0.1", port=0)
    flaky = FlakyCa(server, relay_ca.cert_pem)
    server.expect_request("/ca.crt").respond_with_handler(flaky.handle)
    server.start()
    yield flaky
    server.clear()
    server.stop()


def client_for(ca_url: str, **options: Any) -> Client:
    """A client whose CA URL is ``ca_url`` (its API, never called here, on the same loopback origin)."""
    api_url = ca_url.rsplit("/", 1)[0] + "/"
    return Client(APP_ID, API_KEY, base_url=api_url, ca_host=ca_url, environ={}, **options)


def logged(caplog: pytest.LogCaptureFixture, url: str, status: int) -> int:
    """How many of the client's log lines name a ``GET`` of ``url`` answered with ``status``."""
    return sum(
        1
        for record in caplog.records
        if record.name.startswith("evervault")
        and f"GET {url} " in record.getMessage()
        and str(status) in record.getMessage().replace(url, "")
    )


def test_a_failed_ca_fetch_is_retried_by_the_clients_retrier_and_logged(
    flaky_ca: FlakyCa, caplog: pytest.LogCaptureFixture
) -> None:
    flaky_ca.failures = 1
    slept: list[float] = []
    policy = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.01)
    with client_for(flaky_ca.url, retry=policy, sleep=slept.append) as client, caplog.at_level(
        logging.DEBUG, logger="evervault"
    ):
        trust = outbound_relay_for(client, decryption_domains=["localhost"]).trust()
    assert trust.not_before < trust.not_after
    assert len(flaky_ca.seen) == 2 and len(slept) == 1  # the client's retrier waited, then repeated
    assert logged(caplog, flaky_ca.url, 503) == 1  # the retrier's note of the repeat
    assert logged(caplog, flaky_ca.url, 200) == 1  # the client's debug line
    for headers in flaky_ca.seen:  # no credential, on the first attempt or the repeat
        assert API_KEY not in str(headers) and "Api-Key" not in headers and "Authorization" not in headers
    assert API_KEY not in caplog.text


def test_without_retries_the_ca_fetch_still_makes_two_attempts(
    flaky_ca: FlakyCa, caplog: pytest.LogCaptureFixture
) -> None:
    flaky_ca.failures, flaky_ca.failure_status = 1, 503
    with client_for(flaky_ca.url) as client, caplog.at_level(logging.DEBUG, logger="evervault"):
        assert client.fetch_relay_ca() == flaky_ca.pem
    assert logged(caplog, flaky_ca.url, 503) == 1
    assert logged(caplog, flaky_ca.url, 200) == 1


def test_the_ca_fetch_follows_the_clients_one_repeat_rule(flaky_ca: FlakyCa) -> None:
    # A 500 is not a status any request of this SDK repeats (services/retry.py): the CA
    # fetch reports it after one attempt instead of having a rule of its own.
    flaky_ca.failures, flaky_ca.failure_status = 10, 500
    with client_for(flaky_ca.url) as client, pytest.raises(RelayError, match=r"\(HTTP 500\)"):
        client.fetch_relay_ca()
    assert len(flaky_ca.seen) == 1


def test_a_ca_url_that_keeps_failing_gives_the_same_relay_error_as_before(flaky_ca: FlakyCa) -> None:
    flaky_ca.failures, flaky_ca.failure_status = 10, 503
    with client_for(flaky_ca.url) as client, pytest.raises(RelayError) as raised:
        client.fetch_relay_ca()
    assert str(raised.value) == (
        f"Could not fetch the Outbound Relay CA certificate from {flaky_ca.url} (HTTP 503); "
        "check the network and EV_CERT_HOSTNAME."
    )
    assert len(flaky_ca.seen) == 2


def test_an_unreachable_ca_url_names_the_network_failure() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ca.crt"  # nothing listens there any more
    with client_for(url) as client, pytest.raises(RelayError) as raised:
        client.fetch_relay_ca()
    assert str(raised.value) == (
        f"Could not fetch the Outbound Relay CA certificate from {url} (ConnectError); "
        "check the network and EV_CERT_HOSTNAME."
    )


@dataclass
class StaticSource:
    """A ``RelayConfigSource`` that is not a client: fixed destinations and CA."""

    pem: bytes
    destinations: tuple[str, ...]
    ca_fetches: int = 0

    def fetch_relay_outbound_config(self) -> RelayOutboundConfig:
        return RelayOutboundConfig(self.destinations, poll_interval=60.0)

    def fetch_relay_ca(self) -> bytes:
        self.ca_fetches += 1
        return self.pem


def test_the_relay_service_needs_only_the_config_source_port_and_plain_settings(relay_ca: LocalCA) -> None:
    source = StaticSource(relay_ca.cert_pem, ("payments.example", "api.local.test"))
    relay = OutboundRelay(
        source,
        api_key=API_KEY,
        tunnel_url="https://relay.local.test:7711",
        cert_url="https://api.local.test/ca.crt",
        api_url="https://api.local.test/",
    )
    relay.start()
    try:
        assert relay.is_polling and relay.poll_interval == 60.0
        route = relay.route("https://payments.example/charge")
        assert route is not None
        assert route.proxy_url == "https://relay.local.test:7711"
        assert route.proxy_headers == {"Proxy-Authorization": API_KEY}
        assert relay.route("https://api.local.test/v2/relay-outbound") is None  # the API: never relayed
        assert relay.route("https://elsewhere.example/") is None
        assert source.ca_fetches == 1 and relay.source is source
    finally:
        relay.stop()
