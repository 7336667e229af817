"""Every error answer of the emulator, in the real API's Problem-JSON shape (docs/protocol.md §7.4).

``{"status": 401, "code": "unauthorized", "title": "Unauthorized", "detail": "..."}`` with
``Content-Type: application/problem+json``. Handlers raise typed errors
(:class:`~evervault.domain.errors.ApiError` with ``status_code`` and ``code``, or a
:class:`~evervault.domain.errors.CiphertextError`); :func:`problem_middleware` turns
them, aiohttp's own HTTP errors (unknown path, wrong method, body too large) and any
unexpected exception into such an answer. An unexpected exception is logged and
answered 500 without details: never a traceback on the wire, never a crash.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from evervault.domain.errors import (
    ApiError,
    BadRequestError,
    CiphertextError,
    InvalidArgumentError,
    NotFoundError,
)

logger = logging.getLogger("evervault.local")

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Codes of aiohttp's own HTTP errors, named like the real API's codes.
_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable-content",
    429: "too-many-requests",
    500: "internal-server-error",
}

_DETAILS = {
    404: "No such endpoint; check the path (the API URL must end with '/').",
    405: "This endpoint does not accept that HTTP method.",
    413: (
        "The request body is larger than the emulator's limit "
        "(serve --max-body-bytes, or --max-file-bytes for files)."
    ),
}

UNAUTHORIZED_DETAIL = "The request cannot be authenticated."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bad_request(detail: str) -> BadRequestError:
    return BadRequestError(detail, status_code=400, code="bad-request")


def not_found(detail: str) -> NotFoundError:
    return NotFoundError(detail, status_code=404, code="not-found")


def problem(
    status: int, code: str | None, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A Problem-JSON response."""
    body = {
        "status": status,
        "code": code or _CODES.get(status, "error"),
        "title": _title(status),
        "detail": detail,
    }
    return web.Response(
        status=status,
        body=json.dumps(body).encode("utf-8"),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _title(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        status = error.status_code or 500
        return problem(status, error.code, error.message or _title(status))
    except CiphertextError as error:
        # The messages of ciphertext errors name formats and lengths, never plaintext.
        return problem(422, "unprocessable-content", error.message or "The data cannot be decrypted.")
    except InvalidArgumentError as error:
        return problem(400, "bad-request", error.message or "The request is not valid.")
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects and other non-errors keep aiohttp's own response
        return _from_http_exception(error)
    except asyncio.CancelledError:
        raise
    except ConnectionResetError as error:
        # The client went away mid-request (aiohttp: "Connection lost"): routine, not a fault
        # of the emulator. One line, no traceback; the answer below reaches no one.
        logger.info(
            "Client disconnected during %s %s (%s)", request.method, request.path, type(error).__name__
        )
        return problem(400, "bad-request", "The client disconnected before the request completed.")
    except Exception:
        # Logged with the traceback for whoever runs the emulator; the client sees nothing of it.
        logger.exception("Unexpected error handling %s %s", request.method, request.path)
        return problem(500, "internal-server-error", "The emulator failed unexpectedly; see its log.")


def _from_http_exception(error: web.HTTPException) -> web.Response:
    status = error.status
    headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    detail = _DETAILS.get(status) or error.reason or _title(status)
    return problem(status, None, detail, headers)
