"""The client core: one constructor and one plan per operation for both clients, the relay CA
fetch, the deprecated relay arguments, the composition root's defaults."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import logging
import sys
import textwrap
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import evervault
from evervault import AsyncClient, Client, RelayError, RetryPolicy
from evervault.adapters.recording_http import AsyncRecordingTransport, RecordingTransport
from evervault.adapters.system import default_encryptor
from evervault.bootstrap import facade
from evervault.domain import defaults
from evervault.domain.errors import ConfigurationError
from evervault.ports.http import HttpRequest, HttpResponse
from evervault.services import async_client, client
from evervault.services.retry import RetryClock
from tests.api.api_support import API_KEY, APP_ID, recorded

NOW = 1_700_000_000.0
CA_PATH = "/ca.crt"


# --- one plan per operation, shared ------------------------------------------------------


def _answer(request: HttpRequest) -> HttpResponse:
    """A plausible success answer for every operation (the interpreters must accept it)."""
    if request.url.endswith("/decrypt"):
        if request.body is not None and request.body.startswith(b"{"):
            return HttpResponse(200, {"Content-Type": "application/json"}, b'{"data": "plain"}')
        return HttpResponse(200, {"Content-Type": "application/octet-stream"}, b"plain bytes")
    if request.url.endswith("/runs"):
        return HttpResponse(200, {}, b'{"status": "success", "id": "run_1", "result": {}}')
    if request.url.endswith("/v2/relay-outbound"):
        return HttpResponse(200, {"X-Poll-Interval": "7"}, b'{"outboundDestinations": {}}')
    if request.url.endswith(CA_PATH):
        return HttpResponse(200, {}, b"-----BEGIN CERTIFICATE-----")
    return HttpResponse(200, {}, b'{"token": "t", "expiry": 1}')


def _every_operation(target: Any) -> list[Any]:
    """Call every HTTP operation once; returns what each call returned (or its coroutine)."""
    expiry = datetime.fromtimestamp(NOW, timezone.utc) + timedelta(minutes=2)
    return [
        target.decrypt("ev:abc"),
        target.decrypt(b"%EVENC..."),
        target.create_client_side_decrypt_token({"a": "ev:x"}, expiry),
        target.run("fn", {"a": 1}, {"async": False, "version": 3}),
        target.create_run_token("fn", {"a": 1}),
        target.fetch_relay_outbound_config(),
        target.fetch_relay_ca(),
    ]


def _sent(requests: list[HttpRequest]) -> list[tuple[Any, ...]]:
    return [(r.method, r.url, sorted(r.headers.lower_items()), r.body, r.timeout) for r in requests]


def test_both_clients_send_the_same_requests_and_read_the_same_answers() -> None:
    options: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9/",
        "ca_host": "http://127.0.0.1:9" + CA_PATH,
        "environ": {},
        "clock": lambda: NOW,
    }
    blocking = RecordingTransport(_answer)
    sync_results = _every_operation(Client(APP_ID, API_KEY, transport=blocking, **options))

    awaiting = AsyncRecordingTransport(_answer)
    asynchronous = AsyncClient(APP_ID, API_KEY, transport=awaiting, **options)

    async def gather() -> list[Any]:
        return [await call for call in _every_operation(asynchronous)]

    assert asyncio.run(gather()) == sync_results
    assert _sent(awaiting.requests) == _sent(blocking.requests)
    assert len(blocking.requests) == 7


def _statements_after_docstring(function: Any) -> list[ast.stmt]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return list(body)


@pytest.mark.parametrize("cls", [client.Client, async_client.AsyncClient])
def test_every_public_operation_is_one_statement(cls: type[Any]) -> None:
    public = [
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    ]
    assert {"encrypt", "decrypt", "run", "fetch_relay_ca", "encrypt_file"} <= set(public)
    for name in public:
        assert len(_statements_after_docstring(getattr(cls, name))) == 1, name


def test_the_service_clients_know_no_adapter() -> None:
    with pytest.raises(ConfigurationError, match="no default transport"):
        client.Client(APP_ID, API_KEY, environ={})
    with pytest.raises(ConfigurationError, match="no default encryptor"):
        client.Client(APP_ID, API_KEY, environ={}, transport=RecordingTransport([]))


def test_a_service_client_runs_on_the_collaborators_it_is_given(keys_body: dict[str, str]) -> None:
    transport = RecordingTransport(lambda request: HttpResponse(200, {}, json.dumps(keys_body).encode()))
    made: list[int] = []

    def factory(curve: Any, public_key: bytes, max_file_size: int) -> Any:
        made.append(max_file_size)
        return default_encryptor(curve, public_key, max_file_size)

    core = client.Client(
        APP_ID, API_KEY, environ={}, transport=transport, encryptor_factory=factory, max_file_size_in_mb=2
    )
    assert core.encrypt("x").startswith("ev:")
    assert core.encrypt("y").startswith("ev:")
    assert made == [2 * defaults.BYTES_PER_MB]  # built once, with the configured limit
    assert [request.url for request in transport.requests] == [defaults.DEFAULT_API_URL + "cages/key"]


# --- fetch_relay_ca against a real local server ------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def ca_client(make_client: Any, client_kind: str, server: HTTPServer, sleeps: Sleeps) -> Any:
    def factory(**options: Any) -> Any:
        sleep = sleeps.sleep if client_kind == "sync" else sleeps.async_sleep
        clock = RetryClock(monotonic=lambda: 0.0, wall=lambda: NOW, jitter=lambda: 0.0)
        return make_client(ca_host=server.url_for(CA_PATH), sleep=sleep, retry_clock=clock, **options)

    return factory


def _script(server: HTTPServer, *responses: Response) -> None:
    remaining = list(responses)

    def handler(_request: Request) -> Response:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    server.expect_request(CA_PATH, method="GET").respond_with_handler(handler)


def test_fetch_relay_ca_retries_once_without_the_api_key(
    server: HTTPServer, ca_client: Any, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    pem = trustme.CA().cert_pem.bytes()
    _script(server, Response("busy", status=503), Response(pem, status=200))
    with caplog.at_level(logging.DEBUG, logger="evervault"):
        assert ca_client().fetch_relay_ca() == pem
    requests = recorded(server)
    assert len(requests) == 2 and len(sleeps.seconds) == 1
    for request in requests:
        assert "Api-Key" not in request.headers and "Authorization" not in request.headers
    assert f"GET {server.url_for(CA_PATH)} -> 200" in caplog.text
    assert API_KEY not in caplog.text


def test_fetch_relay_ca_gives_up_after_two_attempts_with_the_relay_message(
    server: HTTPServer, ca_client: Any
) -> None:
    _script(server, Response("busy", status=503))
    url = server.url_for(CA_PATH)
    with pytest.raises(RelayError) as caught:
        ca_client().fetch_relay_ca()
    assert str(caught.value) == (
        f"Could not fetch the Outbound Relay CA certificate from {url} (HTTP 503); "
        "check the network and EV_CERT_HOSTNAME."
    )
    assert len(recorded(server)) == 2


def test_fetch_relay_ca_follows_a_more_patient_retry_policy(server: HTTPServer, ca_client: Any) -> None:
    _script(server, Response("busy", status=503))
    with pytest.raises(RelayError, match=r"\(HTTP 503\)"):
        ca_client(retry=RetryPolicy(max_retries=3, base_delay=0.0)).fetch_relay_ca()
    assert len(recorded(server)) == 4


def test_an_empty_or_missing_ca_is_not_retried(server: HTTPServer, ca_client: Any) -> None:
    _script(server, Response(b"", status=200))
    with pytest.raises(RelayError, match=r"\(HTTP 200\)"):
        ca_client().fetch_relay_ca()
    server.clear_log()
    server.clear()
    _script(server, Response("no", status=404))
    with pytest.raises(RelayError, match=r"\(HTTP 404\)"):
        ca_client().fetch_relay_ca()
    assert len(recorded(server)) == 1  # a 404 will not change on a second try


def test_an_unreachable_ca_is_tried_twice_then_named(
    make_client: Any, client_kind: str, closed_port: int, sleeps: Sleeps
) -> None:
    url = f"http://127.0.0.1:{closed_port}{CA_PATH}"
    sleep = sleeps.sleep if client_kind == "sync" else sleeps.async_sleep
    with pytest.raises(RelayError) as caught:
        make_client(ca_host=url, sleep=sleep).fetch_relay_ca()
    expected = f"Could not fetch the Outbound Relay CA certificate from {url} (ConnectError)"
    assert str(caught.value).startswith(expected)
    assert len(sleeps.seconds) == 1  # two attempts


# --- the deprecated relay arguments --------------------------------------------------------


@pytest.mark.parametrize("cls", [Client, AsyncClient])
@pytest.mark.parametrize(
    "argument",
    [
        {"decryption_domains": ["api.example.com"]},
        {"debug_requests": True},
        {"enable_outbound_relay": False},
    ],
)
def test_the_relay_arguments_of_the_clients_warn_and_name_the_replacement(
    cls: type[Any], argument: dict[str, Any]
) -> None:
    (name,) = argument
    with pytest.warns(DeprecationWarning) as caught:
        made = cls(APP_ID, API_KEY, environ={}, **argument)
    message = str(caught[0].message)
    assert f"{cls.__name__}({name}=...)" in message
    assert "evervault.enable_outbound_relay(" in message and "does nothing" in message
    assert caught[0].filename == __file__  # points at the caller's line
    assert getattr(made.relay_settings, name) == (
        tuple(argument[name]) if name == "decryption_domains" else argument[name]
    )


def test_clients_and_init_without_relay_arguments_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client(APP_ID, API_KEY, environ={})
        AsyncClient(APP_ID, API_KEY, environ={})
        evervault.init(APP_ID, API_KEY, debug_requests=True, enable_outbound_relay=False)
    evervault.reset()


def test_init_validates_its_relay_arguments_before_replacing_the_client() -> None:
    evervault.init(APP_ID, API_KEY)
    first = evervault.current_client()
    try:
        with pytest.raises(ConfigurationError, match="decryption_domains must be a list"):
            evervault.init("app_other", API_KEY, decryption_domains="api.example.com")
        with pytest.raises(ConfigurationError, match="debug_requests must be True or False"):
            evervault.init("app_other", API_KEY, debug_requests="yes")  # type: ignore[arg-type]
        assert evervault.current_client() is first
    finally:
        evervault.reset()


# --- every default in one module -----------------------------------------------------------

PACKAGE = Path(evervault.__file__).parent
# Endpoints and seconds; typed, so that an int 5 elsewhere is not mistaken for the float 5.0
# here. Curve names are names, not defaults, and appear wherever curves are listed.
DEFAULT_VALUES = {
    (type(value), value)
    for name, value in vars(defaults).items()
    if name.isupper() and type(value) in (str, float) and name != "DEFAULT_CURVE_NAME"
}


def _assigned_constants(tree: ast.AST) -> Iterator[tuple[int, object]]:
    """Constants assigned to names or given as parameter defaults (docstrings are not)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            yield node.lineno, node.value.value
        elif isinstance(node, ast.arguments):
            for default in [*node.defaults, *node.kw_defaults]:
                if isinstance(default, ast.Constant):
                    yield default.lineno, default.value


