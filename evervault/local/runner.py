"""Starting and stopping an emulator: on the current event loop, or on a background thread.

:func:`start_emulator` is what ``evervault-local serve`` runs; :class:`BackgroundEmulator`
runs the same thing on its own thread and loop, for the ``demo`` command, the pytest
plugin and any synchronous code::

    with BackgroundEmulator(EmulatorOptions()) as info:
        client = info.client()
        assert client.decrypt(client.encrypt("secret")) == "secret"
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from evervault.domain.attestation.hosts import SEED_CAGES_HOST
from evervault.domain.decryption import Decryptor
from evervault.domain.errors import ConfigurationError
from evervault.local.connection_limits import (
    AcceptErrorFilter,
    ConnectionGate,
    ConnectionLimits,
    LimitedSite,
    effective_max_connections,
    open_file_limit,
)
from evervault.local.data_lock import DataDirectoryLock
from evervault.local.decrypt_pool import DecryptPool
from evervault.local.enclave import EnclaveSimulator
from evervault.local.functions import (
    DEFAULT_TIMEOUT_SECONDS,
    RegisteredFunction,
    build_functions,
    resolve_target,
)
from evervault.local.pki import DEFAULT_LEAF_CACHE_SIZE, LocalCA
from evervault.local.relay_proxy import ProxyLimits, RelayProxy
from evervault.local.sample_functions import SAMPLE_FUNCTIONS, UNSAFE_ECHO_FUNCTION, SampleFunction
from evervault.local.server import (
    DECRYPT_POOL,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
    Middleware,
    ServerSettings,
    create_app,
)
from evervault.local.state import FunctionConfig, LocalState, Permission

if TYPE_CHECKING:
    from evervault.bootstrap.clients import Client

DEFAULT_HOST = "127.0.0.1"
# The fixed port of ``evervault-local serve`` (the library and the pytest plugin default to a
# free port instead). Above 1024 (no privileges), below every OS's ephemeral range (so never
# handed out to an outgoing connection), and clear of the usual local mocks (stripe-mock
# 12111, LocalStack 4566, moto 5000, Meilisearch 7700). The relay proxy takes the next one.
DEFAULT_PORT = 7710
logger = logging.getLogger("evervault.local")
_START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class EmulatorOptions:
    """What to start. ``data_dir=None``: a fresh temporary directory (new app, new keys), deleted on stop."""

    host: str = DEFAULT_HOST
    port: int = 0
    data_dir: str | None = None
    functions: tuple[FunctionConfig, ...] = ()
    function_timeout: float = DEFAULT_TIMEOUT_SECONDS
    sample_functions: bool = True
    # Registers the sample Function ``echo``, which returns its decrypted input: any key that
    # may run Functions (or mint run tokens) then reads any ciphertext's plaintext. Tests only.
    unsafe_echo_function: bool = False
    relay_destinations: tuple[str, ...] | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    relay_poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS
    relay_proxy: bool = True
    relay_port: int = 0
    relay_upstream_ca_file: str | None = None
    # Tunnels hosts that are not relay destinations untouched (else 403). Metadata, link-local
    # and the emulator's own addresses stay refused either way.
    relay_allow_any_destination: bool = False
    enclave_name: str | None = None
    enclave_host_suffix: str = SEED_CAGES_HOST
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    relay_limits: ProxyLimits = field(default_factory=ProxyLimits)
    relay_leaf_cache_size: int = DEFAULT_LEAF_CACHE_SIZE
    # Processes decrypting large documents: None = one per CPU, 0 = none (all inline).
    decrypt_workers: int | None = None
    extra_functions: tuple[RegisteredFunction, ...] = field(default=(), repr=False)
    # Extra aiohttp middlewares, for harnesses that observe the API traffic (see ServerSettings).
    middlewares: tuple[Middleware, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class EmulatorInfo:
    """How to reach a running emulator (the JSON line ``serve`` prints)."""

    api_url: str
    app_id: str
    api_key: str = field(repr=False)
    ca_url: str
    data_dir: str
    run_url: str
    functions: tuple[str, ...] = ()
    relay_url: str | None = None
    enclave_url: str | None = None
    # How to reach and trust the enclave simulator (its host name does not resolve).
    enclave: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["functions"] = list(self.functions)
        return {key: value for key, value in body.items() if value is not None}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> EmulatorInfo:
        """The inverse of :meth:`to_json` (unknown keys are ignored)."""
        known = {name: body[name] for name in cls.__dataclass_fields__ if name in body}
        known["functions"] = tuple(known.get("functions", ()))
        return cls(**known)

    def environment(self) -> dict[str, str]:
        """The published SDK's variables pointing at this emulator (``EV_API_URL`` etc.)."""
        variables = {"EV_API_URL": self.api_url, "EV_CERT_HOSTNAME": self.ca_url}
        if self.relay_url is not None:
            variables["EV_TUNNEL_HOSTNAME"] = self.relay_url
        return variables

    def client(self, **options: Any) -> Client:
        """A :class:`~evervault.Client` for this emulator's app (``options`` as the constructor)."""
        from evervault.bootstrap.clients import Client

        options.setdefault("base_url", self.api_url)
        options.setdefault("ca_host", self.ca_url)
        if self.relay_url is not None:
            options.setdefault("relay_url", self.relay_url)
        return Client(self.app_id, self.api_key, **options)


