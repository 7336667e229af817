"""Property: whatever body arrives at any endpoint, the answer is a clear response, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions

ENDPOINTS = [
    ("POST", "decrypt", "basic"),
    ("POST", "client-side-tokens", "basic"),
    ("POST", "functions/hello/runs", "basic"),
    ("POST", "v2/functions/hello/run-token", "api-key"),
    ("POST", "run/hello", "api-key"),
    ("PUT", "_local/relay-destinations", "api-key"),
    ("POST", "_local/api-keys", "api-key"),
]
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(["ev:RFVC:x:$", "ev:Tk9D:number:AAAA:BBBB:CCCC:$", "%EVENC", "api:decrypt"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                ["data", "payload", "expiry", "action", "async", "destinations", "permissions", "x"]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=10,
)
BODIES = st.one_of(
    JSON_VALUES.map(lambda value: (json.dumps(value).encode(), "application/json")),
    st.tuples(
        st.binary(max_size=200),
        st.sampled_from(["application/json", "application/octet-stream", "text/plain"]),
    ),
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorInfo]:
    # Its own data directory: the default temporary one (private keys) would outlive the test.
    options = EmulatorOptions(
        data_dir=str(tmp_path_factory.mktemp("emulator")), relay_proxy=False, max_body_bytes=64 * 1024
    )
    with BackgroundEmulator(options) as info:
        yield info


def _auth(info: EmulatorInfo, scheme: str) -> dict[str, str]:
    if scheme == "api-key":
        return {"Api-Key": info.api_key}
    return urllib3.make_headers(basic_auth=f"{info.app_id}:{info.api_key}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), body=BODIES)
def test_any_body_gets_a_clear_answer(
    emulator: EmulatorInfo, endpoint: tuple[str, str, str], body: Any
) -> None:
    method, path, scheme = endpoint
    data, content_type = body
    response = urllib3.request(
        method,
        emulator.api_url + path,
        body=data,
        headers={**_auth(emulator, scheme), "Content-Type": content_type},
        retries=False,
        timeout=30,
    )
    assert response.status < 500, response.data
    if response.status >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = json.loads(response.data)
        assert problem["status"] == response.status and problem["code"] and problem["detail"]
