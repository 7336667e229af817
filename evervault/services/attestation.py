"""Attestation as the adapters use it: one gate that every new TLS connection passes.

``AttestationGate`` implements the port ``evervault.ports.attestation.AttestationGate`` the
attested adapters take; ``evervault.bootstrap.attestation`` builds it and hands it to them.
``AttestationGate.attest(host, port, peer_certificate)`` names the enclave behind the host,
looks up its expected PCRs, obtains its document (from the certificate or
``/.well-known/attestation``) and verifies it at the clock's current instant. A failure with a
cached document is retried once with a freshly fetched one, which is then kept (the published
SDK re-downloaded but kept using the stale copy).

Expected PCRs come from ``PcrPolicyRegistry``: static values, or provider callables polled by a
daemon thread that keeps the last good value when a provider fails. Values that would check
nothing are refused (fail closed); ``UnsafeSkipPcrChecks()`` is the named opt-out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from cryptography import x509

from evervault.domain.attestation.certificates import load_certificate
from evervault.domain.attestation.chain import NitroTrustRoot
from evervault.domain.attestation.document import AttestationDocument
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.attestation.hosts import EnclaveEndpoint, EnclaveTarget
from evervault.domain.attestation.policy import (
    AnyOf,
    PcrPolicy,
    UnsafeSkipPcrChecks,
    pcr_policy_from,
)
from evervault.domain.attestation.san import document_from_certificate
from evervault.domain.attestation.verifier import VerifiedDocuments, verify
from evervault.domain.errors import AttestationError, InvalidArgumentError, InvalidPCRsError
from evervault.ports.attestation import AttestationDocumentSource, PeerCertificateReader
from evervault.ports.clock import Clock

logger = logging.getLogger("evervault.attestation")

_STOP_JOIN_TIMEOUT = 10.0  # seconds a close() waits for a provider call in progress
PcrProvider = Callable[[], object]


class PcrPolicyRegistry:
    """Expected PCRs per enclave name; providers are polled in a background daemon thread.

    Fail closed: a value that would check nothing is an ``InvalidPCRsError`` here (static
    values) or a refused connection (providers, which can never switch the check off).
    ``UnsafeSkipPcrChecks()`` - or, for the published SDK's sake, a static ``{}`` - is the only
    way to accept any measurements, and every registry built with it logs a warning.
    """

    def __init__(self, attestation_data: object, *, poll_interval: float) -> None:
        if not poll_interval > 0:
            raise InvalidArgumentError(
                f"The PCR provider poll interval must be a positive number of seconds, got {poll_interval!r}."
            )
        self._static, self._providers = _split_configuration(attestation_data)
        self._latest: dict[str, AnyOf] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._poll_interval = float(poll_interval)
        self._thread: threading.Thread | None = None
        _warn_about_skipped_checks(self._static, attestation_data)
        self.poll_once()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._static) | frozenset(self._providers)

    def policy_for(self, name: str) -> PcrPolicy:
        """The current policy of ``name``; fail closed when the name is not configured."""
        if name in self._static:
            return self._static[name]
        if name not in self._providers:
            raise attestation_failure(
                "pcr-mismatch",
                f"no expected PCRs are configured for enclave '{name}' "
                f"(configured: {sorted(self.names) or 'none'}). Pass "
                f"{{'{name}': {{'pcr_8': '...'}}}} - or {{'{name}': UnsafeSkipPcrChecks()}} to "
                "check only the document and its TLS binding.",
            )
        with self._lock:
            latest = self._latest.get(name)
        return latest if latest is not None else self._poll_provider(name)

    def poll_once(self) -> None:
        """Ask every provider once; failures are logged and the last good value is kept."""
        for name in self._providers:
            try:
                self._poll_provider(name)
            except AttestationError:
                continue  # logged; the last good value (if any) stays in force

    def start_polling(self) -> None:
        """Start the daemon thread (no-op without providers or when already running)."""
        if self._providers and self._thread is None:
            self._thread = threading.Thread(
                target=self._poll_forever, name="evervault-pcr-provider-poller", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop polling; wait (boundedly: it is a daemon) for a poll in progress to end."""
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(_STOP_JOIN_TIMEOUT)

    def _poll_forever(self) -> None:
        while not self._stopped.wait(self._poll_interval):
            self.poll_once()

    def _poll_provider(self, name: str) -> AnyOf:
        """Ask the provider; raise ``AttestationError`` when it gave nothing usable."""
        try:
            policy = provided_policy(self._providers[name]())
        except Exception as exc:  # a provider is user code: any failure keeps the last value
            # Our own InvalidPCRsError messages hold only PCR values; other exceptions come
            # from user code and may carry anything (URLs with tokens), so only their type.
            detail = str(exc) if isinstance(exc, InvalidPCRsError) else type(exc).__name__
            logger.warning(
                "PCR provider for enclave %r failed (%s); keeping its last good value", name, detail
            )
            raise attestation_failure(
                "pcr-mismatch",
                f"the PCR provider for enclave '{name}' has not produced valid PCRs yet "
                f"({detail}). Fix the provider; nothing was sent.",
            ) from exc
        with self._lock:
            self._latest[name] = policy
        return policy


