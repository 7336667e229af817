"""Emulator ergonomics: fixed default port, --relay-port, --print env, access log, reset, lock,
bind errors, a closed stdout and --version."""

from __future__ import annotations

import json
import logging
import shlex
import signal
import socket
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from evervault.domain.errors import ConfigurationError, EvervaultError
from evervault.local.access_log import ACCESS_LOGGER
from evervault.local.cli import build_parser, serve_options
from evervault.local.runner import DEFAULT_PORT, BackgroundEmulator, EmulatorOptions
from evervault.local.state import Permission
from tests.local.conftest import Api, assert_problem
from tests.local.serve_process import REPO_ROOT, START_TIMEOUT, child_env, serve


def _run_cli(*arguments: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evervault.local", *arguments],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- ports -----------------------------------------------------------------------------------


def test_serve_defaults_to_the_documented_fixed_port_and_the_relay_to_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EVERVAULT_LOCAL_PORT", raising=False)  # tests/conftest.py sets it to 0
    options = serve_options(build_parser().parse_args(["serve"]))
    assert (options.port, options.relay_port) == (DEFAULT_PORT, DEFAULT_PORT + 1) == (7710, 7711)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--port", "0"], (0, 0)),  # a free port for both
        (["--port", "9000"], (9000, 9001)),
        (["--port", "9000", "--relay-port", "0"], (9000, 0)),
        (["--port", "0", "--relay-port", "9100"], (0, 9100)),
        (["--port", "65535"], (65535, 0)),
    ],
)
def test_relay_port_follows_the_api_port_unless_given(
    arguments: list[str], expected: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVERVAULT_LOCAL_PORT", raising=False)
    options = serve_options(build_parser().parse_args(["serve", *arguments]))
    assert (options.port, options.relay_port) == expected


def test_relay_port_option_is_used(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with serve("--data-dir", str(tmp_path / "d"), "--relay-port", str(free)) as served:
        assert served.line["relay_url"] == f"https://127.0.0.1:{free}"


def test_a_port_in_use_says_so_and_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_cli("serve", "--data-dir", str(tmp_path / "d"), "--port", str(port))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "already in use" in result.stderr and "--port" in result.stderr


def test_an_invalid_host_is_reported_as_a_bad_host_not_a_busy_port(tmp_path: Path) -> None:
    result = _run_cli("serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--host", "999.1.1.1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--host '999.1.1.1' is not a valid address" in result.stderr
    assert "choose another --port" not in result.stderr


# --- what serve prints -----------------------------------------------------------------------


def test_print_env_is_one_export_line_a_shell_can_source(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "evervault.local", "serve", "--port", "0", "--print", "env",
         "--data-dir", str(tmp_path / "d")],
        cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        words = shlex.split(line)
        assert words[0] == "export"
        variables = dict(word.split("=", 1) for word in words[1:])
        assert list(variables) == [
            "EV_API_URL", "EV_APP_ID", "EV_API_KEY", "EV_CERT_HOSTNAME", "EV_TUNNEL_HOSTNAME",
        ]  # fmt: skip
        # A real shell agrees, and the values reach a working emulator.
        shell = subprocess.run(
            ["sh", "-c", line + '\nprintf "%s" "$EV_API_KEY"'], capture_output=True, text=True, check=True
        )
        assert shell.stdout == variables["EV_API_KEY"]
        from evervault.bootstrap.clients import Client

        with Client(variables["EV_APP_ID"], variables["EV_API_KEY"], base_url=variables["EV_API_URL"]) as c:
            assert c.decrypt(c.encrypt("round trip")) == "round trip"
        process.send_signal(signal.SIGTERM)
        assert process.wait(START_TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_version_is_the_package_metadata_version() -> None:
    result = _run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"evervault-local {metadata.version('evervault-sdk')}"


def test_a_closed_stdout_ends_demo_without_a_traceback() -> None:
    # `evervault-local demo | head -3`: the reader leaves after three lines.
    process = subprocess.Popen(
        [sys.executable, "-m", "evervault.local", "demo"],
        cwd=REPO_ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    lines = [process.stdout.readline() for _ in range(3)]
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(START_TIMEOUT) == 141
    assert all(lines) and "Traceback" not in stderr and "BrokenPipeError" not in stderr


# --- access log ------------------------------------------------------------------------------


def test_one_access_log_line_per_request_with_the_key_id_and_never_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    options = EmulatorOptions(data_dir=str(tmp_path / "d"), relay_proxy=False)
    with BackgroundEmulator(options) as info, info.client() as client:
        encrypted = client.encrypt("4242")  # GET cages/key
        client.decrypt(encrypted)  # POST decrypt
        with pytest.raises(Exception, match="No Function"):
            client.run("missing", {})  # a 404 Problem JSON
    key_id = info.api_key.split(":")[3]
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 3, lines
    assert lines[0].startswith("GET /cages/key 200 ") and lines[0].endswith(f"ms key={key_id}")
    assert lines[1].startswith("POST /decrypt 200 ") and lines[1].endswith(f"key={key_id}")
    assert lines[2].startswith("POST /functions/missing/runs 404 ")
    secret = info.api_key.split(":")[5]
    assert not any(secret in line or "4242" in line for line in lines)
    assert all(record.levelno == logging.INFO for record in caplog.records if record.name == ACCESS_LOGGER)


def test_serve_log_level_info_writes_access_lines_to_stderr(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "evervault.local", "--log-level", "info", "serve", "--port", "0",
         "--no-relay", "--data-dir", str(tmp_path / "d")],
        cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        import json

        line = json.loads(process.stdout.readline())
        import urllib.request

        with urllib.request.urlopen(line["api_url"] + "_local/health", timeout=START_TIMEOUT) as reply:
            assert reply.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(START_TIMEOUT) == 0
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "GET /_local/health 200 " in stderr and "key=-" in stderr
    assert line["api_key"].split(":")[5] not in stderr


# --- POST _local/reset -----------------------------------------------------------------------


async def test_reset_wipes_tokens_runs_destinations_and_extra_keys_but_keeps_the_app(api: Api) -> None:
    decrypt_key = api.key_with(Permission.DECRYPT)
    api.state.set_relay_destinations(["api.example.com"])
    encrypted = api.encrypt({"card": "4242"})
    token_reply = await api.call(
        "POST", "client-side-tokens", headers=api.basic(), json_body={"payload": encrypted}
    )
    token = token_reply.json()["token"]
    run = await api.call("POST", "functions/hello/runs", headers=api.basic(), json_body={"payload": {"a": 1}})
    run_id = run.json()["id"]

    reply = await api.call("POST", "_local/reset", headers=api.api_key_header())
    assert reply.status == 200 and reply.json() == {"status": "reset", "appUuid": api.state.app_id}

    assert_problem(
        await api.call("POST", "decrypt", headers=api.basic(decrypt_key), json_body={"data": encrypted}),
        401,
        "unauthorized",
    )
    assert_problem(
        await api.call("POST", "decrypt", headers={"Authorization": f"Token {token}"}, json_body=encrypted),
        401,
        "unauthorized",
    )
    assert_problem(
        await api.call("GET", f"functions/hello/runs/{run_id}", headers=api.basic()), 404, "not-found"
    )
    destinations = await api.call("GET", "_local/relay-destinations", headers=api.api_key_header())
    assert destinations.json() == {"destinations": []}
    # Kept: the admin key and the private keys, so old ciphertexts still decrypt.
    kept = await api.call("POST", "decrypt", headers=api.basic(), json_body={"data": encrypted})
    assert kept.status == 200 and kept.json() == {"data": {"card": "4242"}}


async def test_reset_needs_the_admin_key(api: Api) -> None:
    scoped = api.key_with(Permission.DECRYPT, Permission.RUN_FUNCTION)
    assert_problem(
        await api.call("POST", "_local/reset", headers=api.api_key_header(scoped)), 403, "forbidden"
    )
    assert_problem(await api.call("POST", "_local/reset"), 401, "unauthorized")
    assert api.state.find_api_key(scoped) is not None  # nothing was wiped


# --- the data-directory lock -----------------------------------------------------------------


def test_a_second_emulator_on_the_same_data_dir_is_refused_until_the_first_stops(tmp_path: Path) -> None:
    options = EmulatorOptions(data_dir=str(tmp_path / "d"), relay_proxy=False)
    first = BackgroundEmulator(options)
    first.start()
    try:
        with pytest.raises(ConfigurationError, match="already serving the data directory"):
            BackgroundEmulator(options).start()
    finally:
        first.stop()
    with BackgroundEmulator(options) as info:  # released on stop
        assert info.data_dir == str((tmp_path / "d").resolve())


def test_a_second_serve_on_the_same_data_dir_exits_2_naming_the_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    with serve("--data-dir", str(data_dir), "--no-relay") as first:
        result = _run_cli("serve", "--port", "0", "--no-relay", "--data-dir", str(data_dir))
        assert result.returncode == 2 and result.stdout == ""
        assert f"already serving the data directory {data_dir.resolve()}" in result.stderr
        assert f"(process {first.process.pid})" in result.stderr
        assert "Traceback" not in result.stderr
        assert first.stop() == 0


# --- evervault-local env ---------------------------------------------------------------------


def test_env_prints_the_settings_of_the_emulator_serving_a_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    with serve("--data-dir", str(data_dir)) as served:
        result = _run_cli("env", "--data-dir", str(data_dir), "--wait", "30")
        assert result.returncode == 0, result.stderr
        words = shlex.split(result.stdout)
        variables = dict(word.split("=", 1) for word in words[1:])
        assert variables["EV_API_URL"] == served.line["api_url"]
        assert variables["EV_API_KEY"] == served.line["api_key"]
        assert variables["EV_TUNNEL_HOSTNAME"] == served.line["relay_url"]
        as_json = _run_cli("env", "--data-dir", str(data_dir), "--print", "json")
        assert json.loads(as_json.stdout) == served.line
        assert stat.S_IMODE((data_dir / "serving.json").stat().st_mode) == 0o600
        assert served.stop() == 0
    assert not (data_dir / "serving.json").exists()
    stopped = _run_cli("env", "--data-dir", str(data_dir))
    assert stopped.returncode == 2 and "No evervault-local is serving" in stopped.stderr


def test_a_serving_file_left_by_a_killed_server_is_not_trusted(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data_dir / "serving.json").write_text(json.dumps({"pid": dead.pid, "api_url": "http://127.0.0.1:1/"}))
    result = _run_cli("env", "--data-dir", str(data_dir))
    assert result.returncode == 2 and "No evervault-local is serving" in result.stderr


def test_the_port_variable_changes_the_default_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVERVAULT_LOCAL_PORT", "9100")
    options = serve_options(build_parser().parse_args(["serve"]))
    assert (options.port, options.relay_port) == (9100, 9101)
    monkeypatch.setenv("EVERVAULT_LOCAL_PORT", "port")
    with pytest.raises(EvervaultError, match="EVERVAULT_LOCAL_PORT must be a port number"):
        serve_options(build_parser().parse_args(["serve"]))
