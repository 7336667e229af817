"""In-memory transports for service-layer unit tests: scripted answers, recorded requests.

Not for production use: nothing touches the network. Each transport is given
either a responder function (request -> response) or a script, a sequence of
responses and exceptions consumed one per request; an exception in the script
is raised instead of answering, to simulate network failures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from evervault.domain.errors import ConfigurationError
from evervault.ports.http import HttpRequest, HttpResponse

Responder = Callable[[HttpRequest], HttpResponse]
ScriptStep = HttpResponse | BaseException


class _Recorder:
    """The shared part: keeps every request and produces the next answer."""

    def __init__(self, script: Responder | Iterable[ScriptStep]) -> None:
        self.requests: list[HttpRequest] = []
        self.closed = False
        self._lock = threading.Lock()
        if callable(script):
            self._responder: Responder | None = script
            self._steps: list[ScriptStep] = []
        else:
            self._responder = None
            self._steps = list(script)

    def _answer(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.requests.append(request)
            if self._responder is not None:
                return self._responder(request)
            if not self._steps:
                raise ConfigurationError(
                    f"The recording transport's script is exhausted at request "
                    f"{len(self.requests)} ({request.method} {request.url}); add more steps."
                )
            step = self._steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been consumed yet."""
        return len(self._steps)


class RecordingTransport(_Recorder):
    """A blocking :class:`~evervault.ports.http.HttpTransport` that never touches the network."""

    def send(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request)

    def close(self) -> None:
        self.closed = True


class AsyncRecordingTransport(_Recorder):
    """An asyncio :class:`~evervault.ports.http.AsyncHttpTransport` twin of :class:`RecordingTransport`."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request)

    async def close(self) -> None:
        self.closed = True
