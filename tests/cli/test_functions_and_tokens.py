"""``evervault run`` and ``evervault token client-side|run`` against the emulator's sample Functions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import urllib3

from evervault.cli import UsageError
from evervault.cli.tokens import parse_expiry
from evervault.local.pytest_plugin import LocalEvervault
from tests.cli.conftest import CliRunner


def test_run_decrypts_the_payload_for_the_function(in_process: CliRunner) -> None:
    payload = in_process("encrypt", "-", stdin='{"name": "Ada", "age": 36}').stdout
    outcome = in_process("run", "--json", "echo", payload)
    assert outcome.code == 0, outcome.stderr
    run = json.loads(outcome.stdout)
    assert run["status"] == "success" and run["result"] == {"name": "Ada", "age": 36}
    assert run["id"].startswith("func_run_")


def test_run_reads_a_piped_ciphertext_and_defaults_to_an_empty_payload(cli: CliRunner) -> None:
    secret = cli("encrypt", "Grace").stdout
    piped = cli("run", "echo", "-", stdin=secret)
    assert piped.code == 0, piped.stderr
    assert json.loads(piped.stdout)["result"] == "Grace"

    empty = cli("run", "hello")
    assert json.loads(empty.stdout)["result"]["message"] == "Hello from a Function, world!"


def test_async_run_is_scheduled(in_process: CliRunner) -> None:
    run = json.loads(in_process("run", "--async", "echo", "{}").stdout)
    assert run["status"] == "scheduled"


def test_a_failing_function_exits_1_with_its_message(in_process: CliRunner) -> None:
    outcome = in_process("run", "fail", '{"message": "card declined"}')
    assert (outcome.code, outcome.stdout) == (1, "")
    assert outcome.stderr == "error: card declined\n"


def test_an_unknown_function_exits_1(in_process: CliRunner) -> None:
    outcome = in_process("run", "no-such-function")
    assert outcome.code == 1 and outcome.stderr.startswith("error: ")


def test_a_client_side_token_decrypts_exactly_its_payload(
    in_process: CliRunner, evervault_local: LocalEvervault
) -> None:
    ciphertext = in_process("encrypt", "4242").stdout.strip()
    outcome = in_process("token", "client-side", ciphertext, "--expiry", "120", "--json")
    assert outcome.code == 0, outcome.stderr
    answer = json.loads(outcome.stdout)
    assert set(answer) >= {"token", "expiry"}
    now_ms = datetime.now(timezone.utc).timestamp() * 1000
    assert now_ms + 60_000 < answer["expiry"] <= now_ms + 130_000

    reply = urllib3.request(
        "POST",
        evervault_local.api_url + "decrypt",
        json=ciphertext,  # with a token the body is the exact payload, not {"data": ...}
        headers={"Authorization": f"Token {answer['token']}"},
    )
    assert reply.status == 200 and reply.json() == "4242"


def test_a_run_token_runs_the_function_once(in_process: CliRunner, evervault_local: LocalEvervault) -> None:
    payload = json.loads(in_process("encrypt", "--json-input", '{"name": "Lin"}').stdout)
    token = in_process("token", "run", "hello", json.dumps(payload), "--token-only").stdout.strip()
    assert token and "\n" not in token

    def run_with_token() -> urllib3.BaseHTTPResponse:
        return urllib3.request(
            "POST",
            evervault_local.api_url + "functions/hello/runs",
            json={"payload": payload},
            headers={"Authorization": f"RunToken {token}"},
        )

    first = run_with_token()
    assert first.status == 200, first.data
    assert first.json()["result"]["message"] == "Hello from a Function, Lin!"
    assert run_with_token().status in (401, 403)  # single use


def test_a_token_expiry_beyond_ten_minutes_is_refused_before_any_request(in_process: CliRunner) -> None:
    outcome = in_process("token", "client-side", '"ev:x"', "--expiry", "3600")
    assert outcome.code == 1 and outcome.stderr.startswith("error: ")


def test_expiry_accepts_seconds_and_zoned_iso_times() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_expiry(None, now) is None
    assert parse_expiry("90", now) == now + timedelta(seconds=90)
    assert parse_expiry("2030-01-01T12:05:00Z", now) == now + timedelta(minutes=5)
    assert parse_expiry("2030-01-01T13:05:00+01:00", now) == now + timedelta(minutes=5)
    for bad in ("soon", "2030-01-01T12:05:00", "-5"):
        with pytest.raises(UsageError):
            parse_expiry(bad, now)
