"""Other SDKs build URLs as ``EV_API_URL + "/" + path``: with the printed ``api_url``
(trailing slash) that is ``//cages/key``, which the emulator must serve like the hosted API.

The client here is the standard library's urllib, which does not follow a redirect of a
POST: these tests pass only if the emulator answers the double-slash paths directly.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorInfo]:
    with BackgroundEmulator(EmulatorOptions(relay_proxy=False)) as info:
        yield info


def joined_url(info: EmulatorInfo, path: str) -> str:
    """The URL the Node SDK (and others) build: base URL, a '/', then the path."""
    assert info.api_url.endswith("/")
    return info.api_url + "/" + path


def call(url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def basic(info: EmulatorInfo) -> dict[str, str]:
    token = base64.b64encode(f"{info.app_id}:{info.api_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_double_slash_key_fetch_is_served(emulator: EmulatorInfo) -> None:
    status, body = call(joined_url(emulator, "cages/key"), {"Api-Key": emulator.api_key})
    assert status == 200
    assert body["appUuid"] == emulator.app_id


def test_double_slash_post_is_served_with_its_body(emulator: EmulatorInfo) -> None:
    encrypted = emulator.client().encrypt({"card": "4242", "n": 7})
    status, body = call(joined_url(emulator, "decrypt"), basic(emulator), {"data": encrypted})
    assert (status, body) == (200, {"data": {"card": "4242", "n": 7}})


def test_many_slashes_and_path_parameters(emulator: EmulatorInfo) -> None:
    status, body = call(
        emulator.api_url + "//functions///echo//runs", basic(emulator), {"payload": {"a": 1}}
    )
    assert status == 200
    assert body["status"] == "success"


def test_auth_still_applies_after_merging(emulator: EmulatorInfo) -> None:
    status, body = call(joined_url(emulator, "cages/key"), {"Api-Key": "ev:key:1:wrong"})
    assert status == 401
    assert body["code"] == "unauthorized"


def test_unknown_double_slash_path_is_still_a_problem_404(emulator: EmulatorInfo) -> None:
    status, body = call(joined_url(emulator, "no/such/endpoint"), {"Api-Key": emulator.api_key})
    assert status == 404
    assert body["code"] == "not-found"
