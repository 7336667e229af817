"""Pure AWS Nitro attestation: COSE_Sign1, document rules, chain, PCR policy, TLS binding.

Nothing here reads the clock or opens a socket: the verification instant is an argument.
"""

from evervault.domain.attestation.chain import AWS_NITRO_ROOT_SHA256, NitroTrustRoot
from evervault.domain.attestation.document import AttestationDocument
from evervault.domain.attestation.failures import FAILURE_KINDS, FailureKind
from evervault.domain.attestation.policy import (
    AnyOf,
    PcrPolicy,
    PCRs,
    UnsafeSkipPcrChecks,
    pcr_policy_from,
)
from evervault.domain.attestation.san import document_from_certificate
from evervault.domain.attestation.verifier import VerifiedDocuments, require_binding, verify, verify_document

__all__ = [
    "AWS_NITRO_ROOT_SHA256",
    "FAILURE_KINDS",
    "AnyOf",
    "AttestationDocument",
    "FailureKind",
    "NitroTrustRoot",
    "PCRs",
    "PcrPolicy",
    "UnsafeSkipPcrChecks",
    "VerifiedDocuments",
    "document_from_certificate",
    "pcr_policy_from",
    "require_binding",
    "verify",
    "verify_document",
]