def provided_policy(value: object) -> AnyOf:
    """A provider's answer as PCR sets: every empty form and the opt-out are refused.

    A provider answering ``[]`` or ``{}`` is far more likely an empty registry or a failed
    lookup than a decision to trust any enclave, so it never switches the check off.
    """
    policy = pcr_policy_from(value)
    if isinstance(policy, UnsafeSkipPcrChecks):
        raise InvalidPCRsError(
            "a PCR provider cannot switch PCR checks off; pass UnsafeSkipPcrChecks() as the "
            "static value of the enclave instead of a provider"
        )
    return policy


class CertificateSanDocuments:
    """Seed-era Cages: the document travels inside the connection's own certificate."""

    refreshable = False

    def document(self, target: EnclaveTarget, peer_certificate: x509.Certificate, *, refresh: bool) -> bytes:
        return document_from_certificate(peer_certificate)


class WellKnownDocuments:
    """GA Cages and Enclaves: ``GET /.well-known/attestation``, cached per enclave host."""

    refreshable = True

    def __init__(self, fetch: Callable[[str], bytes]) -> None:
        self._fetch = fetch
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def document(self, target: EnclaveTarget, peer_certificate: x509.Certificate, *, refresh: bool) -> bytes:
        with self._lock:
            cached = None if refresh else self._cache.get(target.host)
        if cached is not None:
            return cached
        fetched = self._fetch(target.well_known_url)
        with self._lock:
            self._cache[target.host] = fetched
        return fetched


class AttestationGate:
    """Decides whether a freshly opened TLS connection may carry a request."""

    def __init__(
        self,
        endpoint: EnclaveEndpoint,
        policies: PcrPolicyRegistry,
        documents: AttestationDocumentSource,
        *,
        trust_root: NitroTrustRoot,
        clock: Clock,
    ) -> None:
        self.endpoint = endpoint
        self.policies = policies
        self._documents = documents
        self._trust_root = trust_root
        self._clock = clock
        # Documents already verified for this session: a new connection re-checks only
        # the certificates' validity at its own instant (see domain.attestation.verifier).
        self._verified = VerifiedDocuments()

    def covers(self, host: str) -> bool:
        return self.endpoint.covers(host)

    def require_policy(self, host: str, port: int) -> None:
        """Fail before the socket is opened when ``host`` has no usable PCR policy.

        ``attest`` checks again after the handshake (a provider may answer differently by
        then); this early call keeps a careless or missing policy from costing even a TCP
        connection to the enclave.
        """
        self.policies.policy_for(self.endpoint.target(host, port).name)

    def attest(self, host: str, port: int, peer: PeerCertificateReader) -> AttestationDocument:
        """Verify the connection to ``host``; raise ``AttestationError`` to keep it unused."""
        target = self.endpoint.target(host, port)
        policy = self.policies.policy_for(target.name)
        peer_certificate = peer.getpeercert(binary_form=True)
        if not peer_certificate:
            raise attestation_failure("malformed-cert", f"{host} presented no TLS certificate to attest.")
        certificate = load_certificate(peer_certificate, what=f"the TLS certificate of {host}")
        try:
            return self._verify(target, certificate, policy, refresh=False)
        except AttestationError as first_failure:
            if not self._documents.refreshable:
                raise
            logger.info(
                "attestation of %s failed (%s); retrying once with a fresh document",
                host,
                first_failure.kind,
            )
            return self._verify(target, certificate, policy, refresh=True)

    def close(self) -> None:
        self.policies.stop()

    def _verify(
        self, target: EnclaveTarget, certificate: x509.Certificate, policy: PcrPolicy, *, refresh: bool
    ) -> AttestationDocument:
        document = self._documents.document(target, certificate, refresh=refresh)
        now = datetime.fromtimestamp(self._clock.time(), timezone.utc)
        return verify(
            document, certificate, at=now, policy=policy, trust_root=self._trust_root, cache=self._verified
        )


