"""COSE_Sign1 (RFC 9052) as AWS Nitro uses it: ES384 over the document payload.

Accepts the untagged array (what Nitro emits) and the tag-18 form; anything else is
``malformed-cose``. The signature is the raw ``r || s`` form COSE mandates (96 bytes for
P-384), converted to DER only to call ``cryptography``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from evervault.domain.attestation import cbor
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import AttestationError

COSE_SIGN1_TAG = 18
ALGORITHM_HEADER = 1
ES384 = -35
ES384_SIGNATURE_LENGTH = 96


@dataclass(frozen=True)
class CoseSign1:
    """A decoded COSE_Sign1 whose algorithm is known to be ES384."""

    protected: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        """The Sig_structure ``["Signature1", protected, external_aad = h'', payload]``."""
        return (
            _head(4, 4)
            + _text_item("Signature1")
            + _bytes_item(self.protected)
            + _bytes_item(b"")
            + _bytes_item(self.payload)
        )


def decode_cose_sign1(data: bytes) -> CoseSign1:
    """Decode a COSE_Sign1 document; raise ``malformed-cbor``/``malformed-cose`` if it is not one."""
    value = cbor.decode(data)
    if isinstance(value, cbor.CborTag):
        if value.tag != COSE_SIGN1_TAG:
            raise _malformed(f"it carries CBOR tag {value.tag}, expected none or {COSE_SIGN1_TAG}")
        value = value.value
    if not isinstance(value, list) or len(value) != 4:
        raise _malformed("it is not a 4-element array [protected, unprotected, payload, signature]")
    protected, unprotected, payload, signature = value
    if not isinstance(protected, bytes):
        raise _malformed("the protected header is not a byte string")
    if not isinstance(unprotected, dict):
        raise _malformed("the unprotected header is not a map")
    if not isinstance(payload, bytes) or not payload:
        raise _malformed("the payload is missing or not a byte string")
    if not isinstance(signature, bytes) or len(signature) != ES384_SIGNATURE_LENGTH:
        raise _malformed(f"the signature is not a {ES384_SIGNATURE_LENGTH}-byte ES384 r||s value")
    _require_es384(protected)
    return CoseSign1(protected=protected, payload=payload, signature=signature)


def verify_es384(message: CoseSign1, public_key: object) -> None:
    """Check the COSE signature with the signing certificate's key; raise ``bad-signature``."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP384R1
    ):
        raise attestation_failure(
            "bad-signature",
            f"the signing certificate's key is {type(public_key).__name__}, expected EC P-384 "
            "as ES384 requires.",
        )
    half = ES384_SIGNATURE_LENGTH // 2
    r = int.from_bytes(message.signature[:half], "big")
    s = int.from_bytes(message.signature[half:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), message.to_be_signed(), ec.ECDSA(hashes.SHA384()))
    except InvalidSignature as exc:
        raise attestation_failure(
            "bad-signature",
            "the COSE_Sign1 signature does not verify with the signing certificate's key; "
            "the document was altered or not signed by that certificate.",
        ) from exc


def _require_es384(protected: bytes) -> None:
    if not protected:
        raise _malformed("the protected header is empty, so no algorithm is protected")
    try:
        header = cbor.decode(protected)
    except AttestationError as exc:
        raise _malformed("the protected header is not a valid CBOR map") from exc
    if not isinstance(header, dict):
        raise _malformed("the protected header is not a map")
    algorithm = header.get(ALGORITHM_HEADER)
    if isinstance(algorithm, bool) or algorithm != ES384:
        raise _malformed(f"the algorithm is {algorithm!r}, expected ES384 ({ES384})")


def _malformed(reason: str) -> AttestationError:
    return attestation_failure(
        "malformed-cose",
        f"the attestation document is not an ES384 COSE_Sign1 structure: {reason}.",
    )


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([(major << 5) | argument])
    # Byte-string lengths always fit in 8 bytes, so one of the four widths is chosen.
    info, width = next(
        (24 + index, width) for index, width in enumerate((1, 2, 4, 8)) if argument < 1 << (8 * width)
    )
    return bytes([(major << 5) | info]) + argument.to_bytes(width, "big")


def _bytes_item(value: bytes) -> bytes:
    return _head(2, len(value)) + value


def _text_item(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return _head(3, len(encoded)) + encoded
