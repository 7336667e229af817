"""The harness's request recorder: each request once, merged path, scheme and final status, no secrets."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from evervault.local.conformance.emulator import EmulatorAccess, RecordedRequest, RecordingEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[EmulatorAccess, RecordingEmulator]]:
    recording = RecordingEmulator()
    with recording as access:
        yield access, recording


def send(url: str, headers: dict[str, str], body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def recorded(
    recording: RecordingEmulator, url: str, headers: dict[str, str], body: bytes | None = None
) -> list[RecordedRequest]:
    start = len(recording.recorder)
    send(url, headers, body)
    return recording.recorder.since(start)


def test_a_double_slash_request_is_recorded_once_with_its_merged_path(
    emulator: tuple[EmulatorAccess, RecordingEmulator],
) -> None:
    access, recording = emulator
    requests = recorded(recording, access.api_url + "/cages/key", {"Api-Key": access.api_key})
    assert requests == [RecordedRequest("GET", "/cages/key", "Api-Key", 200)]


def test_refused_requests_are_recorded_with_their_final_status(
    emulator: tuple[EmulatorAccess, RecordingEmulator],
) -> None:
    access, recording = emulator
    wrong = recorded(recording, access.api_url + "cages/key", {"Api-Key": "ev:key:1:not-this-one"})
    assert wrong == [RecordedRequest("GET", "/cages/key", "Api-Key", 401)]
    basic = base64.b64encode(f"{access.app_id}:{access.api_key}".encode()).decode()
    missing = recorded(recording, access.api_url + "nothing/here", {"Authorization": f"Basic {basic}"}, b"{}")
    assert missing == [RecordedRequest("POST", "/nothing/here", "Basic", 404)]
    unknown = recorded(recording, access.api_url + "decrypt", {"Authorization": "Bearer x"}, b"{}")
    assert unknown == [RecordedRequest("POST", "/decrypt", "unrecognised Authorization", 401)]


def test_nothing_secret_is_kept(emulator: tuple[EmulatorAccess, RecordingEmulator]) -> None:
    access, recording = emulator
    requests = recorded(recording, access.api_url + "cages/key", {"Api-Key": access.api_key})
    assert access.api_key not in repr(requests)
