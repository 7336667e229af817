"""The module-level API of the published SDK's README, end to end against a real local server."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator

import pytest
import trustme
from pytest_httpserver import HTTPServer

import evervault
from evervault.domain.decryption import Decryptor
from evervault.services.relay import active_relay
from tests.api.api_support import API_KEY, APP_ID, BASIC_AUTH, only_request, recorded


@pytest.fixture
def no_client() -> Iterator[None]:
    """Start every facade test uninitialised and leave no global client behind."""
    evervault.reset()
    yield
    evervault.reset()


@pytest.fixture
def local_api(server: HTTPServer, monkeypatch: pytest.MonkeyPatch, no_client: None) -> HTTPServer:
    """Point the SDK at the local server the way an app would: EV_API_URL, no code change."""
    monkeypatch.setenv("EV_API_URL", server.url_for("/").rstrip("/"))
    return server


@pytest.mark.parametrize(
    "call",
    [
        lambda: evervault.encrypt("x"),
        lambda: evervault.decrypt("ev:x"),
        lambda: evervault.run("f", {}),
        lambda: evervault.create_client_side_decrypt_token("ev:x"),
        lambda: evervault.create_run_token("f"),
        evervault.current_client,
    ],
)
def test_calls_before_init_say_to_call_init(no_client: None, call: object) -> None:
    with pytest.raises(evervault.ConfigurationError, match=r"evervault\.init\("):
        call()  # type: ignore[operator]


def test_seed_readme_flow(local_api: HTTPServer, keys_body: dict[str, str], decryptor: Decryptor) -> None:
    local_api.expect_request("/cages/key").respond_with_json(keys_body)
    evervault.init(APP_ID, API_KEY)

    encrypted = evervault.encrypt({"name": "Claude"})
    assert decryptor.decrypt(encrypted) == {"name": "Claude"}

    local_api.expect_request("/functions/fn/runs").respond_with_json({"status": "scheduled", "id": "r"})
    assert evervault.run("fn", encrypted, {"async": True, "version": 2}) == {"status": "scheduled", "id": "r"}
    run_request = recorded(local_api)[-1]
    assert json.loads(run_request.get_data()) == {"payload": encrypted, "async": True}
    assert run_request.headers["x-version-id"] == "2"
    assert run_request.headers["Authorization"] == BASIC_AUTH

    local_api.expect_request("/decrypt").respond_with_json({"data": {"name": "Claude"}})
    assert evervault.decrypt(encrypted) == {"name": "Claude"}

    local_api.expect_request("/client-side-tokens").respond_with_json({"token": "t1"})
    assert evervault.create_client_side_decrypt_token(encrypted) == {"token": "t1"}
    assert evervault.create_client_side_decrypt_token(payload=encrypted) == {"token": "t1"}
    positional, published_keyword = (json.loads(r.get_data()) for r in recorded(local_api)[-2:])
    assert positional["payload"] == published_keyword["payload"] == encrypted
    for ambiguous in ({}, {"data": encrypted, "payload": encrypted}):
        with pytest.raises(evervault.InvalidArgumentError, match="exactly once"):
            evervault.create_client_side_decrypt_token(**ambiguous)

    local_api.expect_request("/v2/functions/fn/run-token").respond_with_json({"token": "t2"})
    assert evervault.create_run_token("fn", encrypted) == {"token": "t2"}


def test_init_with_p256_alias_and_relay_options(
    local_api: HTTPServer, keys_body: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    relay_ca = trustme.CA()
    local_api.expect_request("/ca.crt").respond_with_data(relay_ca.cert_pem.bytes())
    monkeypatch.setenv("EV_CERT_HOSTNAME", local_api.url_for("/ca.crt"))
    try:
        evervault.init(
            APP_ID, API_KEY, decryption_domains=["api.example.com"], curve="p256", debug_requests=True
        )
        # init hands the relay arguments to the relay only, never to the client (no warning).
        assert evervault.current_client().relay_settings.decryption_domains == ()
        active = active_relay()  # as in the published SDK, domains at init turn the relay on
        assert active is not None and active.decide("https://api.example.com/x").relayed
        ca_request = only_request(local_api)
        assert "Api-Key" not in ca_request.headers  # the CA fetch never carries the key
        local_api.clear_log()
        local_api.expect_request("/cages/key").respond_with_json(keys_body)
        assert evervault.encrypt("x").startswith("ev:Tk9D:")
        assert only_request(local_api).headers["Api-Key"] == API_KEY
    finally:
        evervault.disable_outbound_relay()
    assert active_relay() is None


def test_init_rejects_an_unknown_curve_and_keeps_no_client(no_client: None) -> None:
    with pytest.raises(evervault.ConfigurationError, match="curve"):
        evervault.init(APP_ID, API_KEY, curve="ed25519")
    with pytest.raises(evervault.ConfigurationError):
        evervault.current_client()


def test_init_again_replaces_the_client(local_api: HTTPServer) -> None:
    evervault.init(APP_ID, API_KEY)
    first = evervault.current_client()
    evervault.init("app_other", API_KEY, retry=True, request_timeout=5)
    second = evervault.current_client()
    assert second is not first
    assert second.app_id == "app_other"
    assert second.config.request_timeout == 5.0
    assert second.config.retry.max_retries > 0


def test_public_names_and_seed_signatures() -> None:
    for name in (
        "Client",
        "AsyncClient",
        "EvervaultError",
        "FunctionRuntimeError",
        "RetryPolicy",
        "__version__",
    ):
        assert hasattr(evervault, name)
    assert isinstance(evervault.__version__, str)
    assert evervault.Curves.SECP256R1 == "SECP256R1"

    def parameters(function: object) -> list[str]:
        return list(inspect.signature(function).parameters)  # type: ignore[arg-type]

    assert parameters(evervault.init) == [
        "app_id",
        "api_key",
        "decryption_domains",
        "retry",
        "curve",
        "debug_requests",
        "enable_outbound_relay",
        "request_timeout",
    ]
    assert parameters(evervault.encrypt) == ["data", "role"]
    assert parameters(evervault.decrypt) == ["data"]
    assert parameters(evervault.run) == ["function_name", "data", "options", "run_async"]
    assert parameters(evervault.create_client_side_decrypt_token) == ["data", "expiry", "payload"]
    assert parameters(evervault.create_run_token) == ["function_name", "data"]
    assert set(evervault.errors.__all__) <= set(evervault.__all__)
