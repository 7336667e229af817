"""Evervault Functions, emulated: registered Python callables run on the decrypted payload.

A Function is ``package.module:callable``. The callable receives the decrypted
payload, and also a :class:`FunctionContext` when it accepts a second positional
parameter (like an Evervault Function's ``handler(data, context)``). It returns any
JSON value, which becomes the run's ``result``. Plain functions run in a worker
thread, ``async def`` functions on the server's event loop.

Each run has a timeout. A synchronous run that exceeds it answers 408 with code
``functions/request-timeout`` (what the real API sends); note that Python cannot kill
a thread, so the timed-out callable keeps its worker thread until it returns. An
exception becomes ``{"status": "failure", "error": {"message", "stack"}, "id"}``.
Async runs (``"async": true``) answer ``{"status": "scheduled", "id"}`` at once and
complete in the background; ``GET functions/{name}/runs/{id}`` reads the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import secrets
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evervault.domain.errors import ConfigurationError, FunctionTimeoutError, RateLimitError
from evervault.local.state import FunctionConfig

logger = logging.getLogger("evervault.local")

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_WORKERS = 8
MAX_KEPT_RUNS = 1024
MAX_PENDING_ASYNC_RUNS = 256


@dataclass(frozen=True)
class FunctionContext:
    """What a Function may want to know about its run (never any credential)."""

    run_id: str
    function_name: str
    app_id: str
    team_id: str


# --- configuration ---------------------------------------------------------------------------


def parse_function_option(spec: str) -> FunctionConfig:
    """``name=package.module:callable`` (the ``--function`` option) to a configuration."""
    name, separator, target = spec.partition("=")
    if not separator or not name.strip() or not target.strip():
        raise ConfigurationError(
            f"--function {spec!r} is not 'name=package.module:callable', e.g. "
            "'hello=evervault.local.sample_functions:hello'."
        )
    config = FunctionConfig(name=name.strip(), target=target.strip())
    resolve_target(config.target)  # fail at start-up, not at the first run
    return config


def load_functions_file(path: str | Path) -> list[FunctionConfig]:
    """Read a JSON file ``{"functions": {"name": {"target": "...", "timeoutSeconds": 5}}}``.

    A value may also be just the target string: ``{"functions": {"name": "pkg.mod:fn"}}``.
    """
    try:
        body = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigurationError(
            f"Cannot read the functions file {path} ({type(error).__name__}); it must be JSON like "
            '{"functions": {"hello": {"target": "package.module:callable", "timeoutSeconds": 5}}}.'
        ) from None
    functions = body.get("functions") if isinstance(body, dict) else None
    if not isinstance(functions, dict):
        raise ConfigurationError(f"The functions file {path} has no 'functions' object.")
    configs = []
    for name, entry in functions.items():
        entry = {"target": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"Function {name!r} in {path} must be a target string or an object.")
        config = FunctionConfig.from_json(str(name), entry)
        resolve_target(config.target)
        configs.append(config)
    return configs


def resolve_target(target: str) -> Callable[..., Any]:
    """Import ``package.module:attribute.path`` and return the callable."""
    module_name, separator, attribute_path = target.partition(":")
    if not separator or not module_name or not attribute_path:
        raise ConfigurationError(f"Function target {target!r} is not 'package.module:callable'.")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"Cannot import {module_name!r} for Function target {target!r} ({error}); check the "
            "module is importable from the current directory or PYTHONPATH."
        ) from None
    for attribute in attribute_path.split("."):
        if not hasattr(found, attribute):
            raise ConfigurationError(f"{module_name!r} has no attribute {attribute_path!r} ({target!r}).")
        found = getattr(found, attribute)
    if not callable(found):
        raise ConfigurationError(f"Function target {target!r} is not callable.")
    return found  # type: ignore[no-any-return]


# --- registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredFunction:
    name: str
    implementation: Callable[..., Any]
    timeout_seconds: float
    wants_context: bool
    is_coroutine: bool

    @classmethod
    def create(
        cls, name: str, implementation: Callable[..., Any], timeout_seconds: float
    ) -> RegisteredFunction:
        if timeout_seconds <= 0:
            raise ConfigurationError(f"Function {name!r}: the timeout must be a positive number of seconds.")
        return cls(
            name=name,
            implementation=implementation,
            timeout_seconds=timeout_seconds,
            wants_context=_accepts_two_arguments(implementation),
            is_coroutine=inspect.iscoroutinefunction(implementation),
        )

    @classmethod
    def from_config(cls, config: FunctionConfig, default_timeout: float) -> RegisteredFunction:
        timeout = default_timeout if config.timeout_seconds is None else config.timeout_seconds
        return cls.create(config.name, resolve_target(config.target), float(timeout))


def _accepts_two_arguments(implementation: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(implementation)
    except (TypeError, ValueError):
        return False
    positional = [
        p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    return len(positional) >= 2 or has_varargs


# --- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``success`` with a JSON result, or ``failure`` with message and stack."""

    status: str
    result: Any = None
    error: dict[str, str] | None = None


