"""What the relay proxy does to an intercepted request, tested without sockets."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote, urlencode

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.adapters.system import default_encryptor
from evervault.domain.curves import Curve, compressed_point
from evervault.local.relay_decryption import decrypt_body, decrypt_request, substitute_tokens

from .conftest import AppKeys

OTHER_APP_KEY = ec.generate_private_key(ec.SECP256K1())
OTHER_APP = default_encryptor(Curve.SECP256K1, compressed_point(OTHER_APP_KEY.public_key()))


def test_json_is_decrypted_deeply_with_typed_values(app_keys: AppKeys) -> None:
    encrypted = app_keys.encryptor.encrypt({"a": [1, 2.5, True, "x"], "b": {"c": "deep"}})
    body = json.dumps({"doc": encrypted, "plain": "ev:not-really:$"}).encode()
    decrypted = json.loads(decrypt_body(app_keys.decryptor, "application/json; charset=utf-8", body))
    assert decrypted == {"doc": {"a": [1, 2.5, True, "x"], "b": {"c": "deep"}}, "plain": "ev:not-really:$"}


def test_values_of_another_app_and_unrelated_bodies_are_left_alone(app_keys: AppKeys) -> None:
    foreign = OTHER_APP.encrypt("theirs")
    body = json.dumps({"v": foreign}).encode()
    assert decrypt_body(app_keys.decryptor, "application/json", body) == body
    assert decrypt_body(app_keys.decryptor, "text/plain", b"nothing here") == b"nothing here"
    binary = b"\xff\xfe" + app_keys.encryptor.encrypt("x").encode()
    assert decrypt_body(app_keys.decryptor, "application/octet-stream", binary) == binary


def test_invalid_json_falls_back_to_text_replacement(app_keys: AppKeys) -> None:
    secret = app_keys.encryptor.encrypt("value")
    assert (
        decrypt_body(app_keys.decryptor, "application/json", f"{{broken {secret}".encode())
        == b"{broken value"
    )


def test_request_framing_is_rebuilt_and_hop_by_hop_headers_dropped(app_keys: AppKeys) -> None:
    secret = app_keys.encryptor.encrypt("longer plaintext than before? no, shorter")
    headers = [
        (b"host", b"api.example.com"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"999"),
        (b"proxy-authorization", b"key"),
        (b"connection", b"keep-alive"),
        (b"x-token", secret.encode()),
    ]
    forwarded, body = decrypt_request(app_keys.decryptor, headers, secret.encode())
    assert body == b"longer plaintext than before? no, shorter"
    assert forwarded == [
        (b"host", b"api.example.com"),
        (b"content-type", b"text/plain"),
        (b"x-token", body),
        (b"content-length", str(len(body)).encode()),
    ]
    empty_post, _ = decrypt_request(app_keys.decryptor, [(b"content-length", b"0")], b"")
    assert empty_post == [(b"content-length", b"0")]
    get, _ = decrypt_request(app_keys.decryptor, [(b"host", b"h")], b"")
    assert get == [(b"host", b"h")]


texts = st.text(min_size=0, max_size=40)


@settings(max_examples=40, deadline=None)
@given(plaintext=texts, before=texts, after=texts)
def test_text_substitution_round_trips_literal_and_percent_encoded_values(
    app_keys: AppKeys, plaintext: str, before: str, after: str
) -> None:
    secret = app_keys.encryptor.encrypt(plaintext)
    literal = f"{before} {secret} {after}".encode()
    assert substitute_tokens(app_keys.decryptor, literal) == f"{before} {plaintext} {after}".encode()
    encoded = f"q={quote(secret, safe='')}&r=1".encode()
    assert substitute_tokens(app_keys.decryptor, encoded) == f"q={quote(plaintext, safe='')}&r=1".encode()


@settings(max_examples=40, deadline=None)
@given(values=st.dictionaries(st.text(min_size=1, max_size=8), texts, max_size=4))
def test_form_bodies_round_trip(app_keys: AppKeys, values: dict[str, str]) -> None:
    body = urlencode({key: app_keys.encryptor.encrypt(value) for key, value in values.items()}).encode()
    decrypted = decrypt_body(app_keys.decryptor, "application/x-www-form-urlencoded", body)
    assert dict(parse_qsl(decrypted.decode(), keep_blank_values=True)) == values
