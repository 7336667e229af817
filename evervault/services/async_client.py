"""The asyncio client: the same options and operation plans as :class:`~evervault.services.client.Client`.

Requests, response interpretation and retry decisions are the shared plans of
:mod:`evervault.services.operations`; only the awaiting differs. Use it as ``async with``::

    async with AsyncClient(app_id, api_key) as client:
        encrypted = await client.encrypt("secret")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

from evervault.domain.defaults import DEFAULT_CHUNK_SIZE
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import TransportError
from evervault.domain.keys import AppKeys
from evervault.domain.relay import RelayOutboundConfig
from evervault.ports.http import AsyncHttpTransport
from evervault.ports.keys import AsyncAppKeySource
from evervault.services.client import ClientCore
from evervault.services.file_streams import (
    FileDestination,
    FileSource,
    check_file_arguments,
    encrypt_file_with,
)
from evervault.services.operations import Plan, encryptor_for
from evervault.services.retry import AsyncRetrier, RetryClock

_K = TypeVar("_K")  # the key type of an encrypted or decrypted dict (keys stay readable)
_T = TypeVar("_T")
_AsyncClientT = TypeVar("_AsyncClientT", bound="AsyncClient")

logger = logging.getLogger("evervault")


class AsyncClient(ClientCore[AsyncHttpTransport, AsyncAppKeySource, Callable[[float], Awaitable[None]]]):
    """One Evervault app, for asyncio code. Parameters as :class:`~evervault.Client`."""

    def _start(
        self,
        key_source: AsyncAppKeySource | None,
        sleep: Callable[[float], Awaitable[None]] | None,
        retry_clock: RetryClock | None,
    ) -> None:
        self._key_source: AsyncAppKeySource = key_source or self
        self._retrier = AsyncRetrier(self.config.retry, sleep=sleep or asyncio.sleep, clock=retry_clock)
        self._encryptor_lock = asyncio.Lock()

    # --- operations ----------------------------------------------------------------------

    async def fetch_app_keys(self) -> AppKeys:
        return await self._execute(self._plans.app_keys())

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
        return (self._encryptor or await self._current_encryptor()).encrypt(data, role)

    async def encrypt_file(
        self, src: FileSource, dst: FileDestination, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> int:
        """Encrypt a file of any size; as :meth:`Client.encrypt_file <evervault.Client.encrypt_file>`.

        The file I/O and AES-GCM run on a worker thread, so the event loop stays free;
        pass blocking binary file objects (not asyncio streams) or paths.
        """
        return await asyncio.to_thread(
            encrypt_file_with, await self._file_encryptor(src, dst, chunk_size), src, dst, chunk_size
        )

    @overload
    async def decrypt(self, data: bytes | bytearray) -> bytes: ...
    @overload
    async def decrypt(self, data: dict[_K, Any]) -> dict[_K, Any]: ...
    @overload
    async def decrypt(self, data: list[Any]) -> list[Any]: ...
    @overload
    async def decrypt(self, data: object) -> Any: ...  # a str holds any primitive: str, int, float, bool
    async def decrypt(self, data: object) -> Any:
        return await self._execute(self._plans.decrypt(data))

    async def create_client_side_decrypt_token(
        self, data: object, expiry: datetime | None = None
    ) -> dict[str, Any]:
        return await self._execute(self._plans.client_side_token(data, expiry, self._clock()))

    async def run(
        self,
        function_name: str,
        data: object,
        options: Mapping[str, Any] | bool | None = None,
        *,
        run_async: bool | None = None,
    ) -> dict[str, Any]:
        return await self._execute(self._plans.run(function_name, data, options, run_async))

    async def create_run_token(self, function_name: str, data: object = None) -> dict[str, Any]:
        return await self._execute(self._plans.run_token(function_name, data))

    async def fetch_relay_outbound_config(self) -> RelayOutboundConfig:
        return await self._execute(self._plans.relay_outbound_config())

    async def fetch_relay_ca(self) -> bytes:
        """As :meth:`Client.fetch_relay_ca <evervault.Client.fetch_relay_ca>`."""
        return await self._execute(self._plans.relay_ca())

    # --- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self: _AsyncClientT) -> _AsyncClientT:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- internals -----------------------------------------------------------------------

    async def _execute(self, plan: Plan[_T]) -> _T:
        request = plan.request
        try:
            response = await self._retrier.send(self.transport, request, plan.retry)
        except TransportError as error:
            if plan.on_transport_failure is None:
                raise
            raise plan.on_transport_failure(error) from error
        logger.debug("Evervault: %s %s -> %d", request.method, request.url, response.status)
        return plan.interpret(response)

    async def _file_encryptor(self, src: FileSource, dst: FileDestination, chunk_size: int) -> Encryptor:
        check_file_arguments(src, dst, chunk_size)
        return self._encryptor or await self._current_encryptor()

    async def _current_encryptor(self) -> Encryptor:
        if self._encryptor is not None:
            return self._encryptor
        async with self._encryptor_lock:
            if self._encryptor is None:
                keys = await self._key_source.fetch_app_keys()
                self._encryptor = encryptor_for(self.config, keys, self._new_encryptor)
            return self._encryptor
