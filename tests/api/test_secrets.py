"""The API key never shows up in reprs, error messages or logs."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from evervault import AsyncClient, Client, ConfigurationError, EvervaultError, RetryPolicy
from evervault.services.config import ClientConfig
from evervault.services.operations import OperationPlans, requests_for
from tests.api.api_support import API_KEY, APP_ID

SECRET_MARKERS = (API_KEY, "TOPSECRETVALUE", base64.b64encode(f"{APP_ID}:{API_KEY}".encode()).decode())


def assert_no_secret(text: str) -> None:
    for marker in SECRET_MARKERS:
        assert marker not in text


def test_reprs_show_the_app_id_only() -> None:
    client = Client(APP_ID, API_KEY, environ={})
    async_client = AsyncClient(APP_ID, API_KEY, environ={})
    config = ClientConfig.build(APP_ID, API_KEY, environ={})
    plans = OperationPlans(config)
    texts = [repr(client), str(client), repr(async_client), repr(config), repr(plans)]
    texts.append(repr(requests_for(config)))
    texts += [repr(plans.decrypt("ev:abc")), repr(plans.app_keys()), repr(plans.run_token("fn", {}))]
    for text in texts:
        assert_no_secret(text)
    assert APP_ID in repr(client) and APP_ID in repr(async_client)


@pytest.mark.parametrize("bad_key", [f"{API_KEY}\n", "\r" + API_KEY])
def test_invalid_api_key_message_does_not_echo_it(bad_key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client(APP_ID, bad_key, environ={})
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 422, 429, 500, 503])
def test_api_errors_and_logs_carry_no_secret(
    server: HTTPServer, make_client: Any, client_kind: str, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    server.expect_request("/cages/key").respond_with_data("nope", status=status)
    server.expect_request("/decrypt").respond_with_data("", status=status)
    server.expect_request("/functions/f/runs").respond_with_data("", status=status)
    client = make_client(retry=RetryPolicy(max_retries=1, base_delay=0.0), **_no_sleep(client_kind))
    caught: list[EvervaultError] = []
    with caplog.at_level(logging.DEBUG):
        for call in (
            lambda: client.encrypt("x"),
            lambda: client.decrypt("ev:x"),
            lambda: client.run("f", {}),
        ):
            with pytest.raises(EvervaultError) as error:
                call()
            caught.append(error.value)
    for error in caught:
        assert_no_secret(f"{error} {error!r} {error.message} {error.context}")
    assert caplog.records, "expected debug/retry log lines"
    for record in caplog.records:
        assert_no_secret(record.getMessage())


def test_transport_errors_carry_no_secret(make_client: Any) -> None:
    client = make_client(base_url="http://127.0.0.1:9/")  # discard port: nothing listens
    with pytest.raises(EvervaultError) as caught:
        client.create_run_token("f", {"x": 1})
    assert_no_secret(f"{caught.value} {caught.value!r}")


def _no_sleep(client_kind: str) -> dict[str, Any]:
    async def async_sleep(_: float) -> None:
        return None

    return {"sleep": (lambda _: None) if client_kind == "sync" else async_sleep}