@dataclass
class RunRecord:
    """One run, as the API reports it."""

    run_id: str
    function_name: str
    status: str  # scheduled | success | failure
    result: Any = None
    error: dict[str, str] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.run_id, "status": self.status}
        if self.status == "success":
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        return body


class FunctionRunner:
    """Runs registered Functions with a timeout; keeps the latest run records for lookup."""

    def __init__(
        self,
        functions: Iterable[RegisteredFunction],
        *,
        app_id: str,
        team_id: str,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self._functions = {fn.name: fn for fn in functions}
        self._app_id = app_id
        self._team_id = team_id
        # Plain functions run on daemon threads, at most ``workers`` at a time. Not a
        # ThreadPoolExecutor: its threads are joined at interpreter exit, so one Function
        # stuck in a loop would keep the emulator from exiting on SIGTERM.
        self._slots = asyncio.Semaphore(workers)
        self._records: OrderedDict[str, RunRecord] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    def names(self) -> list[str]:
        return sorted(self._functions)

    def get(self, name: str) -> RegisteredFunction | None:
        return self._functions.get(name)

    def clear_records(self) -> None:
        """Forget every kept run (``POST _local/reset``); runs still going finish unrecorded."""
        self._records.clear()

    def record(self, run_id: str) -> RunRecord | None:
        return self._records.get(run_id)

    async def run(self, function: RegisteredFunction, payload: Any) -> RunRecord:
        """Run now; a timeout raises :class:`FunctionTimeoutError` (HTTP 408)."""
        record = self._new_record(function.name, "scheduled")
        outcome = await self._execute(function, payload, record.run_id)
        if outcome is None:
            raise FunctionTimeoutError(
                f"The Function {function.name!r} did not finish within "
                f"{function.timeout_seconds:g} seconds (run {record.run_id}).",
                status_code=408,
                code="functions/request-timeout",
            )
        return self._finish(record, outcome)

    def schedule(self, function: RegisteredFunction, payload: Any) -> RunRecord:
        """Queue an async run; the returned record says ``scheduled`` until it completes."""
        if len(self._background) >= MAX_PENDING_ASYNC_RUNS:
            raise RateLimitError(
                f"{MAX_PENDING_ASYNC_RUNS} async Function runs are already pending; retry when some "
                "have completed.",
                status_code=429,
                code="too-many-requests",
            )
        record = self._new_record(function.name, "scheduled")
        task = asyncio.get_running_loop().create_task(self._complete_later(function, payload, record))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return record

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        # Timed-out user code may still be running on daemon threads: it is not waited for.

    async def _complete_later(self, function: RegisteredFunction, payload: Any, record: RunRecord) -> None:
        outcome = await self._execute(function, payload, record.run_id)
        if outcome is None:
            outcome = _failure(
                f"The Function {function.name!r} did not finish within {function.timeout_seconds:g} seconds.",
                "",
            )
        self._finish(record, outcome)

    async def _execute(self, function: RegisteredFunction, payload: Any, run_id: str) -> Outcome | None:
        """The finished outcome (success or failure), or ``None`` on timeout."""
        context = FunctionContext(run_id, function.name, self._app_id, self._team_id)
        arguments = (payload, context) if function.wants_context else (payload,)
        try:
            return await asyncio.wait_for(self._call(function, arguments), function.timeout_seconds)
        except asyncio.TimeoutError:
            return None

    async def _call(self, function: RegisteredFunction, arguments: tuple[Any, ...]) -> Outcome:
        if function.is_coroutine:
            try:
                return _success(await function.implementation(*arguments))
            except asyncio.CancelledError:
                raise  # a timeout or the server stopping: not the Function's own failure
            except BaseException as error:  # noqa: BLE001 - see _call_guarded
                return _failure_of(error)
        return await self._on_daemon_thread(function.implementation, arguments)

    async def _on_daemon_thread(
        self, implementation: Callable[..., Any], arguments: tuple[Any, ...]
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Outcome] = loop.create_future()
        await self._slots.acquire()

        def work() -> None:
            result = _call_guarded(implementation, arguments)
            # The slot is held until the code returns, even past a timeout, so stuck
            # Functions cannot multiply threads without bound.
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(_settle, outcome, result, self._slots)

        try:
            threading.Thread(target=work, name="evervault-function", daemon=True).start()
        except RuntimeError:  # no thread could be started
            self._slots.release()
            raise
        return await outcome

    def _new_record(self, name: str, status: str) -> RunRecord:
        record = RunRecord(run_id="func_run_" + secrets.token_hex(12), function_name=name, status=status)
        self._records[record.run_id] = record
        while len(self._records) > MAX_KEPT_RUNS:
            self._records.popitem(last=False)
        return record

    def _finish(self, record: RunRecord, outcome: Outcome) -> RunRecord:
        record.status, record.result, record.error = outcome.status, outcome.result, outcome.error
        return record


def _settle(future: asyncio.Future[Outcome], outcome: Outcome, slots: asyncio.Semaphore) -> None:
    slots.release()
    if not future.done():  # a timed-out run's future is already cancelled
        future.set_result(outcome)


def _call_guarded(implementation: Callable[..., Any], arguments: tuple[Any, ...]) -> Outcome:
    """Run user code on a worker thread, turning anything it raises into the run's failure.

    Caught here, in the thread, because asyncio re-raises ``SystemExit`` and
    ``KeyboardInterrupt`` from a future straight out of the event loop: a Function that
    raises them must fail its run, not stop the server.
    """
    try:
        return _success(implementation(*arguments))
    except BaseException as error:  # noqa: BLE001 - whatever user code raises fails the run
        return _failure_of(error)


def _failure_of(error: BaseException) -> Outcome:
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return _failure(str(error) or type(error).__name__, stack)


def _success(result: Any) -> Outcome:
    try:
        # Round-trip now so a non-JSON result fails the run instead of the response.
        json_result = json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as error:
        return _failure(f"The Function returned a value that is not JSON ({type(error).__name__}).", "")
    return Outcome(status="success", result=json_result)


def _failure(message: str, stack: str) -> Outcome:
    return Outcome(status="failure", error={"message": message, "stack": stack})


def build_functions(
    configs: Iterable[FunctionConfig],
    default_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    extra: Iterable[RegisteredFunction] = (),
) -> list[RegisteredFunction]:
    """Resolve configurations into callables; ``extra`` (already resolved) come first."""
    by_name = {fn.name: fn for fn in extra}
    for config in configs:
        by_name[config.name] = RegisteredFunction.from_config(config, default_timeout)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Functions: %s", ", ".join(sorted(by_name)))
    return list(by_name.values())
