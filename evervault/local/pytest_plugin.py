"""Pytest fixtures that run a real local Evervault emulator (loaded through the ``pytest11``
entry point ``evervault_local`` once the package is installed with the ``local`` extra).

Fixtures:

* ``evervault_local`` (session scope): a running emulator on a free 127.0.0.1 port with a
  fresh temporary data directory; :class:`LocalEvervault` with ``api_url``, ``app_id``,
  ``api_key``, ``ca_url``, ``relay_url``, ``data_dir``, ``environment``, ``enclave`` and a
  configured ``client`` (:class:`evervault.Client`).
* ``evervault_emulator``: the emulator of one test: the session's, or, for a test marked
  ``@pytest.mark.evervault_local(...)``, a dedicated one started with the marker's settings.
* ``evervault_local_client``: the ``Client`` of ``evervault_emulator``.
* ``evervault_facade``: the ``evervault`` module after ``evervault.init(...)`` pointed at
  ``evervault_emulator`` (``EV_API_URL``, ``EV_CERT_HOSTNAME``, ``EV_TUNNEL_HOSTNAME`` set for
  the test); ``evervault.reset()`` afterwards, so no test inherits another's ``init``.
* ``evervault_local_options`` (session scope): the :class:`EmulatorOptions` every emulator of
  the session starts from; override it in a ``conftest.py`` (e.g. to opt in to the sample
  ``echo`` Function, which hands back plaintext: ``EmulatorOptions(unsafe_echo_function=True)``).

The marker (keyword arguments, all optional)::

    @pytest.mark.evervault_local(
        functions={"score": "myapp.functions:score", "double": lambda data: data * 2},
        relay_destinations=["api.example.com", "localhost"],
        enclave="hello",                      # an enclave simulator; see LocalEvervault.enclave
    )
    def test_scoring(evervault_facade):
        assert evervault_facade.run("score", evervault_facade.encrypt({"a": 1}))["status"] == "success"

The same settings for the session's emulator come from command-line options
(``--evervault-function NAME=MODULE:CALLABLE``, ``--evervault-relay-destination HOST``,
``--evervault-enclave NAME``) or the ini keys ``evervault_functions``,
``evervault_relay_destinations`` and ``evervault_enclave``.

Imports of the emulator happen inside the fixtures, so that merely having the plugin
installed costs a test run nothing, and an install without the ``local`` extra gets a
one-line error naming it instead of a ``ModuleNotFoundError``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from evervault.bootstrap.clients import Client
    from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions

MARKER = "evervault_local"
MISSING_EXTRA = (
    "The evervault_local pytest fixtures need the emulator's dependencies (aiohttp): "
    "pip install 'evervault-sdk[local]'"
)
_EMULATOR_MODULES = ("aiohttp", "h11")


@dataclass(frozen=True)
class LocalEvervault:
    """A running emulator and a client configured for its app."""

    info: EmulatorInfo
    client: Client = field(repr=False)

    @property
    def api_url(self) -> str:
        return self.info.api_url

    @property
    def app_id(self) -> str:
        return self.info.app_id

    @property
    def api_key(self) -> str:
        return self.info.api_key

    @property
    def ca_url(self) -> str:
        return self.info.ca_url

    @property
    def relay_url(self) -> str | None:
        return self.info.relay_url

    @property
    def data_dir(self) -> str:
        return self.info.data_dir

    @property
    def environment(self) -> dict[str, str]:
        """``EV_API_URL``/``EV_CERT_HOSTNAME``/``EV_TUNNEL_HOSTNAME`` for SDKs configured by env."""
        return self.info.environment()

    @property
    def enclave(self) -> dict[str, Any] | None:
        """The enclave simulator (``url``, ``hostname``, ``address``, ``ca_bundle``,
        ``trust_root`` file, ``trust_root_pem``, ``expected_pcrs``), when one was asked for."""
        return self.info.enclave


# --- configuration ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evervault-local", "the local Evervault emulator (evervault_local fixtures)")
    group.addoption(
        "--evervault-function",
        action="append",
        default=[],
        metavar="NAME=MODULE:CALLABLE",
        help="register a Function on the session's emulator (repeatable)",
    )
    group.addoption(
        "--evervault-relay-destination",
        action="append",
        default=[],
        metavar="HOST",
        help="an Outbound Relay destination of the session's emulator (repeatable)",
    )
    group.addoption("--evervault-enclave", metavar="NAME", help="also run an enclave simulator")
    parser.addini("evervault_functions", "NAME=MODULE:CALLABLE lines", type="linelist", default=[])
    parser.addini("evervault_relay_destinations", "relay destination hosts", type="linelist", default=[])
    parser.addini("evervault_enclave", "enclave simulator name", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(functions=None, relay_destinations=None, enclave=None): run this test against "
        "its own local Evervault emulator with these Functions ({name: 'module:callable' or a "
        "callable}), Outbound Relay destinations and enclave simulator",
    )


def _require_emulator_dependencies() -> None:
    """One clear line instead of a ModuleNotFoundError deep inside the emulator."""
    import importlib

    for name in _EMULATOR_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pytest.fail(MISSING_EXTRA, pytrace=False)


def _session_settings(config: pytest.Config) -> dict[str, Any]:
    functions = [*_ini_list(config, "evervault_functions"), *config.getoption("evervault_function")]
    destinations = [
        *_ini_list(config, "evervault_relay_destinations"),
        *config.getoption("evervault_relay_destination"),
    ]
    enclave = config.getoption("evervault_enclave") or str(config.getini("evervault_enclave") or "")
    return {
        "functions": dict(_parse_function(spec) for spec in functions),
        "relay_destinations": destinations or None,
        "enclave": enclave or None,
    }


def _ini_list(config: pytest.Config, name: str) -> list[str]:
    value = config.getini(name)
    return [str(line) for line in value] if isinstance(value, list) else []


def _parse_function(spec: str) -> tuple[str, str]:
    name, separator, target = spec.partition("=")
    if not separator or not name.strip() or not target.strip():
        raise pytest.UsageError(f"--evervault-function must be NAME=MODULE:CALLABLE, got {spec!r}")
    return name.strip(), target.strip()


def emulator_options(
    data_dir: str,
    *,
    base: EmulatorOptions | None = None,
    functions: Mapping[str, str | Callable[..., Any]] | None = None,
    relay_destinations: Iterable[str] | None = None,
    enclave: str | None = None,
) -> EmulatorOptions:
    """The options of a test emulator (``base`` with these additions): Functions by target
    string or by callable."""
    from evervault.local.functions import DEFAULT_TIMEOUT_SECONDS, RegisteredFunction
    from evervault.local.runner import EmulatorOptions
    from evervault.local.state import FunctionConfig

    configured, callables = [], []
    for name, target in (functions or {}).items():
        if isinstance(target, str):
            configured.append(FunctionConfig(name=name, target=target))
        elif callable(target):
            callables.append(RegisteredFunction.create(name, target, DEFAULT_TIMEOUT_SECONDS))
        else:
            raise pytest.UsageError(
                f"Function {name!r}: give 'module:callable' or a callable, not {target!r}"
            )
    base = base or EmulatorOptions()
    return dataclasses.replace(
        base,
        data_dir=data_dir,
        functions=(*base.functions, *configured),
        extra_functions=(*base.extra_functions, *callables),
        relay_destinations=(
            base.relay_destinations if relay_destinations is None else tuple(relay_destinations)
        ),
        enclave_name=enclave or base.enclave_name,
    )


@dataclass
class _Started:
    emulator: BackgroundEmulator
    local: LocalEvervault
    data_dir: str

    def stop(self) -> None:
        self.local.client.close()
        self.emulator.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)  # it holds private keys


def _start(base: EmulatorOptions, **settings: Any) -> _Started:
    from evervault.local.runner import BackgroundEmulator

    data_dir = tempfile.mkdtemp(prefix="evervault-local-pytest-")
    try:
        emulator = BackgroundEmulator(emulator_options(data_dir, base=base, **settings))
        info = emulator.start()
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return _Started(emulator, LocalEvervault(info=info, client=info.client()), data_dir)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def evervault_local_options() -> EmulatorOptions:
    """What every emulator of the session starts from; override it in a ``conftest.py``.

    The default runs the sample Functions, none of which hands back plaintext. A suite that
    needs ``echo`` says so: ``return EmulatorOptions(unsafe_echo_function=True)``.
    """
    _require_emulator_dependencies()
    from evervault.local.runner import EmulatorOptions

    return EmulatorOptions()


@pytest.fixture(scope="session")
def evervault_local(
    pytestconfig: pytest.Config, evervault_local_options: EmulatorOptions
) -> Iterator[LocalEvervault]:
    """A local Evervault emulator for the whole test session."""
    started = _start(evervault_local_options, **_session_settings(pytestconfig))
    try:
        yield started.local
    finally:
        started.stop()


@pytest.fixture
def evervault_emulator(request: pytest.FixtureRequest) -> Iterator[LocalEvervault]:
    """This test's emulator: its own when marked ``@pytest.mark.evervault_local(...)``."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        yield request.getfixturevalue("evervault_local")
        return
    if marker.args:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
    started = _start(request.getfixturevalue("evervault_local_options"), **marker.kwargs)
    try:
        yield started.local
    finally:
        started.stop()


@pytest.fixture
def evervault_local_client(evervault_emulator: LocalEvervault) -> Client:
    """The :class:`evervault.Client` of this test's emulator."""
    return evervault_emulator.client


@pytest.fixture
def evervault_facade(
    evervault_emulator: LocalEvervault, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """``evervault`` initialised for this test's emulator, reset (``evervault.reset()``) after it."""
    import evervault

    for name, value in evervault_emulator.environment.items():
        monkeypatch.setenv(name, value)
    evervault.init(evervault_emulator.app_id, evervault_emulator.api_key)
    try:
        yield evervault
    finally:
        evervault.reset()
