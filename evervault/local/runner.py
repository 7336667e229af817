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
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from evervault.domain.attestation.hosts import SEED_CAGES_HOST
from evervault.domain.decryption import Decryptor
from evervault.domain.errors import ConfigurationError
from evervault.local.enclave import EnclaveSimulator
from evervault.local.functions import (
    DEFAULT_TIMEOUT_SECONDS,
    RegisteredFunction,
    build_functions,
    resolve_target,
)
from evervault.local.pki import LocalCA
from evervault.local.relay_proxy import RelayProxy
from evervault.local.sample_functions import SAMPLE_FUNCTIONS, UNSAFE_ECHO_FUNCTION, SampleFunction
from evervault.local.server import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
    ServerSettings,
    create_app,
)
from evervault.local.state import FunctionConfig, LocalState, Permission

if TYPE_CHECKING:
    from evervault.services.client import Client

DEFAULT_HOST = "127.0.0.1"
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
    relay_upstream_ca_file: str | None = None
    # Tunnels hosts that are not relay destinations untouched (else 403). Metadata, link-local
    # and the emulator's own addresses stay refused either way.
    relay_allow_any_destination: bool = False
    enclave_name: str | None = None
    enclave_host_suffix: str = SEED_CAGES_HOST
    extra_functions: tuple[RegisteredFunction, ...] = field(default=(), repr=False)


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

    def environment(self) -> dict[str, str]:
        """The published SDK's variables pointing at this emulator (``EV_API_URL`` etc.)."""
        variables = {"EV_API_URL": self.api_url, "EV_CERT_HOSTNAME": self.ca_url}
        if self.relay_url is not None:
            variables["EV_TUNNEL_HOSTNAME"] = self.relay_url
        return variables

    def client(self, **options: Any) -> Client:
        """A :class:`~evervault.Client` for this emulator's app (``options`` as the constructor)."""
        from evervault.services.client import Client

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
    ) -> None:
        self._runner = runner
        self._threaded = list(threaded)
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
            remove_temporary_dir(self.temporary_dir)


async def start_emulator(options: EmulatorOptions) -> RunningEmulator:
    """Open (or create) the data directory and serve the API on ``options.host:port``.

    Without ``options.data_dir`` the app lives in a new temporary directory, removed when
    the emulator stops or fails to start.
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
    state = _open_state(options, data_dir)
    functions = registered_functions(state, options)
    ca = LocalCA.load_or_create(state.data_dir)
    runner = await _serve_api(state, functions, ca, options)
    try:
        relay, enclave = _start_side_servers(state, ca, options, _bound_port(runner))
    except BaseException:
        await runner.cleanup()
        raise
    api_url = _base_url(options.host, _bound_port(runner))
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
    return RunningEmulator(runner, info, state, threaded)


async def _serve_api(
    state: LocalState, functions: list[RegisteredFunction], ca: LocalCA, options: EmulatorOptions
) -> web.AppRunner:
    settings = ServerSettings(
        max_body_bytes=options.max_body_bytes,
        max_file_bytes=options.max_file_bytes,
        relay_poll_interval=options.relay_poll_interval,
        ca_certificate_pem=ca.cert_pem,
    )
    # No access log: the emulator's output is the one JSON line (and logs must never
    # carry request bodies or headers).
    runner = web.AppRunner(create_app(state, functions, settings), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, options.host, options.port).start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigurationError(
            f"Cannot listen on {options.host}:{options.port} ({error.strerror}); choose another --port."
        ) from None
    return runner


def _start_side_servers(
    state: LocalState, ca: LocalCA, options: EmulatorOptions, api_port: int
) -> tuple[RelayProxy | None, EnclaveSimulator | None]:
    """The relay proxy and the enclave simulator, as configured (both thread-based)."""
    # The emulator's listening ports: the relay never tunnels to them on this machine.
    own_ports = [api_port]
    relay = _start_relay(state, ca, options, lambda: tuple(own_ports)) if options.relay_proxy else None
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
    return {
        "hostname": info.hostname,
        "address": f"{info.address[0]}:{info.address[1]}",
        "ca_bundle": info.ca_bundle_path,
        "trust_root_pem": info.root_certificate_pem.decode("ascii"),
        "expected_pcrs": info.expected_pcrs,
    }


def _start_relay(
    state: LocalState, ca: LocalCA, options: EmulatorOptions, own_ports: Callable[[], Sequence[int]]
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
    )
    try:
        proxy.start(options.host, 0)
    except OSError as error:
        raise ConfigurationError(
            f"Cannot start the relay proxy on {options.host} ({error.strerror})."
        ) from None
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
