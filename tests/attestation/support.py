"""Shared helpers for the attestation tests: the Nitro vectors and instants."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS_DIR = REPO_ROOT.parent / "shared" / "vectors" / "nitro"
REQUIRE_VECTORS = os.environ.get("EVERVAULT_REQUIRE_NITRO_VECTORS") == "1"


def vectors_available() -> bool:
    return (VECTORS_DIR / "manifest.json").is_file()


def require_vectors() -> Path:
    """The vectors folder; skip (or fail when CI requires them) when it is absent."""
    if vectors_available():
        return VECTORS_DIR
    reason = f"Nitro vectors not found at {VECTORS_DIR} (the shared/ folder beside the repo)"
    if REQUIRE_VECTORS:
        pytest.fail(reason + " but EVERVAULT_REQUIRE_NITRO_VECTORS=1")
    pytest.skip(reason)


def manifest_cases() -> list[dict[str, Any]]:
    if not vectors_available():
        return []
    manifest = json.loads((VECTORS_DIR / "manifest.json").read_text())
    cases: list[dict[str, Any]] = manifest["cases"]
    return cases


def at(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, timezone.utc)


@dataclass(frozen=True)
class GaVector:
    """The GA document, its TLS certificate and an instant at which both are valid."""

    document: bytes
    certificate_der: bytes
    instant: datetime


GA_INSTANT = 1695050165
BETA_INSTANT = 1674054914
BETA_PEM = "test-data/beta/non-debug-cert-containing-attestation-document-18-1-23.pem"
BETA_DER = "test-data/beta/non-debug-cert-containing-attestation-document-18-1-23-der.crt"


def ga_vector() -> GaVector:
    folder = require_vectors()
    return GaVector(
        document=base64.b64decode((folder / "test-data/valid-attestation-doc-base64").read_bytes()),
        certificate_der=(folder / "test-data/valid-certificate.der").read_bytes(),
        instant=at(GA_INSTANT),
    )
