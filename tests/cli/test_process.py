"""The command as a process: version, exit statuses, quiet pipes, closed pipes, and secrets.

Everything here runs the installed console script (or ``python -m evervault``) in a
subprocess, the way a shell script would.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from evervault.local.pytest_plugin import LocalEvervault
from tests.cli.conftest import TIMEOUT, CliRunner, Outcome, console_script

EXIT_BROKEN_PIPE = 141
BIG_DOCUMENT = json.dumps([f"value number {index}" for index in range(40_000)])  # ~5 MB encrypted


def test_version_comes_from_the_package_metadata(cli: CliRunner) -> None:
    expected = f"evervault {metadata.version('evervault-sdk')}\n"
    assert cli("--version") == Outcome(0, expected, "", expected.encode())
    module = subprocess.run(
        [sys.executable, "-m", "evervault", "--version"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert (module.returncode, module.stdout) == (0, expected)


def test_help_lists_every_command_and_discourages_the_key_flag(cli: CliRunner) -> None:
    top = cli("--help")
    assert top.code == 0
    for command in ("encrypt", "decrypt", "run", "token", "attest"):
        assert command in top.stdout
    assert "visible to other users in `ps`" in cli("decrypt", "--help").stdout.replace("\n", " ").replace(
        "  ", " "
    )


@pytest.mark.parametrize(
    "arguments",
    [(), ("no-such-command",), ("encrypt", "--no-such-option", "x"), ("token",), ("run",)],
)
def test_usage_errors_exit_2_with_usage_on_stderr(cli: CliRunner, arguments: tuple[str, ...]) -> None:
    outcome = cli(*arguments)
    assert outcome.code == 2 and outcome.stdout == ""
    assert outcome.stderr.startswith("usage: evervault")
    assert "\nerror: " in outcome.stderr and "Traceback" not in outcome.stderr


def test_missing_credentials_are_a_usage_error(cli: CliRunner, cli_env: dict[str, str]) -> None:
    without_key = {name: value for name, value in cli_env.items() if name != "EV_API_KEY"}
    outcome = cli("encrypt", "x", env=without_key)
    assert (outcome.code, outcome.stdout) == (2, "")
    assert outcome.stderr == "error: no API key: export EV_API_KEY=<api key>\n"

    without_app = {name: value for name, value in cli_env.items() if name != "EV_APP_ID"}
    assert cli("decrypt", "x", env=without_app).stderr.startswith("error: no App ID")


def test_flags_override_the_environment(cli: CliRunner, cli_env: dict[str, str]) -> None:
    no_credentials = {k: v for k, v in cli_env.items() if k not in ("EV_APP_ID", "EV_API_KEY")}
    encrypted = cli("encrypt", "flagged", env=cli_env).stdout.strip()
    outcome = cli(
        "decrypt", encrypted, "--app-id", cli_env["EV_APP_ID"], "--api-key", cli_env["EV_API_KEY"],
        env=no_credentials,
    )  # fmt: skip
    assert (outcome.code, outcome.stdout) == (0, "flagged\n")


def test_an_unreachable_api_is_a_one_line_failure(cli: CliRunner, cli_env: dict[str, str]) -> None:
    nowhere = {**cli_env, "EV_API_URL": "http://127.0.0.1:9/"}  # discard port: connection refused
    outcome = cli("decrypt", "ev:anything", env=nowhere)
    assert outcome.code == 1 and outcome.stdout == ""
    assert outcome.stderr.startswith("error: Could not connect") and outcome.stderr.count("\n") == 1


# --- output to pipes ---------------------------------------------------------------------------


def _read_one_byte_then_close(arguments: list[str], env: dict[str, str], stdin: bytes) -> tuple[int, str]:
    """Like ``evervault ... | head -c1``: the reader goes away while the command still writes."""
    process = subprocess.Popen(
        [console_script(), *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(stdin)
    process.stdin.close()
    assert len(process.stdout.read(1)) == 1
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return process.wait(timeout=TIMEOUT), stderr


def test_a_closed_pipe_ends_json_output_quietly(cli_env: dict[str, str]) -> None:
    code, stderr = _read_one_byte_then_close(["encrypt", "-"], cli_env, BIG_DOCUMENT.encode())
    assert (code, stderr) == (EXIT_BROKEN_PIPE, "")


def test_a_closed_pipe_ends_a_streamed_decrypt_quietly(cli_env: dict[str, str], tmp_path: Path) -> None:
    plain, encrypted = tmp_path / "p.bin", tmp_path / "p.evenc"
    plain.write_bytes(os.urandom(4 * 1024 * 1024))
    run = subprocess.run(
        [console_script(), "encrypt", "--in", str(plain), "--out", str(encrypted)], env=cli_env, check=False
    )
    assert run.returncode == 0
    code, stderr = _read_one_byte_then_close(["decrypt", "--in", str(encrypted), "--out", "-"], cli_env, b"")
    assert (code, stderr) == (EXIT_BROKEN_PIPE, "")


def test_a_shell_pipeline_into_head_is_clean(cli_env: dict[str, str]) -> None:
    script = f"'{console_script()}' encrypt - | head -c1"
    result = subprocess.run(
        ["sh", "-c", script], input=BIG_DOCUMENT.encode(), capture_output=True, env=cli_env, timeout=TIMEOUT
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"[", b"")


def test_on_a_terminal_json_is_indented_and_files_get_a_summary(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    plain = tmp_path / "small.bin"
    plain.write_bytes(b"x" * 1000)
    text = _on_a_terminal(["encrypt", "--in", str(plain), "--out", str(tmp_path / "s.evenc")], cli_env)
    assert f"encrypted {plain} -> {tmp_path / 's.evenc'} (" in text
    assert "\rencrypting 0.0 MiB / 0.0 MiB" in text  # the progress line, cleared afterwards

    text = _on_a_terminal(["run", "echo", '{"a": 1}'], cli_env)
    assert '\n  "status": "success"' in text.replace("\r\n", "\n")


def _on_a_terminal(arguments: list[str], env: dict[str, str]) -> str:
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [console_script(), *arguments],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        os.close(controller)
    return b"".join(chunks).decode()


# --- the API key never appears --------------------------------------------------------------------


def test_the_api_key_never_appears_in_any_output(
    in_process: CliRunner, evervault_local: LocalEvervault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, app_id = evervault_local.api_key, evervault_local.app_id
    ciphertext = in_process("encrypt", "secret").stdout.strip()
    flag = ["--app-id", app_id, "--api-key", key]

    def without_credentials(*arguments: str) -> Outcome:
        with monkeypatch.context() as scope:
            scope.delenv("EV_APP_ID")
            scope.delenv("EV_API_KEY")
            return in_process(*arguments)

    def with_variable(name: str, value: str, *arguments: str) -> Outcome:
        with monkeypatch.context() as scope:
            scope.setenv(name, value)
            return in_process(*arguments)

    runs = [
        (0, in_process("decrypt", ciphertext)),
        (0, without_credentials("decrypt", ciphertext, *flag)),
        (0, without_credentials("decrypt", ciphertext, f"--api-key={key}", "--app-id", app_id)),
        (0, without_credentials("encrypt", *flag, key)),  # the key as the VALUE: ciphertext out
        (1, with_variable("EV_APP_ID", "app_000000000000", "decrypt", ciphertext)),  # 401
        (2, in_process("--api-key", key, "decrypt", ciphertext)),  # misplaced: argparse echoes it
        (2, in_process("decrypt", ciphertext, "--api-key", key, key)),  # an extra argument, echoed
        (1, without_credentials("run", "fail", *flag)),
        (2, without_credentials("run", "echo", "{not json", *flag)),
        (1, without_credentials("token", "client-side", ciphertext, "--expiry", "99999", *flag)),
        (2, in_process("decrypt", "--in", str(tmp_path / "absent"), "--out", str(tmp_path / "o"), *flag)),
        (1, with_variable("EV_API_URL", "http://127.0.0.1:9/", "decrypt", ciphertext)),
        (1, with_variable("EV_API_URL", key, "decrypt", ciphertext)),  # a bad URL that is the key
    ]
    assert [outcome.code for _, outcome in runs] == [code for code, _ in runs]
    for _, outcome in runs:
        outcome.assert_no_secret(key)
        assert "Traceback" not in outcome.stderr
    assert runs[5][1].stderr.count("[redacted]") == 1  # the echo is there, masked


def test_the_api_key_never_appears_in_a_process_output(
    cli: CliRunner, cli_env: dict[str, str], evervault_local: LocalEvervault
) -> None:
    key = evervault_local.api_key
    wrong_key = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    runs = [
        cli("--api-key", key, "encrypt", "x"),
        cli("decrypt", "ev:x", "--api-key", key, "extra", key),
        cli("decrypt", "ev:x", env={**cli_env, "EV_API_KEY": wrong_key}),
    ]
    assert [outcome.code for outcome in runs] == [2, 2, 1]
    for outcome in runs:
        outcome.assert_no_secret(key)
        outcome.assert_no_secret(wrong_key)
        assert "Traceback" not in outcome.stderr


def test_an_unexpected_exception_is_one_redacted_line(
    in_process: CliRunner, evervault_local: LocalEvervault, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(client: object, value: object, role: object) -> None:
        raise RuntimeError(f"bug while holding {evervault_local.api_key}")

    monkeypatch.setattr("evervault.Client.encrypt", broken)
    outcome = in_process("encrypt", "x")
    assert (outcome.code, outcome.stdout) == (1, "")
    assert outcome.stderr == "error: unexpected RuntimeError: bug while holding [redacted]\n"


def test_version_without_package_metadata_says_so(
    in_process: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    outcome = in_process("--version")
    assert outcome.code == 0
    assert outcome.stdout.startswith("evervault (version unknown: the evervault-sdk package metadata")
