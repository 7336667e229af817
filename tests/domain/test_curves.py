"""Curves, SEC1 points, the explicit-parameter SPKI and the KDF (docs/protocol.md §2)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.curves import (
    Curve,
    compressed_point,
    ecdh,
    explicit_spki_der,
    kdf,
    load_public_point,
    private_key_from_scalar,
    private_scalar,
    uncompressed_point,
)
from evervault.domain.errors import ConfigurationError, MalformedCiphertextError

ORDERS = {
    Curve.SECP256K1: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    Curve.P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


@pytest.mark.parametrize(
    ("name", "curve"),
    [
        ("SECP256K1", Curve.SECP256K1),
        ("secp256k1", Curve.SECP256K1),
        ("SECP256R1", Curve.P256),
        ("secp256r1", Curve.P256),
        ("prime256v1", Curve.P256),
        ("P-256", Curve.P256),
        ("p256", Curve.P256),
        (" nist_p256 ", Curve.P256),
        (Curve.P256, Curve.P256),
    ],
)
def test_curve_names(name: str | Curve, curve: Curve) -> None:
    assert Curve.from_name(name) is curve


def test_unknown_curve_names_the_supported_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"SECP256K1.*SECP256R1"):
        Curve.from_name("ed25519")


def test_curve_values_are_the_published_sdk_names() -> None:
    assert [curve.value for curve in Curve] == ["SECP256K1", "SECP256R1"]


@pytest.mark.parametrize("curve", list(Curve))
def test_scalar_round_trip_and_range(curve: Curve) -> None:
    scalar = bytes([0x11]) * 32
    assert private_scalar(private_key_from_scalar(curve, scalar)) == scalar
    for out_of_range in (0, ORDERS[curve]):
        with pytest.raises(ConfigurationError, match="out of range"):
            private_key_from_scalar(curve, out_of_range.to_bytes(32, "big"))


@pytest.mark.parametrize("curve", list(Curve))
def test_points_load_in_both_encodings(curve: Curve) -> None:
    public = private_key_from_scalar(curve, bytes([0x22]) * 32).public_key()
    compressed, uncompressed = compressed_point(public), uncompressed_point(public)
    assert len(compressed) == 33 and compressed[0] in (2, 3)
    assert len(uncompressed) == 65 and uncompressed[0] == 4
    assert uncompressed_point(load_public_point(curve, compressed)) == uncompressed
    assert compressed_point(load_public_point(curve, uncompressed)) == compressed


@pytest.mark.parametrize("curve", list(Curve))
@pytest.mark.parametrize(
    "encoded",
    [b"", b"\x02" * 32, b"\x02" + bytes(31) + b"\x07", b"\x05" + bytes(32), b"\x04" + bytes(64)],
    ids=["empty", "32-bytes", "x-not-on-curve", "bad-prefix", "uncompressed-zero"],
)
def test_invalid_points_are_malformed_ciphertext(curve: Curve, encoded: bytes) -> None:
    with pytest.raises(MalformedCiphertextError):
        load_public_point(curve, encoded)


@pytest.mark.parametrize("curve", list(Curve))
def test_spki_is_prefix_plus_point_and_rejects_other_encodings(curve: Curve) -> None:
    public = private_key_from_scalar(curve, bytes([0x22]) * 32).public_key()
    point = uncompressed_point(public)
    der = explicit_spki_der(curve, point)
    assert der == curve.spki_prefix + point
    assert len(der) == {Curve.SECP256K1: 311, Curve.P256: 335}[curve]
    assert der[:4] == bytes((0x30, 0x82)) + (len(der) - 4).to_bytes(2, "big")  # outer SEQUENCE
    for wrong in (compressed_point(public), b"\x05" + point[1:]):
        with pytest.raises(MalformedCiphertextError):
            explicit_spki_der(curve, wrong)


@pytest.mark.parametrize("curve", list(Curve))
def test_kdf_is_one_sha256_block_over_the_explicit_spki(curve: Curve) -> None:
    point = uncompressed_point(private_key_from_scalar(curve, bytes([0x44]) * 32).public_key())
    shared = bytes(range(32))
    expected = hashlib.sha256(shared + b"\x00\x00\x00\x01" + curve.spki_prefix + point).digest()
    assert kdf(curve, shared, point) == expected


@settings(max_examples=30, deadline=None)
@given(
    curve=st.sampled_from(list(Curve)),
    a=st.integers(min_value=1, max_value=2**255),
    b=st.integers(min_value=1, max_value=2**255),
)
def test_ecdh_agrees_from_both_sides(curve: Curve, a: int, b: int) -> None:
    first = private_key_from_scalar(curve, a.to_bytes(32, "big"))
    second = private_key_from_scalar(curve, b.to_bytes(32, "big"))
    shared = ecdh(first, second.public_key())
    assert len(shared) == 32  # fixed width, leading zeros kept
    assert shared == ecdh(second, first.public_key())
    assert isinstance(first.public_key(), ec.EllipticCurvePublicKey)
