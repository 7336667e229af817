"""``evervault attest`` over the real vectors (subprocess) and against the simulator."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evervault.cli.attest import decode_document_file, verdict_json
from evervault.cli.main import main
from evervault.domain.attestation import NitroTrustRoot, pcr_policy_from
from evervault.domain.attestation.certificates import load_certificate
from evervault.domain.attestation.san import document_from_certificate
from evervault.domain.attestation.verifier import verify
from evervault.domain.errors import AttestationError
from evervault.local.enclave import EnclaveSimulator
from tests.attestation.support import (
    BETA_DER,
    BETA_INSTANT,
    BETA_PEM,
    GA_INSTANT,
    REPO_ROOT,
    require_vectors,
)

BETA_PCRS = {
    "pcr_0": "d265a83faa7b4fa0d73b82b6d06253e894445922937d0ee5"
    "a74fe4891da9817611a71e71b98e5329232902de3cf419af",
    "pcr_8": "97c5395a83c0d6a04d53ff962663c714c178c24500bf97f7"
    "8456ed3721d922cf3f940614da4bb90107c439bc4a1443ca",
}
ZERO = "00" * 48


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "evervault", *arguments],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def vector(name: str) -> str:
    return str(require_vectors() / name)


def test_seed_certificate_with_embedded_document_is_valid() -> None:
    result = run_cli(
        "attest", "verify", "--cert", vector(BETA_PEM),
        "--at", str(BETA_INSTANT), "--pcrs", json.dumps(BETA_PCRS),
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "valid\n"), result.stderr


def test_der_certificate_and_base64_document_are_autodetected() -> None:
    result = run_cli(
        "attest", "verify",
        "--cert", vector("test-data/valid-certificate.der"),
        "--doc", vector("test-data/valid-attestation-doc-base64"),
        "--at", str(GA_INSTANT), "--pcrs", json.dumps([{"pcr_8": ZERO}]),
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "valid\n"), result.stderr


def test_wrong_pcrs_are_invalid_with_kind_and_reason() -> None:
    result = run_cli(
        "attest", "verify", "--cert", vector(BETA_DER),
        "--at", str(BETA_INSTANT), "--pcrs", json.dumps({"pcr_8": ZERO}),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("invalid: pcr-mismatch: ")
    assert ZERO in result.stdout and BETA_PCRS["pcr_8"] in result.stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_the_verdict_carries_the_errors_kind_and_reason_exactly(
    as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI prints ``AttestationError.kind`` and ``.reason`` as the verifier raised them."""
    with open(vector(BETA_DER), "rb") as handle:
        certificate = load_certificate(handle.read(), what="the vector")
    with pytest.raises(AttestationError) as caught:
        verify(
            document_from_certificate(certificate),
            certificate,
            at=datetime.fromtimestamp(BETA_INSTANT, timezone.utc),
            policy=pcr_policy_from({"pcr_8": ZERO}),
            trust_root=NitroTrustRoot.aws(),
        )
    failure = caught.value
    code = main(
        ["attest", "verify", "--cert", vector(BETA_DER), "--at", str(BETA_INSTANT),
         "--pcrs", json.dumps({"pcr_8": ZERO}), *(["--json"] if as_json else [])]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    if as_json:
        assert (json.loads(out)["kind"], json.loads(out)["reason"]) == (failure.kind, failure.reason)
    else:
        assert out == f"invalid: {failure.kind}: {failure.reason}\n"


def test_the_json_reason_is_the_errors_reason_attribute_not_its_message() -> None:
    failure = AttestationError("a message in no particular format", kind="expired", reason="the why")
    verdict = verdict_json(pcr_policy_from({"pcr_8": ZERO}), failure)
    assert (verdict["valid"], verdict["kind"], verdict["reason"]) == (False, "expired", "the why")


def test_without_at_the_current_time_is_used_and_the_vectors_have_expired() -> None:
    result = run_cli("attest", "verify", "--cert", vector(BETA_PEM))
    assert result.returncode == 1
    assert result.stdout.startswith("invalid: expired: ")


def test_raw_document_without_user_data(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "attest", "verify",
            "--cert", vector("test-data/valid-certificate.der"),
            "--doc", vector("test-data/beta/valid-attestation-doc-bytes"),
            "--at", "1665655082",
        ]
    )  # fmt: skip
    assert code == 1
    assert capsys.readouterr().out.startswith("invalid: missing-user-data: ")


def test_non_hex_pcrs_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["attest", "verify", "--cert", vector(BETA_PEM), "--pcrs", '{"pcr_1": "nope"}'])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: --pcrs: pcr_1 must be")


@pytest.mark.parametrize(
    "arguments",
    [
        ["attest", "verify", "--cert", "/nonexistent/cert.pem"],
        ["attest", "verify", "--cert", "CERT", "--pcrs", "{not json"],
        ["attest", "url", "http://example.com"],
        ["attest", "url", "https://example.com", "--connect-to", "nowhere"],
        # These once escaped as ValueError/OverflowError tracebacks.
        ["attest", "verify", "--cert", "CERT", "--at", "99999999999999999999"],
        ["attest", "url", "https://127.0.0.1:99999"],
        ["attest", "url", "https://[::1"],
        ["attest", "url", "https://127.0.0.1:1", "--connect-to", "127.0.0.1:99999"],
        ["attest", "url", "https://127.0.0.1:1", "--timeout", "-1"],
        ["attest", "url", "https://127.0.0.1:1", "--timeout", "nan"],
    ],
)
def test_usage_errors_exit_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    arguments = [vector(BETA_PEM) if part == "CERT" else part for part in arguments]
    assert main(arguments) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_missing_subcommand_is_an_argparse_error() -> None:
    result = run_cli("attest")
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_a_garbage_certificate_is_malformed_cert(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"\x30\x82\x00\x01garbage")
    result = run_cli("attest", "verify", "--cert", str(garbage))
    assert (result.returncode, result.stdout.split(":")[0:2]) == (1, ["invalid", " malformed-cert"])


def test_document_file_autodetection() -> None:
    raw = bytes.fromhex("8443a10126a04101") + b"\x00" * 4
    assert decode_document_file(raw) == raw
    assert decode_document_file(b"\xd2" + raw[1:]) == b"\xd2" + raw[1:]
    encoded = base64.b64encode(raw)
    assert decode_document_file(encoded[:8] + b"\n" + encoded[8:] + b"\n") == raw
    assert decode_document_file(b"not base64 !") == b"not base64 !"


@pytest.mark.parametrize("era", ["cages.evervault.com", "enclave.evervault.com"])
def test_attest_url_against_the_simulator(tmp_path: Path, era: str) -> None:
    simulator = EnclaveSimulator(
        app_id="app_1", host_suffix=era, embed_document_in_san=era == "cages.evervault.com"
    )
    root = tmp_path / "simulator-root.pem"
    root.write_bytes(simulator.root_certificate_pem)
    with simulator as info:
        common = [
            info.url, "--ca-bundle", info.ca_bundle_path,
            "--connect-to", f"{info.address[0]}:{info.address[1]}",
        ]  # fmt: skip
        trusted = run_cli(
            "attest", "url", *common, "--trust-root-for-testing-only", str(root),
            "--pcrs", json.dumps(info.expected_pcrs),
        )  # fmt: skip
        untrusted = run_cli("attest", "url", *common)
    assert (trusted.returncode, trusted.stdout) == (0, "valid\n"), trusted.stderr
    assert untrusted.returncode == 1
    assert untrusted.stdout.startswith("invalid: untrusted-chain: ")
    assert simulator.received == []
