"""Outbound Relay on the app side: which requests go through the relay, and with what trust.

:class:`OutboundRelay` holds everything the HTTP adapters need to send a request
through the relay (:meth:`OutboundRelay.route`):

* the routing rules (:class:`~evervault.domain.relay.RelayPolicy`), either the domains
  the caller gave or the app's configuration from ``GET v2/relay-outbound``, kept fresh
  by a daemon poller at the server's ``X-Poll-Interval``. A failed poll keeps the last
  good configuration and logs a warning; the poller never dies silently
  (docs/protocol.md §9.10);
* the relay CA, fetched from the CA URL *without* the API key (docs/protocol.md §9.9) and held in
  memory as an :class:`ssl.SSLContext` (default trust plus the CA; no temporary file),
  fetched again once the clock leaves its validity window (epoch seconds, so the host's
  time zone cannot skew it: docs/protocol.md §9.12).

:func:`enable_outbound_relay` / :func:`disable_outbound_relay` install and remove the
adapters: ``requests`` process-wide, an ``aiohttp.ClientSession`` when one is given.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import certifi
from cryptography import x509

from evervault.domain.defaults import DEFAULT_RELAY_POLL_INTERVAL as DEFAULT_POLL_INTERVAL
from evervault.domain.errors import EvervaultError, InvalidArgumentError, RelayError
from evervault.domain.relay import RelayDecision, RelayOutboundConfig, RelayPolicy
from evervault.ports.http import Headers, HttpRequest, HttpTransport
from evervault.services.config import ClientConfig
from evervault.services.version import USER_AGENT

if TYPE_CHECKING:
    from evervault.adapters.relay_aiohttp import AiohttpRelay

logger = logging.getLogger("evervault.relay")

MIN_POLL_INTERVAL = 0.05  # a misconfigured server must not make the poller spin
CA_FETCH_ATTEMPTS = 2
PROXY_AUTHORIZATION = "Proxy-Authorization"


class RelayClient(Protocol):
    """What the relay needs from a client (``evervault.Client`` provides it)."""

    config: ClientConfig
    transport: HttpTransport

    def fetch_relay_outbound_config(self) -> RelayOutboundConfig: ...


@dataclass(frozen=True)
class RelayRoute:
    """How to send one request through the relay. The credential is kept out of ``repr``."""

    proxy_url: str
    proxy_headers: dict[str, str] = field(repr=False)
    ssl_context: ssl.SSLContext = field(repr=False)


@dataclass(frozen=True)
class RelayTrust:
    """The relay CA as an in-memory TLS context, with the window in which it is valid."""

    ssl_context: ssl.SSLContext
    not_before: float
    not_after: float

    @classmethod
    def from_pem(cls, pem: bytes) -> RelayTrust:
        try:
            certificates = x509.load_pem_x509_certificates(pem)
            text = pem.decode("ascii")
        except ValueError:
            raise RelayError(
                "The relay CA URL (EV_CERT_HOSTNAME) did not return a PEM certificate; "
                "check that it points to the Evervault (or emulator) CA endpoint."
            ) from None
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=certifi.where())
        context.load_verify_locations(cadata=text)
        return cls(
            ssl_context=context,
            not_before=max(cert.not_valid_before_utc.timestamp() for cert in certificates),
            not_after=min(cert.not_valid_after_utc.timestamp() for cert in certificates),
        )

    def is_valid_at(self, epoch_seconds: float) -> bool:
        return self.not_before <= epoch_seconds <= self.not_after


def fetch_relay_ca(transport: HttpTransport, cert_url: str, timeout: float) -> bytes:
    """``GET`` the CA certificate (two attempts). No credential is sent: the CA is public."""
    request = HttpRequest(
        "GET", cert_url, headers=Headers({"User-Agent": USER_AGENT, "Accept": "*/*"}), timeout=timeout
    )
    failure = "no attempt was made"
    for _ in range(CA_FETCH_ATTEMPTS):
        try:
            response = transport.send(request)
        except EvervaultError as error:
            failure = type(error).__name__
            continue
        if response.is_success and response.body:
            return response.body
        failure = f"HTTP {response.status}"
    raise RelayError(
        f"Could not fetch the Outbound Relay CA certificate from {cert_url} ({failure}); "
        "check the network and EV_CERT_HOSTNAME."
    )


class OutboundRelay:
    """Routing, trust and configuration polling of one enabled Outbound Relay."""

    def __init__(
        self,
        client: RelayClient,
        *,
        decryption_domains: Iterable[str] | None = None,
        debug_requests: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        config = client.config
        self._client = client
        self._clock = clock
        self._debug = debug_requests
        self._proxy_url = config.relay.tunnel_url
        self._proxy_headers = {PROXY_AUTHORIZATION: config.api_key}
        never = (config.api_url, config.relay.cert_url, config.relay.tunnel_url)
        self._explicit = decryption_domains is not None
        self._policy = RelayPolicy.build(() if decryption_domains is None else decryption_domains, never)
        self._trust: RelayTrust | None = None
        self._trust_lock = threading.Lock()
        self._poll_interval = DEFAULT_POLL_INTERVAL
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._polls = 0
        self._polled = threading.Condition()

    def __repr__(self) -> str:
        mode = "explicit domains" if self._explicit else "app configuration"
        return f"OutboundRelay(proxy={self._proxy_url!r}, {mode}, domains={list(self._policy.domains)!r})"

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Fetch the CA (and the configuration), then start polling; raises :class:`RelayError`."""
        self.trust()
        if self._explicit:
            return
        try:
            config = self._client.fetch_relay_outbound_config()
        except EvervaultError as error:
            raise RelayError(
                f"Could not fetch the Outbound Relay configuration ({type(error).__name__}: {error}); "
                "pass decryption_domains explicitly or check the API key and EV_API_URL."
            ) from error
        self._apply(config)
        self._poller = threading.Thread(target=self._poll_loop, name="evervault-relay-config", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        """Stop the poller and wait for it; requests already routed are not affected."""
        self._stop.set()
        poller, self._poller = self._poller, None
        if poller is not None and poller is not threading.current_thread():
            poller.join()

    @property
    def client(self) -> RelayClient:
        return self._client

    @property
    def is_polling(self) -> bool:
        return self._poller is not None and self._poller.is_alive()

    # --- routing -----------------------------------------------------------------------

    @property
    def policy(self) -> RelayPolicy:
        return self._policy

    def decide(self, url: str) -> RelayDecision:
        """Where ``url`` goes, logged on ``evervault.relay`` when ``debug_requests`` is on."""
        decision = self._policy.decide(url)
        if self._debug:
            verdict = "relayed" if decision.relayed else f"not relayed ({decision.reason.value})"
            logger.info("Outbound Relay: request to %s %s", decision.host or "<no host>", verdict)
        return decision

    def route(self, url: str) -> RelayRoute | None:
        """The relay route for ``url``, or ``None`` when it must go out directly."""
        if not self.decide(url).relayed:
            return None
        return RelayRoute(self._proxy_url, dict(self._proxy_headers), self.trust().ssl_context)

    def trust(self) -> RelayTrust:
        """The current relay CA, fetched again once the clock is outside its validity."""
        trust, now = self._trust, self._clock()
        if trust is not None and trust.is_valid_at(now):
            return trust
        with self._trust_lock:
            if self._trust is None or not self._trust.is_valid_at(now):
                config = self._client.config
                pem = fetch_relay_ca(self._client.transport, config.relay.cert_url, config.request_timeout)
                self._trust = RelayTrust.from_pem(pem)
            return self._trust

    # --- configuration polling ------------------------------------------------------------

    @property
    def poll_interval(self) -> float:
        return self._poll_interval

    def wait_for_polls(self, count: int, timeout: float) -> bool:
        """Block until ``count`` polls have finished (successfully or not) since enabling."""
        with self._polled:
            return self._polled.wait_for(lambda: self._polls >= count, timeout)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll_interval):
            self._poll_once()

    def _poll_once(self) -> None:
        try:
            self._apply(self._client.fetch_relay_outbound_config())
        except Exception as error:  # noqa: BLE001 - any failure keeps the last good configuration
            logger.warning(
                "Outbound Relay: could not refresh the configuration (%s: %s); "
                "keeping the last one and retrying in %.3g s.",
                type(error).__name__,
                error,
                self._poll_interval,
            )
        finally:
            with self._polled:
                self._polls += 1
                self._polled.notify_all()

    def _apply(self, config: RelayOutboundConfig) -> None:
        policy, rejected = self._policy.with_domains(config.decryption_domains)
        if rejected:
            logger.warning(
                "Outbound Relay: ignoring %d destination(s) that are not host names: %s",
                len(rejected),
                ", ".join(repr(domain) for domain in rejected),
            )
        self._policy = policy  # one reference swap: readers see the old or the new rules
        if config.poll_interval is not None:
            self._poll_interval = max(config.poll_interval, MIN_POLL_INTERVAL)