def test_the_sdk_defaults_are_defined_only_in_the_defaults_module() -> None:
    # The emulator (evervault.local) has defaults of its own, e.g. its relay poll interval.
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "local" or relative == Path("domain/defaults.py"):
            continue
        for line, value in _assigned_constants(ast.parse(path.read_text())):
            if (type(value), value) in DEFAULT_VALUES:
                offenders.append(f"{relative}:{line}: {value!r}")
    assert offenders == []


# --- the public constructors and the encrypt hot path --------------------------------------

PUBLISHED_POSITIONAL = [
    "app_id",
    "api_key",
    "request_timeout",
    "base_url",
    "relay_url",
    "ca_host",
    "retry",
    "curve",
    "max_file_size_in_mb",
]


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_the_public_constructors_keep_their_signature(cls: type[Any]) -> None:
    parameters = inspect.signature(cls).parameters
    positional = [name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == PUBLISHED_POSITIONAL
    assert parameters["request_timeout"].default == defaults.DEFAULT_REQUEST_TIMEOUT
    keywords = ("transport", "key_source", "environ", "clock", "sleep", "retry_clock", "encryptor_factory")
    for keyword in keywords:
        assert parameters[keyword].kind is inspect.Parameter.KEYWORD_ONLY


def _direct_callees(caller: Any, call: Any) -> list[str]:
    """Python functions that ``caller`` itself calls while ``call()`` runs."""
    code = caller.__code__
    callees: list[str] = []

    def profile(frame: Any, event: str, _arg: object) -> None:
        if event == "call" and frame.f_back is not None and frame.f_back.f_code is code:
            callees.append(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return callees


def test_encrypt_adds_no_call_layer_once_keys_are_cached(
    server: HTTPServer, keys_body: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The short-string encrypt is a ~1 us hot path: the facade calls the client directly,
    # and the client calls its cached encryptor directly (no helper in between).
    server.expect_request("/cages/key").respond_with_json(keys_body)
    monkeypatch.setenv("EV_API_URL", server.url_for("/"))
    evervault.init(APP_ID, API_KEY)
    try:
        evervault.encrypt("warm up")
        assert _direct_callees(facade.encrypt, lambda: evervault.encrypt("x")) == ["Client.encrypt"]
        made = evervault.current_client()
        assert _direct_callees(client.Client.encrypt, lambda: made.encrypt("x")) == ["Encryptor.encrypt"]
    finally:
        evervault.reset()
