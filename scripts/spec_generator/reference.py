"""An independent reference implementation of the ev-string and ``%EVENC`` formats.

Written from the documented algorithm with low-level primitives only: a hand-rolled DER
encoder fed with the published curve parameters, ``cryptography``'s ECDH and AESGCM,
hashlib, and the MessagePack bytes written out by hand. It never imports ``evervault``
(tests/spec checks this), so the vectors it builds check our code against a separate
construction rather than against itself.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .inputs import APP_SCALARS, K1, P256


@dataclass(frozen=True)
class CurveParams:
    """The published domain parameters, as the explicit-parameter SPKI spells them out."""

    p: int
    a: int
    b: int
    seed: bytes | None
    gx: int
    gy: int
    n: int
    h: int
    ec_curve: ec.EllipticCurve


PARAMS = {
    P256: CurveParams(
        p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        a=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
        b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        seed=bytes.fromhex("C49D360886E704936A6678E1139D26B7819F7E90"),
        gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        h=1,
        ec_curve=ec.SECP256R1(),
    ),
    K1: CurveParams(
        p=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F,
        a=0,
        b=7,
        seed=None,
        gx=0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
        gy=0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
        n=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
        h=1,
        ec_curve=ec.SECP256K1(),
    ),
}


def _der(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes((tag, length)) + body
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # +1 keeps the sign bit clear
    while len(body) > 1 and body[0] == 0 and body[1] < 0x80:
        body = body[1:]
    return _der(0x02, body)


def _der_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def reference_spki(curve: str, uncompressed: bytes) -> bytes:
    """RFC 3279 SubjectPublicKeyInfo with explicit ECParameters (docs/protocol.md §2.5)."""
    params = PARAMS[curve]
    curve_fields = [_der(0x04, params.a.to_bytes(32, "big")), _der(0x04, params.b.to_bytes(32, "big"))]
    if params.seed is not None:
        curve_fields.append(_der(0x03, b"\x00" + params.seed))
    base = b"\x04" + params.gx.to_bytes(32, "big") + params.gy.to_bytes(32, "big")
    ec_parameters = _seq(
        _der_int(1),
        _seq(_der_oid("1.2.840.10045.1.1"), _der_int(params.p)),
        _seq(*curve_fields),
        _der(0x04, base),
        _der_int(params.n),
        _der_int(params.h),
    )
    algorithm = _seq(_der_oid("1.2.840.10045.2.1"), ec_parameters)
    return _seq(algorithm, _der(0x03, b"\x00" + uncompressed))


def ref_private(curve: str, scalar: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(scalar, "big"), PARAMS[curve].ec_curve)


def ref_points(curve: str, scalar: bytes) -> tuple[bytes, bytes]:
    """(compressed, uncompressed) SEC1 encodings of ``scalar * G``."""
    public = ref_private(curve, scalar).public_key()
    return (
        public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint),
        public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
    )


def ref_shared_secret(curve: str, private_scalar: bytes, peer_scalar: bytes) -> bytes:
    peer = ref_private(curve, peer_scalar).public_key()
    return ref_private(curve, private_scalar).exchange(ec.ECDH(), peer)


def ref_kdf(curve: str, shared: bytes, ephemeral_uncompressed: bytes) -> bytes:
    return hashlib.sha256(
        shared + b"\x00\x00\x00\x01" + reference_spki(curve, ephemeral_uncompressed)
    ).digest()


@dataclass(frozen=True)
class VersionTraits:
    curve: str
    key: str  # "raw" (the ECDH secret) or "kdf"
    aad: str  # "none", "app-key" or "v2"
    metadata: bool


VERSIONS = {
    "RFVC": VersionTraits(K1, "raw", "none", False),
    "Tk9D": VersionTraits(P256, "kdf", "app-key", False),
    "S0lS": VersionTraits(K1, "kdf", "v2", True),
    "QkTC": VersionTraits(P256, "kdf", "v2", True),
    "QlJV": VersionTraits(K1, "kdf", "app-key", True),
    "TENZ": VersionTraits(P256, "kdf", "app-key", True),
    "T1JL": VersionTraits(P256, "raw", "none", False),
}
DATATYPE_NUMBERS = {"string": 0, "number": 1, "boolean": 2}


def ref_map(role: str | None, origin: int, timestamp: int) -> bytes:
    """The MessagePack map of docs/protocol.md §4.2, byte by byte."""
    out = bytearray()
    if role is None:
        out.append(0x82)
    else:
        role_bytes = role.encode()
        out += b"\x83" + b"\xa2dr" + bytes((0xA0 | len(role_bytes),)) + role_bytes
    out += b"\xa2eo" + bytes((origin,))
    out += b"\xa2et" + b"\xce" + struct.pack(">I", timestamp)
    return bytes(out)


def b64_unpadded(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class StringInputs:
    """Everything that determines one ev-string."""

    curve: str
    version: str
    app: str
    ephemeral: bytes
    iv: bytes
    datatype: str
    text_bytes: bytes
    frame_map: bytes | None = None  # the MessagePack map for metadata versions
    debug: bool = False
    config_byte: int | None = None  # overrides the v2 AAD config byte (debug values)


@dataclass(frozen=True)
class Sealed:
    key: bytes
    key_kind: str
    aad: bytes
    plaintext: bytes
    text: str


def ref_key(curve: str, key_kind: str, app: str, ephemeral: bytes) -> bytes:
    shared = ref_shared_secret(curve, ephemeral, APP_SCALARS[app])
    if key_kind == "raw":
        return shared
    return ref_kdf(curve, shared, ref_points(curve, ephemeral)[1])


def ref_aad(inputs: StringInputs, traits: VersionTraits) -> bytes:
    app_key = ref_points(inputs.curve, APP_SCALARS[inputs.app])[0]
    if traits.aad == "none":
        return b""
    if traits.aad == "app-key":
        return app_key
    config = inputs.config_byte
    if config is None:
        config = (DATATYPE_NUMBERS[inputs.datatype] << 4) | (1 if inputs.curve == P256 else 0)
    return bytes((config,)) + ref_points(inputs.curve, inputs.ephemeral)[0] + app_key


def ref_seal(inputs: StringInputs) -> Sealed:
    """The reference ev-string for ``inputs`` (docs/protocol.md §1, §2, §3.2, §4)."""
    traits = VERSIONS[inputs.version]
    key = ref_key(inputs.curve, traits.key, inputs.app, inputs.ephemeral)
    aad = ref_aad(inputs, traits)
    plaintext = inputs.text_bytes
    if inputs.frame_map is not None:
        plaintext = struct.pack("<H", len(inputs.frame_map)) + inputs.frame_map + plaintext
    ciphertext = AESGCM(key).encrypt(inputs.iv, plaintext, aad or None)
    segments = ["ev"] + (["debug"] if inputs.debug else []) + [inputs.version]
    if inputs.datatype != "string":
        segments.append(inputs.datatype)
    eph_compressed = ref_points(inputs.curve, inputs.ephemeral)[0]
    segments += [b64_unpadded(inputs.iv), b64_unpadded(eph_compressed), b64_unpadded(ciphertext), "$"]
    return Sealed(key, traits.key, aad, plaintext, ":".join(segments))


@dataclass(frozen=True)
class FileInputs:
    curve: str
    version: int
    app: str
    ephemeral: bytes
    iv: bytes
    data: bytes
    metadata_map: bytes | None = None  # versions 4/5 only


def file_traits(version: int) -> tuple[str, str, bool]:
    """(curve, key kind, AAD is the app key) of a ``%EVENC`` version (docs/protocol.md §6)."""
    curve = K1 if version % 2 == 0 else P256
    kdf = curve == P256 or version >= 4
    return curve, "kdf" if kdf else "raw", kdf


def ref_file(inputs: FileInputs) -> tuple[bytes, bytes, str, bytes]:
    """(file bytes, AES key, key kind, AAD) of a reference ``%EVENC`` file."""
    curve, key_kind, app_key_aad = file_traits(inputs.version)
    key = ref_key(curve, key_kind, inputs.app, inputs.ephemeral)
    aad = ref_points(curve, APP_SCALARS[inputs.app])[0] if app_key_aad else b""
    aead = AESGCM(key)
    data_ct = aead.encrypt(inputs.iv, inputs.data, aad or None)
    metadata_block = b""
    if inputs.metadata_map is not None:
        encrypted_map = aead.encrypt(inputs.iv, inputs.metadata_map, aad or None)  # same IV: as shipped
        metadata_block = struct.pack("<H", len(encrypted_map)) + encrypted_map
    offset = 55 + len(metadata_block)
    head = (
        b"%EVENC"
        + bytes((inputs.version,))
        + struct.pack("<H", offset)
        + ref_points(curve, inputs.ephemeral)[0]
        + inputs.iv
        + b"\x00"
    )
    body = head + metadata_block + data_ct
    if inputs.version >= 2:
        body += struct.pack("<I", zlib.crc32(body))
    return body, key, key_kind, aad


def with_crc(body_without_crc: bytes) -> bytes:
    return body_without_crc + struct.pack("<I", zlib.crc32(body_without_crc))


def negated_scalar(curve: str, scalar: bytes) -> bytes:
    """n - e: its public key is -E, the same x with the other parity (prefix 02 <-> 03)."""
    order = PARAMS[curve].n
    return ((order - int.from_bytes(scalar, "big")) % order).to_bytes(32, "big")


def leading_zero_ephemeral(curve: str) -> bytes:
    """A deterministic ephemeral scalar whose shared secret with app-1 starts with 0x00.

    Z is a fixed 32-byte big-endian value; SDKs that strip leading zeros (big-integer
    round trips) derive the wrong key, and this vector catches them.
    """
    counter = 0
    while True:
        scalar = hashlib.sha256(f"evervault-spec:leading-zero-z:{curve}:{counter}".encode()).digest()
        if ref_shared_secret(curve, scalar, APP_SCALARS["app-1"])[0] == 0:
            return scalar
        counter += 1