class RunningEmulator:
    """An emulator serving on the current event loop; ``await stop()`` ends it."""

    def __init__(
        self,
        runner: web.AppRunner,
        info: EmulatorInfo,
        state: LocalState,
        threaded: Sequence[RelayProxy | EnclaveSimulator] = (),
        lock: DataDirectoryLock | None = None,
        accept_errors: AcceptErrorFilter | None = None,
    ) -> None:
        self._runner = runner
        self._accept_errors = accept_errors
        self._threaded = list(threaded)
        self._lock = lock
        self.info = info
        self.state = state
        # A data directory the emulator created for itself (no ``data_dir`` given): it holds
        # private keys, so it is deleted on stop() instead of lingering in /tmp.
        self.temporary_dir: str | None = None

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for server in self._threaded:
                # These join their worker threads: keep the event loop free meanwhile.
                await loop.run_in_executor(None, server.stop)
            await self._runner.cleanup()
        finally:
            if self._accept_errors is not None:
                self._accept_errors.uninstall()
            if self._lock is not None:
                self._lock.release()
            remove_temporary_dir(self.temporary_dir)


async def start_emulator(options: EmulatorOptions) -> RunningEmulator:
    """Open (or create) the data directory and serve the API on ``options.host:port``.

    The data directory is locked while the emulator runs: a second emulator on it fails
    with a :class:`ConfigurationError` naming the directory. Without ``options.data_dir``
    the app lives in a new temporary directory, removed when the emulator stops or fails
    to start.
    """
    temporary = None if options.data_dir else tempfile.mkdtemp(prefix="evervault-local-")
    try:
        running = await _start(options, options.data_dir or str(temporary))
    except BaseException:
        remove_temporary_dir(temporary)
        raise
    running.temporary_dir = temporary
    return running


