"""COSE_Sign1 decoding, the ES384 check and the AWS document structure rules."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from evervault.domain.attestation.cose import decode_cose_sign1, verify_es384
from evervault.domain.attestation.document import parse_document
from evervault.domain.attestation.verifier import verify_document
from evervault.domain.errors import AttestationError
from tests.attestation.conftest import NOW, SignedFixture


def _kind(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AttestationError) as caught:
        call(*args, **kwargs)
    return caught.value.kind


def _parts(document: bytes) -> list[Any]:
    parts: list[Any] = cbor2.loads(document)
    return parts


def test_untagged_and_tag_18_forms_both_verify(signed: SignedFixture) -> None:
    tagged = cbor2.dumps(cbor2.CBORTag(18, _parts(signed.document)))
    for form in (signed.document, tagged):
        assert verify_document(form, at=NOW, trust_root=signed.trust_root).digest == "SHA384"


def test_other_tags_are_malformed_cose(signed: SignedFixture) -> None:
    wrong = cbor2.dumps(cbor2.CBORTag(98, _parts(signed.document)))
    assert _kind(decode_cose_sign1, wrong) == "malformed-cose"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p[:3],
        lambda p: [*p, b""],
        lambda p: [cbor2.dumps({1: -7}), *p[1:]],  # ES256 is not what Nitro signs with
        lambda p: [cbor2.dumps({4: b"kid"}), *p[1:]],  # no algorithm at all
        lambda p: [b"", *p[1:]],
        lambda p: [{1: -35}, *p[1:]],  # protected header not wrapped in a bstr
        lambda p: [p[0], [], *p[2:]],
        lambda p: [*p[:2], "payload", p[3]],
        lambda p: [*p[:3], p[3][:-1]],
        lambda p: [*p[:3], p[3].hex()],
    ],
)
def test_structural_cose_errors(signed: SignedFixture, mutate: Any) -> None:
    assert _kind(decode_cose_sign1, cbor2.dumps(mutate(_parts(signed.document)))) in {"malformed-cose"}


def test_a_non_array_is_malformed_cose() -> None:
    assert _kind(decode_cose_sign1, cbor2.dumps({"a": 1})) == "malformed-cose"


def test_tampered_payload_fails_the_signature(signed: SignedFixture) -> None:
    protected, unprotected, payload, signature = _parts(signed.document)
    fields = cbor2.loads(payload)
    fields["module_id"] = "i-attacker"
    forged = cbor2.dumps([protected, unprotected, cbor2.dumps(fields), signature])
    assert _kind(verify_document, forged, at=NOW, trust_root=signed.trust_root) == "bad-signature"


def test_signature_from_another_key_fails(signed: SignedFixture) -> None:
    message = decode_cose_sign1(signed.document)
    other_key = signed.pki.intermediates[0].key.public_key()
    assert _kind(verify_es384, message, other_key) == "bad-signature"


def test_signing_key_of_the_wrong_type_fails(signed: SignedFixture) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    message = decode_cose_sign1(signed.document)
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert _kind(verify_es384, message, p256) == "bad-signature"


def _payload(signed: SignedFixture) -> dict[str, Any]:
    fields: dict[str, Any] = cbor2.loads(_parts(signed.document)[2])
    return fields


def test_parses_every_field(signed: SignedFixture) -> None:
    document = parse_document(cbor2.dumps(_payload(signed)))
    assert document.module_id.startswith("i-")
    assert document.user_data == signed.tls_spki
    assert document.public_key is None and document.nonce is None
    assert len(document.cabundle) == 3
    assert document.pcr_hex(8) == document.pcrs[8].hex()
    assert document.pcr_hex(31) is None


STRUCTURE_VIOLATIONS: list[tuple[str, Any]] = [
    ("module_id", None),
    ("module_id", ""),
    ("module_id", 7),
    ("digest", "SHA256"),
    ("digest", b"SHA384"),
    ("timestamp", 0),
    ("timestamp", -5),
    ("timestamp", "1"),
    ("timestamp", True),
    ("pcrs", {}),
    ("pcrs", {32: b"\x00" * 48}),
    ("pcrs", {-1: b"\x00" * 48}),
    ("pcrs", {0: b"\x00" * 47}),
    ("pcrs", {0: "00" * 48}),
    ("pcrs", {"0": b"\x00" * 48}),
    ("pcrs", {i: b"\x00" * 48 for i in range(33)}),
    ("pcrs", [b"\x00" * 48]),
    ("certificate", b""),
    ("certificate", b"\x00" * 1025),
    ("certificate", "der"),
    ("cabundle", []),
    ("cabundle", [b""]),
    ("cabundle", [b"\x00" * 1025]),
    ("cabundle", ["pem"]),
    ("cabundle", b"\x00"),
    ("public_key", b""),
    ("public_key", b"\x00" * 1025),
    ("user_data", b"\x00" * 513),
    ("user_data", "text"),
    ("nonce", b""),
    ("nonce", b"\x00" * 513),
]


@pytest.mark.parametrize(("field", "value"), STRUCTURE_VIOLATIONS)
def test_structure_rules(signed: SignedFixture, field: str, value: Any) -> None:
    fields = _payload(signed)
    if value is None:
        del fields[field]
    else:
        fields[field] = value
    assert _kind(parse_document, cbor2.dumps(fields)) == "invalid-structure"


def test_structure_allows_the_documented_sizes_and_unknown_fields(signed: SignedFixture) -> None:
    fields = _payload(signed)
    fields.update(
        pcrs={0: b"\x00" * 32, 1: b"\x01" * 48, 31: b"\x02" * 64},
        public_key=b"\x01" * 1024,
        user_data=b"\x01" * 512,
        nonce=b"\x01" * 512,
        future_field="ignored",
    )
    document = parse_document(cbor2.dumps(fields))
    assert sorted(document.pcrs) == [0, 1, 31]


def test_payload_that_is_not_a_map_is_invalid_structure() -> None:
    assert _kind(parse_document, cbor2.dumps([1, 2])) == "invalid-structure"


def test_duplicate_keys_in_the_payload_are_malformed_cbor(signed: SignedFixture) -> None:
    fields = _payload(signed)
    payload = cbor2.dumps(fields)
    # The same map with one more entry that repeats "digest" (a second reader's view).
    duplicated = (
        bytes([0xA0 | (len(fields) + 1)]) + payload[1:] + cbor2.dumps("digest") + cbor2.dumps("SHA384")
    )
    assert _kind(parse_document, duplicated) == "malformed-cbor"