def _split_configuration(data: object) -> tuple[dict[str, PcrPolicy], dict[str, PcrProvider]]:
    """Static policies and providers by enclave name, from the seed-era argument shapes."""
    static: dict[str, PcrPolicy] = {}
    providers: dict[str, PcrProvider] = {}
    for name, value in _named_entries(data):
        if callable(value) and not isinstance(value, type):
            # A class is callable too, but `UnsafeSkipPcrChecks` without the parentheses is a
            # mistake to report, not a provider to poll.
            providers[name] = value
        elif name in static:
            # A top-level list of {name: pcrs} dicts: the same name twice means roll-over.
            static[name] = _rolled_over(name, static[name], static_policy(value))
        else:
            static[name] = static_policy(value)
    return static, providers


def static_policy(value: object) -> PcrPolicy:
    """One enclave's static value as a policy; exactly ``{}`` is the published SDK's opt-out.

    The published SDK read ``{"my-cage": {}}`` as "no PCR check", so that one literal keeps
    meaning ``UnsafeSkipPcrChecks()`` (with the same warning); every other value that would
    check nothing (``None``, ``[]``, ``[{}]``, ``{"pcr_8": None}``) is an ``InvalidPCRsError``.
    """
    if isinstance(value, Mapping) and not value:
        return UnsafeSkipPcrChecks()
    return pcr_policy_from(value)


def _rolled_over(name: str, first: PcrPolicy, second: PcrPolicy) -> AnyOf:
    if isinstance(first, AnyOf) and isinstance(second, AnyOf):
        return AnyOf(first.alternatives + second.alternatives)
    raise InvalidPCRsError(
        f"enclave '{name}' is listed twice, once without PCR checks; rolling over to "
        "'any measurements' would make the other PCR set pointless. List only PCR sets, or "
        "pass UnsafeSkipPcrChecks() alone."
    )


_LEGACY_OPT_OUT = "an empty dict {} (the published SDK's opt-out; UnsafeSkipPcrChecks() says so explicitly)"


def _warn_about_skipped_checks(static: Mapping[str, PcrPolicy], data: object) -> None:
    """One WARNING per enclave without PCR checks, each time a session is built."""
    legacy = {name for name, value in _named_entries(data) if isinstance(value, Mapping) and not value}
    for name, policy in static.items():
        if isinstance(policy, UnsafeSkipPcrChecks):
            logger.warning(
                "PCR checks are OFF for enclave %r (configured with %s): any genuine Nitro "
                "enclave bound to the TLS key will receive requests, whatever code it runs",
                name,
                _LEGACY_OPT_OUT if name in legacy else "UnsafeSkipPcrChecks()",
            )


def _named_entries(data: object) -> list[tuple[str, object]]:
    if data is None:
        return []
    mappings = data if isinstance(data, (list, tuple)) else [data]
    entries: list[tuple[str, object]] = []
    for mapping in mappings:
        if not isinstance(mapping, Mapping):
            raise InvalidArgumentError(
                "Attestation data must map enclave names to expected PCRs, e.g. "
                f"{{'my-enclave': {{'pcr_8': '...'}}}}; got {type(mapping).__name__}."
            )
        entries.extend((str(name), value) for name, value in mapping.items())
    return entries
