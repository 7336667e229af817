"""The pytest plugin's facade fixture, marker and options, in this run and in outside projects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evervault.local.pytest_plugin import MISSING_EXTRA, LocalEvervault

REPO_ROOT = Path(__file__).resolve().parents[2]


def _double(data: Any) -> Any:
    return {key: value * 2 for key, value in data.items()}


def test_the_facade_fixture_initialises_evervault_for_the_emulator(
    evervault_facade: ModuleType, evervault_emulator: LocalEvervault
) -> None:
    encrypted = evervault_facade.encrypt({"card": "4242", "cvc": 123})
    assert evervault_facade.decrypt(encrypted) == {"card": "4242", "cvc": 123}
    assert evervault_facade.current_client().config.app_id == evervault_emulator.app_id
    assert os.environ["EV_API_URL"] == evervault_emulator.api_url


@pytest.mark.evervault_local(
    functions={"double": _double, "hello": "evervault.local.sample_functions:hello"},
    relay_destinations=["api.example.com", "localhost"],
    enclave="hello-enclave",
)
def test_the_marker_starts_an_emulator_with_functions_relay_destinations_and_an_enclave(
    evervault_facade: ModuleType, evervault_emulator: LocalEvervault, evervault_local: LocalEvervault
) -> None:
    assert evervault_emulator.api_url != evervault_local.api_url  # its own emulator
    result = evervault_facade.run("double", evervault_facade.encrypt({"a": 2}))
    assert result["status"] == "success" and result["result"] == {"a": 4}
    assert evervault_facade.run("hello", evervault_facade.encrypt({"name": "x"}))["status"] == "success"
    request = urllib.request.Request(
        evervault_emulator.api_url + "_local/relay-destinations",
        headers={"Api-Key": evervault_emulator.api_key},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.loads(reply.read()) == {"destinations": ["api.example.com", "localhost"]}
    enclave = evervault_emulator.enclave
    assert enclave is not None and enclave["hostname"].startswith("hello-enclave.")
    assert Path(enclave["trust_root"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert enclave["url"].startswith("https://hello-enclave.")


def test_without_a_marker_the_session_emulator_is_used(
    evervault_emulator: LocalEvervault, evervault_local: LocalEvervault
) -> None:
    assert evervault_emulator is evervault_local


def _run_pytest(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    # As another project runs it: its own directory, the plugin loaded by its entry point.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EV_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(project)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_outside_project_gets_a_facade_that_is_reset_after_each_test(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(
        "import pytest\n"
        "import evervault\n\n"
        "def test_uses_the_facade(evervault_facade):\n"
        "    assert evervault.decrypt(evervault.encrypt('4242')) == '4242'\n\n"
        "def test_runs_after_it_without_init():\n"
        "    with pytest.raises(evervault.ConfigurationError):\n"
        "        evervault.encrypt('4242')\n"
    )
    result = _run_pytest(tmp_path, "-p", "no:randomly")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_command_line_options_configure_the_session_emulator(tmp_path: Path) -> None:
    (tmp_path / "my_functions.py").write_text("def triple(data):\n    return data['n'] * 3\n")
    (tmp_path / "test_app.py").write_text(
        "def test_triple(evervault_facade, evervault_local):\n"
        "    result = evervault_facade.run('triple', evervault_facade.encrypt({'n': 5}))\n"
        "    assert result['result'] == 15\n"
        "    assert evervault_local.enclave['hostname'].startswith('e1.')\n"
    )
    result = _run_pytest(
        tmp_path, "--evervault-function", "triple=my_functions:triple", "--evervault-enclave", "e1"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_local_extra_the_fixture_error_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    # The core install: aiohttp cannot be imported.
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        "for name in [m for m in sys.modules if m == 'aiohttp' or m.startswith('aiohttp.')]:\n"
        "    del sys.modules[name]\n"
        "sys.modules['aiohttp'] = None\n"
    )
    (tmp_path / "test_app.py").write_text("def test_app(evervault_local_client):\n    pass\n")
    result = _run_pytest(tmp_path)
    assert result.returncode == 1
    assert MISSING_EXTRA in result.stdout
    assert "pip install 'evervault-sdk[local]'" in result.stdout
    assert "ModuleNotFoundError" not in result.stdout

