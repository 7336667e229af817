"""Keys, decryption (JSON and files) and client-side tokens, over real HTTP."""

from __future__ import annotations

import base64

import pytest

from evervault.domain.curves import Curve, load_public_point, uncompressed_point
from evervault.domain.keys import AppKeys
from evervault.local.tokens import DEFAULT_CLIENT_TOKEN_LIFETIME_MS, MAX_CLIENT_TOKEN_LIFETIME_MS
from tests.local.conftest import Api, assert_problem

CURVES = [Curve.SECP256K1, Curve.P256]
DOCUMENT = {
    "name": "Ada",
    "age": 36,
    "ratio": 0.5,
    "admin": False,
    "tags": ["x", 2, True],
    "nested": {"a": {"b": "c"}},
}


async def test_app_keys_shape_matches_the_real_api(api: Api) -> None:
    reply = await api.call("GET", "cages/key", headers=api.api_key_header())
    assert reply.status == 200 and reply.content_type == "application/json"
    body = reply.json()
    assert body["appUuid"] == api.state.app_id and body["teamUuid"] == api.state.team_id
    keys = AppKeys.from_json(body)
    for curve in CURVES:
        expected = api.state.private_keys[curve].public_key()
        assert (
            load_public_point(curve, keys.public_key_for(curve)).public_numbers() == expected.public_numbers()
        )
    assert base64.b64decode(body["ecdhP256KeyUncompressed"]) == uncompressed_point(
        api.state.private_keys[Curve.P256].public_key()
    )
    assert len(body["ecdhKey"]) == 44 and len(body["ecdhP256KeyUncompressed"]) == 88


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.value)
@pytest.mark.parametrize("role", [None, "billing-team"])
async def test_decrypt_mirrors_wrapped_and_bare_documents_with_types(
    api: Api, curve: Curve, role: str | None
) -> None:
    encrypted = api.encrypt(DOCUMENT, curve, role)
    wrapped = await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": encrypted})
    assert wrapped.status == 200 and wrapped.json() == {"data": DOCUMENT}
    bare = await api.call("POST", "decrypt", headers=api.basic(), json_body=encrypted)
    assert bare.json() == DOCUMENT


async def test_plain_values_pass_through_and_strings_decrypt_alone(api: Api) -> None:
    mixed = {"plain": "hello", "n": None, "secret": api.encrypt("s3cret"), "list": [1, api.encrypt(2.5)]}
    reply = await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": mixed})
    assert reply.json() == {"data": {"plain": "hello", "n": None, "secret": "s3cret", "list": [1, 2.5]}}
    single = await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": api.encrypt(True)})
    assert single.json() == {"data": True}


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.value)
async def test_files_decrypt_through_octet_stream(api: Api, curve: Curve) -> None:
    content = bytes(range(256)) * 40
    reply = await api.call(
        "POST",
        "decrypt",
        headers=api.basic(),
        data=api.encrypt(content, curve),
        content_type="application/octet-stream",
    )
    assert reply.status == 200 and reply.content_type == "application/octet-stream"
    assert reply.body == content


async def test_large_files_decrypt_off_the_event_loop(api: Api) -> None:
    content = b"\x00\x01" * 300_000
    reply = await api.call(
        "POST",
        "decrypt",
        headers=api.basic(),
        data=api.encrypt(content),
        content_type="application/octet-stream",
    )
    assert reply.body == content


def _tamper(text: str) -> str:
    head, _, tail = text.rpartition(":$")
    index = len(head) - 3
    flipped = "A" if head[index] != "A" else "B"
    return head[:index] + flipped + head[index + 1 :] + ":$" + tail


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda api: _tamper(api.encrypt("secret")),
        lambda api: "ev:RFVC:not-a-ciphertext:$",
        lambda api: "ev:ZZZZ:abc:def:$",
        lambda api: {"ok": api.encrypt("fine"), "bad": _tamper(api.encrypt(1))},
    ],
    ids=["tampered", "malformed", "unknown-version", "one-bad-field"],
)
async def test_undecryptable_values_are_422(api: Api, make_bad) -> None:  # type: ignore[no-untyped-def]
    reply = await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": make_bad(api)})
    assert_problem(reply, 422, "unprocessable-content")
    assert b"secret" not in reply.body


