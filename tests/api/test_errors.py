"""Status and Problem-JSON mapping to typed errors, on both clients, against a real server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from evervault import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    EvervaultError,
    ForbiddenError,
    ForbiddenIpError,
    FunctionNotReadyError,
    FunctionTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnprocessableContentError,
)
from evervault.ports.http import Headers, HttpResponse
from evervault.services.http_errors import error_for_response, parse_problem


def problem(status: int, code: str | None = None, detail: str | None = None) -> str:
    body: dict[str, Any] = {"status": status, "title": "t"}
    if code is not None:
        body["code"] = code
    if detail is not None:
        body["detail"] = detail
    return json.dumps(body)


STATUS_CASES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, ForbiddenError),
    (404, NotFoundError),
    (408, FunctionTimeoutError),
    (422, UnprocessableContentError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (504, ServerError),
    (418, ApiError),
]

# Every operation, so the mapping is proven on each call path (not only one).
OPERATIONS = {
    "decrypt": ("/decrypt", lambda c: c.decrypt("ev:RFVC:x:$")),
    "decrypt-bytes": ("/decrypt", lambda c: c.decrypt(b"%EVENC")),
    "token": ("/client-side-tokens", lambda c: c.create_client_side_decrypt_token("ev:x")),
    "run": ("/functions/f/runs", lambda c: c.run("f", {})),
    "run-token": ("/v2/functions/f/run-token", lambda c: c.create_run_token("f")),
    "relay": ("/v2/relay-outbound", lambda c: c.fetch_relay_outbound_config()),
    "keys": ("/cages/key", lambda c: c.encrypt("x")),
}


@pytest.mark.parametrize(("status", "error_class"), STATUS_CASES)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_status_maps_to_typed_error_with_problem_detail(
    server: HTTPServer, client: Any, operation: str, status: int, error_class: type[ApiError]
) -> None:
    path, call = OPERATIONS[operation]
    server.expect_request(path).respond_with_data(
        problem(status, "some-code", "What went wrong."),
        status=status,
        content_type="application/problem+json",
    )
    with pytest.raises(error_class) as caught:
        call(client)
    assert type(caught.value) is error_class
    assert caught.value.message == "What went wrong."
    assert (caught.value.status_code, caught.value.code) == (status, "some-code")


@pytest.mark.parametrize(("status", "error_class"), STATUS_CASES)
@pytest.mark.parametrize("body", ["<html>Bad Gateway</html>", "", "[1, 2]", '{"detail": 5}', "\u00ff"])
def test_unusable_error_bodies_still_give_the_typed_error_with_a_default_message(
    server: HTTPServer, client: Any, status: int, error_class: type[ApiError], body: str
) -> None:
    server.expect_request("/functions/f/runs").respond_with_data(body, status=status)
    with pytest.raises(error_class) as caught:
        client.run("f", {})
    assert type(caught.value) is error_class
    assert caught.value.message
    assert str(status) in caught.value.message


@pytest.mark.parametrize(
    ("status", "code", "headers", "error_class"),
    [
        (403, None, {"x-evervault-error-code": "forbidden-ip-error"}, ForbiddenIpError),
        (403, "functions/forbidden-ip", {}, ForbiddenIpError),
        (403, "decrypt/forbidden", {}, ForbiddenError),
        (408, None, {}, FunctionTimeoutError),
        (504, "functions/request-timeout", {}, FunctionTimeoutError),
        (400, "functions/request-timeout", {}, FunctionTimeoutError),
        (409, "functions/function-not-ready", {}, FunctionNotReadyError),
        (503, "functions/function-not-ready", {}, FunctionNotReadyError),
        (401, "unauthorized", {}, AuthenticationError),
        (422, "unprocessable-content", {}, UnprocessableContentError),
    ],
)
def test_function_and_forbidden_codes(
    server: HTTPServer,
    client: Any,
    status: int,
    code: str | None,
    headers: dict[str, str],
    error_class: type[ApiError],
) -> None:
    server.expect_request("/functions/f/runs").respond_with_data(
        problem(status, code), status=status, headers=headers, content_type="application/problem+json"
    )
    with pytest.raises(error_class) as caught:
        client.run("f", {})
    assert type(caught.value) is error_class
    assert caught.value.message  # a default message when the body has no detail
    assert caught.value.code == code


def test_legacy_message_body_is_used_as_message(server: HTTPServer, client: Any) -> None:
    server.expect_request("/v2/functions/f/run-token").respond_with_json(
        {"message": "Legacy failure", "statusCode": 418}, status=418
    )
    with pytest.raises(ApiError, match="Legacy failure"):
        client.create_run_token("f")


def test_default_messages_say_what_to_do() -> None:
    for status, error_class in STATUS_CASES:
        error = error_for_response(HttpResponse(status=status, body=b""))
        assert isinstance(error, error_class)
        assert error.message is not None and len(error.message) > 30


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(min_value=300, max_value=599), body=st.binary(max_size=200), code=st.text(max_size=30)
)
def test_any_error_response_maps_to_an_api_error_and_never_crashes(
    status: int, body: bytes, code: str
) -> None:
    for candidate in (body, json.dumps({"code": code, "detail": code}).encode()):
        response = HttpResponse(
            status=status, headers=Headers({"x-evervault-error-code": code}), body=candidate
        )
        error = error_for_response(response)
        assert isinstance(error, ApiError) and isinstance(error, EvervaultError)
        assert error.status_code == status
        assert error.message


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=10,
    )
)
def test_problem_parsing_accepts_any_json_shape(value: Any) -> None:
    parsed = parse_problem(json.dumps(value).encode())
    assert parsed.code is None or isinstance(parsed.code, str)
    assert parsed.detail is None or isinstance(parsed.detail, str)
