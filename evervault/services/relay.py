"""Outbound Relay on the app side: which requests go through the relay, and with what trust.

:class:`OutboundRelay` holds everything the HTTP hooks need to send a request through the
relay (:meth:`OutboundRelay.route`, the :class:`~evervault.ports.relay.RelayRouter` port):

* the routing rules (:class:`~evervault.domain.relay.RelayPolicy`), either the domains
  the caller gave or the app's configuration from ``GET v2/relay-outbound``, kept fresh
  by a daemon poller at the server's ``X-Poll-Interval``. A failed poll keeps the last
  good configuration and logs a warning; the poller never dies silently
  (docs/protocol.md §9.10);
* the relay CA, fetched from the CA URL *without* the API key (docs/protocol.md §9.9) and held in
  memory as an :class:`ssl.SSLContext` (default trust plus the CA; no temporary file),
  fetched again once the clock leaves its validity window (epoch seconds, so the host's
  time zone cannot skew it: docs/protocol.md §9.12).

Both come from a :class:`~evervault.ports.relay.RelayConfigSource` (``evervault.Client``),
so the client's retries and debug logging apply. Installing the hooks into ``requests``
and ``aiohttp`` and the process-wide "enabled relay" live in the composition root
(:mod:`evervault.bootstrap.relay`).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import certifi
from cryptography import x509

from evervault.domain.defaults import DEFAULT_RELAY_POLL_INTERVAL as DEFAULT_POLL_INTERVAL
from evervault.domain.errors import EvervaultError, RelayError
from evervault.domain.relay import RelayDecision, RelayOutboundConfig, RelayPolicy
from evervault.ports.relay import RelayConfigSource, RelayRoute

logger = logging.getLogger("evervault.relay")

MIN_POLL_INTERVAL = 0.05  # a misconfigured server must not make the poller spin
PROXY_AUTHORIZATION = "Proxy-Authorization"


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


class OutboundRelay:
    """Routing, trust and configuration polling of one enabled Outbound Relay."""

    def __init__(
        self,
        source: RelayConfigSource,
        *,
        api_key: str,
        tunnel_url: str,
        cert_url: str,
        api_url: str,
        decryption_domains: Iterable[str] | None = None,
        debug_requests: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``source`` supplies the configuration and the CA; the URLs are never relayed.

        ``api_key`` is the credential for the relay (sent on ``CONNECT`` only),
        ``tunnel_url`` the relay itself, ``cert_url`` where its CA comes from, ``api_url``
        the Evervault API.
        """
        self._source = source
        self._clock = clock
        self._debug = debug_requests
        self._proxy_url = tunnel_url
        self._proxy_headers = {PROXY_AUTHORIZATION: api_key}
        never = (api_url, cert_url, tunnel_url)
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
            config = self._source.fetch_relay_outbound_config()
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
    def source(self) -> RelayConfigSource:
        """Where this relay reads its configuration and CA (the client that enabled it)."""
        return self._source

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
                self._trust = RelayTrust.from_pem(self._source.fetch_relay_ca())
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
            self._apply(self._source.fetch_relay_outbound_config())
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