def remove_temporary_dir(path: str | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


async def _start(options: EmulatorOptions, data_dir: str) -> RunningEmulator:
    # What was acquired so far is released in reverse order if a later step fails;
    # on success RunningEmulator.stop() takes over.
    async with contextlib.AsyncExitStack() as undo:
        lock = _lock_data_dir(data_dir)
        if lock is not None:
            undo.callback(lock.release)
        state = _open_state(options, data_dir)
        functions = registered_functions(state, options)
        ca = LocalCA.load_or_create(state.data_dir, leaf_cache_size=options.relay_leaf_cache_size)
        accept_errors = AcceptErrorFilter(
            asyncio.get_running_loop(), options.connection_limits.accept_error_log_interval
        )
        accept_errors.install()
        undo.callback(accept_errors.uninstall)
        runner = await _serve_api(state, functions, ca, options)
        undo.push_async_callback(runner.cleanup)
        port = _bound_port(runner)
        relay, enclave = _start_side_servers(state, ca, options, runner.app[DECRYPT_POOL], port)
        undo.pop_all()
    api_url = _base_url(options.host, port)
    info = EmulatorInfo(
        api_url=api_url,
        app_id=state.app_id,
        api_key=state.admin_key().value,
        ca_url=api_url + "ca.crt",
        data_dir=str(state.data_dir),
        run_url=api_url + "run/",
        functions=tuple(sorted(fn.name for fn in functions)),
        relay_url=None if relay is None else relay.url,
        enclave_url=None if enclave is None else enclave.info.url,
        enclave=None if enclave is None else _enclave_json(enclave),
    )
    threaded = [server for server in (relay, enclave) if server is not None]
    return RunningEmulator(runner, info, state, threaded, lock, accept_errors)


def _lock_data_dir(data_dir: str) -> DataDirectoryLock | None:
    path = Path(data_dir).expanduser().resolve()
    with contextlib.suppress(OSError):  # LocalState reports a directory it cannot create
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.is_dir():
        return None
    return DataDirectoryLock(path).acquire()


async def _serve_api(
    state: LocalState, functions: list[RegisteredFunction], ca: LocalCA, options: EmulatorOptions
) -> web.AppRunner:
    settings = ServerSettings(
        max_body_bytes=options.max_body_bytes,
        max_file_bytes=options.max_file_bytes,
        relay_poll_interval=options.relay_poll_interval,
        ca_certificate_pem=ca.cert_pem,
        decrypt_workers=options.decrypt_workers,
        middlewares=options.middlewares,
    )
    limits = options.connection_limits
    # No access log: the emulator's output is the one JSON line (and logs must never
    # carry request bodies or headers).
    runner = web.AppRunner(
        create_app(state, functions, settings), access_log=None, keepalive_timeout=limits.keepalive_timeout
    )
    await runner.setup()
    max_connections = effective_max_connections(limits.max_connections, open_file_limit())
    if max_connections < limits.max_connections:
        logger.warning(
            "Serving at most %d connections instead of %d: the open-file limit (ulimit -n) is lower.",
            max_connections,
            limits.max_connections,
        )
    site = LimitedSite(
        runner, options.host, options.port, lambda server: ConnectionGate(server, limits, max_connections)
    )
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigurationError(listen_error_message(options.host, options.port, error)) from None
    return runner


def listen_error_message(host: str, port: int, error: OSError) -> str:
    """Why ``host:port`` cannot be bound, and which option to change."""
    reason = error.strerror or str(error)
    where = f"{host}:{port}"
    if isinstance(error, socket.gaierror):
        return f"--host {host!r} is not a valid address or resolvable host name ({reason}); try 127.0.0.1."
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"--host {host} is not an address of this machine ({reason}); use 127.0.0.1, ::1, "
            "0.0.0.0 or one of this machine's addresses."
        )
    if error.errno == errno.EADDRINUSE:
        return (
            f"Cannot listen on {where}: the port is already in use (another evervault-local?). "
            "Stop the other server, or choose another --port (0 picks a free one)."
        )
    if error.errno == errno.EACCES:
        return (
            f"Cannot listen on {where} ({reason}): ports below 1024 need privileges; choose another --port."
        )
    return f"Cannot listen on {where} ({reason}); check --host and --port."


def _start_side_servers(
    state: LocalState, ca: LocalCA, options: EmulatorOptions, pool: DecryptPool, api_port: int
) -> tuple[RelayProxy | None, EnclaveSimulator | None]:
    """The relay proxy and the enclave simulator, as configured (both thread-based)."""
    # The emulator's listening ports: the relay never tunnels to them on this machine.
    own_ports = [api_port]
    relay = _start_relay(state, ca, options, pool, lambda: tuple(own_ports)) if options.relay_proxy else None
    try:
        enclave = _start_enclave(state, options) if options.enclave_name else None
    except BaseException:
        if relay is not None:
            relay.stop()
        raise
    if enclave is not None:
        own_ports.append(enclave.info.address[1])
    return relay, enclave


def _start_enclave(state: LocalState, options: EmulatorOptions) -> EnclaveSimulator:
    """The enclave simulator for this app (test PKI: clients trust it only explicitly)."""
    simulator = EnclaveSimulator(
        name=options.enclave_name or "", app_id=state.app_id, host_suffix=options.enclave_host_suffix
    )
    simulator.start()
    return simulator


