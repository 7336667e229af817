"""Every case of the real AWS Nitro vector manifest gets the reference verdict.

The one deliberate difference is the case marked ``quirk`` whose expected PCRs are the right
values written in upper-case hex: the reference compares hex strings case-sensitively and
reports ``pcr-mismatch``; we compare measurements case-insensitively (``PCRs`` lower-cases
at construction) and accept it, because the same measurement written in either case is the
same measurement and rejecting it only breaks deployments.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from evervault.domain.attestation import (
    AWS_NITRO_ROOT_SHA256,
    FAILURE_KINDS,
    NitroTrustRoot,
    UnsafeSkipPcrChecks,
    VerifiedDocuments,
    document_from_certificate,
    pcr_policy_from,
    verify,
    verify_document,
)
from evervault.domain.attestation.certificates import load_certificate
from evervault.domain.errors import AttestationError
from tests.attestation.support import at, manifest_cases, require_vectors

# Cases where our verdict deliberately differs from the reference (see module docstring).
FRIENDLIER_VERDICTS = {"beta-nondebug-pem-uppercase-pcrs": "valid"}


def _case_id(case: dict[str, Any]) -> str:
    return str(case["id"])


def _document(case: dict[str, Any]) -> bytes | None:
    name = case["files"].get("doc")
    if name is None:
        return None
    data = (require_vectors() / name).read_bytes()
    return base64.b64decode(data) if case.get("doc_encoding") == "base64" else data


def _verdict(case: dict[str, Any], cache: VerifiedDocuments | None = None) -> str:
    folder = require_vectors()
    instant = at(case["verify_at"])
    try:
        # The manifest writes "no PCR expectation" as {}; our API names that choice.
        policy = pcr_policy_from(case["pcrs"]) if case["pcrs"] else UnsafeSkipPcrChecks()
        document = _document(case)
        if case["kind"] == "doc-only":
            root = (folder / case["files"]["root"]).read_bytes()
            assert document is not None
            root_pin = NitroTrustRoot.for_testing_only(root)
            verify_document(document, at=instant, trust_root=root_pin, cache=cache)
        else:
            certificate = load_certificate((folder / case["files"]["cert"]).read_bytes())
            if document is None:
                document = document_from_certificate(certificate)
            verify(document, certificate, at=instant, policy=policy, cache=cache)
    except AttestationError as failure:
        assert failure.kind in FAILURE_KINDS
        return failure.kind
    return "valid"


def test_vectors_folder_is_present() -> None:
    """Skipped (or failed under EVERVAULT_REQUIRE_NITRO_VECTORS=1) without the vectors."""
    assert (require_vectors() / "manifest.json").is_file()
    assert len(manifest_cases()) >= 30


# Without the vectors one placeholder case skips (or fails, when required) with the reason.
CASES = [pytest.param(case, id=_case_id(case)) for case in manifest_cases()] or [
    pytest.param(None, id="vectors-missing")
]


@pytest.mark.parametrize("case", CASES)
def test_manifest_case_gets_the_reference_verdict(case: dict[str, Any] | None) -> None:
    if case is None:
        require_vectors()
        return
    expected = FRIENDLIER_VERDICTS.get(case["id"], case["expected"])
    if case["id"] in FRIENDLIER_VERDICTS:
        assert "quirk" in case, "only documented quirks may differ from the reference"
    assert _verdict(case) == expected


def test_a_cache_warmed_by_every_case_changes_no_verdict() -> None:
    """Valid cases fill the cache; every case, run again in both orders, keeps its verdict."""
    require_vectors()
    cases = manifest_cases()
    cache = VerifiedDocuments(max_entries=len(cases))
    for ordering in (cases, list(reversed(cases)), cases):
        for case in ordering:
            expected = FRIENDLIER_VERDICTS.get(case["id"], case["expected"])
            assert _verdict(case, cache) == expected, case["id"]
    assert len(cache) > 0, "the valid cases must have been cached"


def test_the_manifest_root_is_the_pinned_aws_root() -> None:
    root = (require_vectors() / "root/nitro.pem").read_bytes()
    assert NitroTrustRoot.for_testing_only(root).sha256_fingerprint == AWS_NITRO_ROOT_SHA256


def test_doc_only_cases_pass_with_the_default_pinned_root() -> None:
    require_vectors()
    for case in manifest_cases():
        if case["kind"] == "doc-only" and case["expected"] == "valid":
            document = _document(case)
            assert document is not None
            parsed = verify_document(document, at=at(case["verify_at"]))
            assert parsed.digest == "SHA384"
            assert len(parsed.pcrs) == 16
