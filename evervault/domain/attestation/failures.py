"""The closed set of attestation failure kinds and one constructor for their errors.

The kinds are the verdicts of the Nitro vector manifest, so a failure can be compared with
the reference verifier case by case and a caller can branch on ``error.kind``.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from evervault.domain.errors import AttestationError

FailureKind = Literal[
    "pcr-mismatch",
    "expired",
    "not-yet-valid",
    "untrusted-chain",
    "invalid-chain",
    "bad-signature",
    "user-data-mismatch",
    "missing-user-data",
    "malformed-cbor",
    "malformed-cose",
    "invalid-structure",
    "malformed-san-hex",
    "no-attestation-doc",
    "malformed-cert",
]

FAILURE_KINDS: Final[frozenset[str]] = frozenset(get_args(FailureKind))


def attestation_failure(kind: FailureKind, message: str) -> AttestationError:
    """Build the error for one failed check; the message says what differed and what to do."""
    return AttestationError(f"Attestation failed ({kind}): {message}", kind=kind, reason=message)