def _enclave_json(simulator: EnclaveSimulator) -> dict[str, Any]:
    info = simulator.info
    # The trust root also as a file, next to the TLS CA bundle (removed with it on stop), for
    # `evervault attest url --trust-root-for-testing-only FILE`.
    trust_root = Path(info.ca_bundle_path).with_name("trust-root.pem")
    trust_root.write_bytes(info.root_certificate_pem)
    return {
        "hostname": info.hostname,
        "url": info.url,
        "address": f"{info.address[0]}:{info.address[1]}",
        "ca_bundle": info.ca_bundle_path,
        "trust_root": str(trust_root),
        "trust_root_pem": info.root_certificate_pem.decode("ascii"),
        "expected_pcrs": info.expected_pcrs,
    }


def _start_relay(
    state: LocalState,
    ca: LocalCA,
    options: EmulatorOptions,
    pool: DecryptPool,
    own_ports: Callable[[], Sequence[int]],
) -> RelayProxy:
    """The Outbound Relay proxy: the app's keys may use it; decrypting needs ``decrypt``."""
    proxy = RelayProxy(
        decryptor=Decryptor(state.private_keys),
        authorize=lambda credential: state.find_api_key(credential) is not None,
        may_decrypt=lambda credential: _holds(state, credential, Permission.DECRYPT),
        app_id=state.app_id,
        allow_any_destination=options.relay_allow_any_destination,
        own_ports=own_ports,
        # Read on every CONNECT, so PUT _local/relay-destinations applies at once.
        destinations=lambda: [destination.domain for destination in state.relay_destinations],
        ca=ca,
        upstream_ca_file=options.relay_upstream_ca_file,
        limits=options.relay_limits,
        decrypt=pool.decrypt_relay_request,
    )
    try:
        proxy.start(options.host, options.relay_port)
    except OSError as error:
        message = listen_error_message(options.host, options.relay_port, error)
        raise ConfigurationError("Relay proxy: " + message.replace("--port", "--relay-port")) from None
    return proxy


def _holds(state: LocalState, credential: str, permission: Permission) -> bool:
    key = state.find_api_key(credential)
    return key is not None and permission in key.permissions


def _open_state(options: EmulatorOptions, data_dir: str) -> LocalState:
    state = LocalState.load_or_create(data_dir)
    if options.functions:
        state.set_functions(options.functions)
    if options.relay_destinations is not None:
        state.set_relay_destinations(options.relay_destinations)
    return state


def registered_functions(state: LocalState, options: EmulatorOptions) -> list[RegisteredFunction]:
    """Samples, then ``extra_functions``, then the data directory's Functions (later names win)."""
    samples: dict[str, SampleFunction] = {}
    if options.sample_functions:
        samples.update(SAMPLE_FUNCTIONS)
    if options.unsafe_echo_function:
        name, sample = UNSAFE_ECHO_FUNCTION
        samples[name] = sample
    registered = [
        RegisteredFunction.create(
            name,
            resolve_target(sample.target),
            options.function_timeout,
            decrypts_payload=sample.decrypts_payload,
        )
        for name, sample in samples.items()
    ]
    extra = [*registered, *options.extra_functions]
    return build_functions(state.functions, options.function_timeout, extra=extra)


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise ConfigurationError("The emulator started but reports no listening address.")


def _base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


class BackgroundEmulator:
    """The emulator on a daemon thread with its own event loop (for synchronous callers)."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self._options = options or EmulatorOptions()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running: RunningEmulator | None = None

    @property
    def info(self) -> EmulatorInfo:
        if self._running is None:
            raise ConfigurationError("The emulator is not running; call start() first.")
        return self._running.info

    @property
    def state(self) -> LocalState:
        if self._running is None:
            raise ConfigurationError("The emulator is not running; call start() first.")
        return self._running.state

    def start(self) -> EmulatorInfo:
        if self._running is not None:
            return self._running.info
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="evervault-local", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        future = asyncio.run_coroutine_threadsafe(start_emulator(self._options), loop)
        try:
            self._running = future.result(_START_TIMEOUT_SECONDS)
        except BaseException:
            self._stop_loop()
            raise
        return self._running.info

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None and self._loop is not None:
            asyncio.run_coroutine_threadsafe(running.stop(), self._loop).result(_START_TIMEOUT_SECONDS)
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_START_TIMEOUT_SECONDS)
        loop.close()

    def __enter__(self) -> EmulatorInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