# --- the facade's enable/disable ------------------------------------------------------------


@dataclass
class _Enabled:
    relay: OutboundRelay
    requests_installed: bool
    aiohttp: AiohttpRelay | None


_state_lock = threading.Lock()
_enabled: _Enabled | None = None


def enable_outbound_relay(
    client: RelayClient,
    decryption_domains: Iterable[str] | None = None,
    debug_requests: bool = False,
    client_session: Any = None,
) -> OutboundRelay:
    """Relay matching ``https`` requests made with ``requests`` (and ``client_session``).

    With ``decryption_domains`` those domains are used; without, the app's Outbound Relay
    configuration is fetched and polled. Enabling again replaces the previous setup.
    """
    if decryption_domains is not None and isinstance(decryption_domains, (str, bytes)):
        raise InvalidArgumentError(
            "decryption_domains must be a list of host names such as ['api.example.com'], "
            "not a single string."
        )
    relay = OutboundRelay(client, decryption_domains=decryption_domains, debug_requests=debug_requests)
    session_relay = _session_relay(client_session, relay)  # validates before any thread starts
    relay.start()
    global _enabled
    try:
        with _state_lock:
            previous, _enabled = _enabled, _install(relay, session_relay)
    except BaseException:
        relay.stop()
        raise
    if previous is not None:
        _uninstall(previous, keep_requests=True)
    return relay


