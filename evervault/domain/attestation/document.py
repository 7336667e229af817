"""The AWS Nitro attestation document (the COSE_Sign1 payload) and its structure rules.

Rules follow AWS's "Verifying the root of trust" specification: required fields and their
types, digest ``SHA384``, 1..32 PCRs with indices < 32 and 32/48/64-byte values, a non-empty
CA bundle of 1..1024-byte certificates and the optional public_key/user_data/nonce sizes.
Unknown fields are ignored (AWS may add some); known fields are never loosely typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from evervault.domain.attestation import cbor
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import AttestationError

PCR_LENGTHS = frozenset({32, 48, 64})
MAX_PCRS = 32
MAX_CERTIFICATE_LENGTH = 1024
OPTIONAL_FIELD_LIMITS = {"public_key": 1024, "user_data": 512, "nonce": 512}


@dataclass(frozen=True)
class AttestationDocument:
    """What an enclave asserted about itself, as signed by the Nitro hypervisor."""

    module_id: str
    digest: str
    timestamp_ms: int
    pcrs: Mapping[int, bytes]
    certificate: bytes
    cabundle: tuple[bytes, ...]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None

    def pcr_hex(self, index: int) -> str | None:
        """The PCR at ``index`` as lower-case hex, or ``None`` when the document lacks it."""
        value = self.pcrs.get(index)
        return None if value is None else value.hex()


def parse_document(payload: bytes) -> AttestationDocument:
    """Decode the COSE payload and enforce the AWS structure rules (``invalid-structure``)."""
    fields = cbor.decode(payload)
    if not isinstance(fields, dict):
        raise _invalid("the payload is not a CBOR map")
    return AttestationDocument(
        module_id=_module_id(fields),
        digest=_digest(fields),
        timestamp_ms=_timestamp(fields),
        pcrs=MappingProxyType(_pcrs(fields)),
        certificate=_certificate(fields),
        cabundle=_cabundle(fields),
        public_key=_optional_bytes(fields, "public_key"),
        user_data=_optional_bytes(fields, "user_data"),
        nonce=_optional_bytes(fields, "nonce"),
    )


def _invalid(reason: str) -> AttestationError:
    return attestation_failure(
        "invalid-structure",
        f"the attestation document does not follow the AWS Nitro structure: {reason}.",
    )


def _required(fields: Mapping[cbor.CborKey, cbor.CborValue], name: str) -> cbor.CborValue:
    if name not in fields:
        raise _invalid(f"the required field '{name}' is missing")
    return fields[name]


def _module_id(fields: Mapping[cbor.CborKey, cbor.CborValue]) -> str:
    value = _required(fields, "module_id")
    if not isinstance(value, str) or not value:
        raise _invalid("'module_id' must be a non-empty text string")
    return value


def _digest(fields: Mapping[cbor.CborKey, cbor.CborValue]) -> str:
    value = _required(fields, "digest")
    if value != "SHA384":
        raise _invalid(f"'digest' is {value!r}, expected 'SHA384'")
    return "SHA384"


def _timestamp(fields: Mapping[cbor.CborKey, cbor.CborValue]) -> int:
    value = _required(fields, "timestamp")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _invalid("'timestamp' must be a positive integer (milliseconds since the epoch)")
    return value


def _pcrs(fields: Mapping[cbor.CborKey, cbor.CborValue]) -> dict[int, bytes]:
    value = _required(fields, "pcrs")
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_PCRS:
        raise _invalid(f"'pcrs' must be a map of 1 to {MAX_PCRS} entries")
    pcrs: dict[int, bytes] = {}
    for index, measurement in value.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_PCRS:
            raise _invalid(f"PCR index {index!r} is not an integer in 0..{MAX_PCRS - 1}")
        if not isinstance(measurement, bytes) or len(measurement) not in PCR_LENGTHS:
            raise _invalid(f"PCR {index} is not a 32, 48 or 64-byte string")
        pcrs[index] = measurement
    return pcrs


def _certificate(fields: Mapping[cbor.CborKey, cbor.CborValue]) -> bytes:
    value = _required(fields, "certificate")
    if not isinstance(value, bytes) or not 1 <= len(value) <= MAX_CERTIFICATE_LENGTH:
        raise _invalid(f"'certificate' must be 1..{MAX_CERTIFICATE_LENGTH} bytes of DER")
    return value


def _cabundle(fields: Mapping[cbor.CborKey, cbor.CborValue]) -> tuple[bytes, ...]:
    value = _required(fields, "cabundle")
    if not isinstance(value, list) or not value:
        raise _invalid("'cabundle' must be a non-empty array")
    for position, entry in enumerate(value):
        if not isinstance(entry, bytes) or not 1 <= len(entry) <= MAX_CERTIFICATE_LENGTH:
            raise _invalid(f"cabundle[{position}] must be 1..{MAX_CERTIFICATE_LENGTH} bytes")
    return tuple(entry for entry in value if isinstance(entry, bytes))


def _optional_bytes(fields: Mapping[cbor.CborKey, cbor.CborValue], name: str) -> bytes | None:
    value = fields.get(name)
    if value is None:
        return None
    limit = OPTIONAL_FIELD_LIMITS[name]
    if not isinstance(value, bytes) or not 1 <= len(value) <= limit:
        raise _invalid(f"'{name}' must be null or 1..{limit} bytes")
    return value
