"""One plan per API operation, shared by :class:`Client` and :class:`AsyncClient`.

A :class:`Plan` is everything about an operation except the waiting: the request to send,
the function that reads its response (raising the operation's typed errors) and the retry
policy that decides whether to repeat it. The clients only execute plans, blocking or
awaiting, so the two can never drift apart in what they send or how they read the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from evervault.domain.curves import Curve
from evervault.domain.defaults import MIN_RELAY_CA_FETCH_ATTEMPTS
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import EvervaultError, RelayError, TransportError
from evervault.domain.keys import AppKeys
from evervault.domain.relay import RelayOutboundConfig
from evervault.ports.http import Headers, HttpRequest, HttpResponse
from evervault.services import api_responses
from evervault.services.api_requests import ApiRequests, resolve_run_options
from evervault.services.config import ClientConfig
from evervault.services.retry import RetryPolicy
from evervault.services.tokens import token_expiry_millis
from evervault.services.version import USER_AGENT

_T = TypeVar("_T")

EncryptorFactory = Callable[[Curve, bytes, int], Encryptor]
"""``(curve, app public key, max file size in bytes) -> Encryptor``, supplied by the composition root."""


@dataclass(frozen=True, slots=True)
class Plan(Generic[_T]):
    """One operation: what to send, how to read the answer, when to repeat it."""

    request: HttpRequest
    interpret: Callable[[HttpResponse], _T]
    retry: RetryPolicy
    # Turns a network failure (after the last attempt) into the operation's own error;
    # ``None`` lets the transport's typed error through unchanged.
    on_transport_failure: Callable[[TransportError], EvervaultError] | None = None


class OperationPlans:
    """Builds the plan of every operation of one app; holds the credentials, never shows them."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._requests = requests_for(config)

    def __repr__(self) -> str:
        return f"OperationPlans(app_id={self._config.app_id!r}, api_url={self._config.api_url!r})"

    def app_keys(self) -> Plan[AppKeys]:
        return self._plan(self._requests.app_keys(), api_responses.app_keys)

    def decrypt(self, data: object) -> Plan[Any]:
        request = self._requests.decrypt(data)  # validates data first
        if isinstance(data, (bytes, bytearray)):
            return self._plan(request, api_responses.decrypted_bytes)
        return self._plan(request, api_responses.decrypted_json)

    def client_side_token(
        self, data: object, expiry: datetime | None, now_epoch: float
    ) -> Plan[dict[str, Any]]:
        request = self._requests.client_side_token(data, token_expiry_millis(expiry, now_epoch))
        return self._plan(request, api_responses.json_object)

    def run(
        self,
        function_name: str,
        data: object,
        options: Mapping[str, Any] | bool | None,
        run_async: bool | None,
    ) -> Plan[dict[str, Any]]:
        request = self._requests.run_function(function_name, data, resolve_run_options(options, run_async))
        return self._plan(request, api_responses.function_run_result)

    def run_token(self, function_name: str, data: object) -> Plan[dict[str, Any]]:
        request = self._requests.run_token(function_name, {} if data is None else data)
        return self._plan(request, api_responses.json_object)

    def relay_outbound_config(self) -> Plan[RelayOutboundConfig]:
        return self._plan(self._requests.relay_outbound_config(), api_responses.relay_outbound_config)

    def relay_ca(self) -> Plan[bytes]:
        """``GET`` the relay CA (PEM). No credential is sent: the CA is public.

        At least :data:`MIN_RELAY_CA_FETCH_ATTEMPTS` attempts, whatever the client's own
        retry setting, because the relay cannot work without it.
        """
        cert_url = self._config.relay.cert_url
        request = HttpRequest(
            "GET",
            cert_url,
            headers=Headers({"User-Agent": USER_AGENT, "Accept": "*/*"}),
            timeout=self._config.request_timeout,
        )
        return Plan(
            request,
            lambda response: relay_ca_body(response, cert_url),
            self._config.retry.with_at_least(MIN_RELAY_CA_FETCH_ATTEMPTS - 1),
            lambda error: relay_ca_error(cert_url, type(error).__name__),
        )

    def _plan(self, request: HttpRequest, interpret: Callable[[HttpResponse], _T]) -> Plan[_T]:
        return Plan(request, interpret, self._config.retry)


def requests_for(config: ClientConfig) -> ApiRequests:
    """The request builder of the app ``config`` describes."""
    return ApiRequests(config.app_id, config.api_key, config.api_url, config.request_timeout)


def encryptor_for(config: ClientConfig, keys: AppKeys, factory: EncryptorFactory) -> Encryptor:
    """The encryptor for ``config``'s curve and file size limit, keyed with the app's key."""
    return factory(config.curve, keys.public_key_for(config.curve), config.max_file_size_bytes)


def relay_ca_body(response: HttpResponse, cert_url: str) -> bytes:
    if response.is_success and response.body:
        return response.body
    raise relay_ca_error(cert_url, f"HTTP {response.status}")


def relay_ca_error(cert_url: str, failure: str) -> RelayError:
    return RelayError(
        f"Could not fetch the Outbound Relay CA certificate from {cert_url} ({failure}); "
        "check the network and EV_CERT_HOSTNAME."
    )
