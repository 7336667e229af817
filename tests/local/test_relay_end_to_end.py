"""Outbound Relay end to end: SDK -> emulator's relay proxy -> an HTTPS destination.

The SDK runs in a subprocess because enabling the relay patches ``requests``
process-wide; the destination is a real HTTPS echo server with a trustme CA that the
emulator's relay trusts through ``--relay-upstream-ca``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from pytest_httpserver import HTTPServer

from tests.local.serve_process import REPO_ROOT, child_env, serve
from tests.relay.relay_support import echo_url, running_echo_server

SDK_SCRIPT = """
import json, sys
import requests
from evervault.bootstrap.clients import Client
from evervault.services.relay import enable_outbound_relay

line, echo = json.loads(sys.argv[1]), sys.argv[2]
client = Client(line["app_id"], line["api_key"], base_url=line["api_url"],
                relay_url=line["relay_url"], ca_host=line["ca_url"])
encrypted = client.encrypt({"card": "4242 4242 4242 4242", "cvc": 123})
enable_outbound_relay(client)  # destinations come from the emulator's v2/relay-outbound
seen = requests.post(echo, json=encrypted, timeout=30).json()
print(json.dumps({"sent": encrypted, "seen": json.loads(seen["body"]), "headers": seen["headers"]}))
"""


@pytest.fixture
def destination_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def echo(destination_ca: trustme.CA) -> Iterator[HTTPServer]:
    with running_echo_server(destination_ca) as server:
        yield server


def test_the_relay_decrypts_what_the_sdk_sends_to_a_configured_destination(
    tmp_path: Path, destination_ca: trustme.CA, echo: HTTPServer
) -> None:
    ca_file = tmp_path / "destination-ca.pem"
    destination_ca.cert_pem.write_to_path(str(ca_file))
    arguments = [
        "--data-dir",
        str(tmp_path / "d"),
        "--relay-destination",
        "localhost",
        "--relay-upstream-ca",
        str(ca_file),
    ]
    with serve(*arguments) as served:
        result = subprocess.run(
            [sys.executable, "-c", SDK_SCRIPT, json.dumps(served.line), echo_url(echo)],
            cwd=REPO_ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert served.stop() == 0
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["sent"]["card"].startswith("ev:")
    assert outcome["seen"] == {"card": "4242 4242 4242 4242", "cvc": 123}
    assert "Proxy-Authorization" not in outcome["headers"]
