"""``EmulatorOptions.middlewares``: harness middlewares see each API request once, after slash merging."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from aiohttp import web

from evervault.local.access_log import access_log_middleware
from evervault.local.paths import merge_slashes_middleware
from evervault.local.problems import problem_middleware
from evervault.local.runner import BackgroundEmulator, EmulatorOptions
from evervault.local.server import Handler, ServerSettings, create_app
from evervault.local.state import LocalState


def test_an_extra_middleware_sees_each_request_once_with_its_merged_path() -> None:
    seen: list[tuple[str, int]] = []

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        seen.append((request.path, response.status))
        return response

    options = EmulatorOptions(relay_proxy=False, sample_functions=False, middlewares=(observe,))
    with BackgroundEmulator(options) as info:  # api_url ends with "/": the path has "//"
        response = urllib.request.urlopen(info.api_url + "/ca.crt", timeout=30)
        with response:
            assert response.status == 200
    assert seen == [("/ca.crt", 200)]


def test_serve_adds_no_middleware_and_extras_sit_inside_slash_merging(tmp_path: Path) -> None:
    @web.middleware
    async def extra(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request)

    state = LocalState.load_or_create(str(tmp_path))
    default = create_app(state, settings=ServerSettings(decrypt_workers=0))
    assert list(default.middlewares) == [merge_slashes_middleware, access_log_middleware, problem_middleware]
    harness = create_app(state, settings=ServerSettings(decrypt_workers=0, middlewares=[extra]))
    assert list(harness.middlewares) == [
        merge_slashes_middleware,
        extra,
        access_log_middleware,
        problem_middleware,
    ]
