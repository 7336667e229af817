"""``evervault.init(decryption_domains=...)``, ``enable_outbound_relay`` and ``disable_outbound_relay``.

Each scenario runs the app in a subprocess (enabling the relay hooks ``requests``
process-wide) configured only through the published SDK's environment variables, against
``evervault-local serve`` and a real HTTPS echo server with a throwaway CA.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer

from tests.local.serve_process import REPO_ROOT, Served, child_env, serve
from tests.relay.relay_support import echo_url, running_echo_server

APP_SCRIPT = """
import json, os, sys
import requests
import evervault

line, echo, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
if mode == "init-domains":
    evervault.init(line["app_id"], line["api_key"], decryption_domains=["localhost"])
else:
    evervault.init(line["app_id"], line["api_key"])
    evervault.enable_outbound_relay()  # the app's configuration from v2/relay-outbound
encrypted = evervault.encrypt({"card": "4242 4242 4242 4242", "cvc": 123})
relayed = requests.post(echo, json=encrypted, timeout=30).json()
evervault.disable_outbound_relay()
direct = requests.post(echo, json=encrypted, timeout=30).json()
print(json.dumps({"sent": encrypted, "relayed": relayed, "direct": direct}))
"""


@pytest.fixture
def destination_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def echo(destination_ca: trustme.CA) -> Iterator[HTTPServer]:
    with running_echo_server(destination_ca) as server:
        yield server


@pytest.fixture
def emulator(tmp_path: Path, destination_ca: trustme.CA) -> Iterator[Served]:
    ca_file = tmp_path / "destination-ca.pem"
    destination_ca.cert_pem.write_to_path(str(ca_file))
    arguments = ["--data-dir", str(tmp_path / "state"), "--relay-destination", "localhost"]
    with serve(*arguments, "--relay-upstream-ca", str(ca_file)) as served:
        yield served
        served.stop()


def _run_app(served: Served, echo: HTTPServer, mode: str, destination_ca: trustme.CA) -> Any:
    env = child_env()
    env.update(
        EV_API_URL=served.line["api_url"],
        EV_TUNNEL_HOSTNAME=served.line["relay_url"],
        EV_CERT_HOSTNAME=served.line["ca_url"],
    )
    with destination_ca.cert_pem.tempfile() as ca_path:
        env["REQUESTS_CA_BUNDLE"] = ca_path  # the direct (unrelayed) request trusts the echo server
        result = subprocess.run(
            [sys.executable, "-c", APP_SCRIPT, json.dumps(served.line), echo_url(echo), mode],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("mode", ["init-domains", "enable-from-configuration"])
def test_relay_decrypts_until_disabled(
    emulator: Served, echo: HTTPServer, destination_ca: trustme.CA, mode: str
) -> None:
    outcome = _run_app(emulator, echo, mode, destination_ca)
    assert outcome["sent"]["card"].startswith("ev:")
    assert json.loads(outcome["relayed"]["body"]) == {"card": "4242 4242 4242 4242", "cvc": 123}
    assert json.loads(outcome["direct"]["body"]) == outcome["sent"]
    for seen in (outcome["relayed"], outcome["direct"]):
        assert "Proxy-Authorization" not in seen["headers"]
        assert emulator.line["api_key"] not in json.dumps(seen)
