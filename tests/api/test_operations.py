"""Every operation, on both clients, against a real local HTTP server: exact bytes on the wire."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from evervault import (
    ApiError,
    Client,
    FunctionError,
    FunctionRuntimeError,
    InvalidArgumentError,
    InvalidResponseError,
    ServerError,
    UnsupportedTypeError,
)
from evervault.domain.curves import Curve
from evervault.domain.decryption import Decryptor
from evervault.domain.relay import RelayOutboundConfig
from evervault.services.version import USER_AGENT
from tests.api.api_support import API_KEY, APP_ID, BASIC_AUTH, only_request, raw_path, recorded

NOW = 1_700_000_000.0  # the injected clock, epoch seconds
NOW_MS = 1_700_000_000_000


def assert_common_headers(request: Request, content_type: str = "application/json") -> None:
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("evervault-python/")
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Accept-Encoding"] == "gzip, deflate"
    assert request.headers["Content-Type"] == content_type


def assert_basic_auth(request: Request) -> None:
    assert request.headers["Authorization"] == BASIC_AUTH
    assert "Api-Key" not in request.headers


def assert_api_key_auth(request: Request) -> None:
    assert request.headers["Api-Key"] == API_KEY
    assert "Authorization" not in request.headers


# --- app keys and encrypt --------------------------------------------------------------------


@pytest.mark.parametrize("curve", [Curve.SECP256K1, Curve.P256])
def test_encrypt_fetches_keys_once_with_api_key_and_encrypts_for_them(
    server: HTTPServer, make_client: Any, keys_body: dict[str, str], decryptor: Decryptor, curve: Curve
) -> None:
    server.expect_request("/cages/key", method="GET").respond_with_json(keys_body)
    client = make_client(curve=curve.value)

    first = client.encrypt({"name": "Claude", "age": 42})
    second = client.encrypt("hello", "my-role")

    request = only_request(server)
    assert request.method == "GET"
    assert raw_path(request) == "/cages/key"
    assert request.get_data() == b""
    assert_common_headers(request)
    assert_api_key_auth(request)
    assert decryptor.decrypt(first) == {"name": "Claude", "age": 42}
    assert decryptor.decrypt(second) == "hello"
    expected_tag = "RFVC" if curve is Curve.SECP256K1 else "Tk9D"
    assert first["name"].startswith(f"ev:{expected_tag}:")


def test_sync_key_fetch_happens_once_under_concurrent_first_callers(
    server: HTTPServer, keys_body: dict[str, str]
) -> None:
    gate = threading.Event()

    def slow_keys(_: Request) -> Response:
        gate.wait(5)  # hold the first fetch until every thread is racing
        return Response(json.dumps(keys_body), content_type="application/json")

    server.expect_request("/cages/key").respond_with_handler(slow_keys)
    client = Client(APP_ID, API_KEY, base_url=server.url_for("/"), environ={})
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(client.encrypt("x"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    client.close()

    assert len(results) == 8
    assert len(recorded(server)) == 1


async def test_async_key_fetch_happens_once_under_concurrent_first_callers(
    server: HTTPServer, keys_body: dict[str, str]
) -> None:
    import asyncio

    from evervault import AsyncClient

    server.expect_request("/cages/key").respond_with_json(keys_body)
    async with AsyncClient(APP_ID, API_KEY, base_url=server.url_for("/"), environ={}) as client:
        results = await asyncio.gather(*(client.encrypt(i) for i in range(8)))

    assert len(results) == 8
    assert len(recorded(server)) == 1


def test_failed_key_fetch_raises_encrypts_nothing_and_is_retried_next_call(
    server: HTTPServer, make_client: Any, keys_body: dict[str, str]
) -> None:
    server.expect_oneshot_request("/cages/key").respond_with_data("boom", status=500)
    client = make_client()

    with pytest.raises(ServerError):
        client.encrypt("secret")

    server.expect_request("/cages/key").respond_with_json(keys_body)
    assert client.encrypt("secret").startswith("ev:RFVC:")
    assert len(recorded(server)) == 2


def test_key_response_without_the_curve_key_is_a_clear_error(
    server: HTTPServer, make_client: Any, keys_body: dict[str, str]
) -> None:
    only_k1 = {"appUuid": APP_ID, "ecdhKey": keys_body["ecdhKey"]}
    server.expect_request("/cages/key").respond_with_json(only_k1)
    client = make_client(curve="prime256v1")

    with pytest.raises(InvalidResponseError, match="SECP256R1"):
        client.encrypt("secret")


# --- decrypt --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "plaintext"),
    [
        ("ev:RFVC:abc:$", "hello"),
        ({"card": "ev:RFVC:abc:$", "n": 1}, {"card": "4242", "n": 1}),
        (["ev:RFVC:abc:$", True], [4242, True]),
    ],
)
def test_decrypt_json_posts_data_wrapper_with_basic_auth(
    server: HTTPServer, client: Any, data: Any, plaintext: Any
) -> None:
    server.expect_request("/decrypt", method="POST").respond_with_json({"data": plaintext})

    assert client.decrypt(data) == plaintext

    request = only_request(server)
    assert raw_path(request) == "/decrypt"
    assert request.get_data() == json.dumps({"data": data}).encode()
    assert_common_headers(request)
    assert_basic_auth(request)


@pytest.mark.parametrize("data", [b"%EVENC\x00\x01binary", bytearray(b"%EVENC\x02")])
def test_decrypt_bytes_posts_octet_stream_and_always_returns_bytes(
    server: HTTPServer, client: Any, data: bytes | bytearray
) -> None:
    # A text-like answer with a charset: the published SDK would hand back a str here.
    server.expect_request("/decrypt", method="POST").respond_with_data(
        "plain text file", content_type="text/plain; charset=utf-8"
    )

    result = client.decrypt(data)

    assert result == b"plain text file"
    assert isinstance(result, bytes)
    request = only_request(server)
    assert request.get_data() == bytes(data)
    assert_common_headers(request, content_type="application/octet-stream")
    assert_basic_auth(request)


@pytest.mark.parametrize(
    ("data", "error"),
    [(None, InvalidArgumentError), (42, UnsupportedTypeError), ((1, 2), UnsupportedTypeError)],
)
def test_decrypt_rejects_unsupported_input_before_any_request(
    server: HTTPServer, client: Any, data: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.decrypt(data)
    assert recorded(server) == []


def test_decrypt_response_without_data_field_is_invalid_response(server: HTTPServer, client: Any) -> None:
    server.expect_request("/decrypt").respond_with_json({"unexpected": 1})
    with pytest.raises(InvalidResponseError):
        client.decrypt("ev:RFVC:x:$")


# --- client-side decrypt token ----------------------------------------------------------------


def test_client_side_token_defaults_to_five_minutes(server: HTTPServer, make_client: Any) -> None:
    answer = {"id": "client_side_token_1", "token": "tok", "expiry": NOW_MS + 300_000}
    server.expect_request("/client-side-tokens", method="POST").respond_with_json(answer)
    client = make_client(clock=lambda: NOW)

    assert client.create_client_side_decrypt_token("ev:RFVC:abc:$") == answer

    request = only_request(server)
    assert raw_path(request) == "/client-side-tokens"
    expected = {"payload": "ev:RFVC:abc:$", "expiry": NOW_MS + 300_000, "action": "api:decrypt"}
    assert request.get_data() == json.dumps(expected).encode()
    assert_common_headers(request)
    assert_basic_auth(request)


def test_client_side_token_honours_aware_and_naive_expiry(server: HTTPServer, make_client: Any) -> None:
    server.expect_request("/client-side-tokens").respond_with_json({"token": "tok"})
    client = make_client(clock=lambda: NOW)
    aware = datetime.fromtimestamp(NOW, tz=timezone.utc) + timedelta(minutes=7, milliseconds=123)
    naive_local = datetime.fromtimestamp(NOW) + timedelta(minutes=2)  # naive = local time

    client.create_client_side_decrypt_token({"a": "ev:x"}, aware)
    client.create_client_side_decrypt_token({"a": "ev:x"}, naive_local)

    sent = [json.loads(request.get_data()) for request in recorded(server)]
    assert [body["expiry"] for body in sent] == [NOW_MS + 420_123, NOW_MS + 120_000]


@pytest.mark.parametrize(
    ("expiry", "error"),
    [
        (datetime.fromtimestamp(NOW + 601, tz=timezone.utc), InvalidArgumentError),
        (datetime.fromtimestamp(NOW - 1, tz=timezone.utc), InvalidArgumentError),
        ("2030-01-01", UnsupportedTypeError),
    ],
)
def test_client_side_token_rejects_bad_expiry_before_any_request(
    server: HTTPServer, make_client: Any, expiry: Any, error: type[Exception]
) -> None:
    client = make_client(clock=lambda: NOW)
    with pytest.raises(error):
        client.create_client_side_decrypt_token("ev:RFVC:abc:$", expiry)
    assert recorded(server) == []


def test_client_side_token_requires_a_payload(server: HTTPServer, client: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="payload"):
        client.create_client_side_decrypt_token(None)
    assert recorded(server) == []


# --- function runs --------------------------------------------------------------------------


SUCCESS = {"id": "func_run_1", "status": "success", "result": {"ok": True}}


@pytest.mark.parametrize(
    ("call", "expected_async", "version_header"),
    [
        (lambda c: c.run("my-fn", {"a": 1}), False, None),
        (lambda c: c.run("my-fn", {"a": 1}, {"async": True}), True, None),
        (lambda c: c.run("my-fn", {"a": 1}, {"async": False, "version": 3}), False, "3"),
        (lambda c: c.run("my-fn", {"a": 1}, run_async=True), True, None),
        (lambda c: c.run("my-fn", {"a": 1}, True), True, None),  # published 5.1.3 positional form
    ],
)
def test_run_posts_payload_and_async_with_basic_auth(
    server: HTTPServer, client: Any, call: Any, expected_async: bool, version_header: str | None
) -> None:
    server.expect_request("/functions/my-fn/runs", method="POST").respond_with_json(SUCCESS)

    assert call(client) == SUCCESS

    request = only_request(server)
    assert raw_path(request) == "/functions/my-fn/runs"
    assert request.get_data() == json.dumps({"payload": {"a": 1}, "async": expected_async}).encode()
    assert request.headers.get("x-version-id") == version_header
    assert_common_headers(request)
    assert_basic_auth(request)


def test_run_returns_scheduled_body(server: HTTPServer, client: Any) -> None:
    scheduled = {"id": "func_run_2", "status": "scheduled"}
    server.expect_request("/functions/f/runs").respond_with_json(scheduled)
    assert client.run("f", {}, run_async=True) == scheduled


def test_run_failure_raises_runtime_error_with_message_stack_and_id(server: HTTPServer, client: Any) -> None:
    server.expect_request("/functions/f/runs").respond_with_json(
        {"id": "func_run_3", "status": "failure", "error": {"message": "boom", "stack": "at line 1"}}
    )
    with pytest.raises(FunctionRuntimeError) as caught:
        client.run("f", {})
    assert (caught.value.message, caught.value.stack, caught.value.id) == ("boom", "at line 1", "func_run_3")


def test_run_failure_without_error_details_is_function_error(server: HTTPServer, client: Any) -> None:
    server.expect_request("/functions/f/runs").respond_with_json({"id": "func_run_4", "status": "failure"})
    with pytest.raises(FunctionError) as caught:
        client.run("f", {})
    assert not isinstance(caught.value, FunctionRuntimeError)


def test_run_quotes_the_function_name_as_one_path_segment(server: HTTPServer, client: Any) -> None:
    server.expect_request("/functions/a b/c?d/runs").respond_with_json(SUCCESS)
    client.run("a b/c?d", {})
    assert raw_path(only_request(server)) == "/functions/a%20b%2Fc%3Fd/runs"


@pytest.mark.parametrize(
    ("name", "options"),
    [("", None), ("..", None), ("f", {"asynk": True}), ("f", {"async": "yes"}), ("f", {"version": "v2"})],
)
def test_run_rejects_bad_arguments_before_any_request(
    server: HTTPServer, client: Any, name: str, options: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        client.run(name, {}, options)
    assert recorded(server) == []


def test_run_rejects_conflicting_async_flags(server: HTTPServer, client: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="disagree"):
        client.run("f", {}, {"async": True}, run_async=False)


def test_run_rejects_data_that_is_not_json(server: HTTPServer, client: Any) -> None:
    with pytest.raises(UnsupportedTypeError, match="set"):
        client.run("f", {"s": {1, 2}})
    with pytest.raises(InvalidArgumentError, match="NaN"):
        client.run("f", {"n": float("nan")})
    assert recorded(server) == []


# --- run token ------------------------------------------------------------------------------


def test_run_token_posts_data_itself_with_api_key(server: HTTPServer, client: Any) -> None:
    server.expect_request("/v2/functions/my-fn/run-token", method="POST").respond_with_json({"token": "t"})

    assert client.create_run_token("my-fn", {"card": "ev:x"}) == {"token": "t"}

    request = only_request(server)
    assert raw_path(request) == "/v2/functions/my-fn/run-token"
    assert request.get_data() == b'{"card": "ev:x"}'
    assert_common_headers(request)
    assert_api_key_auth(request)


def test_run_token_defaults_to_empty_object_and_keeps_api_key_for_decrypt_like_names(
    server: HTTPServer, client: Any
) -> None:
    # The published SDK's URL regex would switch this request to Basic auth.
    server.expect_request("/v2/functions/decrypt-users/run-token").respond_with_json({"token": "t"})
    client.create_run_token("decrypt-users")
    request = only_request(server)
    assert request.get_data() == b"{}"
    assert_api_key_auth(request)


# --- relay outbound configuration -------------------------------------------------------------

RELAY_BODY = {
    "appUuid": APP_ID,
    "outboundDestinations": {
        "api.example.com": {"destinationDomain": "api.example.com", "curve": "secp256k1"},
        "*.example.org": {"destinationDomain": "*.example.org"},
    },
}


@pytest.mark.parametrize(("header", "interval"), [({"X-Poll-Interval": "2.5"}, 2.5), ({}, None)])
def test_relay_outbound_config_is_fetched_with_api_key(
    server: HTTPServer, client: Any, header: dict[str, str], interval: float | None
) -> None:
    server.expect_request("/v2/relay-outbound", method="GET").respond_with_json(RELAY_BODY, headers=header)

    config = client.fetch_relay_outbound_config()

    assert config == RelayOutboundConfig(("api.example.com", "*.example.org"), interval)
    request = only_request(server)
    assert raw_path(request) == "/v2/relay-outbound"
    assert request.get_data() == b""
    assert_common_headers(request)
    assert_api_key_auth(request)


# --- responses that are not what the protocol says -----------------------------------------------


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b"", b"\xff\xfe"])
def test_2xx_body_that_is_not_json_is_invalid_response(server: HTTPServer, client: Any, body: bytes) -> None:
    server.expect_request("/v2/functions/f/run-token").respond_with_data(body, status=200)
    with pytest.raises(InvalidResponseError, match="not JSON"):
        client.create_run_token("f", {})


def test_redirects_are_not_followed(server: HTTPServer, client: Any) -> None:
    server.expect_request("/v2/relay-outbound").respond_with_data(
        "", status=302, headers={"Location": server.url_for("/elsewhere")}
    )
    with pytest.raises(ApiError) as caught:
        client.fetch_relay_outbound_config()
    assert caught.value.status_code == 302
    assert len(recorded(server)) == 1


def test_gzip_responses_are_decoded(server: HTTPServer, client: Any) -> None:
    import gzip

    body = gzip.compress(json.dumps({"token": "zipped"}).encode())
    server.expect_request("/v2/functions/f/run-token").respond_with_data(
        body, headers={"Content-Encoding": "gzip"}, content_type="application/json"
    )
    assert client.create_run_token("f") == {"token": "zipped"}
