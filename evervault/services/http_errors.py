"""Map a non-2xx API response to one typed error (pure).

Precedence: Function error codes (whatever the status) first, then the forbidden-IP
signals, then the status class. The message is the Problem-JSON ``detail`` when the
body has one (legacy bodies: ``message``), else a default that says what to do.
Bodies that are not JSON, or JSON of an unexpected shape, still produce a typed
error: never ``TypeError``/``KeyError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from evervault.domain.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    ForbiddenIpError,
    FunctionNotReadyError,
    FunctionTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnprocessableContentError,
)
from evervault.ports.http import HttpResponse

FORBIDDEN_IP_HEADER = "x-evervault-error-code"
FORBIDDEN_IP_HEADER_VALUE = "forbidden-ip-error"
CODE_FUNCTION_TIMEOUT = "functions/request-timeout"
CODE_FUNCTION_NOT_READY = "functions/function-not-ready"
CODE_FORBIDDEN_IP = "functions/forbidden-ip"

_BY_STATUS: dict[int, tuple[type[ApiError], str]] = {
    400: (BadRequestError, "The Evervault API rejected the request as malformed (400 Bad Request)."),
    401: (
        AuthenticationError,
        "The Evervault API did not accept the credentials (401 Unauthorized); check the App ID "
        "and API key passed to evervault.init().",
    ),
    403: (
        ForbiddenError,
        "The Evervault API refused the operation (403 Forbidden); check that the API key has "
        "the permission this operation needs.",
    ),
    404: (
        NotFoundError,
        "The Evervault API could not find the resource (404 Not Found); check the Function "
        "name and the API URL.",
    ),
    408: (
        FunctionTimeoutError,
        "The request timed out on the Evervault side (408); retry, or make the Function faster.",
    ),
    422: (
        UnprocessableContentError,
        "The Evervault API could not process the data (422), e.g. it cannot decrypt it; check "
        "that it was encrypted for this App.",
    ),
    429: (
        RateLimitError,
        "Too many requests (429 Too Many Requests); slow down or enable retries with "
        "evervault.init(..., retry=True).",
    ),
}

_SERVER_ERROR_DEFAULT = (
    "The Evervault API failed ({status}); retry later, and contact Evervault support if it "
    "persists."
)
_OTHER_DEFAULT = (
    "The Evervault API answered with unexpected status {status}; check the API URL "
    "(EV_API_URL) and contact Evervault support if it persists."
)


@dataclass(frozen=True)
class Problem:
    """The fields of a Problem-JSON (or legacy) error body that the SDK uses."""

    code: str | None = None
    detail: str | None = None


def parse_problem(body: bytes) -> Problem:
    """Extract ``code`` and ``detail``/``message``; anything unparsable gives an empty Problem."""
    try:
        parsed = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return Problem()
    if not isinstance(parsed, dict):
        return Problem()
    code = parsed.get("code")
    detail = parsed.get("detail", parsed.get("message"))
    return Problem(
        code=code if isinstance(code, str) and code else None,
        detail=detail if isinstance(detail, str) and detail.strip() else None,
    )


def error_for_response(response: HttpResponse) -> ApiError:
    """The typed error for a non-2xx ``response``."""
    problem = parse_problem(response.body)
    error_class, default_message = _classify(response, problem)
    return error_class(
        problem.detail or default_message.format(status=response.status),
        status_code=response.status,
        code=problem.code,
    )


def _classify(response: HttpResponse, problem: Problem) -> tuple[type[ApiError], str]:
    if problem.code == CODE_FUNCTION_TIMEOUT:
        return FunctionTimeoutError, "The Function run timed out; make it faster or retry."
    if problem.code == CODE_FUNCTION_NOT_READY:
        return (
            FunctionNotReadyError,
            "The Function is not ready yet (still deploying); retry in a few seconds.",
        )
    if response.status == 403 and _is_forbidden_ip(response, problem):
        return (
            ForbiddenIpError,
            "This machine's IP address is not on the Function's allow-list; add it in the "
            "Evervault dashboard.",
        )
    if response.status in _BY_STATUS:
        return _BY_STATUS[response.status]
    if response.status >= 500:
        return ServerError, _SERVER_ERROR_DEFAULT
    return ApiError, _OTHER_DEFAULT


def _is_forbidden_ip(response: HttpResponse, problem: Problem) -> bool:
    header = (response.header(FORBIDDEN_IP_HEADER) or "").strip().lower()
    return header == FORBIDDEN_IP_HEADER_VALUE or problem.code == CODE_FORBIDDEN_IP
