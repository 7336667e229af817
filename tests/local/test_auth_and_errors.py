"""Every endpoint's auth paths and every bad-input path, over real HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from evervault.local.state import Permission
from tests.local.conftest import Api, ApiFactory, assert_problem

# (method, path, scheme the endpoint wants, permissions it needs, a valid JSON body)
ENDPOINTS: list[tuple[str, str, str, tuple[Permission, ...], Any]] = [
    ("GET", "cages/key", "api-key", (), None),
    ("POST", "decrypt", "basic", (Permission.DECRYPT,), {"data": "plain"}),
    (
        "POST",
        "client-side-tokens",
        "basic",
        # A token decrypts: minting one needs the decrypt permission too.
        (Permission.CREATE_TOKENS, Permission.DECRYPT),
        {"payload": "x", "expiry": None},
    ),
    ("POST", "functions/hello/runs", "basic", (Permission.RUN_FUNCTION,), {"payload": {"a": 1}}),
    ("POST", "v2/functions/hello/run-token", "api-key", (Permission.CREATE_RUN_TOKEN,), {"a": 1}),
    ("GET", "v2/relay-outbound", "api-key", (), None),
    ("POST", "run/hello", "api-key", (Permission.RUN_FUNCTION,), {"a": 1}),
    ("GET", "_local/relay-destinations", "api-key", (), None),
    ("PUT", "_local/relay-destinations", "api-key", (), {"destinations": []}),
    ("POST", "_local/api-keys", "api-key", (), {"permissions": ["decrypt"]}),
]
IDS = [f"{method} {path}" for method, path, *_ in ENDPOINTS]


def _right_auth(api: Api, scheme: str, key: str | None = None) -> dict[str, str]:
    return api.basic(key) if scheme == "basic" else api.api_key_header(key)


def _wrong_scheme(api: Api, scheme: str) -> dict[str, str]:
    return api.api_key_header() if scheme == "basic" else api.basic()


@pytest.mark.parametrize(("method", "path", "scheme", "permissions", "body"), ENDPOINTS, ids=IDS)
async def test_each_endpoint_accepts_its_own_scheme(
    api: Api, method: str, path: str, scheme: str, permissions: tuple[Permission, ...], body: object
) -> None:
    reply = await api.call(method, path, headers=_right_auth(api, scheme), json_body=body)
    assert reply.status in (200, 201), reply.body


@pytest.mark.parametrize(("method", "path", "scheme", "permissions", "body"), ENDPOINTS, ids=IDS)
async def test_missing_credentials_are_401(
    api: Api, method: str, path: str, scheme: str, permissions: tuple[Permission, ...], body: object
) -> None:
    problem = assert_problem(await api.call(method, path, json_body=body), 401, "unauthorized")
    assert problem["title"] == "Unauthorized"
    assert problem["detail"].startswith("The request cannot be authenticated.")


@pytest.mark.parametrize(("method", "path", "scheme", "permissions", "body"), ENDPOINTS, ids=IDS)
async def test_wrong_key_is_401_and_never_echoed(
    api: Api, method: str, path: str, scheme: str, permissions: tuple[Permission, ...], body: object
) -> None:
    wrong = api.api_key[:-4] + "AAAA"
    reply = await api.call(method, path, headers=_right_auth(api, scheme, wrong), json_body=body)
    assert_problem(reply, 401, "unauthorized")
    assert wrong.encode() not in reply.body and api.api_key.encode() not in reply.body


@pytest.mark.parametrize(
    ("method", "path", "scheme", "permissions", "body"),
    [e for e in ENDPOINTS if e[1] not in ("client-side-tokens",)],
    ids=[i for i, e in zip(IDS, ENDPOINTS, strict=True) if e[1] != "client-side-tokens"],
)
async def test_the_other_scheme_is_401(
    api: Api, method: str, path: str, scheme: str, permissions: tuple[Permission, ...], body: object
) -> None:
    reply = await api.call(method, path, headers=_wrong_scheme(api, scheme), json_body=body)
    assert_problem(reply, 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path", "scheme", "permissions", "body"),
    [e for e in ENDPOINTS if e[3]],
    ids=[i for i, e in zip(IDS, ENDPOINTS, strict=True) if e[3]],
)
async def test_a_key_without_a_needed_permission_is_403(
    api: Api, method: str, path: str, scheme: str, permissions: tuple[Permission, ...], body: object
) -> None:
    for lacking in permissions:
        limited = api.key_with(*[p for p in Permission if p is not lacking])
        reply = await api.call(method, path, headers=_right_auth(api, scheme, limited), json_body=body)
        problem = assert_problem(reply, 403, "forbidden")
        assert lacking.value in problem["detail"]
    allowed = api.key_with(*permissions)
    reply = await api.call(method, path, headers=_right_auth(api, scheme, allowed), json_body=body)
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("path", ["_local/relay-destinations", "_local/api-keys"])
async def test_admin_endpoints_need_every_permission(api: Api, path: str) -> None:
    limited = api.key_with(Permission.DECRYPT, Permission.RUN_FUNCTION)
    body = {"permissions": ["decrypt"]} if path.endswith("api-keys") else {"destinations": []}
    reply = await api.call(
        "PUT" if "relay" in path else "POST", path, headers=api.api_key_header(limited), json_body=body
    )
    assert_problem(reply, 403, "forbidden")


async def test_basic_auth_with_another_app_id_is_401(api: Api) -> None:
    reply = await api.call(
        "POST", "decrypt", headers=api.basic(app_id="app_000000000000"), json_body={"data": 1}
    )
    assert_problem(reply, 401, "unauthorized")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer abc",
        "Token",
        "",
    ],
)
async def test_malformed_authorization_headers_are_401(api: Api, authorization: str) -> None:
    reply = await api.call("POST", "decrypt", headers={"Authorization": authorization}, json_body={"data": 1})
    assert_problem(reply, 401, "unauthorized")


async def test_keys_not_in_scoped_form_are_401(api: Api) -> None:
    reply = await api.call("GET", "cages/key", headers={"Api-Key": "not-a-scoped-key"})
    assert_problem(reply, 401, "unauthorized")


async def test_client_side_tokens_also_accept_api_key_like_the_go_sdk(api: Api) -> None:
    reply = await api.call(
        "POST", "client-side-tokens", headers=api.api_key_header(), json_body={"payload": 1}
    )
    assert reply.status == 200
    assert set(reply.json()) >= {"token", "expiry", "id", "createdAt"}


# --- bad input -------------------------------------------------------------------------------


async def test_unknown_paths_are_404_problem_json(api: Api) -> None:
    assert_problem(await api.call("GET", "no/such/path"), 404, "not-found")
    assert_problem(await api.call("POST", "v3/decrypt", headers=api.basic(), json_body={}), 404, "not-found")


async def test_wrong_methods_are_405_problem_json(api: Api) -> None:
    reply = await api.call("GET", "decrypt", headers=api.basic())
    assert_problem(reply, 405, "method-not-allowed")
    assert "POST" in reply.headers["Allow"]


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe", b"NaN", b'{"data": Infinity}', b""])
async def test_malformed_json_is_400(api: Api, body: bytes) -> None:
    reply = await api.call("POST", "decrypt", headers=api.basic(), data=body, content_type="application/json")
    assert_problem(reply, 400, "bad-request")


async def test_deeply_nested_json_is_400_not_500(api: Api) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    reply = await api.call("POST", "decrypt", headers=api.basic(), data=deep, content_type="application/json")
    assert_problem(reply, 400, "bad-request")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_wrong_content_types_are_415(api: Api, content_type: str) -> None:
    reply = await api.call(
        "POST", "decrypt", headers=api.basic(), data=b'{"data": 1}', content_type=content_type
    )
    assert_problem(reply, 415, "unsupported-media-type")
    reply = await api.call(
        "POST", "functions/hello/runs", headers=api.basic(), data=b'{"payload": 1}', content_type=content_type
    )
    assert_problem(reply, 415, "unsupported-media-type")


async def test_oversized_bodies_are_413(api_factory: ApiFactory) -> None:
    api = await api_factory(max_body_bytes=1000)
    big = {"data": "x" * 2000}
    assert_problem(
        await api.call("POST", "decrypt", headers=api.basic(), json_body=big), 413, "payload-too-large"
    )
    reply = await api.call(
        "POST",
        "decrypt",
        headers=api.basic(),
        data=b"%EVENC" + bytes(2000),
        content_type="application/octet-stream",
    )
    assert_problem(reply, 413, "payload-too-large")
    # A body just under the limit is fine.
    assert (
        await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": "x" * 900})
    ).status == 200


async def test_oversized_chunked_bodies_are_413(api_factory: ApiFactory) -> None:
    api = await api_factory(max_body_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 200

    async with api.session.post(
        api.url + "decrypt", data=chunks(), headers={**api.basic(), "Content-Type": "application/json"}
    ) as response:
        assert response.status == 413
        assert (await response.json(content_type=None))["code"] == "payload-too-large"


async def test_non_object_bodies_where_objects_are_needed_are_400(api: Api) -> None:
    for path, headers in [
        ("client-side-tokens", api.basic()),
        ("functions/hello/runs", api.basic()),
        ("_local/api-keys", api.api_key_header()),
    ]:
        assert_problem(await api.call("POST", path, headers=headers, json_body=[1, 2]), 400, "bad-request")


async def test_unexpected_errors_are_500_without_details_and_the_server_survives(
    api_factory: ApiFactory,
) -> None:
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("internal secret detail")

    api = await api_factory(extra_routes=lambda app: app.router.add_get("/broken", broken))
    reply = await api.call("GET", "broken")
    problem = assert_problem(reply, 500, "internal-server-error")
    assert "secret" not in json.dumps(problem) and b"Traceback" not in reply.body
    assert (await api.call("GET", "_local/health")).status == 200