async def test_a_ciphertext_for_another_app_is_422(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from evervault.adapters.system import default_encryptor
    from evervault.domain.curves import compressed_point
    from evervault.local.state import LocalState

    other = LocalState.load_or_create(tmp_path / "other")
    public = compressed_point(other.private_keys[Curve.SECP256K1].public_key())
    foreign = default_encryptor(Curve.SECP256K1, public).encrypt("not yours")
    assert_problem(
        await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": foreign}),
        422,
        "unprocessable-content",
    )


@pytest.mark.parametrize("body", [b"", b"%EVENC", b"not a file at all", b"%EVENC" + bytes(100)])
async def test_bad_files_are_422(api: Api, body: bytes) -> None:
    reply = await api.call(
        "POST", "decrypt", headers=api.basic(), data=body, content_type="application/octet-stream"
    )
    assert_problem(reply, 422, "unprocessable-content")


async def test_tampered_files_are_422(api: Api) -> None:
    encrypted = bytearray(api.encrypt(b"file contents"))
    encrypted[60] ^= 0x01
    reply = await api.call(
        "POST", "decrypt", headers=api.basic(), data=bytes(encrypted), content_type="application/octet-stream"
    )
    assert_problem(reply, 422, "unprocessable-content")


async def test_decrypted_non_finite_numbers_come_back_as_python_writes_them(api: Api) -> None:
    values = [float("inf"), float("-inf"), float("nan")]
    reply = await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": api.encrypt(values)})
    assert reply.status == 200 and reply.body == b'{"data": [Infinity, -Infinity, NaN]}'


# --- client-side tokens ----------------------------------------------------------------------


async def _token(api: Api, payload: object, expiry: object = None) -> dict[str, object]:
    body = {"payload": payload, "expiry": expiry, "action": "api:decrypt"}
    reply = await api.call("POST", "client-side-tokens", headers=api.basic(), json_body=body)
    assert reply.status == 200, reply.body
    token: dict[str, object] = reply.json()
    return token


def _token_auth(token: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Token {token['token']}"}


async def test_a_client_side_token_decrypts_exactly_its_payload(api: Api) -> None:
    payload = api.encrypt(DOCUMENT)
    token = await _token(api, payload)
    assert str(token["id"]).startswith("client_side_token_")
    assert token["expiry"] == token["createdAt"] + DEFAULT_CLIENT_TOKEN_LIFETIME_MS  # type: ignore[operator]
    reply = await api.call("POST", "decrypt", headers=_token_auth(token), json_body=payload)
    assert reply.status == 200 and reply.json() == DOCUMENT
    # Key order and whitespace do not matter: the payload is compared as canonical JSON.
    reordered = dict(reversed(list(payload.items())))
    assert (
        await api.call("POST", "decrypt", headers=_token_auth(token), json_body=reordered)
    ).json() == DOCUMENT
    # Usable again until it expires.
    assert (await api.call("POST", "decrypt", headers=_token_auth(token), json_body=payload)).status == 200


async def test_a_client_side_token_refuses_other_payloads(api: Api) -> None:
    payload = api.encrypt({"card": "4242"})
    token = await _token(api, payload)
    other = api.encrypt({"card": "5555"})
    assert_problem(
        await api.call("POST", "decrypt", headers=_token_auth(token), json_body=other), 403, "forbidden"
    )
    wrapped = {"data": payload}
    assert_problem(
        await api.call("POST", "decrypt", headers=_token_auth(token), json_body=wrapped), 403, "forbidden"
    )


async def test_a_client_side_token_expires(api: Api) -> None:
    payload = api.encrypt("short-lived")
    expiry = int(api.clock.now * 1000) + 60_000
    token = await _token(api, payload, expiry)
    assert token["expiry"] == expiry
    api.clock.advance(59)
    assert (await api.call("POST", "decrypt", headers=_token_auth(token), json_body=payload)).status == 200
    api.clock.advance(1)
    assert_problem(
        await api.call("POST", "decrypt", headers=_token_auth(token), json_body=payload), 401, "unauthorized"
    )


async def test_unknown_tokens_are_401(api: Api) -> None:
    reply = await api.call("POST", "decrypt", headers={"Authorization": "Token nope"}, json_body="x")
    assert_problem(reply, 401, "unauthorized")


@pytest.mark.parametrize("go_style_expiry", [None, 0])
async def test_missing_expiry_defaults_to_five_minutes(api: Api, go_style_expiry: object) -> None:
    token = await _token(api, "p", go_style_expiry)
    assert token["expiry"] == int(api.clock.now * 1000) + DEFAULT_CLIENT_TOKEN_LIFETIME_MS


@pytest.mark.parametrize(
    ("offset_ms", "action"),
    [(-1, "api:decrypt"), (MAX_CLIENT_TOKEN_LIFETIME_MS + 60_000, "api:decrypt"), (60_000, "decrypt:api")],
    ids=["past", "beyond-10-min", "wrong-action"],
)
async def test_invalid_token_requests_are_400(api: Api, offset_ms: int, action: str) -> None:
    body = {"payload": "p", "expiry": int(api.clock.now * 1000) + offset_ms, "action": action}
    assert_problem(
        await api.call("POST", "client-side-tokens", headers=api.basic(), json_body=body), 400, "bad-request"
    )


@pytest.mark.parametrize("body", [{"expiry": None}, {"payload": None}, {"payload": "p", "expiry": "soon"}])
async def test_token_requests_need_a_payload_and_numeric_expiry(api: Api, body: dict[str, object]) -> None:
    assert_problem(
        await api.call("POST", "client-side-tokens", headers=api.basic(), json_body=body), 400, "bad-request"
    )


async def test_a_token_may_last_exactly_ten_minutes(api: Api) -> None:
    expiry = int(api.clock.now * 1000) + MAX_CLIENT_TOKEN_LIFETIME_MS
    assert (await _token(api, "p", expiry))["expiry"] == expiry
