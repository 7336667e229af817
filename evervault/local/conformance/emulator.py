"""An emulator for one conformance run, with a recorder of every API request the SDK makes.

The recorder is a middleware added here, to this harness's own application only: the
production server path (``create_app`` as ``serve`` runs it) is unchanged. It keeps the
method, the path (repeated slashes merged), the credential scheme and the final status
of each request, never a credential or a body.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.local.auth import presented_credential
from evervault.local.paths import merge_slashes_middleware
from evervault.local.runner import EmulatorOptions, registered_functions
from evervault.local.server import ServerSettings, create_app
from evervault.local.state import LocalState

_START_TIMEOUT_SECONDS = 30.0
_REPEATED_SLASHES = re.compile(r"//+")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        scheme = None if presented is None else presented.scheme.value
        if presented is None and "Authorization" in request.headers:
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
    """A throwaway emulator (fresh app and keys) on 127.0.0.1, on its own thread and loop."""

    def __init__(self) -> None:
        self.recorder = RequestRecorder()
        self._data_dir = tempfile.mkdtemp(prefix="evervault-conformance-")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="conformance-emulator", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self.access: EmulatorAccess | None = None

    def start(self) -> EmulatorAccess:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.access = future.result(_START_TIMEOUT_SECONDS)
        return self.access

    async def _start(self) -> EmulatorAccess:
        state = LocalState.load_or_create(self._data_dir)
        functions = registered_functions(state, EmulatorOptions())
        app = create_app(state, functions, ServerSettings())
        # Right inside the slash-merging middleware (which re-dispatches merged paths through
        # the whole chain), so each request is recorded once, with its final status.
        position = 0
        if merge_slashes_middleware in app.middlewares:
            position = list(app.middlewares).index(merge_slashes_middleware) + 1
        app.middlewares.insert(position, self.recorder.middleware)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        port = next(address[1] for address in runner.addresses if isinstance(address, tuple))
        admin = state.admin_key()
        return EmulatorAccess(f"http://127.0.0.1:{port}/", state.app_id, admin.value, state.private_keys)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(
                _START_TIMEOUT_SECONDS
            )
            self._runner = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_START_TIMEOUT_SECONDS)
        self._loop.close()
        shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorAccess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
