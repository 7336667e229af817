"""The clients' shared core and the blocking client.

:class:`ClientCore` declares the options once (the constructor of both
:class:`Client` and :class:`~evervault.services.async_client.AsyncClient`) and builds
one :class:`~evervault.services.operations.Plan` per operation; the clients only
execute plans. The collaborators (transport, key source, encryptor factory, clocks)
are parameters: the composition root, :mod:`evervault.bootstrap.clients`, supplies the
concrete defaults, so nothing here knows an HTTP library.

Several clients (several apps) can live in one process; nothing here is global.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from evervault.domain.curves import Curve
from evervault.domain.defaults import DEFAULT_CHUNK_SIZE, DEFAULT_CURVE_NAME, DEFAULT_REQUEST_TIMEOUT
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import ConfigurationError, TransportError
from evervault.domain.keys import AppKeys
from evervault.domain.relay import RelayOutboundConfig
from evervault.ports.http import HttpTransport
from evervault.ports.keys import AppKeySource
from evervault.services.config import ClientConfig, RelaySettings, warn_relay_arguments_do_nothing
from evervault.services.file_streams import (
    FileDestination,
    FileSource,
    check_file_arguments,
    encrypt_file_with,
)
from evervault.services.operations import EncryptorFactory, OperationPlans, Plan, encryptor_for
from evervault.services.retry import Retrier, RetryClock, RetryPolicy

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)
_T = TypeVar("_T")
_TransportT = TypeVar("_TransportT")
_KeySourceT = TypeVar("_KeySourceT")
_SleepT = TypeVar("_SleepT")
_ClientT = TypeVar("_ClientT", bound="Client")

logger = logging.getLogger("evervault")


class ClientCore(ABC, Generic[_TransportT, _KeySourceT, _SleepT]):
    """One Evervault app. The first positional parameters follow the published ``Client``.

    ``base_url``/``relay_url``/``ca_host`` default to ``EV_API_URL``/``EV_TUNNEL_HOSTNAME``/
    ``EV_CERT_HOSTNAME`` and then the public endpoints; ``transport`` replaces the default
    HTTP transport; ``key_source`` replaces the ``GET cages/key`` fetch; ``clock``
    (epoch seconds), ``sleep`` and ``retry_clock`` exist so tests control time;
    ``encryptor_factory`` replaces the default encryptor (system clock, OS randomness).
    ``decryption_domains``, ``debug_requests`` and ``enable_outbound_relay`` are deprecated:
    they are only recorded in :attr:`relay_settings` (use ``evervault.enable_outbound_relay``).
    """

    def __init__(
        self,
        app_id: str,
        api_key: str,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        base_url: str | None = None,
        relay_url: str | None = None,
        ca_host: str | None = None,
        retry: bool | RetryPolicy = False,
        curve: str | Curve = DEFAULT_CURVE_NAME,
        max_file_size_in_mb: int | None = None,
        *,
        transport: _TransportT | None = None,
        key_source: _KeySourceT | None = None,
        enclave_host: str | None = None,
        cages_host: str | None = None,
        pcr_poll_interval: float | None = None,
        decryption_domains: Iterable[str] | None = None,
        debug_requests: bool | None = None,
        enable_outbound_relay: bool | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: _SleepT | None = None,
        retry_clock: RetryClock | None = None,
        encryptor_factory: EncryptorFactory | None = None,
    ) -> None:
        warn_relay_arguments_do_nothing(
            type(self).__name__,
            decryption_domains=decryption_domains,
            debug_requests=debug_requests,
            enable_outbound_relay=enable_outbound_relay,
        )
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
            decryption_domains=() if decryption_domains is None else decryption_domains,
            debug_requests=False if debug_requests is None else debug_requests,
            enable_outbound_relay=False if enable_outbound_relay is None else enable_outbound_relay,
            environ=environ,
        )
        self.transport: _TransportT = self._default_transport() if transport is None else transport
        self._plans = OperationPlans(self.config)
        self._clock = clock
        self._new_encryptor = encryptor_factory or self._default_encryptor_factory()
        self._encryptor: Encryptor | None = None
        self._start(key_source, sleep, retry_clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(app_id={self.config.app_id!r}, api_url={self.config.api_url!r})"

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def relay_settings(self) -> RelaySettings:
        """The relay endpoints (and the deprecated relay arguments, as given to the constructor)."""
        return self.config.relay

    # --- what the composition root and the concrete clients fill in ----------------------

    def _default_transport(self) -> _TransportT:
        raise ConfigurationError(
            f"{type(self).__name__} has no default transport: pass transport=..., "
            "or use evervault.Client / evervault.AsyncClient, which come with one."
        )

    def _default_encryptor_factory(self) -> EncryptorFactory:
        raise ConfigurationError(
            f"{type(self).__name__} has no default encryptor: pass encryptor_factory=..., "
            "or use evervault.Client / evervault.AsyncClient, which come with one."
        )

    @abstractmethod
    def _start(
        self, key_source: _KeySourceT | None, sleep: _SleepT | None, retry_clock: RetryClock | None
    ) -> None:
        """Set up what differs between blocking and asyncio: key source, retrier, lock."""


class Client(ClientCore[HttpTransport, AppKeySource, Callable[[float], None]]):
    """The blocking client: executes each operation's plan over an ``HttpTransport``."""

    def _start(
        self,
        key_source: AppKeySource | None,
        sleep: Callable[[float], None] | None,
        retry_clock: RetryClock | None,
    ) -> None:
        self._key_source: AppKeySource = key_source or self
        self._retrier = Retrier(self.config.retry, sleep=sleep or time.sleep, clock=retry_clock)
        self._encryptor_lock = threading.Lock()

    # --- operations ----------------------------------------------------------------------

    def fetch_app_keys(self) -> AppKeys:
        """``GET cages/key``: the app's public keys (not cached; :meth:`encrypt` caches)."""
        return self._execute(self._plans.app_keys())

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
        # No call before the cached encryptor's: encrypt is a ~1 us hot path.
        return (self._encryptor or self._current_encryptor()).encrypt(data, role)

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
        return encrypt_file_with(self._file_encryptor(src, dst, chunk_size), src, dst, chunk_size)

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
        return self._execute(self._plans.decrypt(data))

    def create_client_side_decrypt_token(
        self, data: object, expiry: datetime | None = None
    ) -> dict[str, Any]:
        """A token that lets a browser/mobile client decrypt exactly ``data`` until ``expiry``."""
        return self._execute(self._plans.client_side_token(data, expiry, self._clock()))

    def run(
        self,
        function_name: str,
        data: object,
        options: Mapping[str, Any] | bool | None = None,
        *,
        run_async: bool | None = None,
    ) -> dict[str, Any]:
        """Run a Function; returns the run body (``status`` ``success`` or ``scheduled``)."""
        return self._execute(self._plans.run(function_name, data, options, run_async))

    def create_run_token(self, function_name: str, data: object = None) -> dict[str, Any]:
        """A single-use token to run ``function_name`` with exactly ``data`` (default ``{}``)."""
        return self._execute(self._plans.run_token(function_name, data))

    def fetch_relay_outbound_config(self) -> RelayOutboundConfig:
        """``GET v2/relay-outbound``: decryption domains and the suggested poll interval."""
        return self._execute(self._plans.relay_outbound_config())

    def fetch_relay_ca(self) -> bytes:
        """``GET`` the Outbound Relay CA (PEM) from ``relay_settings.cert_url``, without the API key.

        At least two attempts; :class:`~evervault.errors.RelayError` when none succeeds.
        """
        return self._execute(self._plans.relay_ca())

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self.transport.close()

    def __enter__(self: _ClientT) -> _ClientT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------

    def _execute(self, plan: Plan[_T]) -> _T:
        request = plan.request
        try:
            response = self._retrier.send(self.transport, request, plan.retry)
        except TransportError as error:
            if plan.on_transport_failure is None:
                raise
            raise plan.on_transport_failure(error) from error
        logger.debug("Evervault: %s %s -> %d", request.method, request.url, response.status)
        return plan.interpret(response)

    def _file_encryptor(self, src: FileSource, dst: FileDestination, chunk_size: int) -> Encryptor:
        check_file_arguments(src, dst, chunk_size)
        return self._encryptor or self._current_encryptor()

    def _current_encryptor(self) -> Encryptor:
        encryptor = self._encryptor
        if encryptor is not None:
            return encryptor
        # Double-checked: many first callers wait here and exactly one fetches the keys.
        # A failed fetch leaves the cache empty, so the next call tries again.
        with self._encryptor_lock:
            if self._encryptor is None:
                keys = self._key_source.fetch_app_keys()
                self._encryptor = encryptor_for(self.config, keys, self._new_encryptor)
            return self._encryptor
