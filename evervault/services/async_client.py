"""The asyncio client: the same operations as :class:`~evervault.services.client.Client`.

Requests, response interpretation and retry decisions are the shared pure code of
:mod:`evervault.services`; only the awaiting differs. Use it as ``async with``::

    async with AsyncClient(app_id, api_key) as client:
        encrypted = await client.encrypt("secret")
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

from evervault.adapters.aiohttp_http import AiohttpTransport
from evervault.domain.curves import Curve
from evervault.domain.encryption import Encryptor
from evervault.domain.keys import AppKeys
from evervault.domain.relay import RelayOutboundConfig
from evervault.domain.streaming import DEFAULT_CHUNK_SIZE
from evervault.ports.http import AsyncHttpTransport, HttpRequest, HttpResponse
from evervault.ports.keys import AsyncAppKeySource
from evervault.services import api_responses
from evervault.services.api_requests import resolve_run_options
from evervault.services.client import encryptor_for, requests_for
from evervault.services.config import ClientConfig, RelaySettings
from evervault.services.file_streams import (
    FileDestination,
    FileSource,
    check_file_arguments,
    encrypt_file_with,
)
from evervault.services.retry import AsyncRetrier, RetryClock, RetryPolicy
from evervault.services.tokens import token_expiry_millis

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)

logger = logging.getLogger("evervault")


class AsyncClient:
    """One Evervault app, for asyncio code. Parameters as :class:`~evervault.Client`."""

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
        transport: AsyncHttpTransport | None = None,
        key_source: AsyncAppKeySource | None = None,
        enclave_host: str | None = None,
        cages_host: str | None = None,
        pcr_poll_interval: float | None = None,
        decryption_domains: Iterable[str] = (),
        debug_requests: bool = False,
        enable_outbound_relay: bool = False,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self.transport: AsyncHttpTransport = transport or AiohttpTransport()
        self._requests = requests_for(self.config)
        self._retrier = AsyncRetrier(self.config.retry, sleep=sleep, clock=retry_clock)
        self._clock = clock
        self._key_source: AsyncAppKeySource = key_source or self
        self._encryptor: Encryptor | None = None
        self._encryptor_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AsyncClient(app_id={self.config.app_id!r}, api_url={self.config.api_url!r})"

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def relay_settings(self) -> RelaySettings:
        return self.config.relay

    # --- operations ----------------------------------------------------------------------

    async def fetch_app_keys(self) -> AppKeys:
        return api_responses.app_keys(await self._send(self._requests.app_keys()))

    @overload
    async def encrypt(self, data: str | int | float, role: str | None = None) -> str: ...
    @overload
    async def encrypt(self, data: bytes | bytearray, role: str | None = None) -> bytes: ...
    @overload
    async def encrypt(self, data: dict[_K, Any], role: str | None = None) -> dict[_K, Any]: ...
    @overload
    async def encrypt(self, data: list[Any], role: str | None = None) -> list[Any]: ...
    @overload
    async def encrypt(self, data: tuple[Any, ...], role: str | None = None) -> tuple[Any, ...]: ...
    @overload
    async def encrypt(self, data: set[Any], role: str | None = None) -> set[str]: ...
    @overload
    async def encrypt(self, data: frozenset[Any], role: str | None = None) -> frozenset[str]: ...
    @overload
    async def encrypt(self, data: object, role: str | None = None) -> Any: ...
    async def encrypt(self, data: object, role: str | None = None) -> Any:
        return (await self._current_encryptor()).encrypt(data, role)

    async def encrypt_file(
        self, src: FileSource, dst: FileDestination, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> int:
        """Encrypt a file of any size; as :meth:`Client.encrypt_file <evervault.Client.encrypt_file>`.

        The file I/O and AES-GCM run on a worker thread, so the event loop stays free;
        pass blocking binary file objects (not asyncio streams) or paths.
        """
        check_file_arguments(src, dst, chunk_size)
        encryptor = await self._current_encryptor()
        return await asyncio.to_thread(encrypt_file_with, encryptor, src, dst, chunk_size)

    @overload
    async def decrypt(self, data: bytes | bytearray) -> bytes: ...
    @overload
    async def decrypt(self, data: dict[_K, Any]) -> dict[_K, Any]: ...
    @overload
    async def decrypt(self, data: list[Any]) -> list[Any]: ...
    @overload
    async def decrypt(self, data: object) -> Any: ...  # a str holds any primitive: str, int, float, bool
    async def decrypt(self, data: object) -> Any:
        request = self._requests.decrypt(data)
        response = await self._send(request)
        if isinstance(data, (bytes, bytearray)):
            return api_responses.decrypted_bytes(response)
        return api_responses.decrypted_json(response)

    async def create_client_side_decrypt_token(
        self, data: object, expiry: datetime | None = None
    ) -> dict[str, Any]:
        expiry_ms = token_expiry_millis(expiry, self._clock())
        return api_responses.json_object(await self._send(self._requests.client_side_token(data, expiry_ms)))

    async def run(
        self,
        function_name: str,
        data: object,
        options: Mapping[str, Any] | bool | None = None,
        *,
        run_async: bool | None = None,
    ) -> dict[str, Any]:
        run_options = resolve_run_options(options, run_async)
        request = self._requests.run_function(function_name, data, run_options)
        return api_responses.function_run_result(await self._send(request))

    async def create_run_token(self, function_name: str, data: object = None) -> dict[str, Any]:
        request = self._requests.run_token(function_name, {} if data is None else data)
        return api_responses.json_object(await self._send(request))

    async def fetch_relay_outbound_config(self) -> RelayOutboundConfig:
        response = await self._send(self._requests.relay_outbound_config())
        return api_responses.relay_outbound_config(response)

    # --- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- internals -----------------------------------------------------------------------

    async def _send(self, request: HttpRequest) -> HttpResponse:
        response = await self._retrier.send(self.transport, request)
        logger.debug("Evervault: %s %s -> %d", request.method, request.url, response.status)
        return response

    async def _current_encryptor(self) -> Encryptor:
        if self._encryptor is not None:
            return self._encryptor
        async with self._encryptor_lock:
            if self._encryptor is None:
                keys = await self._key_source.fetch_app_keys()
                self._encryptor = encryptor_for(self.config, keys)
            return self._encryptor
