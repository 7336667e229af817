"""requests adapter: an ``HTTPAdapter`` that attests every new enclave connection.

It uses the attested urllib3 pool manager, so the gate's check runs inside ``connect()`` -
after the TLS handshake, before the request line is written - on the certificate of that very
connection. Proxies are refused for attested hosts (a proxied tunnel would bypass the check),
with an error saying how to exclude the host. ``evervault.bootstrap.attestation`` mounts it
on the Sessions it builds.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy

from evervault.adapters.attested_urllib3 import AddressOverride, AttestedPoolManager
from evervault.domain.attestation.failures import attestation_failure
from evervault.ports.attestation import AttestationGate


class AttestedHTTPAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections to the gate's hosts are attested before use."""

    # Read by the Outbound Relay hook on HTTPAdapter.send: a relayed request would reach
    # the enclave through the relay's TLS, unattested, so this adapter always connects itself.
    never_relayed = True

    def __init__(
        self,
        attestation_gate: AttestationGate,
        *,
        address_override: AddressOverride | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # Set before HTTPAdapter.__init__, which calls init_poolmanager.
        self.attestation_gate = attestation_gate
        self._address_override = address_override
        self._ca_bundle = None if ca_bundle is None else os.fspath(ca_bundle)
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = AttestedPoolManager(
            self.attestation_gate,
            address_override=self._address_override,
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            **pool_kwargs,
        )

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        host = urlsplit(url).hostname or ""
        if self.attestation_gate.covers(host) and select_proxy(url, kwargs.get("proxies")):
            raise attestation_failure(
                "no-attestation-doc",
                f"a proxy is configured for {host}, and a proxied connection cannot be attested. "
                "Add the host to NO_PROXY or set session.trust_env = False.",
            )
        if self._ca_bundle is not None and kwargs.get("verify") is not False:
            # requests lets REQUESTS_CA_BUNDLE override Session.verify; an explicit bundle wins.
            kwargs["verify"] = self._ca_bundle
        return super().send(request, *args, **kwargs)

    def close(self) -> None:
        super().close()
        self.attestation_gate.close()
