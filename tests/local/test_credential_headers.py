"""Credential headers, byte for byte: any Api-Key or Authorization is a 4xx Problem JSON, never a 500.

Sent over a plain socket, because HTTP clients refuse to send most of these bytes. The one
exception to Problem JSON: control characters, which aiohttp's HTTP parser refuses with a
bare 400 before the request reaches the emulator.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions
from tests.local.raw_http import RawReply, assert_problem_json, raw_request

# (method, path, body): endpoints with each authentication scheme.
ENDPOINTS = [
    ("GET", "cages/key", b""),
    ("POST", "decrypt", b'{"data": "x"}'),
    ("POST", "client-side-tokens", b'{"payload": "x"}'),
    ("POST", "functions/hello/runs", b'{"payload": {}}'),
    ("POST", "v2/functions/hello/run-token", b"{}"),
    ("PUT", "_local/relay-destinations", b'{"destinations": []}'),
]
# Bytes aiohttp's parser refuses in a header value (HTAB is allowed; CR and LF end the line).
CONTROL_BYTES = frozenset([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorInfo]:
    with BackgroundEmulator(EmulatorOptions(relay_proxy=False)) as info:
        yield info


def send(info: EmulatorInfo, endpoint: tuple[str, str, bytes], header_lines: list[bytes]) -> RawReply:
    method, path, body = endpoint
    return raw_request(info.api_url, method, path, header_lines, body)


def basic_of(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


HEADER_VALUES = st.one_of(
    st.binary(max_size=60),
    st.binary(max_size=40).map(lambda junk: b"ev:key:1:key_x:abc123:" + junk),  # a key's shape
    st.binary(max_size=40).map(lambda junk: b"Basic " + junk),
    st.binary(max_size=40).map(basic_of),
    st.binary(max_size=30).map(lambda junk: basic_of(b"app_x:" + junk)),
    st.sampled_from([b"Token ", b"RunToken ", b"Bearer ", b"Digest "]).flatmap(
        lambda scheme: st.binary(max_size=30).map(lambda junk: scheme + junk)
    ),
).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    names=st.sampled_from([[b"Api-Key"], [b"Authorization"], [b"Authorization", b"Api-Key"]]),
    value=HEADER_VALUES,
)
def test_any_credential_header_bytes_get_a_4xx_problem_never_a_500(
    emulator: EmulatorInfo, endpoint: tuple[str, str, bytes], names: list[bytes], value: bytes
) -> None:
    reply = send(emulator, endpoint, [name + b": " + value for name in names])
    assert reply.status < 500, reply.body
    if CONTROL_BYTES.intersection(value.strip(b" \t")):
        assert reply.status == 400  # refused by the HTTP parser itself
        return
    problem = assert_problem_json(reply, (400, 401, 403))
    if reply.status == 401:  # names the scheme expected, or says the (well-formed) key is wrong
        detail = problem["detail"].lower()
        assert any(word in detail for word in ("api-key", "basic", "token", "api key is not"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Api-Key: ev:key:1:key_x:abc123:\xff\xfe", "Api-Key"),
        (b"Api-Key: \xc3\xa9", "Api-Key"),
        (b"Authorization: Basic \xc3\xa9", "Basic"),
        (b"Authorization: " + basic_of(b"app_\xff:key"), "Basic"),
        (b"Authorization: RunToken \xe2\x82\xac", "RunToken"),
    ],
)
def test_non_ascii_credentials_are_401_naming_the_scheme(
    emulator: EmulatorInfo, header: bytes, expected: str
) -> None:
    path = "functions/hello/runs" if b"RunToken" in header else "cages/key"
    method, body = ("POST", b'{"payload": {}}') if b"RunToken" in header else ("GET", b"")
    problem = assert_problem_json(raw_request(emulator.api_url, method, path, [header], body), (401,))
    assert expected in problem["detail"]


def test_a_bearer_token_next_to_a_valid_api_key_is_refused_clearly(emulator: EmulatorInfo) -> None:
    headers = [b"Authorization: Bearer abc", b"Api-Key: " + emulator.api_key.encode()]
    problem = assert_problem_json(raw_request(emulator.api_url, "GET", "cages/key", headers), (401,))
    detail = problem["detail"]
    # Says what was wrong (Bearer is no Evervault scheme; two credentials were sent) and what to send.
    assert "'Bearer'" in detail and "both" in detail and "'Api-Key' header" in detail
    assert emulator.api_key not in detail


def test_the_same_valid_api_key_alone_is_accepted(emulator: EmulatorInfo) -> None:
    reply = raw_request(emulator.api_url, "GET", "cages/key", [b"Api-Key: " + emulator.api_key.encode()])
    assert reply.status == 200


@pytest.mark.parametrize("version", ["\u00b2", "\u0663", "\uff11", "1.0", "-1", "1 2", "", "0x1"])
def test_a_version_id_that_is_not_ascii_digits_is_400(emulator: EmulatorInfo, version: str) -> None:
    header = b"x-version-id: " + version.encode("utf-8")
    auth = b"Api-Key: " + emulator.api_key.encode()
    reply = raw_request(emulator.api_url, "POST", "run/hello", [auth, header], b"{}")
    problem = assert_problem_json(reply, (400,))
    assert "x-version-id" in problem["detail"]


def test_a_version_id_of_ascii_digits_is_accepted(emulator: EmulatorInfo) -> None:
    auth = b"Api-Key: " + emulator.api_key.encode()
    reply = raw_request(emulator.api_url, "POST", "run/hello", [auth, b"x-version-id: 12"], b"{}")
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    "header", [b"Authorization: hunter2", b"Authorization: sk_live_abc def", b"Api-Key: \xffhunter2"]
)
def test_an_unreadable_credential_is_never_echoed_back(emulator: EmulatorInfo, header: bytes) -> None:
    problem = assert_problem_json(raw_request(emulator.api_url, "GET", "cages/key", [header]), (401,))
    assert "hunter2" not in problem["detail"] and "sk_live" not in problem["detail"]
