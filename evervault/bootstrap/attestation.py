"""Attested clients, wired: the gate (services) put into the requests/urllib3/aiohttp adapters.

``build_gate`` picks, per era, where documents come from (the connection's own certificate
for seed-era Cages, an HTTPS ``GET /.well-known/attestation`` otherwise), the clock, the trust
root (AWS Nitro unless a test passes ``NitroTrustRoot.for_testing_only(...)``) and the PCR
policy registry, whose provider poller it starts. The builders below hand that gate to an
adapter; closing the session, pool manager or connector closes the gate (stops the poller).

Public names, one per era (seed-era Cages, GA Cages, Enclaves) and client library:

* requests: ``cage_requests_session``, ``attestable_cage_session``, ``attestable_enclave_session``;
* urllib3: ``cage_pool_manager``, ``attestable_cage_pool_manager``,
  ``attestable_enclave_pool_manager``;
* aiohttp (build inside a running loop): ``cage_aiohttp_connector``,
  ``attestable_cage_connector``, ``attestable_enclave_connector``.

requests and aiohttp are optional extras, so their adapters are imported only when a builder
for them is called: importing this module needs neither.

Test hooks (keyword-only, never read from the environment): ``trust_root``, ``ca_bundle`` (a
PEM file trusted for the server's TLS certificate) and ``address_override``
(``{"host": ("127.0.0.1", port)}``, like ``curl --connect-to``).
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from evervault.adapters.attested_urllib3 import (
    AddressOverride,
    AttestedPoolManager,
    WellKnownFetcher,
    ca_certificates,
)
from evervault.adapters.system import SystemClock
from evervault.domain.attestation.chain import NitroTrustRoot
from evervault.domain.attestation.hosts import (
    ENCLAVES,
    GA_CAGES,
    SEED_CAGES,
    DocumentLocation,
    EnclaveEndpoint,
    Era,
)
from evervault.domain.defaults import DEFAULT_PCR_POLL_INTERVAL
from evervault.ports.attestation import AttestationDocumentSource
from evervault.services.attestation import (
    AttestationGate,
    CertificateSanDocuments,
    PcrPolicyRegistry,
    WellKnownDocuments,
)

if TYPE_CHECKING:
    import requests

    from evervault.adapters.attested_aiohttp import AttestedTCPConnector

__all__ = [
    "attestable_cage_connector",
    "attestable_cage_pool_manager",
    "attestable_cage_session",
    "attestable_enclave_connector",
    "attestable_enclave_pool_manager",
    "attestable_enclave_session",
    "attested_connector",
    "attested_pool_manager",
    "attested_session",
    "build_gate",
    "ca_certificates",
    "cage_aiohttp_connector",
    "cage_pool_manager",
    "cage_requests_session",
    "well_known_document",
]


def build_gate(
    endpoint: EnclaveEndpoint,
    attestation_data: object,
    *,
    trust_root: NitroTrustRoot | None,
    ca_bundle: str | os.PathLike[str] | None,
    address_override: AddressOverride | None,
    pcr_poll_interval: float,
) -> AttestationGate:
    """Wire a gate for one era: policies (polled), document source, trust root, clock."""
    policies = PcrPolicyRegistry(attestation_data, poll_interval=pcr_poll_interval)
    documents: AttestationDocumentSource
    if endpoint.location is DocumentLocation.CERTIFICATE_SAN:
        documents = CertificateSanDocuments()
    else:
        documents = WellKnownDocuments(
            WellKnownFetcher(ca_bundle=ca_bundle, address_override=address_override)
        )
    policies.start_polling()
    return AttestationGate(
        endpoint,
        policies,
        documents,
        trust_root=trust_root or NitroTrustRoot.aws(),
        clock=SystemClock(),
    )


@contextmanager
def _closed_on_failure(gate: AttestationGate) -> Iterator[AttestationGate]:
    """The gate, closed (its poller stopped) when the client wrapping it cannot be built."""
    try:
        yield gate
    except BaseException:
        gate.close()
        raise


def attested_session(
    era: Era,
    attestation_data: object = None,
    *,
    app_id: str,
    host_suffix: str | None = None,
    trust_root: NitroTrustRoot | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    address_override: AddressOverride | None = None,
    pcr_poll_interval: float = DEFAULT_PCR_POLL_INTERVAL,
) -> requests.Session:
    """A session attesting ``app_id``'s hosts of ``era``; other hosts behave as in any Session."""
    import requests

    from evervault.adapters.attested_requests import AttestedHTTPAdapter

    gate = build_gate(
        era.endpoint(app_id, host_suffix),
        attestation_data,
        trust_root=trust_root,
        ca_bundle=ca_bundle,
        address_override=address_override,
        pcr_poll_interval=pcr_poll_interval,
    )
    with _closed_on_failure(gate):
        adapter = AttestedHTTPAdapter(gate, address_override=address_override, ca_bundle=ca_bundle)
        session = requests.Session()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session


