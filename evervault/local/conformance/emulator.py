"""An emulator for one conformance run, with a recorder of every API request the SDK makes.

The recorder is an extra middleware of this harness's own emulator only
(``EmulatorOptions.middlewares``; ``serve`` adds none). It keeps the method, the path
(repeated slashes merged), the credential scheme and the final status of each request,
never a credential or a body.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.local.auth import presented_credential
from evervault.local.runner import BackgroundEmulator, EmulatorOptions
from evervault.local.server import Handler

_REPEATED_SLASHES = re.compile(r"//+")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    scheme: str | None  # "Api-Key", "Basic", "Token", "RunToken" or None
    status: int

    def describe(self) -> str:
        return f"{self.method} {self.path} ({self.scheme or 'no credential'}) -> {self.status}"


class RequestRecorder:
    """The middleware and the list it fills (appended on the server thread, read on another)."""

    def __init__(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._requests)

    def since(self, start: int) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests[start:])

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            self._record(request, error.status)
            raise
        self._record(request, response.status)
        return response

    def _record(self, request: web.Request, status: int) -> None:
        presented = presented_credential(request)
        scheme = None if presented is None or presented.scheme is None else presented.scheme.value
        if (presented is None or presented.scheme is None) and "Authorization" in request.headers:
            scheme = "unrecognised Authorization"
        path = _REPEATED_SLASHES.sub("/", request.path)
        with self._lock:
            self._requests.append(RecordedRequest(request.method, path, scheme, status))


@dataclass(frozen=True)
class EmulatorAccess:
    api_url: str  # with a trailing slash, as `evervault-local serve` prints it
    app_id: str
    api_key: str
    private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]


class RecordingEmulator:
    """A throwaway emulator (fresh app and keys) on 127.0.0.1, on its own thread and loop.

    It is :class:`~evervault.local.runner.BackgroundEmulator` with the recorder as an extra
    middleware, the sample Function ``echo`` and no relay proxy.
    """

    def __init__(self) -> None:
        self.recorder = RequestRecorder()
        options = EmulatorOptions(
            # The suite's run checks need 'echo' (it returns its decrypted input); this emulator
            # is private to one conformance run, so opting in to it here exposes nothing.
            unsafe_echo_function=True,
            relay_proxy=False,
            middlewares=(self.recorder.middleware,),
        )
        self._emulator = BackgroundEmulator(options)
        self.access: EmulatorAccess | None = None

    def start(self) -> EmulatorAccess:
        info = self._emulator.start()
        private_keys = self._emulator.state.private_keys
        self.access = EmulatorAccess(info.api_url, info.app_id, info.api_key, private_keys)
        return self.access

    def stop(self) -> None:
        self._emulator.stop()

    def __enter__(self) -> EmulatorAccess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
