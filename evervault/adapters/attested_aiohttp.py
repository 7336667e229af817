"""aiohttp adapter: a TCPConnector that attests every new enclave connection.

``AttestedTCPConnector._create_connection`` completes the TLS handshake, reads the peer
certificate of that transport and runs the (blocking, CPU- and maybe network-bound)
attestation gate (any ``evervault.ports.attestation.AttestationGate``) in the default
executor; only an attested connection is handed to aiohttp for writing the request. The SDK's
builders (``evervault.bootstrap.attestation``: ``attestable_enclave_connector`` and friends)
wire the gate; build connectors inside a running event loop.

Importing this module imports aiohttp; nothing in the SDK core imports it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any, Literal

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler

from evervault.adapters.attested_urllib3 import AddressOverride, normalise_address_override
from evervault.domain.attestation.failures import attestation_failure
from evervault.ports.attestation import AttestationGate

HTTPS_PORT = 443


class OverrideResolver(AbstractResolver):
    """Answers fixed addresses for some host names (like ``curl --connect-to``)."""

    def __init__(self, address_override: AddressOverride) -> None:
        self._overrides = normalise_address_override(address_override)
        self._fallback: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = self._overrides.get(host.rstrip(".").lower())
        if target is None:
            if self._fallback is None:
                self._fallback = aiohttp.ThreadedResolver()
            return await self._fallback.resolve(host, port, family)
        return [
            ResolveResult(
                hostname=host,
                host=target[0],
                port=target[1],
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        if self._fallback is not None:
            await self._fallback.close()


class AttestedTCPConnector(aiohttp.TCPConnector):
    """A TCPConnector whose connections to the gate's hosts are attested before use."""

    def __init__(
        self,
        attestation_gate: AttestationGate,
        *,
        address_override: AddressOverride | None = None,
        **kwargs: Any,
    ) -> None:
        if address_override:
            kwargs.setdefault("resolver", OverrideResolver(address_override))
        super().__init__(**kwargs)
        self.attestation_gate = attestation_gate

    async def _create_connection(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:
        host = req.url.host or ""
        if not self.attestation_gate.covers(host):
            return await super()._create_connection(req, traces, timeout)
        if req.url.scheme != "https" or req.proxy is not None:
            raise attestation_failure(
                "no-attestation-doc",
                f"{req.url.scheme}://{host} cannot be attested through a proxy or without TLS; "
                "use https:// without a proxy.",
            )
        port = req.url.port or HTTPS_PORT
        loop = asyncio.get_running_loop()
        # No usable PCR policy: fail before connecting. It may call a provider, so not on the loop.
        await loop.run_in_executor(None, self.attestation_gate.require_policy, host, port)
        protocol = await super()._create_connection(req, traces, timeout)
        try:
            # Read the certificate here, on the loop's thread: an SSLObject is not thread-safe,
            # and while the loop processes a TLS 1.3 session ticket OpenSSL reports the
            # handshake as unfinished to any other thread asking for the peer certificate.
            peer = _CapturedPeer(_tls_session(protocol).getpeercert(binary_form=True))
            await loop.run_in_executor(None, self.attestation_gate.attest, host, port, peer)
        except BaseException:
            protocol.close()
            raise
        return protocol

    async def close(self, *, abort_ssl: bool = False) -> None:
        try:
            await super().close(abort_ssl=abort_ssl)
        finally:
            self.attestation_gate.close()


def _tls_session(protocol: ResponseHandler) -> ssl.SSLObject | ssl.SSLSocket:
    transport = protocol.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, (ssl.SSLObject, ssl.SSLSocket)):
        raise attestation_failure(
            "malformed-cert", "the connection has no TLS session, so it cannot be attested."
        )
    return ssl_object


class _CapturedPeer:
    """A peer certificate read on the event loop, handed to the gate in a worker thread."""

    def __init__(self, certificate: bytes | None) -> None:
        self._certificate = certificate

    def getpeercert(self, binary_form: Literal[True]) -> bytes | None:
        return self._certificate