def disable_outbound_relay(client: RelayClient | None = None) -> None:
    """Undo :func:`enable_outbound_relay`: original ``requests``/session behaviour, no poller.

    Without ``client`` the active relay is disabled whichever client enabled it; with one,
    only if that client enabled it (so re-initialising can drop the old client's relay).
    Calling it when nothing is enabled does nothing.
    """
    global _enabled
    with _state_lock:
        previous = _enabled
        if previous is None or (client is not None and previous.relay.client is not client):
            return
        _enabled = None
    _uninstall(previous, keep_requests=False)


def active_relay() -> OutboundRelay | None:
    enabled = _enabled
    return enabled.relay if enabled is not None else None


def _session_relay(client_session: Any, relay: OutboundRelay) -> AiohttpRelay | None:
    if client_session is None:
        return None
    from evervault.adapters.relay_aiohttp import AiohttpRelay

    return AiohttpRelay(client_session, relay)


def _install(relay: OutboundRelay, session_relay: AiohttpRelay | None) -> _Enabled:
    requests_installed = _install_requests(relay)
    if session_relay is not None:
        session_relay.install()
    return _Enabled(relay, requests_installed, session_relay)


def _install_requests(relay: OutboundRelay) -> bool:
    try:
        from evervault.adapters import relay_requests
    except ImportError:  # requests is optional; nothing to route then
        logger.debug("Outbound Relay: requests is not installed, only aiohttp/urllib3 can be relayed")
        return False
    relay_requests.install(relay)
    return True


def _uninstall(enabled: _Enabled, *, keep_requests: bool) -> None:
    if enabled.aiohttp is not None:
        enabled.aiohttp.uninstall()
    if enabled.requests_installed and not keep_requests:
        from evervault.adapters import relay_requests

        relay_requests.uninstall()
    enabled.relay.stop()
