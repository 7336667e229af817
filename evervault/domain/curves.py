"""The two curves Evervault uses, SEC1 points, the explicit-parameter SPKI and the KDF.

docs/protocol.md §2.3-2.6.

The KDF hashes the DER SubjectPublicKeyInfo of the *ephemeral* key written with
explicit curve parameters (not the usual named-curve OID). For a fixed curve
every byte before the 65-byte uncompressed point is constant, so the SPKI is
built as ``prefix || point``: the prefixes below are those constant bytes
(checked against an independent DER encoder in the tests), which is both exact
and far cheaper than running an ASN.1 encoder per key.
"""

from __future__ import annotations

import enum
import hashlib

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evervault.domain.errors import ConfigurationError, MalformedCiphertextError

COMPRESSED_POINT_LENGTH = 33
UNCOMPRESSED_POINT_LENGTH = 65
SHARED_SECRET_LENGTH = 32

_P256_SPKI_PREFIX = bytes.fromhex(
    "3082014b3082010306072a8648ce3d02013081f7020101302c06072a8648ce3d0101022100ffffffff"
    "00000001000000000000000000000000ffffffffffffffffffffffff305b0420ffffffff000000010000"
    "00000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d"
    "06b0cc53b0f63bce3c3e27d2604b031500c49d360886e704936a6678e1139d26b7819f7e900441046b17"
    "d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a"
    "7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6fa"
    "ada7179e84f3b9cac2fc632551020101034200"
)
_SECP256K1_SPKI_PREFIX = bytes.fromhex(
    "308201333081ec06072a8648ce3d02013081e0020101302c06072a8648ce3d0101022100ffffffffffff"
    "fffffffffffffffffffffffffffffffffffffffffffefffffc2f30440420000000000000000000000000"
    "000000000000000000000000000000000000000004200000000000000000000000000000000000000000"
    "00000000000000000000000704410479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f281"
    "5b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8022100ffff"
    "fffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141020101034200"
)

_KDF_COUNTER = b"\x00\x00\x00\x01"


class Curve(enum.Enum):
    """An elliptic curve supported by Evervault, named as the published SDK names it."""

    SECP256K1 = "SECP256K1"
    P256 = "SECP256R1"

    @classmethod
    def from_name(cls, name: str | Curve) -> Curve:
        """Accept the published SDK's names and common aliases, case-insensitively."""
        if isinstance(name, Curve):
            return name
        curve = _CURVE_ALIASES.get(str(name).strip().lower().replace("_", "-"))
        if curve is None:
            raise ConfigurationError(
                f"The {name!r} curve is not supported; use 'SECP256K1' (default) or 'SECP256R1'."
            )
        return curve

    @property
    def ec_curve(self) -> ec.EllipticCurve:
        return ec.SECP256K1() if self is Curve.SECP256K1 else ec.SECP256R1()

    @property
    def spki_prefix(self) -> bytes:
        """The constant DER bytes before the uncompressed point in the explicit-parameter SPKI."""
        return _SECP256K1_SPKI_PREFIX if self is Curve.SECP256K1 else _P256_SPKI_PREFIX


_CURVE_ALIASES = {
    "secp256k1": Curve.SECP256K1,
    "k1": Curve.SECP256K1,
    "koblitz": Curve.SECP256K1,
    "secp256r1": Curve.P256,
    "p256": Curve.P256,
    "p-256": Curve.P256,
    "prime256v1": Curve.P256,
    "nist-p256": Curve.P256,
}


def load_public_point(curve: Curve, encoded: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a SEC1 point (compressed or uncompressed) that must lie on ``curve``."""
    if len(encoded) not in (COMPRESSED_POINT_LENGTH, UNCOMPRESSED_POINT_LENGTH):
        raise MalformedCiphertextError(
            f"An EC public key must be 33 (compressed) or 65 (uncompressed) bytes, got {len(encoded)}."
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.ec_curve, encoded)
    except ValueError:
        raise MalformedCiphertextError(f"The public key is not a valid point on {curve.value}.") from None


def compressed_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def uncompressed_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def explicit_spki_der(curve: Curve, uncompressed: bytes) -> bytes:
    """DER SubjectPublicKeyInfo with explicit curve parameters (docs/protocol.md §2.5)."""
    if len(uncompressed) != UNCOMPRESSED_POINT_LENGTH or uncompressed[0] != 0x04:
        raise MalformedCiphertextError("The SPKI needs a 65-byte uncompressed point (04 || X || Y).")
    return curve.spki_prefix + uncompressed


def kdf(curve: Curve, shared_secret: bytes, ephemeral_uncompressed: bytes) -> bytes:
    """The single-block X9.63-style KDF: SHA-256(Z || 00000001 || explicit SPKI of the ephemeral key)."""
    return hashlib.sha256(
        shared_secret + _KDF_COUNTER + explicit_spki_der(curve, ephemeral_uncompressed)
    ).digest()


def ecdh(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """Standard ECDH: the 32-byte big-endian x-coordinate of ``private * peer``."""
    return private_key.exchange(ec.ECDH(), peer)


def private_key_from_scalar(curve: Curve, scalar: bytes) -> ec.EllipticCurvePrivateKey:
    """A private key from its 32-byte big-endian scalar (fixed keys for vectors and the emulator)."""
    value = int.from_bytes(scalar, "big")
    try:
        return ec.derive_private_key(value, curve.ec_curve)
    except ValueError:
        raise ConfigurationError(f"The private scalar is out of range for {curve.value}.") from None


def private_scalar(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.private_numbers().private_value.to_bytes(SHARED_SECRET_LENGTH, "big")
