"""``evervault attest``: --pcrs that would check nothing is a usage error, no --pcrs says so on
stderr, and --json prints one verdict object. Against the enclave simulator over real TLS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from evervault.cli.attest import verdict_json
from evervault.cli.main import main
from evervault.domain.attestation import UnsafeSkipPcrChecks, pcr_policy_from
from evervault.domain.attestation.hosts import ENCLAVES_HOST
from evervault.domain.errors import AttestationError
from evervault.local.enclave import EnclaveSimulator
from tests.attestation.test_cli import run_cli

ZERO = "00" * 48
NO_PCRS_NOTE = "no PCRs were checked"

CARELESS_PCRS = [
    "null",
    "{}",
    "[]",
    '{"pcr_8": null}',
    '{"pcr_0": null, "pcr_8": null}',
    "[{}]",
    '[{"pcr_8": null}]',
    f'[{{"pcr_8": "{ZERO}"}}, {{}}]',
]
MALFORMED_PCRS = [
    "",
    "{not json",
    '"pcr_8"',
    "42",
    '{"pcr_8": "nope"}',
    f'{{"pcr8": "{ZERO}"}}',
    f'{{"pcr_0": "{ZERO}", "pcr_8": null}}',
    '[["pcr_0"]]',
]


@dataclass(frozen=True)
class Target:
    simulator: EnclaveSimulator
    url_arguments: list[str]  # for `attest url`, trusting the simulator's PKI

    def url(self, *extra: str) -> list[str]:
        return ["attest", "url", *self.url_arguments, *extra]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    simulator = EnclaveSimulator(
        name="cli", app_id="app_1", host_suffix=ENCLAVES_HOST, embed_document_in_san=False
    )
    root = tmp_path_factory.mktemp("cli-root") / "root.pem"
    root.write_bytes(simulator.root_certificate_pem)
    with simulator as info:
        yield Target(
            simulator,
            [
                info.url,
                "--ca-bundle", info.ca_bundle_path,
                "--connect-to", f"{info.address[0]}:{info.address[1]}",
                "--trust-root-for-testing-only", str(root),
            ],
        )  # fmt: skip


@pytest.fixture(scope="module")
def certificate_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The simulator's TLS certificate (seed-era style, document in the SAN) for `attest verify`."""
    seed = EnclaveSimulator(name="cli-seed", app_id="app_1")
    folder = tmp_path_factory.mktemp("cli-cert")
    (folder / "root.pem").write_bytes(seed.root_certificate_pem)
    path = folder / "cert.pem"
    path.write_bytes(seed.tls_certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _verify_arguments(certificate_file: str, *extra: str) -> list[str]:
    root = str(Path(certificate_file).with_name("root.pem"))
    return ["attest", "verify", "--cert", certificate_file, "--trust-root-for-testing-only", root, *extra]


# --- --pcrs that would check nothing, or cannot be read: usage errors (exit 2) ----------------


@pytest.mark.parametrize("pcrs", CARELESS_PCRS)
@pytest.mark.parametrize("command", ["url", "verify"])
def test_pcrs_that_check_nothing_are_a_usage_error(
    target: Target, certificate_file: str, command: str, pcrs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = (
        target.url("--pcrs", pcrs)
        if command == "url"
        else _verify_arguments(certificate_file, "--pcrs", pcrs)
    )
    assert main(arguments) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: --pcrs ") and captured.err.count("\n") == 1
    assert "would check no PCRs" in captured.err and "omit --pcrs" in captured.err


@pytest.mark.parametrize("pcrs", MALFORMED_PCRS)
def test_malformed_pcrs_are_a_usage_error(
    target: Target, pcrs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(target.url("--pcrs", pcrs, "--json")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: --pcrs") and captured.err.count("\n") == 1


def test_the_issue_reproduction_over_a_subprocess(target: Target) -> None:
    # `evervault attest url --pcrs '{"pcr_8": null}'` used to print `valid` and exit 0.
    result = run_cli(*target.url("--pcrs", '{"pcr_8": null}'))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: --pcrs ") and result.stderr.count("\n") == 1


# --- without --pcrs: verified, but stderr says the PCRs were not checked ----------------------


def test_without_pcrs_url_is_valid_and_says_no_pcrs_were_checked(target: Target) -> None:
    result = run_cli(*target.url())
    assert (result.returncode, result.stdout) == (0, "valid\n"), result.stderr
    assert NO_PCRS_NOTE in result.stderr


def test_without_pcrs_verify_is_valid_and_says_no_pcrs_were_checked(
    certificate_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_verify_arguments(certificate_file)) == 0
    captured = capsys.readouterr()
    assert captured.out == "valid\n" and NO_PCRS_NOTE in captured.err


def test_with_pcrs_there_is_no_note(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(target.url("--pcrs", json.dumps(target.simulator.expected_pcrs))) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("valid\n", "")


def test_without_pcrs_other_checks_still_fail(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    trusting = target.url_arguments
    untrusted = trusting[: trusting.index("--trust-root-for-testing-only")]  # the AWS root
    assert main(["attest", "url", *untrusted]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("invalid: untrusted-chain: ") and NO_PCRS_NOTE in captured.err


# --- --json ------------------------------------------------------------------------------------


def _json_run(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main([*arguments, "--json"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "one JSON object on one line"
    parsed: dict[str, Any] = json.loads(out)
    return code, parsed


def test_json_valid_url_with_pcrs(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    expected = target.simulator.expected_pcrs
    code, verdict = _json_run(target.url("--pcrs", json.dumps([expected])), capsys)
    assert code == 0
    assert verdict["valid"] is True and verdict["kind"] is None and verdict["reason"] is None
    assert verdict["pcrs_checked"] is True and verdict["expected_pcrs"] == [expected]
    assert verdict["document"]["pcrs"] == expected
    assert isinstance(verdict["document"]["module_id"], str)


def test_json_invalid_url_names_kind_and_reason(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = _json_run(target.url("--pcrs", json.dumps({"pcr_8": ZERO})), capsys)
    assert code == 1
    assert (verdict["valid"], verdict["kind"], verdict["pcrs_checked"]) == (False, "pcr-mismatch", True)
    assert ZERO in verdict["reason"] and not verdict["reason"].startswith("Attestation failed")
    assert verdict["document"] is None


def test_json_without_pcrs_says_pcrs_were_not_checked(
    target: Target, certificate_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for arguments in (target.url(), _verify_arguments(certificate_file)):
        code, verdict = _json_run(arguments, capsys)
        assert code == 0
        assert (verdict["valid"], verdict["pcrs_checked"], verdict["expected_pcrs"]) == (True, False, None)


def test_json_verify_invalid_over_a_subprocess(certificate_file: str) -> None:
    result = run_cli(*_verify_arguments(certificate_file, "--pcrs", json.dumps({"pcr_0": ZERO}), "--json"))
    assert result.returncode == 1, result.stderr
    verdict = json.loads(result.stdout)
    assert (verdict["valid"], verdict["kind"], verdict["pcrs_checked"]) == (False, "pcr-mismatch", True)


def test_the_reason_comes_from_the_structured_field() -> None:
    failure = AttestationError("a message in any format", kind="expired", reason="the structured reason")
    verdict = verdict_json(pcr_policy_from({"pcr_8": ZERO}), failure)
    assert (verdict["kind"], verdict["reason"]) == ("expired", "the structured reason")
    assert verdict_json(UnsafeSkipPcrChecks(), failure)["pcrs_checked"] is False
