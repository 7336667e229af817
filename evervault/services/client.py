"""The blocking client: every API operation over an :class:`~evervault.ports.http.HttpTransport`.

Several clients (several apps) can live in one process; nothing here is global.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

from evervault.adapters.system import default_encryptor
from evervault.adapters.urllib3_http import Urllib3Transport
from evervault.domain.curves import Curve
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import EvervaultError, RelayError
from evervault.domain.keys import AppKeys
from evervault.domain.relay import RelayOutboundConfig
from evervault.domain.streaming import DEFAULT_CHUNK_SIZE
from evervault.ports.http import Headers, HttpRequest, HttpResponse, HttpTransport
from evervault.ports.keys import AppKeySource
from evervault.services import api_responses
from evervault.services.api_requests import ApiRequests, resolve_run_options
from evervault.services.config import ClientConfig, RelaySettings
from evervault.services.file_streams import (
    FileDestination,
    FileSource,
    check_file_arguments,
    encrypt_file_with,
)
from evervault.services.retry import Retrier, RetryClock, RetryPolicy
from evervault.services.tokens import token_expiry_millis
from evervault.services.version import USER_AGENT

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)

logger = logging.getLogger("evervault")

RELAY_CA_FETCH_ATTEMPTS = 2


class Client:
    """One Evervault app. The first positional parameters follow the published ``Client``.

    ``base_url``/``relay_url``/``ca_host`` default to ``EV_API_URL``/``EV_TUNNEL_HOSTNAME``/
    ``EV_CERT_HOSTNAME`` and then the public endpoints; ``transport`` replaces the default
    urllib3 transport; ``key_source`` replaces the ``GET cages/key`` fetch; ``clock``
    (epoch seconds) and ``sleep`` exist so tests control time.
    """

    def __init__(
        self,
        app_id: str,
        api_key: str,
        request_timeout: float = 30,
        base_url: str | None = None,
        relay_url: str | None = None,
        ca_host: str | None = None,
        retry: bool | RetryPolicy = False,
        curve: str | Curve = "SECP256K1",
        max_file_size_in_mb: int | None = None,
        *,
        transport: HttpTransport | None = None,
        key_source: AppKeySource | None = None,
        enclave_host: str | None = None,
        cages_host: str | None = None,
        pcr_poll_interval: float | None = None,
        decryption_domains: Iterable[str] = (),
        debug_requests: bool = False,
        enable_outbound_relay: bool = False,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry_clock: RetryClock | None = None,
    ) -> None:
        self.config = ClientConfig.build(
            app_id,
            api_key,
            curve=curve,
            retry=retry,
            request_timeout=request_timeout,
            api_url=base_url,
            tunnel_url=relay_url,
            cert_url=ca_host,
            enclave_host=enclave_host,
            cages_host=cages_host,
            max_file_size_in_mb=max_file_size_in_mb,
            pcr_poll_interval=pcr_poll_interval,
            decryption_domains=decryption_domains,
            debug_requests=debug_requests,
            enable_outbound_relay=enable_outbound_relay,
            environ=environ,
        )
        self.transport: HttpTransport = transport or Urllib3Transport()
        self._requests = requests_for(self.config)
        self._retrier = Retrier(self.config.retry, sleep=sleep, clock=retry_clock)
        self._clock = clock
        self._key_source: AppKeySource = key_source or self
        self._encryptor: Encryptor | None = None
        self._encryptor_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Client(app_id={self.config.app_id!r}, api_url={self.config.api_url!r})"

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def relay_settings(self) -> RelaySettings:
        """What ``init``/the constructor said about Outbound Relay (used by the relay feature)."""
        return self.config.relay

    # --- operations ----------------------------------------------------------------------

    def fetch_app_keys(self) -> AppKeys:
        """``GET cages/key``: the app's public keys (not cached; :meth:`encrypt` caches)."""
        return api_responses.app_keys(self._send(self._requests.app_keys()))

    @overload
    def encrypt(self, data: str | int | float, role: str | None = None) -> str: ...
    @overload
    def encrypt(self, data: bytes | bytearray, role: str | None = None) -> bytes: ...
    @overload
    def encrypt(self, data: dict[_K, Any], role: str | None = None) -> dict[_K, Any]: ...
    @overload
    def encrypt(self, data: list[Any], role: str | None = None) -> list[Any]: ...
    @overload
    def encrypt(self, data: tuple[Any, ...], role: str | None = None) -> tuple[Any, ...]: ...
    @overload
    def encrypt(self, data: set[Any], role: str | None = None) -> set[str]: ...
    @overload
    def encrypt(self, data: frozenset[Any], role: str | None = None) -> frozenset[str]: ...
    @overload
    def encrypt(self, data: object, role: str | None = None) -> Any: ...
    def encrypt(self, data: object, role: str | None = None) -> Any:
        """Encrypt a value, a container of values, or file bytes; no I/O after the first call."""
        encryptor = self._encryptor  # the usual case without a call: encrypt is a ~1 us hot path
        if encryptor is None:
            encryptor = self._current_encryptor()
        return encryptor.encrypt(data, role)

    def encrypt_file(
        self, src: FileSource, dst: FileDestination, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> int:
        """Encrypt a file of any size from ``src`` to ``dst``; returns the bytes written.

        Each is a path or a binary file object (``readinto`` to read, ``write`` to write).
        The output is the same ``%EVENC`` format as ``encrypt(bytes)``, but memory stays at
        about two ``chunk_size`` buffers, so no maximum file size applies. Keys are fetched
        once, as for :meth:`encrypt`, before ``dst`` is opened; a ``dst`` path is removed
        again if encryption fails part-way. File objects are neither closed nor rewound.
        """
        check_file_arguments(src, dst, chunk_size)
        encryptor = self._encryptor or self._current_encryptor()
        return encrypt_file_with(encryptor, src, dst, chunk_size)

    @overload
    def decrypt(self, data: bytes | bytearray) -> bytes: ...
    @overload
    def decrypt(self, data: dict[_K, Any]) -> dict[_K, Any]: ...
    @overload
    def decrypt(self, data: list[Any]) -> list[Any]: ...
    @overload
    def decrypt(self, data: object) -> Any: ...  # a str holds any primitive: str, int, float, bool
    def decrypt(self, data: object) -> Any:
        """Decrypt through the API: JSON values come back typed, bytes come back as bytes."""
        request = self._requests.decrypt(data)
        response = self._send(request)
        if isinstance(data, (bytes, bytearray)):
            return api_responses.decrypted_bytes(response)
        return api_responses.decrypted_json(response)

    def create_client_side_decrypt_token(
        self, data: object, expiry: datetime | None = None
    ) -> dict[str, Any]:
        """A token that lets a browser/mobile client decrypt exactly ``data`` until ``expiry``."""
        expiry_ms = token_expiry_millis(expiry, self._clock())
        return api_responses.json_object(self._send(self._requests.client_side_token(data, expiry_ms)))

    def run(
        self,
        function_name: str,
        data: object,
        options: Mapping[str, Any] | bool | None = None,
        *,
        run_async: bool | None = None,
    ) -> dict[str, Any]:
        """Run a Function; returns the run body (``status`` ``success`` or ``scheduled``)."""
        run_options = resolve_run_options(options, run_async)
        request = self._requests.run_function(function_name, data, run_options)
        return api_responses.function_run_result(self._send(request))

    def create_run_token(self, function_name: str, data: object = None) -> dict[str, Any]:
        """A single-use token to run ``function_name`` with exactly ``data`` (default ``{}``)."""
        request = self._requests.run_token(function_name, {} if data is None else data)
        return api_responses.json_object(self._send(request))

    def fetch_relay_outbound_config(self) -> RelayOutboundConfig:
        """``GET v2/relay-outbound``: decryption domains and the suggested poll interval."""
        return api_responses.relay_outbound_config(self._send(self._requests.relay_outbound_config()))

    def fetch_relay_ca(self) -> bytes:
        """``GET`` the relay CA certificate (PEM) without any credential: the CA is public.

        Two attempts, each through this client's retries and debug logging.
        """
        cert_url = self.config.relay.cert_url
        request = HttpRequest(
            "GET",
            cert_url,
            headers=Headers({"User-Agent": USER_AGENT, "Accept": "*/*"}),
            timeout=self.config.request_timeout,
        )
        failure = "no attempt was made"
        for _ in range(RELAY_CA_FETCH_ATTEMPTS):
            try:
                response = self._send(request)
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

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------

    def _send(self, request: HttpRequest) -> HttpResponse:
        response = self._retrier.send(self.transport, request)
        logger.debug("Evervault: %s %s -> %d", request.method, request.url, response.status)
        return response

    def _current_encryptor(self) -> Encryptor:
        encryptor = self._encryptor
        if encryptor is not None:
            return encryptor
        # Double-checked: many first callers wait here and exactly one fetches the keys.
        # A failed fetch leaves the cache empty, so the next call tries again.
        with self._encryptor_lock:
            if self._encryptor is None:
                self._encryptor = encryptor_for(self.config, self._key_source.fetch_app_keys())
            return self._encryptor


def requests_for(config: ClientConfig) -> ApiRequests:
    return ApiRequests(config.app_id, config.api_key, config.api_url, config.request_timeout)


def encryptor_for(config: ClientConfig, keys: AppKeys) -> Encryptor:
    return default_encryptor(config.curve, keys.public_key_for(config.curve), config.max_file_size_bytes)
