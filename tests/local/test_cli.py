"""The ``evervault-local`` command as a real subprocess: the JSON line, signals, restarts, demo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evervault.domain.errors import FunctionTimeoutError
from tests.local.serve_process import REPO_ROOT, START_TIMEOUT, child_env, serve

REQUIRED_KEYS = {"api_url", "app_id", "api_key", "ca_url", "data_dir"}


def test_serve_prints_one_json_line_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with serve("--port", "0", "--data-dir", str(tmp_path / "d")) as served:
        line = served.line
        assert set(line) >= REQUIRED_KEYS
        assert line["api_url"].startswith("http://127.0.0.1:") and line["api_url"].endswith("/")
        assert line["ca_url"] == line["api_url"] + "ca.crt"
        assert line["relay_url"].startswith("https://127.0.0.1:")
        assert Path(line["data_dir"]) == (tmp_path / "d").resolve()
        with served.client() as client:
            assert client.decrypt(client.encrypt({"a": 1})) == {"a": 1}
        assert served.stop(signal.SIGTERM) == 0
        rest = served.process.stdout.read() if served.process.stdout else ""
        assert rest == ""  # exactly one line on stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_and_deletes_the_fresh_temp_dir_it_defaulted_to(signum: int) -> None:
    with serve() as served:
        data_dir = Path(served.line["data_dir"])
        assert (data_dir / "state.json").is_file()
        assert served.stop(signum) == 0
    # It held the throwaway app's private keys: nothing of it may stay behind in /tmp.
    assert not data_dir.exists()


def test_a_restart_with_the_same_directory_keeps_old_ciphertexts_decryptable(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "persistent")
    with serve("--data-dir", data_dir) as first:
        with first.client() as k1, first.client(curve="SECP256R1") as p256:
            saved = {
                "k1": k1.encrypt({"card": "4242", "cvv": 123}),
                "k1-role": k1.encrypt("with role", role="support"),
                "p256": p256.encrypt([True, 1.5, "x"]),
            }
            saved_file = p256.encrypt(b"file bytes")
        assert first.stop() == 0
    with serve("--data-dir", data_dir) as second:
        assert (second.line["app_id"], second.line["api_key"]) == (
            first.line["app_id"],
            first.line["api_key"],
        )
        with second.client() as client:
            assert client.decrypt(saved["k1"]) == {"card": "4242", "cvv": 123}
            assert client.decrypt(saved["k1-role"]) == "with role"
            assert client.decrypt(saved["p256"]) == [True, 1.5, "x"]
            assert client.decrypt(saved_file) == b"file bytes"
        assert second.stop() == 0


def test_functions_from_options_and_files_are_registered_and_remembered(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "my_functions.py").write_text(
        "def shout(payload):\n    return {'shout': str(payload['word']).upper()}\n"
        "def count(payload, context):\n    return {'keys': len(payload), 'fn': context.function_name}\n"
    )
    functions_file = tmp_path / "functions.json"
    functions_file.write_text(
        json.dumps({"functions": {"count": {"target": "my_functions:count", "timeoutSeconds": 3}}})
    )
    data_dir = str(tmp_path / "d")
    arguments = [
        "--data-dir",
        data_dir,
        "--function",
        "shout=my_functions:shout",
        "--functions-file",
        str(functions_file),
    ]
    with serve(*arguments, cwd=modules) as served:
        assert {"shout", "count", "hello"} <= set(served.line["functions"])
        with served.client() as client:
            assert client.run("shout", {"word": client.encrypt("hi")})["result"] == {"shout": "HI"}
            assert client.run("count", {"a": 1, "b": 2})["result"] == {"keys": 2, "fn": "count"}
        served.stop()
    # Saved in the data directory: a restart without the options still has them.
    with serve("--data-dir", data_dir, "--no-sample-functions", cwd=modules) as again:
        assert sorted(again.line["functions"]) == ["count", "shout"]
        again.stop()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--function", "nonsense"],
        ["--function", "x=no_such_module_anywhere:fn"],
        ["--function", "x=evervault.local.sample_functions:missing"],
        ["--functions-file", "/nonexistent/functions.json"],
        ["--max-body-bytes", "0"],
        ["--function-timeout", "-1"],
        ["--port", "70000"],
        ["--relay-upstream-ca", "/nonexistent/ca.pem"],
        ["--relay-upstream-ca", "{tmp}/not-a-certificate.pem"],
    ],
)
def test_bad_options_exit_2_with_a_message(arguments: list[str], tmp_path: Path) -> None:
    (tmp_path / "not-a-certificate.pem").write_text("not a certificate\n")
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evervault.local",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
            *arguments,
        ],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() and "Traceback" not in result.stderr


def test_a_damaged_data_dir_exits_2(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "state.json").write_text("{")
    result = subprocess.run(
        [sys.executable, "-m", "evervault.local", "serve", "--port", "0", "--data-dir", str(tmp_path / "d")],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 2 and "state.json" in result.stderr


def test_relay_destinations_option_replaces_the_saved_list(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "d")
    with serve(
        "--data-dir", data_dir, "--relay-destination", "a.test", "--relay-destination", "*.b.test"
    ) as served:
        with served.client() as client:
            assert client.fetch_relay_outbound_config().decryption_domains == ("a.test", "*.b.test")
        served.stop()


def test_demo_runs_the_readme_flow_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evervault.local", "demo"],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in [
        "[init]",
        "[encrypt]",
        "[run a Function]",
        "[decrypt]",
        "[client-side token]",
        "[run token]",
    ]:
        assert step in result.stdout
    assert "Demo completed" in result.stdout


def test_serve_can_run_an_attestable_enclave_simulator_for_the_app(tmp_path: Path) -> None:
    from evervault.bootstrap.attestation import cage_requests_session
    from evervault.domain.attestation.chain import NitroTrustRoot

    with serve("--data-dir", str(tmp_path / "d"), "--no-relay", "--enclave", "hello") as served:
        enclave = served.line["enclave"]
        assert served.line["enclave_url"].startswith(f"https://hello.{served.line['app_id']}.")
        host, port = enclave["address"].rsplit(":", 1)
        session = cage_requests_session(
            {"hello": enclave["expected_pcrs"]},
            app_id=served.line["app_id"],
            trust_root=NitroTrustRoot.for_testing_only(enclave["trust_root_pem"].encode()),
            ca_bundle=enclave["ca_bundle"],
            address_override={enclave["hostname"]: (host, int(port))},
        )
        with session:
            response = session.post(served.line["enclave_url"] + "/echo", data=b"attested", timeout=30)
        assert response.status_code == 200 and response.content == b"attested"
        assert served.stop() == 0


def test_a_stuck_function_does_not_keep_the_emulator_from_exiting(tmp_path: Path) -> None:
    with serve("--data-dir", str(tmp_path / "d"), "--no-relay", "--function-timeout", "0.2") as served:
        with served.client() as client, pytest.raises(FunctionTimeoutError):
            client.run("sleep", {"seconds": 60})
        served.process.send_signal(signal.SIGTERM)
        # Far less than the 60 s the Function still sleeps: its thread is not waited for.
        assert served.process.wait(20) == 0


@pytest.mark.parametrize("option", ["--relay-upstream-ca", "--upstream-ca"])
def test_the_upstream_ca_option_has_both_spellings(option: str) -> None:
    from evervault.local.cli import build_parser, serve_options

    arguments = build_parser().parse_args(["serve", option, "/some/ca.pem"])
    assert serve_options(arguments).relay_upstream_ca_file == "/some/ca.pem"
