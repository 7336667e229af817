"""The pytest plugin: its fixtures here, and loaded by another project's test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import urllib3

from evervault.bootstrap.clients import Client
from evervault.local.pytest_plugin import LocalEvervault

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_fixture_yields_a_running_emulator_and_a_configured_client(
    evervault_local: LocalEvervault, evervault_local_client: Client
) -> None:
    assert evervault_local.api_url.startswith("http://127.0.0.1:") and evervault_local.api_url.endswith("/")
    assert evervault_local.app_id.startswith("app_") and evervault_local.api_key.startswith("ev:key:")
    assert evervault_local.environment["EV_API_URL"] == evervault_local.api_url
    assert evervault_local.environment["EV_CERT_HOSTNAME"] == evervault_local.ca_url
    assert evervault_local.environment["EV_TUNNEL_HOSTNAME"].startswith("https://127.0.0.1:")
    assert Path(evervault_local.data_dir).is_dir()
    pem = urllib3.request("GET", evervault_local.ca_url).data
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    encrypted = evervault_local_client.encrypt({"card": "4242"})
    assert evervault_local_client.decrypt(encrypted) == {"card": "4242"}
    assert evervault_local_client.run("hello", encrypted)["result"]["fields"] == {"card": "string"}
    assert evervault_local.api_key not in repr(evervault_local)


def test_the_entry_point_is_declared() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[project.entry-points.pytest11]", 1)[1].split("[", 1)[0]
    assert 'evervault_local = "evervault.local.pytest_plugin"' in section


def test_another_projects_tests_can_use_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(
        "def test_app(evervault_local_client, evervault_local):\n"
        "    encrypted = evervault_local_client.encrypt({'ssn': '123-45-6789', 'age': 40})\n"
        "    assert evervault_local_client.decrypt(encrypted) == {'ssn': '123-45-6789', 'age': 40}\n"
        "    assert 'echo' not in evervault_local.info.functions\n"
    )
    _run_pytest_in(tmp_path)


def test_a_project_opts_in_to_the_unsafe_echo_function_by_overriding_the_options(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "from evervault.local.runner import EmulatorOptions\n"
        "@pytest.fixture(scope='session')\n"
        "def evervault_local_options():\n"
        "    return EmulatorOptions(unsafe_echo_function=True)\n"
    )
    (tmp_path / "test_app.py").write_text(
        "def test_app(evervault_local_client):\n"
        "    encrypted = evervault_local_client.encrypt({'card': '4242'})\n"
        "    assert evervault_local_client.run('echo', encrypted)['result'] == {'card': '4242'}\n"
    )
    _run_pytest_in(tmp_path)


def _run_pytest_in(tmp_path: Path) -> None:
    # Autoload off: where the package is installed, the entry point would load the plugin
    # too, and pytest refuses one module registered under two names.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "evervault.local.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "test_app.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
