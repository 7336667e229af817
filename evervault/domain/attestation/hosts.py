"""Which hosts are attested enclaves, what they are called and where their document lives.

Three eras (docs/protocol.md §8.1): seed-era Cages (``cages.evervault.com``, document in the TLS
certificate's SAN, app id keeps its underscore), GA Cages (``cage.evervault.com``) and
Enclaves (``enclave.evervault.com``), both serving ``/.well-known/attestation`` with the app
id's ``_`` written as ``-``. A host matches an era when it ends with ``.<suffix>`` (a suffix
match on the host name, never a substring of the URL).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.defaults import DEFAULT_CAGES_HOST, DEFAULT_ENCLAVE_HOST
from evervault.domain.defaults import SEED_CAGES_HOST as SEED_CAGES_HOST
from evervault.domain.errors import InvalidArgumentError

GA_CAGES_HOST = DEFAULT_CAGES_HOST
ENCLAVES_HOST = DEFAULT_ENCLAVE_HOST
WELL_KNOWN_PATH = "/.well-known/attestation"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST_SUFFIX = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")


class DocumentLocation(enum.Enum):
    """Where an era's attestation document comes from."""

    CERTIFICATE_SAN = "certificate-san"
    WELL_KNOWN = "well-known"


@dataclass(frozen=True)
class EnclaveEndpoint:
    """The attested host suffix, the app it belongs to, and where documents come from."""

    host_suffix: str
    app_id: str
    location: DocumentLocation

    def __post_init__(self) -> None:
        # An empty suffix would match no host at all, so every request would go out
        # unattested: refuse it rather than fail open.
        if not _HOST_SUFFIX.fullmatch(self.host_suffix):
            raise InvalidArgumentError(
                f"The attested host suffix {self.host_suffix!r} is not a DNS name such as "
                "'enclave.evervault.com'; attestation cannot be scoped to it."
            )

    @classmethod
    def seed_cages(cls, app_id: str, host_suffix: str = SEED_CAGES_HOST) -> EnclaveEndpoint:
        return SEED_CAGES.endpoint(app_id, host_suffix)

    @classmethod
    def ga_cages(cls, app_id: str, host_suffix: str = GA_CAGES_HOST) -> EnclaveEndpoint:
        return GA_CAGES.endpoint(app_id, host_suffix)

    @classmethod
    def enclaves(cls, app_id: str, host_suffix: str = ENCLAVES_HOST) -> EnclaveEndpoint:
        return ENCLAVES.endpoint(app_id, host_suffix)

    def covers(self, host: str) -> bool:
        """True when connections to ``host`` must be attested."""
        return _normal_host(host).endswith("." + self.host_suffix)

    def target(self, host: str, port: int) -> EnclaveTarget:
        """Name the enclave behind ``host``; fail closed on hosts of a foreign shape or app."""
        labels = _normal_host(host)[: -len(self.host_suffix) - 1].split(".")
        if len(labels) == 4 and labels[1] == "attest":
            labels = labels[2:]  # {nonce}.attest.{name}.{app}: the nonce is not checked
        if len(labels) != 2 or not all(labels):
            raise attestation_failure(
                "no-attestation-doc",
                f"'{host}' is under '{self.host_suffix}' but is not of the form "
                f"<name>.<app>.{self.host_suffix}; refusing to send anything unattested.",
            )
        name, app_label = labels
        if _app_key(app_label) != _app_key(self.app_id):
            raise attestation_failure(
                "no-attestation-doc",
                f"'{host}' belongs to app '{app_label}', but this session attests app "
                f"'{self.app_id}'. Create a session with that app's id.",
            )
        return EnclaveTarget(name=name, host=f"{name}.{app_label}.{self.host_suffix}", port=port)


@dataclass(frozen=True)
class Era:
    """One generation of enclave hosting: its default host suffix and where documents live."""

    default_host_suffix: str
    location: DocumentLocation

    def endpoint(self, app_id: str, host_suffix: str | None = None) -> EnclaveEndpoint:
        """``app_id``'s endpoint under ``host_suffix`` (this era's default suffix when None)."""
        suffix = self.default_host_suffix if host_suffix is None else host_suffix
        return EnclaveEndpoint(_normal_host(suffix), app_id, self.location)


SEED_CAGES = Era(SEED_CAGES_HOST, DocumentLocation.CERTIFICATE_SAN)
GA_CAGES = Era(GA_CAGES_HOST, DocumentLocation.WELL_KNOWN)
ENCLAVES = Era(ENCLAVES_HOST, DocumentLocation.WELL_KNOWN)


@dataclass(frozen=True)
class EnclaveTarget:
    """One enclave: its name (the key of the PCR configuration) and canonical host."""

    name: str
    host: str
    port: int

    @property
    def well_known_url(self) -> str:
        authority = self.host if self.port == 443 else f"{self.host}:{self.port}"
        return f"https://{authority}{WELL_KNOWN_PATH}"


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _app_key(app_id: str) -> str:
    # GA and Enclave hostnames write app_x as app-x; both spellings name the same app.
    return app_id.strip().lower().replace("_", "-")
