"""Attestation as the adapters use it: one gate that every new TLS connection passes.

``AttestationGate.attest(host, port, peer_certificate)`` names the enclave behind the host,
looks up its expected PCRs, obtains its document (from the certificate or
``/.well-known/attestation``) and verifies it at the clock's current instant. A failure with a
cached document is retried once with a freshly fetched one, which is then kept (the published
SDK re-downloaded but kept using the stale copy).

Expected PCRs come from ``PcrPolicyRegistry``: static values, or provider callables polled by a
daemon thread that keeps the last good value when a provider fails.
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
from evervault.domain.attestation.policy import AnyOf, pcr_policy_from
from evervault.domain.attestation.san import document_from_certificate
from evervault.domain.attestation.verifier import VerifiedDocuments, verify
from evervault.domain.errors import AttestationError, InvalidArgumentError, InvalidPCRsError
from evervault.ports.attestation import AttestationDocumentSource, PeerCertificateReader
from evervault.ports.clock import Clock

logger = logging.getLogger("evervault.attestation")

DEFAULT_PCR_POLL_INTERVAL = 300.0
_STOP_JOIN_TIMEOUT = 10.0  # seconds a close() waits for a provider call in progress
PcrProvider = Callable[[], object]


class PcrPolicyRegistry:
    """Expected PCRs per enclave name; providers are polled in a background daemon thread."""

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
        self.poll_once()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._static) | frozenset(self._providers)

    def policy_for(self, name: str) -> AnyOf:
        """The current policy of ``name``; fail closed when the name is not configured."""
        if name in self._static:
            return self._static[name]
        if name not in self._providers:
            raise attestation_failure(
                "pcr-mismatch",
                f"no expected PCRs are configured for enclave '{name}' "
                f"(configured: {sorted(self.names) or 'none'}). Pass "
                f"{{'{name}': {{'pcr_8': '...'}}}} - or {{'{name}': {{}}}} to check only the "
                "document and its TLS binding.",
            )
        with self._lock:
            latest = self._latest.get(name)
        return latest if latest is not None else self._poll_provider(name, raise_errors=True)

    def poll_once(self) -> None:
        """Ask every provider once; failures are logged and the last good value is kept."""
        for name in self._providers:
            self._poll_provider(name, raise_errors=False)

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

    def _poll_provider(self, name: str, *, raise_errors: bool) -> AnyOf:
        try:
            policy = pcr_policy_from(self._providers[name]())
            if not policy.alternatives:
                # A static [] says "no PCR check" on purpose; a provider answering [] is far
                # more likely an empty registry, so it must not silently switch checks off.
                raise InvalidPCRsError("the provider returned no PCR sets")
        except Exception as exc:  # a provider is user code: any failure keeps the last value
            logger.warning(
                "PCR provider for enclave %r failed (%s); keeping its last good value",
                name,
                type(exc).__name__,
            )
            if raise_errors:
                raise attestation_failure(
                    "pcr-mismatch",
                    f"the PCR provider for enclave '{name}' has not produced valid PCRs yet "
                    f"({type(exc).__name__}). Fix the provider; nothing was sent.",
                ) from exc
            with self._lock:
                return self._latest.get(name, AnyOf())
        with self._lock:
            self._latest[name] = policy
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
        self, target: EnclaveTarget, certificate: x509.Certificate, policy: AnyOf, *, refresh: bool
    ) -> AttestationDocument:
        document = self._documents.document(target, certificate, refresh=refresh)
        now = datetime.fromtimestamp(self._clock.time(), timezone.utc)
        return verify(
            document, certificate, at=now, policy=policy, trust_root=self._trust_root, cache=self._verified
        )


def _split_configuration(data: object) -> tuple[dict[str, AnyOf], dict[str, PcrProvider]]:
    """Static policies and providers by enclave name, from the seed-era argument shapes."""
    static: dict[str, AnyOf] = {}
    providers: dict[str, PcrProvider] = {}
    for name, value in _named_entries(data):
        if callable(value):
            providers[name] = value
        elif name in static:
            # A top-level list of {name: pcrs} dicts: the same name twice means roll-over.
            static[name] = AnyOf(static[name].alternatives + pcr_policy_from(value).alternatives)
        else:
            static[name] = pcr_policy_from(value)
    return static, providers


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
