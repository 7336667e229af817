"""Request paths as other Evervault SDKs build them: ``EV_API_URL + "/" + path``.

``serve`` prints its ``api_url`` with a trailing slash (the published Python SDK appends
paths without a separator), so SDKs that add their own separator (Node, and others) ask for
``//cages/key``. The hosted API answers those paths as if the slashes were single, so
the emulator does too: it serves them directly rather than redirecting, because a
redirect would make every client re-send its body (files included) and some HTTP
clients do not follow redirects of a POST at all.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_urldispatcher import SystemRoute

_REPEATED_SLASHES = re.compile(r"//+")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def merge_slashes_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve an unmatched path that has repeated slashes as the same path with single ones.

    Must be the outermost middleware: the merged request goes through the whole
    application again (routing and every middleware) exactly as if it had been sent that way.
    """
    path, separator, query = request.raw_path.partition("?")
    if "//" not in path or not isinstance(request.match_info.route, SystemRoute):
        return await handler(request)
    merged = _REPEATED_SLASHES.sub("/", path) + separator + query
    # Application._handle is aiohttp's own entry point (routing, then the middleware chain).
    return await request.app._handle(request.clone(rel_url=merged))
