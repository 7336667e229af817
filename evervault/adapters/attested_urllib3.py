"""urllib3 adapter: a PoolManager whose HTTPS connections are attested before first use.

``AttestedHTTPSConnection.connect()`` completes the TLS handshake, takes the certificate the
server presented on THAT socket and passes it to the gate (any object implementing
``evervault.ports.attestation.AttestationGate``); on failure the socket is closed and the
gate's error (``AttestationError``) propagates, so no request byte is ever written.
Connections to hosts the gate does not cover are ordinary verified HTTPS connections.
``WellKnownFetcher`` is the HTTPS document source the GA eras' gates use.

Test hooks (keyword-only, never read from the environment): ``ca_bundle`` (a PEM file trusted
for the server's TLS certificate) and ``address_override`` (``{"host": ("127.0.0.1", port)}``,
like ``curl --connect-to``, because ``*.localhost``-style names may not resolve). The gate and
its trust root are wired by ``evervault.bootstrap.attestation``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import socket
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

import certifi
import urllib3
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import InvalidArgumentError
from evervault.ports.attestation import AttestationGate

AddressOverride = Mapping[str, tuple[str, int]]
DOCUMENT_FETCH_TIMEOUT = urllib3.Timeout(connect=10.0, read=10.0)


def normalise_address_override(override: AddressOverride | None) -> dict[str, tuple[str, int]]:
    """Lower-cased host -> (ip, port); validated so a typo fails at construction."""
    normalised: dict[str, tuple[str, int]] = {}
    for host, target in (override or {}).items():
        if not (isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], int)):
            raise InvalidArgumentError(
                f"address_override[{host!r}] must be an (ip, port) tuple, got {target!r}."
            )
        normalised[host.rstrip(".").lower()] = (str(target[0]), target[1])
    return normalised


def ca_certificates(ca_bundle: str | os.PathLike[str] | None) -> str:
    """The PEM file TLS server certificates are verified against (certifi by default)."""
    return os.fspath(ca_bundle) if ca_bundle is not None else certifi.where()


class ResolvingHTTPSConnection(HTTPSConnection):
    """An HTTPSConnection that can dial a fixed address for a host name (SNI is unchanged)."""

    def __init__(self, *args: Any, address_override: AddressOverride | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address_override = dict(address_override or {})

    def _new_conn(self) -> socket.socket:
        target = self._address_override.get(self.host.lower())
        if target is None:
            return super()._new_conn()
        try:
            return urllib3_connection.create_connection(
                target,
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a connection: {exc}") from exc


class AttestedHTTPSConnection(ResolvingHTTPSConnection):
    """Attests the server right after the handshake, before any request byte is written."""

    def __init__(self, *args: Any, attestation_gate: AttestationGate | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attestation_gate = attestation_gate

    def connect(self) -> None:
        gate = self._attestation_gate
        if gate is None or not gate.covers(self.host):
            super().connect()
            return
        gate.require_policy(self.host, self.port)  # no usable PCR policy: not even a SYN
        super().connect()
        try:
            gate.attest(self.host, self.port, _tls_session(self.sock))
        except BaseException:
            self.close()
            raise


def _tls_session(sock: object) -> ssl.SSLSocket:
    if not isinstance(sock, ssl.SSLSocket):
        raise attestation_failure(
            "malformed-cert", "the connection is not a direct TLS socket, so it cannot be attested."
        )
    return sock


class ResolvingHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = ResolvingHTTPSConnection


class AttestedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = AttestedHTTPSConnection


class ResolvingPoolManager(urllib3.PoolManager):
    """A PoolManager whose HTTPS connections honour an address override."""

    https_pool_class: type[HTTPSConnectionPool] = ResolvingHTTPSConnectionPool

    def __init__(self, *, address_override: AddressOverride | None = None, **connection_pool_kw: Any) -> None:
        super().__init__(**connection_pool_kw)
        self._address_override = normalise_address_override(address_override)
        self.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": self.https_pool_class}

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        # Connection keywords are per manager, not per request, so they are set here rather
        # than in connection_pool_kw (which would become part of urllib3's pool key).
        if isinstance(pool, HTTPSConnectionPool):
            pool.conn_kw.update(self.connection_keywords())
        return pool

    def connection_keywords(self) -> dict[str, Any]:
        return {"address_override": self._address_override}


class AttestedPoolManager(ResolvingPoolManager):
    """A PoolManager attesting every new connection to the gate's hosts; use it as usual."""

    https_pool_class = AttestedHTTPSConnectionPool

    def __init__(
        self,
        attestation_gate: AttestationGate,
        *,
        address_override: AddressOverride | None = None,
        **connection_pool_kw: Any,
    ) -> None:
        super().__init__(address_override=address_override, **connection_pool_kw)
        self.attestation_gate = attestation_gate

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        if scheme != "https" and self.attestation_gate.covers(host):
            raise attestation_failure(
                "no-attestation-doc",
                f"{scheme}://{host} cannot be attested (no TLS); use https://.",
            )
        return super()._new_pool(scheme, host, port, request_context)

    def connection_keywords(self) -> dict[str, Any]:
        return {**super().connection_keywords(), "attestation_gate": self.attestation_gate}

    def close(self) -> None:
        """Close every pooled connection and stop the PCR provider poller."""
        self.clear()
        self.attestation_gate.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> Literal[False]:
        self.close()
        return False


class WellKnownFetcher:
    """Fetches ``{"attestation_doc": "<base64>"}`` over verified HTTPS."""

    def __init__(
        self,
        *,
        ca_bundle: str | os.PathLike[str] | None = None,
        address_override: AddressOverride | None = None,
    ) -> None:
        self._pool = ResolvingPoolManager(
            address_override=address_override,
            ca_certs=ca_certificates(ca_bundle),
            timeout=DOCUMENT_FETCH_TIMEOUT,
            retries=urllib3.Retry(total=1, redirect=0),
        )

    def __call__(self, url: str) -> bytes:
        try:
            response = self._pool.request("GET", url, redirect=False)
        except HTTPError as exc:
            raise _no_document(url, f"the request failed ({type(exc).__name__}: {exc})") from exc
        if response.status != 200:
            raise _no_document(url, f"it answered HTTP {response.status}")
        return decode_well_known_body(url, response.data)


def decode_well_known_body(url: str, body: bytes) -> bytes:
    """The COSE bytes from a ``/.well-known/attestation`` JSON body."""
    try:
        encoded = json.loads(body)["attestation_doc"]
        return base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _no_document(
            url, 'the body is not {"attestation_doc": "<base64>"}' + f" ({type(exc).__name__})"
        ) from exc


def _no_document(url: str, reason: str) -> Exception:
    return attestation_failure(
        "no-attestation-doc",
        f"could not obtain the attestation document from {url}: {reason}. "
        "Check the enclave name and that it is running.",
    )
