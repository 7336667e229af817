"""The suite's own tests: a deliberately broken adapter's defects are each reported as failures,
and adapters that crash or break the protocol are reported, never crash the suite."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evervault.local.conformance.report import CHECKS, SdkReport, Status
from evervault.local.conformance.session import SuiteOptions, run_suite

BROKEN_ADAPTER = Path(__file__).with_name("broken_adapter.py")
EVERVAULT_LOCAL = [sys.executable, "-m", "evervault.local"]


@pytest.fixture(scope="module")
def broken_run() -> dict[str, Any]:
    """The CLI, in a real subprocess, against the broken adapter on one curve (JSON output)."""
    command = shlex.join([sys.executable, str(BROKEN_ADAPTER)])
    completed = subprocess.run(
        [*EVERVAULT_LOCAL, "conformance", "--sdk", command, "--curve", "secp256k1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {"status": completed.returncode, "report": json.loads(completed.stdout)}


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def test_the_cli_exits_1_and_says_not_ok(broken_run: dict[str, Any]) -> None:
    assert broken_run["status"] == 1
    assert broken_run["report"]["ok"] is False
    assert broken_run["report"]["sdk"]["name"] == "broken-adapter"


def test_a_wrong_version_tag_is_a_failure(broken_run: dict[str, Any]) -> None:
    version = check(broken_run["report"], "encrypt.version")
    assert version["status"] == "fail"
    assert any(d.startswith("string.ascii: tag QkTC, expected S0lS") for d in version["details"])


def test_a_wrong_datatype_is_a_failure(broken_run: dict[str, Any]) -> None:
    datatype = check(broken_run["report"], "encrypt.datatype")
    assert datatype["status"] == "fail"
    assert "int.zero: datatype string, expected number" in datatype["details"]
    # ...and every other number and boolean kept its datatype
    assert all(d.split(":")[0].startswith("int.") for d in datatype["details"])


def test_a_truncated_file_is_a_failure(broken_run: dict[str, Any]) -> None:
    envelope = check(broken_run["report"], "file.envelope")
    assert envelope["status"] == "fail"
    assert envelope["total"] == 9 and envelope["passed"] == 5  # the four files of 1000 B or more
    assert all("CRC-32 does not match" in detail for detail in envelope["details"])


def test_a_reused_key_and_iv_is_a_failure(broken_run: dict[str, Any]) -> None:
    nonce = check(broken_run["report"], "encrypt.nonce-unique")
    assert nonce["status"] == "fail"
    assert any("same ephemeral key and IV as bool.true" in detail for detail in nonce["details"])


def test_a_wrong_auth_scheme_is_a_failure(broken_run: dict[str, Any]) -> None:
    decrypt = check(broken_run["report"], "api.decrypt")
    assert decrypt["status"] == "fail"
    assert "POST /decrypt (Api-Key) -> 401: expected Basic authentication" in decrypt["details"]


def test_an_unexpected_request_is_a_failure(broken_run: dict[str, Any]) -> None:
    run = check(broken_run["report"], "api.run")
    assert run["status"] == "fail"
    assert "run made an unexpected request: GET /v2/relay-outbound (Api-Key) -> 200" in run["details"]


def test_what_was_not_broken_passes(broken_run: dict[str, Any]) -> None:
    checks = ("encrypt.grammar", "encrypt.metadata", "encrypt.shape", "file.round-trip", "api.run-token")
    for check_id in checks:
        assert check(broken_run["report"], check_id)["status"] == "pass", check_id


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/nonexistent/adapter --flag", "Cannot start the adapter"),
        (shlex.join([sys.executable, "-c", "print('hello')"]), "not JSON"),
        (shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"]), "exited"),
        (shlex.join([sys.executable, "-c", 'print(\'{"ok": true, "result": 1}\')']), "configure failed"),
    ],
)
def test_unusable_adapters_are_reported_as_protocol_failures(command: str, expected: str) -> None:
    report = run_suite(SuiteOptions(command=command, curves=("p256",), timeout_seconds=60))
    assert report.failed
    details = [o.detail or "" for o in report.observations if o.check == "protocol"]
    assert any(expected in detail for detail in details), details


def test_an_adapter_that_never_answers_times_out() -> None:
    command = shlex.join([sys.executable, "-c", "import time; time.sleep(60)"])
    report = run_suite(SuiteOptions(command=command, curves=("p256",), timeout_seconds=1))
    assert report.failed
    assert any("did not answer 'configure' within 1 s" in (o.detail or "") for o in report.observations)


def test_the_table_shows_the_worst_outcome_per_cell_and_lists_notes() -> None:
    report = SdkReport(
        command="x", curves=["secp256k1", "p256"], sdk="demo-sdk", version="1.2.3", language="go"
    )
    report.add("encrypt.grammar", "secp256k1", Status.PASS)
    report.add("encrypt.grammar", "secp256k1", Status.FAIL, "v: bad")
    report.add("encrypt.grammar", "p256", Status.PASS)
    report.add("probe.whitespace", "p256", Status.FINDING, "trimmed")
    report.add("probe.whitespace", "p256", Status.FINDING, "trimmed")
    table = report.render()
    assert "### demo-sdk 1.2.3 (go)" in table
    assert "| `encrypt.grammar` | **FAIL** 1/2 | pass 1/1 |" in table
    assert "| `probe.whitespace` | skip | finding 0/2 |" in table
    assert "- `encrypt.grammar` (secp256k1): v: bad" in table
    assert "- `probe.whitespace` (p256): trimmed (x2)" in table
    assert table.count("\n| `") == len(CHECKS)
    assert report.failed


def test_findings_alone_do_not_fail() -> None:
    report = SdkReport(command="x", curves=["p256"])
    report.add("encrypt.grammar", "p256", Status.PASS)
    report.add("probe.role-key-reuse", "p256", Status.FINDING, "reused")
    assert not report.failed
    assert report.to_json()["ok"] is True


@pytest.mark.parametrize("option", [["--timeout", "0"], ["--rotation-wait", "-1"]])
def test_bad_options_are_usage_errors(option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from evervault.local.cli import main

    assert main(["conformance", "--sdk", "unused", *option]) == 2
    assert "must be" in capsys.readouterr().err
