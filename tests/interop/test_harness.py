"""The published-SDK harness itself: value codec, job errors, venv errors, non-encrypt calls."""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import Request, Response

from evervault.domain.curves import Curve
from evervault.domain.decryption import Decryptor
from tests.interop.corpus import corpus, is_json_document
from tests.interop.interop_app import API_KEY, APP_ID, KeyEndpoint
from tests.interop.typed_values import typed_form
from tests.support import published_sdk_driver as driver
from tests.support.published_sdk import (
    PYTHON_OVERRIDE_ENV,
    PublishedSdkCallError,
    PublishedSdkDriverError,
    PublishedSdkUnavailableError,
    SdkCall,
    SdkResult,
    decrypt_call,
    encrypt_call,
    locate_published_sdk_python,
    run_published_sdk,
)

# --- codec -----------------------------------------------------------------------------------

_hashables = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=16)
)
_values = st.recursive(
    st.one_of(_hashables, st.binary(max_size=64).map(bytearray)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.frozensets(_hashables, max_size=4),
        st.sets(_hashables, max_size=4),
        st.dictionaries(_hashables, children, max_size=4),
    ),
    max_leaves=16,
)


@settings(max_examples=150)
@given(_values)
def test_codec_round_trips_through_json_with_types(value: Any) -> None:
    wire = json.dumps(driver.encode_value(value))
    decoded = driver.decode_value(json.loads(wire))
    assert typed_form(decoded) == typed_form(value)


@pytest.mark.parametrize("value", [-0.0, math.nan, 10**40, True, 1, b"\x00\xff", {1: "a", "1": "b"}])
def test_codec_keeps_what_plain_json_loses(value: Any) -> None:
    decoded = driver.decode_value(json.loads(json.dumps(driver.encode_value(value))))
    assert typed_form(decoded) == typed_form(value)


def test_codec_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="complex"):
        driver.encode_value(1j)


@pytest.mark.parametrize(
    "node",
    [
        "plain",
        {"$": "mystery", "v": 1},
        {"$": "int", "v": 5},
        {"$": "bool", "v": 1},
        {"$": "bytes", "v": "not base64!"},
        {"$": "dict", "v": [[{"$": "str", "v": "k"}]]},
        {"$": "list", "v": "abc"},
    ],
)
def test_codec_rejects_malformed_nodes(node: Any) -> None:
    with pytest.raises(ValueError):
        driver.decode_value(node)


BINARY = b"\x00\x01binary\xff"


def on_p256(endpoint: KeyEndpoint, *items: SdkCall) -> list[SdkResult]:
    return run_published_sdk(
        api_url=endpoint.api_url, app_id=APP_ID, api_key=API_KEY, curve=Curve.P256, items=items
    )


# --- the driver's job errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        ("not json", "Expecting value"),
        ("[]", "JSON object"),
        ('{"protocol": 99, "calls": []}', "unsupported protocol"),
        ('{"protocol": 1}', "no 'calls' list"),
        ('{"protocol": 1, "calls": [{"op": "format_disk"}]}', "no known 'op'"),
        ('{"protocol": 1, "calls": [{"op": "encrypt", "args": {"value": 3}}]}', "not a tagged value"),
    ],
)
def test_driver_rejects_unusable_jobs_before_touching_the_sdk(job: str, reason: str) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    assert driver.main(io.StringIO(job), stdout, stderr) == 2
    assert stdout.getvalue() == ""
    assert reason in stderr.getvalue()
    assert sys.stdout is not stderr  # the driver restored stdout


@pytest.mark.interop
def test_harness_reports_a_failed_driver_run(key_endpoint: KeyEndpoint) -> None:
    with pytest.raises(PublishedSdkDriverError, match="no known 'op'"):
        on_p256(key_endpoint, SdkCall("format_disk"))


def test_harness_insists_on_a_trailing_slash() -> None:
    with pytest.raises(ValueError, match="end with '/'"):
        run_published_sdk(
            api_url="http://127.0.0.1:1", app_id=APP_ID, api_key=API_KEY, curve="p256", items=()
        )


# --- the virtualenv ------------------------------------------------------------------------------


@pytest.mark.parametrize("python", ["/nonexistent/bin/python", sys.executable])
def test_an_unusable_override_interpreter_is_a_clear_error(python: str, tmp_path: Path) -> None:
    with pytest.raises(PublishedSdkUnavailableError) as raised:
        locate_published_sdk_python(python, tmp_path / "unused-venv")
    message = str(raised.value)
    assert "evervault==5.1.3" in message and PYTHON_OVERRIDE_ENV in message
    assert not (tmp_path / "unused-venv").exists()


@pytest.mark.interop
def test_an_existing_venv_is_reused(published_sdk: Path) -> None:
    assert locate_published_sdk_python(None, published_sdk.parent.parent) == published_sdk


# --- calls beyond encrypt --------------------------------------------------------------------------


def decrypt_endpoint(decryptor: Decryptor, seen: list[Request]) -> Callable[[Request], Response]:
    """A ``POST /decrypt`` backed by our Decryptor, shaped like the real API (docs/protocol.md §7.3.2)."""

    def handle(request: Request) -> Response:
        seen.append(request)
        if request.content_type == "application/octet-stream":
            plain = decryptor.decrypt_file(request.get_data()).data
            return Response(plain, content_type="application/octet-stream")
        body = {"data": decryptor.decrypt(request.get_json()["data"])}
        return Response(json.dumps(body), content_type="application/json")

    return handle


@pytest.mark.interop
def test_published_sdk_decrypt_call_against_a_server(key_endpoint: KeyEndpoint, decryptor: Decryptor) -> None:
    seen: list[Request] = []
    key_endpoint.server.expect_request("/decrypt", method="POST").respond_with_handler(
        decrypt_endpoint(decryptor, seen)
    )
    document = {"card": "4242 4242 4242 4242", "cvv": 123, "ok": True, "tags": ["x", 2.5]}
    encryptions = on_p256(key_endpoint, encrypt_call(document), encrypt_call(BINARY))
    encrypted, file = (result.unwrap() for result in encryptions)
    decrypted, decrypted_file, refused = on_p256(
        key_endpoint, decrypt_call(encrypted), decrypt_call(file), decrypt_call(3.5)
    )
    assert typed_form(decrypted.unwrap()) == typed_form(document)
    assert decrypted_file.unwrap() in (BINARY, BINARY.decode("latin-1"))  # see docs/protocol.md §9.11
    with pytest.raises(PublishedSdkCallError, match="must be of type"):
        refused.unwrap()
    basic = "Basic " + base64.b64encode(f"{APP_ID}:{API_KEY}".encode()).decode("ascii")
    assert [request.headers.get("Authorization") for request in seen] == [basic, basic]


def test_the_json_subset_of_the_corpus_survives_json() -> None:
    documents = [case.value for case in corpus(Curve.P256) if is_json_document(case.value)]
    assert len(documents) > len(corpus(Curve.P256)) // 2
    for document in documents:
        assert typed_form(json.loads(json.dumps(document))) == typed_form(document)
