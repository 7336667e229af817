"""One access-log line per request, at INFO on the ``evervault.local.access`` logger.

    GET /cages/key 200 1.2ms key=3f2a9c0d1e4b5a69

The line holds the method, the path (never the query string), the status, the time spent
in milliseconds and the id of the API key used (the ``<id>`` segment of an
``ev:key:1:<id>:<app hash>:<secret>`` key; ``key=token`` for client-side and run tokens,
``key=-`` without a credential). Secrets, headers and bodies are never logged.
``evervault-local --log-level info serve`` shows these lines on stderr.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

ACCESS_LOGGER = "evervault.local.access"
logger = logging.getLogger(ACCESS_LOGGER)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEY_ID = re.compile(r"^[0-9a-f]{1,32}$")
_MAX_LOGGED_PATH = 200


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: it sees the final status, Problem JSON answers included."""
    if not logger.isEnabledFor(logging.INFO):
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s %d %.1fms key=%s",
            request.method,
            _printable(request.path),
            status,
            elapsed_ms,
            key_id_of(request),
        )


def key_id_of(request: web.Request) -> str:
    """The presented API key's id (not secret), ``token`` for tokens, ``-`` for none."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            return _id_from_basic(value.strip())
        return "token" if scheme.lower() in {"token", "runtoken"} else "-"
    api_key = request.headers.get("Api-Key")
    return "-" if api_key is None else _id_from_key(api_key.strip())


def _id_from_basic(encoded: str) -> str:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return _id_from_key(decoded.partition(":")[2])


def _id_from_key(key: str) -> str:
    # Only the id segment, and only when it looks like one: whatever else was sent
    # (perhaps a secret pasted in the wrong place) never reaches the log.
    parts = key.split(":")
    if len(parts) == 6 and parts[0] == "ev" and parts[1] == "key" and _KEY_ID.match(parts[3]):
        return parts[3]
    return "-"


def _printable(path: str) -> str:
    # A path is client-controlled: no control characters (log injection), bounded length.
    cleaned = "".join(c if c.isprintable() else "?" for c in path)
    return cleaned if len(cleaned) <= _MAX_LOGGED_PATH else cleaned[:_MAX_LOGGED_PATH] + "..."