def attested_pool_manager(
    era: Era,
    attestation_data: object = None,
    *,
    app_id: str,
    host_suffix: str | None = None,
    trust_root: NitroTrustRoot | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    address_override: AddressOverride | None = None,
    pcr_poll_interval: float = DEFAULT_PCR_POLL_INTERVAL,
    **pool_kwargs: Any,
) -> AttestedPoolManager:
    """A urllib3 PoolManager attesting ``app_id``'s hosts of ``era`` (under ``host_suffix``)."""
    gate = build_gate(
        era.endpoint(app_id, host_suffix),
        attestation_data,
        trust_root=trust_root,
        ca_bundle=ca_bundle,
        address_override=address_override,
        pcr_poll_interval=pcr_poll_interval,
    )
    with _closed_on_failure(gate):
        pool_kwargs.setdefault("ca_certs", ca_certificates(ca_bundle))
        return AttestedPoolManager(gate, address_override=address_override, **pool_kwargs)


def attested_connector(
    era: Era,
    attestation_data: object = None,
    *,
    app_id: str,
    host_suffix: str | None = None,
    trust_root: NitroTrustRoot | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    address_override: AddressOverride | None = None,
    pcr_poll_interval: float = DEFAULT_PCR_POLL_INTERVAL,
    **connector_kwargs: Any,
) -> AttestedTCPConnector:
    """A connector attesting ``app_id``'s hosts of ``era``; TLS verified against ``ca_bundle``/certifi."""
    from evervault.adapters.attested_aiohttp import AttestedTCPConnector

    gate = build_gate(
        era.endpoint(app_id, host_suffix),
        attestation_data,
        trust_root=trust_root,
        ca_bundle=ca_bundle,
        address_override=address_override,
        pcr_poll_interval=pcr_poll_interval,
    )
    with _closed_on_failure(gate):
        connector_kwargs.setdefault("ssl", ssl.create_default_context(cafile=ca_certificates(ca_bundle)))
        return AttestedTCPConnector(gate, address_override=address_override, **connector_kwargs)


def well_known_document(
    url: str,
    *,
    ca_bundle: str | os.PathLike[str] | None = None,
    address_override: AddressOverride | None = None,
) -> bytes:
    """The COSE bytes served at ``url`` (a ``/.well-known/attestation`` URL), over verified HTTPS.

    Raises ``AttestationError`` (kind ``no-attestation-doc``) when none can be obtained.
    """
    return WellKnownFetcher(ca_bundle=ca_bundle, address_override=address_override)(url)


# The public per-era names (README, tests, the facade): the builders with the era bound.
cage_requests_session = functools.partial(attested_session, SEED_CAGES)
"""Seed-era Cages: ``{"my-cage": {"pcr_8": "..."}}`` (or a list of dicts to roll over)."""
attestable_cage_session = functools.partial(attested_session, GA_CAGES)
"""GA Cages (document from ``/.well-known/attestation``)."""
attestable_enclave_session = functools.partial(attested_session, ENCLAVES)
"""Enclaves (document from ``/.well-known/attestation``)."""

cage_pool_manager = functools.partial(attested_pool_manager, SEED_CAGES)
"""Seed-era Cages (document in the certificate SAN) as a urllib3 PoolManager."""
attestable_cage_pool_manager = functools.partial(attested_pool_manager, GA_CAGES)
"""GA Cages (``/.well-known/attestation``) as a urllib3 PoolManager."""
attestable_enclave_pool_manager = functools.partial(attested_pool_manager, ENCLAVES)
"""Enclaves (``/.well-known/attestation``) as a urllib3 PoolManager."""

cage_aiohttp_connector = functools.partial(attested_connector, SEED_CAGES)
"""Seed-era Cages (document in the TLS certificate SAN) as an aiohttp connector."""
attestable_cage_connector = functools.partial(attested_connector, GA_CAGES)
"""GA Cages (``/.well-known/attestation``) as an aiohttp connector."""
attestable_enclave_connector = functools.partial(attested_connector, ENCLAVES)
"""Enclaves (``/.well-known/attestation``) as an aiohttp connector."""
