"""Interpret API responses (pure): errors first, then the success body of each operation."""

from __future__ import annotations

import json
from typing import Any

from evervault.domain.errors import (
    FunctionError,
    FunctionRuntimeError,
    InvalidResponseError,
)
from evervault.domain.keys import AppKeys
from evervault.domain.relay import RelayOutboundConfig, parse_relay_outbound_config
from evervault.ports.http import HttpResponse
from evervault.services.http_errors import error_for_response

RUN_SUCCESS_STATUSES = ("success", "scheduled")


def checked(response: HttpResponse) -> HttpResponse:
    """``response`` if it is a 2xx; otherwise raise its typed error."""
    if not response.is_success:
        raise error_for_response(response)
    return response


def json_body(response: HttpResponse) -> Any:
    """The parsed JSON of a 2xx response, or :class:`InvalidResponseError`."""
    body = checked(response).body
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidResponseError(
            f"The Evervault API answered {response.status} with a body that is not JSON "
            f"({len(body)} bytes); check that EV_API_URL points to the Evervault API.",
            status_code=response.status,
        ) from None


def json_object(response: HttpResponse) -> dict[str, Any]:
    body = json_body(response)
    if not isinstance(body, dict):
        raise InvalidResponseError(
            f"The Evervault API answered with JSON {type(body).__name__} where an object was "
            "expected; check that EV_API_URL points to the Evervault API.",
            status_code=response.status,
        )
    return body


def app_keys(response: HttpResponse) -> AppKeys:
    return AppKeys.from_json(json_object(response))


def decrypted_json(response: HttpResponse) -> Any:
    body = json_object(response)
    if "data" not in body:
        raise InvalidResponseError(
            "The decrypt response has no 'data' field; check that EV_API_URL points to the "
            "Evervault API.",
            status_code=response.status,
        )
    return body["data"]


def decrypted_bytes(response: HttpResponse) -> bytes:
    # Always bytes: the published SDK's guess at a charset could turn files into str.
    return checked(response).body


def function_run_result(response: HttpResponse) -> dict[str, Any]:
    """The run body for ``success``/``scheduled``; the Function's failure as an error otherwise."""
    body = json_object(response)
    if body.get("status") in RUN_SUCCESS_STATUSES:
        return body
    error = body.get("error")
    if isinstance(error, dict):
        raise FunctionRuntimeError(
            _text(error.get("message")) or "The Function run failed without a message.",
            _text(error.get("stack")),
            _text(body.get("id")),
            status_code=response.status,
        )
    raise FunctionError(
        f"The Function run ended with status {body.get('status')!r} and no error details; "
        "check the run in the Evervault dashboard or contact Evervault support.",
        status_code=response.status,
    )


def relay_outbound_config(response: HttpResponse) -> RelayOutboundConfig:
    return parse_relay_outbound_config(json_object(response), response.header("X-Poll-Interval"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
