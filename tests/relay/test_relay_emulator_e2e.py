"""End to end through ``evervault-local serve``: its relay proxy, config endpoint and CA endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from evervault.bootstrap.clients import Client
from evervault.services.relay import enable_outbound_relay
from tests.support.published_sdk import PublishedSdkUnavailableError, published_sdk_python

from .relay_support import echo_url

REPO_ROOT = Path(__file__).resolve().parents[2]
POLL_WAIT = 30.0


@pytest.fixture
def emulator(tmp_path: Path, destination_ca_file: str) -> Iterator[dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "evervault.local",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--relay-destination",
        "localhost",
        "--relay-upstream-ca",
        destination_ca_file,
        "--relay-poll-interval",
        "0.05",
        "--no-sample-functions",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info: dict[str, Any] = json.loads(process.stdout.readline())
        yield info
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_an_app_relays_through_the_emulator_and_follows_its_configuration(
    emulator: dict[str, Any], echo: HTTPServer, destination_ca_file: str
) -> None:
    assert emulator["relay_url"].startswith("https://")
    environment = {
        "EV_API_URL": emulator["api_url"],
        "EV_CERT_HOSTNAME": emulator["ca_url"],
        "EV_TUNNEL_HOSTNAME": emulator["relay_url"],
    }
    with Client(emulator["app_id"], emulator["api_key"], environ=environment) as client:
        secret = client.encrypt({"card": "4242 4242 4242 4242"})
        relay = enable_outbound_relay(client)  # configuration mode: destinations from the emulator

        relayed = requests.post(echo_url(echo), json=secret, timeout=10).json()
        assert json.loads(relayed["body"]) == {"card": "4242 4242 4242 4242"}
        direct = requests.post(
            echo_url(echo, "127.0.0.1"), json=secret, timeout=10, verify=destination_ca_file
        )
        assert json.loads(direct.json()["body"]) == secret

        changed = requests.put(
            emulator["api_url"] + "_local/relay-destinations",
            json={"destinations": ["localhost", "127.0.0.1"]},
            headers={"Api-Key": emulator["api_key"]},
            timeout=10,
        )
        assert changed.status_code == 200
        polls = 0
        while relay.wait_for_polls(polls + 1, 0):
            polls += 1
        assert relay.wait_for_polls(polls + 2, POLL_WAIT)
        assert "127.0.0.1" in relay.policy.domains
        now_relayed = requests.post(echo_url(echo, "127.0.0.1"), json=secret, timeout=10).json()
        assert json.loads(now_relayed["body"]) == {"card": "4242 4242 4242 4242"}


PUBLISHED_SDK_PROBE = """
import json, sys, requests, evervault
app_id, api_key, url, document, domain = sys.argv[1:6]
evervault.init(app_id, api_key)
evervault.enable_outbound_relay(decryption_domains=[domain])
print(json.dumps(requests.post(url, json=json.loads(document), timeout=10).json()))
"""


def test_the_published_sdk_relays_through_the_emulator_with_the_key_inside_the_tunnel(
    emulator: dict[str, Any], echo: HTTPServer, tmp_path: Path
) -> None:
    try:
        published_python = published_sdk_python()
    except PublishedSdkUnavailableError as error:
        pytest.skip(f"published SDK unavailable: {error}")
    with Client(emulator["app_id"], emulator["api_key"], base_url=emulator["api_url"], environ={}) as client:
        secret = client.encrypt({"card": "4242"})
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")} | {
        "EV_API_URL": emulator["api_url"],
        "EV_CERT_HOSTNAME": emulator["ca_url"],
        "EV_TUNNEL_HOSTNAME": emulator["relay_url"],
        "TMPDIR": str(private_tmp),
    }
    completed = subprocess.run(
        [
            str(published_python),
            "-c",
            PUBLISHED_SDK_PROBE,
            emulator["app_id"],
            emulator["api_key"],
            echo_url(echo),
            json.dumps(secret),
            f"localhost:{echo.port}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
        cwd=str(tmp_path),
    )
    seen = json.loads(completed.stdout)
    assert json.loads(seen["body"]) == {"card": "4242"}
    assert "Proxy-Authorization" not in seen["headers"]  # the relay checked it and stripped it
