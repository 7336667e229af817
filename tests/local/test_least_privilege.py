"""No key reads plaintext beyond its permission: the default Functions return none of it.

A key limited to ``run-function``, or to ``create-run-token`` (through a run token), may run
every Function the emulator registers by default; none of their answers may carry anything
derived from the decrypted values. ``echo``, which returns its input, is opt-in only.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.local.cli import build_parser, serve_options
from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions

POLL_SECONDS = 30.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorInfo]:
    # Default options (a temporary data directory, removed on stop), no relay.
    with BackgroundEmulator(EmulatorOptions(relay_proxy=False)) as info:
        yield info


def call(
    info: EmulatorInfo, method: str, path: str, headers: dict[str, str], body: Any = None
) -> urllib3.BaseHTTPResponse:
    sent = {**headers, "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    return urllib3.request(method, info.api_url + path, body=data, headers=sent, retries=False, timeout=60)


def basic(info: EmulatorInfo, key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{info.app_id}:{key}".encode()).decode()}


def minted_key(info: EmulatorInfo, *permissions: str) -> str:
    reply = call(
        info, "POST", "_local/api-keys", {"Api-Key": info.api_key}, {"permissions": list(permissions)}
    )
    assert reply.status == 201, reply.data
    key: str = reply.json()["apiKey"]
    return key


@pytest.fixture(scope="module")
def run_only_key(emulator: EmulatorInfo) -> str:
    return minted_key(emulator, "run-function")


@pytest.fixture(scope="module")
def run_token_only_key(emulator: EmulatorInfo) -> str:
    return minted_key(emulator, "create-run-token")


def every_answer(info: EmulatorInfo, name: str, payload: Any, run_key: str, token_key: str) -> list[bytes]:
    """Each way a limited key can run ``name`` with ``payload``: the bodies it gets back."""
    answers = []
    sync = call(info, "POST", f"functions/{name}/runs", basic(info, run_key), {"payload": payload})
    answers.append(sync.data)
    legacy = call(info, "POST", f"run/{name}", {"Api-Key": run_key}, payload)
    answers.append(legacy.data)
    scheduled = call(
        info, "POST", f"functions/{name}/runs", basic(info, run_key), {"payload": payload, "async": True}
    )
    answers.append(scheduled.data)
    if scheduled.status == 202:
        answers.append(_outcome(info, name, scheduled.json()["id"], run_key))
    token = call(info, "POST", f"v2/functions/{name}/run-token", {"Api-Key": token_key}, payload)
    answers.append(token.data)
    if token.status == 200:
        run_token = {"Authorization": f"RunToken {token.json()['token']}"}
        answers.append(call(info, "POST", f"functions/{name}/runs", run_token, {"payload": payload}).data)
    return answers


def _outcome(info: EmulatorInfo, name: str, run_id: str, key: str) -> bytes:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        reply = call(info, "GET", f"functions/{name}/runs/{run_id}", basic(info, key))
        if reply.json().get("status") != "scheduled" or time.monotonic() > deadline:
            return reply.data
        time.sleep(0.05)


def test_echo_is_not_registered_by_default(emulator: EmulatorInfo, run_only_key: str) -> None:
    assert "echo" not in emulator.functions
    assert set(emulator.functions) == {"hello", "fail", "sleep"}
    reply = call(emulator, "POST", "functions/echo/runs", basic(emulator, run_only_key), {"payload": {}})
    assert reply.status == 404


SECRET_TEXT = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=12, max_size=20)
# 0 to 60 with a fraction: what 'sleep' would honour, so a leak through it would show.
SECRET_NUMBER = st.integers(min_value=1, max_value=59).map(lambda n: n + 0.4375)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=SECRET_TEXT, number=SECRET_NUMBER)
def test_no_default_function_answers_with_anything_of_the_plaintext(
    emulator: EmulatorInfo, run_only_key: str, run_token_only_key: str, text: str, number: float
) -> None:
    with emulator.client() as client:
        payload = client.encrypt({"name": text, "message": text, "seconds": number, "card": [text]})
    for name in emulator.functions:
        for answer in every_answer(emulator, name, payload, run_only_key, run_token_only_key):
            assert text.encode() not in answer, (name, answer)
            assert str(number).encode() not in answer, (name, answer)


def test_hello_shows_it_got_plaintext_by_json_types_only(emulator: EmulatorInfo, run_only_key: str) -> None:
    with emulator.client() as client:
        payload = client.encrypt({"name": "Ada", "age": 36, "admin": True, "tags": ["x"]})
    reply = call(
        emulator, "POST", "functions/hello/runs", basic(emulator, run_only_key), {"payload": payload}
    )
    result = reply.json()["result"]
    assert result["fields"] == {"admin": "boolean", "age": "number", "name": "string", "tags": "array"}
    assert "Ada" not in json.dumps(result)


def test_fail_and_sleep_get_the_payload_as_sent(emulator: EmulatorInfo, run_only_key: str) -> None:
    with emulator.client() as client:
        secret = client.encrypt("card declined")
    failed = call(
        emulator,
        "POST",
        "functions/fail/runs",
        basic(emulator, run_only_key),
        {"payload": {"message": secret}},
    )
    assert failed.json()["error"]["message"] == secret  # the ciphertext, not its plaintext
    plain = call(
        emulator, "POST", "functions/fail/runs", basic(emulator, run_only_key), {"payload": {"message": "no"}}
    )
    assert plain.json()["error"]["message"] == "no"
    slept = call(
        emulator, "POST", "functions/sleep/runs", basic(emulator, run_only_key), {"payload": {"seconds": 0}}
    )
    assert slept.json()["result"] == {"slept": 0.0}


def test_the_unsafe_echo_function_is_opt_in_and_named_so(tmp_path: Any) -> None:
    arguments = build_parser().parse_args(["serve"])
    assert serve_options(arguments).unsafe_echo_function is False
    arguments = build_parser().parse_args(["serve", "--unsafe-echo-function"])
    options = serve_options(arguments)
    assert options.unsafe_echo_function is True
    with BackgroundEmulator(
        EmulatorOptions(data_dir=str(tmp_path), relay_proxy=False, unsafe_echo_function=True)
    ) as info:
        assert "echo" in info.functions
        with info.client() as client:
            assert client.run("echo", client.encrypt({"card": "4242"}))["result"] == {"card": "4242"}
