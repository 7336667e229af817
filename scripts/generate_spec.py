#!/usr/bin/env python3
"""Write the conformance vectors in ``spec/`` from fixed, independent inputs.

Run from the repository root::

    python3 scripts/generate_spec.py           # (re)write spec/*.json
    python3 scripts/generate_spec.py --check   # fail if spec/*.json differ from a fresh run

Every vector is built twice where possible:

* by a small *reference* implementation in this file, written from the documented
  algorithm with low-level primitives only (a hand-rolled DER encoder fed with the
  published curve parameters, ``cryptography``'s ECDH and AESGCM, hashlib, and the
  MessagePack bytes written out by hand); it never calls ``evervault.domain``;
* for the "both" direction, also by our own ``Encryptor`` with fixed ephemeral key,
  IV and clock - the generator stops if the two disagree by a single byte.

Decrypt-only vectors (legacy versions, other SDKs' encodings, debug values, old file
versions) and invalid vectors come from the reference side alone, so the tests that
decrypt them check our decryptor against an independent construction. The domain is
used once more at the end to confirm each invalid vector raises its documented kind.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import math
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = REPO_ROOT / "spec"
sys.path.insert(0, str(REPO_ROOT))

from evervault.domain import errors  # noqa: E402 - needs the repo root on the path
from evervault.domain.curves import Curve, private_key_from_scalar  # noqa: E402
from evervault.domain.decryption import Decryptor  # noqa: E402
from evervault.domain.encryption import Encryptor  # noqa: E402
from evervault.domain.metadata import encode_frame, encode_map  # noqa: E402

Json = dict[str, Any]

# =======================================================================================
# Fixed inputs
# =======================================================================================

K1 = "secp256k1"
P256 = "secp256r1"
CURVES = (K1, P256)

APP_SCALARS = {"app-1": bytes([0x11]) * 32, "app-2": bytes([0x33]) * 32}
EPH_DOC = bytes([0x22]) * 32  # the ephemeral scalar of wire-format 1.6 / 6.1
EPH_ALT = bytes([0x44]) * 32
IV_DOC = bytes(range(1, 13))
IV_ALT = bytes([0xFF]) * 12
IV_ZERO = bytes(12)
TS_DOC = 1700000000
TS_MAX = 0xFFFFFFFF
PYTHON_ORIGIN = 7
ROLE = "my-role"


def _tokens(block: str) -> list[str]:
    return block.split()


# Published ev-strings, verbatim (wire-format 1.6): every one must be reproduced exactly.
# A text block, one vector per line, keeps the long lines exactly as published.
DOC_STRINGS = _tokens(
    """
ev:RFVC:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:fYuz8wN4CtwLa7Yy+bbJNNndqTGa:$
ev:RFVC:number:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:IdwdQkJ/LmeaHqNieOyfJVov:$
ev:RFVC:boolean:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:YZyq+k8U9rgrfLqB9E7zpI/9oL4:$
ev:RFVC:number:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:IcDvVgkKSCf4Smg/7p93ugL8ug:$
ev:S0lS:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3EDt2eZ93I//oOeVdZ/UtHXmgtK8/o:$
ev:S0lS:number:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3Ff4D+IhtVZ1GEEJJ5q9CIr02Y:$
ev:S0lS:boolean:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3ENs2eG/Wdv/jA2mSMnuKzn0U8O5SU:$
ev:S0lS:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:ZTUsBsjfuAKs0WXxpA+iBFpUdDTXWmhw/p4p0C1G0ez6vEvP:$
ev:QlJV:AQIDBAUGBwgJCgsM:AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n:cDUtBsnCGM2wiNn7m5sACVA/uj7QOGfTY3EDt2eZ90m9k0PqSue4dM/z7NGywUc:$
ev:Tk9D:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:nSH+41s/lRnzJ7jZgT4MBQclWEgh:$
ev:Tk9D:number:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:wXbpGnDkZHWJ0mJVhCss9q0K:$
ev:Tk9D:boolean:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:gTbn6vWPSfVdVcmGJwQPom1M5Lc:$
ev:QkTC:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad62r8Hx/FlxfoA/hzI5QYzRhv86Yms:$
ev:QkTC:number:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad7q+AVJxQ59GRvF6RidVGHvxc8:$
ev:QkTC:boolean:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad64q8Hu9vsjvWDmaKb2d3tLo3iwrmc:$
ev:QkTC:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:+EQQLVHniu5N8fqQdEFPKnZIblxKJMW96fFdTRSszLRWDDIC:$
ev:TENZ:AQIDBAUGBwgJCgsM:A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz:7UQRLVD6KiFRqEaaS9XtJ3wjoFZDLN8Pad62r8Hx/FRqf7dG601yC1sYAo/fmnk:$
"""
)
# Published files, verbatim (wire-format 6.1: "hello file", same fixed inputs).
DOC_FILES = dict(
    zip(
        (K1, P256),
        _tokens(
            """
254556454e4302370002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f270102030405060708090a0b0c007d8bb3f3031ca31e66a19c857b0442d96005e694917d0f7403254e59ace9
254556454e4303370003d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf30102030405060708090a0b0c009d21fee35ba8eb2544e0126fd1c18add30f25973635f0867c9d02543e1dd
"""
        ),
        strict=True,
    )
)
DOC_DER = {
    P256: (
        "04b7556ac070c439ba914e6e2f3ba2e582304dc548524ffc8414abc07ab5a843ecb1f1d71d3a620e6a7c08b895a72d62e2250d248a31da2a5d59ba6ecd636726c4",
        "MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAAAAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA///////////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSdNgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA//////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABLdVasBwxDm6kU5uLzui5YIwTcVIUk/8hBSrwHq1qEPssfHXHTpiDmp8CLiVpy1i4iUNJIox2ipdWbpuzWNnJsQ=",
    ),
    K1: (
        "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
        "MIIBMzCB7AYHKoZIzj0CATCB4AIBATAsBgcqhkjOPQEBAiEA/////////////////////////////////////v///C8wRAQgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAHBEEEeb5mfvncu6xVoGKVzocLBwKb/NstzijZWfKBWxb4F5hIOtp3JqPEZV2k+/wOEQio/Re0SKaFVBmcR9CP+xDUuAIhAP////////////////////66rtzmr0igO7/SXozQNkFBAgEBA0IABHm+Zn753LusVaBilc6HCwcCm/zbLc4o2VnygVsW+BeYSDradyajxGVdpPv8DhEIqP0XtEimhVQZnEfQj/sQ1Lg=",
    ),
}

# =======================================================================================
# Reference implementation (never calls evervault.domain)
# =======================================================================================


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
    """RFC 3279 SubjectPublicKeyInfo with explicit ECParameters (wire-format 2.5)."""
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
    """The MessagePack map of wire-format 4.2, byte by byte."""
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
    """The reference ev-string for ``inputs`` (wire-format 1, 2, 3.2, 4)."""
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
    """(curve, key kind, AAD is the app key) of a ``%EVENC`` version (wire-format 6)."""
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


# =======================================================================================
# Our domain, driven with fixed randomness (used for "both" vectors and for checking)
# =======================================================================================

DOMAIN_CURVES = {K1: Curve.SECP256K1, P256: Curve.P256}


class FixedClock:
    def __init__(self, timestamp: int) -> None:
        self._timestamp = timestamp

    def time(self) -> float:
        return float(self._timestamp)

    def monotonic(self) -> float:
        return 0.0


class FixedIv:
    def __init__(self, iv: bytes) -> None:
        self._iv = iv

    def next_iv(self) -> tuple[bytes, str]:
        return self._iv, base64.b64encode(self._iv).decode("ascii")


def domain_encryptor(curve: str, app: str, ephemeral: bytes, iv: bytes, timestamp: int) -> Encryptor:
    domain_curve = DOMAIN_CURVES[curve]
    ephemeral_key = private_key_from_scalar(domain_curve, ephemeral)
    return Encryptor(
        domain_curve,
        ref_points(curve, APP_SCALARS[app])[0],
        ephemeral_keys=lambda _curve: ephemeral_key,
        iv_source=FixedIv(iv),
        clock=FixedClock(timestamp),
    )


def domain_decryptor(app: str) -> Decryptor:
    return Decryptor(
        {
            DOMAIN_CURVES[curve]: private_key_from_scalar(DOMAIN_CURVES[curve], APP_SCALARS[app])
            for curve in CURVES
        }
    )


ERROR_KINDS: dict[str, tuple[type[errors.CiphertextError], str]] = {
    "malformed-ciphertext": (
        errors.MalformedCiphertextError,
        "The string breaks the ev-string grammar (prefix, segments, lengths, base64, point encoding).",
    ),
    "unsupported-version": (
        errors.UnsupportedVersionError,
        "The version tag (string) or version byte (file) is not one of the known versions.",
    ),
    "malformed-file": (
        errors.MalformedFileError,
        "The %EVENC envelope is truncated, has a wrong magic, offset, key prefix or metadata length.",
    ),
    "file-checksum": (errors.FileChecksumError, "The file's CRC-32 does not match its bytes."),
    "decryption-failed": (
        errors.DecryptionError,
        "AES-GCM authentication failed: altered bytes, wrong key, wrong app, or wrong AAD.",
    ),
    "metadata": (errors.MetadataError, "The decrypted metadata frame or MessagePack map is malformed."),
    "malformed-value": (
        errors.MalformedCiphertextError,
        "The ciphertext authenticated, but its plaintext is not valid UTF-8 or not a valid "
        "rendering of its datatype (e.g. a boolean that is neither true/false nor 1/0).",
    ),
}

# =======================================================================================
# Value helpers
# =======================================================================================


def typed_value(value: object) -> Json:
    """A value as the spec writes it: integers and floats as text so no precision is lost."""
    if value is None:
        return {"type": "null", "value": None}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int):
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    raise TypeError(f"no spec encoding for {type(value).__name__}")


def python_text(value: object) -> tuple[str, str]:
    """(datatype, text) as the Python SDK renders a primitive (wire-format 5.1)."""
    if isinstance(value, bool):
        return "boolean", "true" if value else "false"
    if isinstance(value, (int, float)):
        return "number", repr(value)
    if isinstance(value, str):
        return "string", value
    raise TypeError(type(value).__name__)


def metadata_json(role: str | None, origin: int, timestamp: int) -> Json:
    return {"role": role, "origin": origin, "timestamp": timestamp}


# =======================================================================================
# keys.json and der.json
# =======================================================================================

EPHEMERALS: dict[str, bytes] = {}


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


def build_keys() -> Json:
    apps = []
    for app, scalar in APP_SCALARS.items():
        keys = {}
        for curve in CURVES:
            compressed, uncompressed = ref_points(curve, scalar)
            keys[curve] = {
                "private_scalar": scalar.hex(),
                "public_compressed": compressed.hex(),
                "public_uncompressed": uncompressed.hex(),
            }
        endpoint = {
            "ecdhKey": base64.b64encode(ref_points(K1, scalar)[0]).decode(),
            "ecdhP256Key": base64.b64encode(ref_points(P256, scalar)[0]).decode(),
            "ecdhP256KeyUncompressed": base64.b64encode(ref_points(P256, scalar)[1]).decode(),
        }
        apps.append({"id": app, "keys": keys, "key_endpoint_body": endpoint})
    ephemerals = []
    for name, scalar in EPHEMERALS.items():
        publics = {}
        for curve in CURVES:
            compressed, uncompressed = ref_points(curve, scalar)
            publics[curve] = {"compressed": compressed.hex(), "uncompressed": uncompressed.hex()}
        ephemerals.append({"id": name, "private_scalar": scalar.hex(), "public": publics})
    return {
        "description": "Fixed app key pairs and ephemeral private scalars used by every other vector file.",
        "apps": apps,
        "ephemeral_keys": ephemerals,
    }


def build_der() -> Json:
    prefixes = []
    for curve in CURVES:
        der = reference_spki(curve, ref_points(curve, EPH_DOC)[1])
        prefixes.append({"curve": curve, "prefix": der[:-65].hex(), "total_length": len(der)})
    spki = []
    for curve in CURVES:
        point_hex, published_b64 = DOC_DER[curve]
        der = reference_spki(curve, bytes.fromhex(point_hex))
        if base64.b64encode(der).decode() != published_b64:
            raise SystemExit(f"reference DER disagrees with the published {curve} vector")
        spki.append(
            {
                "id": f"published-{curve}",
                "curve": curve,
                "point_uncompressed": point_hex,
                "der": der.hex(),
                "der_base64": published_b64,
                "source": "wire-format 2.6",
            }
        )
    for name, scalar in EPHEMERALS.items():
        for curve in CURVES:
            der = reference_spki(curve, ref_points(curve, scalar)[1])
            spki.append(
                {
                    "id": f"{name}-{curve}",
                    "curve": curve,
                    "point_uncompressed": ref_points(curve, scalar)[1].hex(),
                    "der": der.hex(),
                    "der_base64": base64.b64encode(der).decode(),
                }
            )
    kdf = []
    for app in APP_SCALARS:
        for name, scalar in EPHEMERALS.items():
            for curve in CURVES:
                shared = ref_shared_secret(curve, scalar, APP_SCALARS[app])
                uncompressed = ref_points(curve, scalar)[1]
                kdf.append(
                    {
                        "id": f"{app}-{name}-{curve}",
                        "curve": curve,
                        "app": app,
                        "ephemeral_scalar": scalar.hex(),
                        "ephemeral_uncompressed": uncompressed.hex(),
                        "shared_secret": shared.hex(),
                        "kdf_input_length": 32 + 4 + len(reference_spki(curve, uncompressed)),
                        "kdf_key": ref_kdf(curve, shared, uncompressed).hex(),
                    }
                )
    return {
        "description": "Explicit-parameter SubjectPublicKeyInfo DER of ephemeral keys and the SHA-256 KDF "
        "(wire-format 2.3-2.6).",
        "spki_prefixes": prefixes,
        "spki": spki,
        "kdf": kdf,
    }


# =======================================================================================
# metadata.json
# =======================================================================================


def build_metadata() -> Json:
    encode_cases = [
        ("role-python", ROLE, PYTHON_ORIGIN, TS_DOC),
        ("no-role-python", None, PYTHON_ORIGIN, TS_DOC),
        ("role-20-chars", "a" * 20, PYTHON_ORIGIN, TS_DOC),
        ("role-1-char", "x", PYTHON_ORIGIN, TS_DOC),
        ("role-digits-dashes", "0-9-role", PYTHON_ORIGIN, 0),
        ("timestamp-max", ROLE, PYTHON_ORIGIN, TS_MAX),
        ("origin-node", ROLE, 5, TS_DOC),
        ("origin-go-no-role", None, 9, TS_DOC),
        ("origin-ios", None, 13, 1716000000),
    ]
    encode = []
    for name, role, origin, timestamp in encode_cases:
        packed = ref_map(role, origin, timestamp)
        if encode_map(role, origin, timestamp) != packed:
            raise SystemExit(f"domain metadata map disagrees with the reference for {name}")
        frame = struct.pack("<H", len(packed)) + packed
        if encode_frame(role, origin, timestamp) != frame:
            raise SystemExit(f"domain metadata frame disagrees with the reference for {name}")
        encode.append(
            {
                "id": name,
                "role": role,
                "origin": origin,
                "timestamp": timestamp,
                "map": packed.hex(),
                "frame": frame.hex(),
            }
        )
    ts = struct.pack(">I", TS_DOC)
    decode_cases: list[tuple[str, bytes, Json, str]] = [
        (
            "two-entries",
            ref_map(None, 9, TS_DOC),
            metadata_json(None, 9, TS_DOC),
            "Go/PHP/iOS without a role",
        ),
        (
            "keys-reversed",
            b"\x83\xa2et\xce" + ts + b"\xa2eo\x07\xa2dr\xa7my-role",
            metadata_json(ROLE, 7, TS_DOC),
            "keys in another order",
        ),
        (
            "eo-before-dr",
            b"\x83\xa2eo\x05\xa2dr\xa7my-role\xa2et\xce" + ts,
            metadata_json(ROLE, 5, TS_DOC),
            "keys in another order",
        ),
        (
            "empty-role",
            b"\x83\xa2dr\xa0\xa2eo\x08\xa2et\xce" + ts,
            metadata_json("", 8, TS_DOC),
            "Ruby writes an empty dr for role ''",
        ),
        (
            "et-uint64",
            b"\x82\xa2eo\x07\xa2et\xcf" + struct.pack(">Q", TS_DOC),
            metadata_json(None, 7, TS_DOC),
            "a generic MessagePack encoder may pick uint64",
        ),
        (
            "et-positive-fixint",
            b"\x82\xa2eo\x07\xa2et\x05",
            metadata_json(None, 7, 5),
            "small timestamps as positive fixint",
        ),
        (
            "eo-uint8",
            b"\x82\xa2eo\xcc\x0a\xa2et\xce" + ts,
            metadata_json(None, 10, TS_DOC),
            "origin as uint8",
        ),
        (
            "role-str8",
            b"\x83\xa2dr\xd9\x07my-role\xa2eo\x07\xa2et\xce" + ts,
            metadata_json(ROLE, 7, TS_DOC),
            "role as str8",
        ),
        (
            "map16-header",
            b"\xde\x00\x02\xa2eo\x07\xa2et\xce" + ts,
            metadata_json(None, 7, TS_DOC),
            "map16 header instead of fixmap",
        ),
        (
            "unknown-key-ignored",
            b"\x83\xa2eo\x07\xa2et\xce" + ts + b"\xa2xx\x01",
            metadata_json(None, 7, TS_DOC),
            "unknown keys are ignored",
        ),
        ("empty-map", b"\x80", {"role": None, "origin": None, "timestamp": None}, "all fields absent"),
    ]
    decode = [
        {"id": name, "map": packed.hex(), "expected": expected, "note": note}
        for name, packed, expected, note in decode_cases
    ]
    return {
        "description": "The data-role metadata map and its uint16-LE length frame (wire-format 4).",
        "encode": encode,
        "decode_only": decode,
    }


# =======================================================================================
# strings.json
# =======================================================================================

# Values encrypted in both directions on both curves, with and without a role.
ROUND_TRIP_VALUES: list[tuple[str, object]] = [
    ("hello", "hello"),
    ("empty-string", ""),
    ("unicode", "h\u00e9llo \u2713 \U0001f510"),
    ("colon-dollar", "a:b:$"),
    ("int-42", 42),
    ("int-negative", -7),
    ("int-zero", 0),
    ("int-big", 10**25),
    ("float-4", 4.0),
    ("float-negative-zero", -0.0),
    ("float-1e16", 1e16),
    ("float-1e-07", 1e-07),
    ("float-point-three", 0.30000000000000004),
    ("float-nan", math.nan),
    ("float-inf", math.inf),
    ("float-negative-inf", -math.inf),
    ("true", True),
    ("false", False),
]


def string_vector(
    name: str,
    direction: str,
    inputs: StringInputs,
    value: object,
    metadata: Json | None,
    *,
    role: str | None = None,
    origin: int | None = None,
    timestamp: int | None = None,
    note: str | None = None,
) -> Json:
    sealed = ref_seal(inputs)
    vector: Json = {
        "id": name,
        "direction": direction,
        "curve": inputs.curve,
        "version": inputs.version,
        "debug": inputs.debug,
        "app": inputs.app,
        "ephemeral_scalar": inputs.ephemeral.hex(),
        "iv": inputs.iv.hex(),
        "role": role,
        "origin": origin,
        "timestamp": timestamp,
        "datatype": inputs.datatype,
        "value": typed_value(value),
        "text": inputs.text_bytes.decode("utf-8"),
        "key": sealed.key_kind,
        "aad": sealed.aad.hex(),
        "plaintext": sealed.plaintext.hex(),
        "metadata": metadata,
        "expected": sealed.text,
    }
    if note:
        vector["note"] = note
    return vector


def round_trip_vectors() -> Iterator[Json]:
    settings = [
        ("doc", EPH_DOC, IV_DOC, TS_DOC),
        ("alt", EPH_ALT, IV_ALT, TS_MAX),
    ]
    for curve in CURVES:
        for role in (None, ROLE):
            for setting, ephemeral, iv, timestamp in settings:
                values = (
                    ROUND_TRIP_VALUES if setting == "doc" else ROUND_TRIP_VALUES[:1] + ROUND_TRIP_VALUES[4:5]
                )
                for value_name, value in values:
                    yield _round_trip_vector(
                        curve, role, setting, ephemeral, iv, timestamp, value_name, value
                    )
    for curve in CURVES:  # edge roles and an all-zero IV
        for role, label in (("a" * 20, "role-20"), ("0-9-x", "role-digits")):
            yield _round_trip_vector(curve, role, label, EPH_DOC, IV_ZERO, 0, "hello", "hello")


def _round_trip_vector(
    curve: str,
    role: str | None,
    setting: str,
    ephemeral: bytes,
    iv: bytes,
    timestamp: int,
    value_name: str,
    value: object,
) -> Json:
    datatype, text = python_text(value)
    version = {(K1, False): "RFVC", (K1, True): "S0lS", (P256, False): "Tk9D", (P256, True): "QkTC"}[
        (curve, role is not None)
    ]
    frame_map = ref_map(role, PYTHON_ORIGIN, timestamp) if role is not None else None
    inputs = StringInputs(curve, version, "app-1", ephemeral, iv, datatype, text.encode(), frame_map)
    role_label = "role" if role is not None else "no-role"
    vector = string_vector(
        f"{curve}-{version}-{role_label}-{setting}-{value_name}",
        "both",
        inputs,
        value,
        metadata_json(role, PYTHON_ORIGIN, timestamp) if role is not None else None,
        role=role,
        origin=PYTHON_ORIGIN if role is not None else None,
        timestamp=timestamp if role is not None else None,
    )
    ours = domain_encryptor(curve, "app-1", ephemeral, iv, timestamp).encrypt(value, role)
    if ours != vector["expected"]:
        raise SystemExit(f"domain encryption disagrees with the reference for {vector['id']}")
    return vector


def decrypt_only_vectors() -> Iterator[Json]:
    def meta(role: str | None, origin: int = PYTHON_ORIGIN, ts: int = TS_DOC) -> tuple[bytes, Json]:
        return ref_map(role, origin, ts), metadata_json(role, origin, ts)

    def plain(curve: str, version: str, datatype: str, text: str, **kw: Any) -> StringInputs:
        return StringInputs(curve, version, "app-1", EPH_DOC, IV_DOC, datatype, text.encode(), **kw)

    value: object  # the loops below bind values of every primitive type

    for curve, version in ((K1, "S0lS"), (P256, "QkTC")):
        packed, expected = meta(None)
        yield string_vector(
            f"{curve}-{version}-python-empty-role",
            "decrypt-only",
            plain(curve, version, "string", "hello", frame_map=packed),
            "hello",
            expected,
            role="",
            origin=PYTHON_ORIGIN,
            timestamp=TS_DOC,
            note="Published Python SDK with role='': metadata without 'dr'. This SDK rejects empty roles.",
        )
    for curve, version in ((K1, "QlJV"), (P256, "TENZ")):
        for value in ("hello", 42, False):
            datatype, text = python_text(value)
            packed, expected = meta(ROLE)
            yield string_vector(
                f"{curve}-{version}-legacy-{text}",
                "decrypt-only",
                plain(curve, version, datatype, text, frame_map=packed),
                value,
                expected,
                role=ROLE,
                origin=PYTHON_ORIGIN,
                timestamp=TS_DOC,
                note="Legacy metadata version (Python 4.0.0-4.3.0): KDF key, AAD = app key.",
            )
    for value in ("hello", 42, True, 2.5):
        datatype, text = python_text(value)
        yield string_vector(
            f"{P256}-T1JL-legacy-{text}",
            "decrypt-only",
            plain(P256, "T1JL", datatype, text),
            value,
            None,
            note="Legacy P-256 version of early 2022: raw ECDH secret, no AAD.",
        )
    for curve, version in ((K1, "RFVC"), (P256, "Tk9D")):
        for text, value in (("1", True), ("0", False)):
            yield string_vector(
                f"{curve}-{version}-pre-3-boolean-{text}",
                "decrypt-only",
                plain(curve, version, "boolean", text),
                value,
                None,
                note="Python before 3.0.0 encrypted booleans as '1'/'0'.",
            )
    other_renderings: list[tuple[str, str, object, str]] = [
        ("node-float-4", "4", 4, "Node renders 4.0 as '4' (it decrypts as an integer)"),
        ("node-exponent", "1e-7", 1e-07, "Node exponent form"),
        ("node-big-exponent", "1e+21", 1e21, "Node exponent form"),
        ("node-nan", "null", None, "Node renders NaN/Infinity as JSON null"),
        ("go-fixed", "0.0000001", 1e-07, "Go fixed notation"),
        ("java-exponent", "1.0E16", 1e16, "Java/Android exponent form"),
    ]
    for name, text, value, note in other_renderings:
        yield string_vector(
            f"{P256}-Tk9D-{name}", "decrypt-only", plain(P256, "Tk9D", "number", text), value, None, note=note
        )
    sdk_origins = [("go", 9), ("php", 10), ("ruby", 8), ("ios", 13)]
    for sdk, origin in sdk_origins:
        packed, expected = meta(None, origin)
        yield string_vector(
            f"{P256}-QkTC-{sdk}-no-role",
            "decrypt-only",
            plain(P256, "QkTC", "string", "hello", frame_map=packed),
            "hello",
            expected,
            origin=origin,
            timestamp=TS_DOC,
            note=f"{sdk} writes metadata without a role (eo={origin}).",
        )
    packed, expected = meta(ROLE, 5)
    yield string_vector(
        f"{K1}-S0lS-node-role-number",
        "decrypt-only",
        plain(K1, "S0lS", "number", "4", frame_map=packed),
        4,
        expected,
        role=ROLE,
        origin=5,
        timestamp=TS_DOC,
        note="Node with a role (eo=5) renders 4.0 as '4'.",
    )
    ruby_map, _ = meta("", 8)  # Ruby writes dr = "" for role ''
    yield string_vector(
        f"{K1}-S0lS-ruby-empty-dr",
        "decrypt-only",
        plain(K1, "S0lS", "boolean", "true", frame_map=ruby_map),
        True,
        metadata_json("", 8, TS_DOC),
        role="",
        origin=8,
        timestamp=TS_DOC,
        note="Ruby writes an empty 'dr' for role ''.",
    )
    for label, config, origin in (("browser", 0x80, 5), ("ios", 0x80, 13), ("android", 0x00, 10)):
        for datatype, text, value in (("string", "hello", "hello"), ("number", "42", 42)):
            packed, expected = meta(None, origin)
            yield string_vector(
                f"{P256}-QkTC-debug-{label}-{datatype}",
                "decrypt-only",
                plain(P256, "QkTC", datatype, text, frame_map=packed, debug=True, config_byte=config),
                value,
                expected,
                origin=origin,
                timestamp=TS_DOC,
                note=f"Debug-mode value: the v2 AAD config byte is 0x{config:02x} whatever the datatype.",
            )
    yield string_vector(
        f"{P256}-Tk9D-debug-server",
        "decrypt-only",
        plain(P256, "Tk9D", "string", "hello", debug=True),
        "hello",
        None,
        note="A debug app's server-side value: 'debug:' segment, AAD unchanged (app key).",
    )


def negated_scalar(curve: str, scalar: bytes) -> bytes:
    """n - e: its public key is -E, the same x with the other parity (prefix 02 <-> 03)."""
    order = PARAMS[curve].n
    return ((order - int.from_bytes(scalar, "big")) % order).to_bytes(32, "big")


PARITY_TWIN_NOTE = (
    "Parity twin of the eph-doc vector: ephemeral scalar n - e, so the key prefix flips (02 <-> 03) "
    "and x-only ECDH gives the same secret. Raw-secret versions without AAD (RFVC, T1JL, files v0/v2) "
    "produce the identical ciphertext; a decoder cannot and must not reject it."
)


def parity_twin_strings() -> Iterator[Json]:
    twin = negated_scalar(K1, EPH_DOC)
    for value_name, value in (("hello", "hello"), ("int-42", 42)):
        vector = _round_trip_vector(K1, None, "parity-twin", twin, IV_DOC, TS_DOC, value_name, value)
        vector["note"] = PARITY_TWIN_NOTE
        yield vector


def build_strings() -> Json:
    vectors = list(round_trip_vectors()) + list(parity_twin_strings()) + list(decrypt_only_vectors())
    by_expected = {vector["expected"]: vector for vector in vectors}
    for published in DOC_STRINGS:
        vector = by_expected.get(published)
        if vector is None:
            raise SystemExit(f"published vector {published[:40]}... is not reproduced verbatim")
        vector["source"] = "wire-format 1.6"
    _check_decrypts(vectors)
    return {
        "description": "Encrypted primitives (ev-strings): every version x datatype x role/no role.",
        "vectors": vectors,
    }


def _check_decrypts(vectors: list[Json]) -> None:
    decryptor = domain_decryptor("app-1")
    for vector in vectors:
        result = decryptor.decrypt_string(vector["expected"])
        if typed_value(result.value) != vector["value"]:
            raise SystemExit(f"domain decrypts {vector['id']} to a different value")


# =======================================================================================
# files.json
# =======================================================================================


def file_vector(
    name: str, direction: str, inputs: FileInputs, metadata: Json | None, note: str | None
) -> Json:
    body, _key, key_kind, aad = ref_file(inputs)
    vector: Json = {
        "id": name,
        "direction": direction,
        "curve": file_traits(inputs.version)[0],
        "file_version": inputs.version,
        "app": inputs.app,
        "ephemeral_scalar": inputs.ephemeral.hex(),
        "iv": inputs.iv.hex(),
        "key": key_kind,
        "aad": aad.hex(),
        "plaintext": inputs.data.hex(),
        "metadata_map": inputs.metadata_map.hex() if inputs.metadata_map is not None else None,
        "metadata": metadata,
        "expected": body.hex(),
    }
    if note:
        vector["note"] = note
    return vector


def build_files() -> Json:
    vectors = []
    contents = [
        ("hello-file", b"hello file", EPH_DOC, IV_DOC),
        ("empty", b"", EPH_DOC, IV_DOC),
        ("all-bytes", bytes(range(256)), EPH_ALT, IV_ALT),
    ]
    for curve, version in ((K1, 2), (P256, 3)):
        for name, data, ephemeral, iv in contents:
            inputs = FileInputs(curve, version, "app-1", ephemeral, iv, data)
            vector = file_vector(f"{curve}-v{version}-{name}", "both", inputs, None, None)
            ours = domain_encryptor(curve, "app-1", ephemeral, iv, TS_DOC).encrypt_file(data)
            if ours.hex() != vector["expected"]:
                raise SystemExit(f"domain file encryption disagrees with the reference for {vector['id']}")
            if vector["expected"] == DOC_FILES[curve]:
                vector["source"] = "wire-format 6.1"
            vectors.append(vector)
    twin = negated_scalar(K1, EPH_DOC)
    vector = file_vector(
        f"{K1}-v2-parity-twin",
        "both",
        FileInputs(K1, 2, "app-1", twin, IV_DOC, b"hello file"),
        None,
        PARITY_TWIN_NOTE,
    )
    if (
        domain_encryptor(K1, "app-1", twin, IV_DOC, TS_DOC).encrypt_file(b"hello file").hex()
        != vector["expected"]
    ):
        raise SystemExit("domain file encryption disagrees with the reference for the parity twin")
    vectors.append(vector)
    for curve, version in ((K1, 0), (P256, 1)):
        inputs = FileInputs(curve, version, "app-1", EPH_DOC, IV_DOC, b"hello file")
        note = "Python up to 2.2.0: the v2/v3 layout without the trailing CRC-32."
        vectors.append(file_vector(f"{curve}-v{version}-no-crc", "decrypt-only", inputs, None, note))
    for curve, version in ((K1, 4), (P256, 5)):
        for role in (ROLE, None):
            packed = ref_map(role, PYTHON_ORIGIN, TS_DOC)
            inputs = FileInputs(curve, version, "app-1", EPH_DOC, IV_DOC, b"hello file", packed)
            note = (
                "Withdrawn role-bearing files (Python 4.0.0-4.3.0): encrypted bare metadata map then data, "
                "both under the KDF key, the same IV and AAD = app key."
            )
            label = "role" if role else "no-role"
            vectors.append(
                file_vector(
                    f"{curve}-v{version}-{label}",
                    "decrypt-only",
                    inputs,
                    metadata_json(role, PYTHON_ORIGIN, TS_DOC),
                    note,
                )
            )
    if not {DOC_FILES[K1], DOC_FILES[P256]} <= {vector["expected"] for vector in vectors}:
        raise SystemExit("published file vectors are not reproduced verbatim")
    decryptor = domain_decryptor("app-1")
    for vector in vectors:
        if decryptor.decrypt_file(bytes.fromhex(vector["expected"])).data.hex() != vector["plaintext"]:
            raise SystemExit(f"domain decrypts {vector['id']} to different bytes")
    return {"description": "%EVENC encrypted files (wire-format 6).", "vectors": vectors}


# =======================================================================================
# invalid.json
# =======================================================================================


def _replace_segment(text: str, index: int, new: str) -> str:
    segments = text.split(":")
    segments[index] = new
    return ":".join(segments)


def _flip_base64_char(segment: str, position: int) -> str:
    """Change one base64 character so the decoded bytes change but stay canonical."""
    char = segment[position]
    replacement = "B" if char != "B" else "C"
    return segment[:position] + replacement + segment[position + 1 :]


def invalid_strings() -> Iterator[tuple[str, str, str, str]]:
    """(id, input, error kind, note)."""
    k1 = ref_seal(StringInputs(K1, "RFVC", "app-1", EPH_DOC, IV_DOC, "string", b"hello")).text
    k1_num = ref_seal(StringInputs(K1, "RFVC", "app-1", EPH_DOC, IV_DOC, "number", b"42")).text
    p256 = ref_seal(StringInputs(P256, "Tk9D", "app-1", EPH_DOC, IV_DOC, "string", b"hello")).text
    frame = ref_map(ROLE, PYTHON_ORIGIN, TS_DOC)
    s0ls = ref_seal(StringInputs(K1, "S0lS", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame)).text
    qktc = ref_seal(StringInputs(P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame)).text
    qktc_num = ref_seal(StringInputs(P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "number", b"42", frame)).text
    iv, epk, ct = k1.split(":")[2:5]

    grammar = [
        ("empty", "", "not an ev-string at all"),
        ("plain-text", "hello", "not an ev-string at all"),
        ("no-suffix", k1[:-2], "missing the ':$' terminator"),
        ("upper-prefix", "EV" + k1[2:], "the prefix is case-sensitive"),
        ("trailing-newline", k1 + "\n", "nothing may follow ':$'"),
        ("leading-space", " " + k1, "nothing may precede 'ev:'"),
        ("percent-encoded", k1.replace(":", "%3A")[:-3] + "%3A$", "percent-encoded colons are not decoded"),
        ("explicit-string-datatype", _insert_segment(k1, 2, "string"), "strings have no datatype segment"),
        ("capital-datatype", _replace_segment(k1_num, 2, "Number"), "datatypes are lowercase"),
        ("unknown-datatype", _replace_segment(k1_num, 2, "integer"), "only number/boolean"),
        ("iv-15-chars", _replace_segment(k1, 2, iv[:15]), "the IV is exactly 16 characters"),
        ("iv-17-chars", _replace_segment(k1, 2, iv + "A"), "the IV is exactly 16 characters"),
        ("iv-url-safe", _replace_segment(k1, 2, iv[:15] + "-"), "standard base64 alphabet only"),
        ("key-43-chars", _replace_segment(k1, 3, epk[:43]), "the key is exactly 44 characters"),
        ("key-prefix-04", _replace_segment(k1, 3, b64_unpadded(b"\x04" + bytes(32))), "compressed keys only"),
        (
            "key-not-on-curve",
            _replace_segment(k1, 3, b64_unpadded(b"\x02" + bytes(31) + b"\x05")),
            "x = 5 is not the x-coordinate of a secp256k1 point",
        ),
        ("ciphertext-15-bytes", _replace_segment(k1, 4, b64_unpadded(bytes(15))), "shorter than the GCM tag"),
        ("ciphertext-padded", _replace_segment(k1, 4, ct + "="), "padding must be stripped"),
        ("ciphertext-non-canonical", _non_canonical_ciphertext(s0ls), "non-zero unused base64 bits"),
        ("ciphertext-length-mod-4-is-1", _replace_segment(k1, 4, ct + "AAAAA"), "impossible base64 length"),
        ("extra-segment", _insert_segment(k1, 4, "AAAA"), "too many segments"),
        ("missing-segment", ":".join(k1.split(":")[:2] + k1.split(":")[3:]), "too few segments"),
        ("jwt-2020", "eyJpc3MiOiJldmVydmF1bHQifQ==.eyJ9.00000000-0000-4000-8000-000000000000", "RSA era"),
    ]
    for name, text, note in grammar:
        yield f"grammar-{name}", text, "malformed-ciphertext", note
    versions = [
        ("unknown-tag", _replace_segment(k1, 1, "ZZZZ"), "not a known tag"),
        ("lowercase-tag", _replace_segment(p256, 1, "tk9d"), "tags are case-sensitive"),
        ("unversioned-2021", ":".join(["ev", *k1_num.split(":")[2:]]), "the 2021 unversioned format"),
    ]
    for name, text, note in versions:
        yield f"version-{name}", text, "unsupported-version", note
    ct_s0ls = s0ls.split(":")[4]
    auth = [
        ("tag-flipped", _replace_segment(k1, 4, _flip_base64_char(ct, len(ct) - 3)), "altered tag"),
        ("body-flipped", _replace_segment(s0ls, 4, _flip_base64_char(ct_s0ls, 1)), "altered ciphertext"),
        ("iv-changed", _replace_segment(k1, 2, _flip_base64_char(iv, 0)), "IV is part of the nonce"),
        (
            "other-ephemeral-key",
            _replace_segment(k1, 3, b64_unpadded(ref_points(K1, EPH_ALT)[0])),
            "a different (valid) ephemeral key",
        ),
        ("rfvc-as-s0ls", _replace_segment(k1, 1, "S0lS"), "S0lS uses the KDF key, RFVC the raw secret"),
        ("tk9d-as-t1jl", _replace_segment(p256, 1, "T1JL"), "T1JL uses the raw secret"),
        ("tk9d-key-parity-flipped", _flip_key_parity(p256), "the KDF hashes the full point (y included)"),
        ("s0ls-key-parity-flipped", _flip_key_parity(s0ls), "the KDF and the v2 AAD bind the full point"),
        ("qktc-as-tk9d", _replace_segment(qktc, 1, "Tk9D"), "different AAD"),
        ("qktc-as-tenz", _replace_segment(qktc, 1, "TENZ"), "TENZ authenticates only the app key"),
        ("s0ls-datatype-added", _insert_segment(s0ls, 2, "number"), "the v2 AAD binds the datatype"),
        ("qktc-datatype-changed", _replace_segment(qktc_num, 2, "boolean"), "the v2 AAD binds the datatype"),
        ("qktc-datatype-removed", _remove_segment(qktc_num, 2), "the v2 AAD binds the datatype"),
        (
            "wrong-app",
            ref_seal(StringInputs(K1, "RFVC", "app-2", EPH_DOC, IV_DOC, "string", b"hello")).text,
            "encrypted for app-2, decrypted with app-1",
        ),
        (
            "wrong-app-p256",
            ref_seal(StringInputs(P256, "QkTC", "app-2", EPH_DOC, IV_DOC, "string", b"hello", frame)).text,
            "encrypted for app-2, decrypted with app-1",
        ),
        (
            "v2-aad-wrong-version-bit",
            ref_seal(
                StringInputs(
                    P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame, config_byte=0x00
                )
            ).text,
            "config byte 0x00 on QkTC (must be 0x01)",
        ),
        (
            "debug-byte-without-debug-segment",
            ref_seal(
                StringInputs(
                    P256, "QkTC", "app-1", EPH_DOC, IV_DOC, "string", b"hello", frame, config_byte=0x80
                )
            ).text,
            "config byte 0x80 is only accepted on 'ev:debug:' values",
        ),
    ]
    for name, text, note in auth:
        yield f"auth-{name}", text, "decryption-failed", note

    def sealed(version: str, datatype: str, text: bytes, frame_map: bytes | None = None) -> str:
        curve = VERSIONS[version].curve
        return ref_seal(
            StringInputs(curve, version, "app-1", EPH_DOC, IV_DOC, datatype, text, frame_map)
        ).text

    values = [
        ("boolean-yes", sealed("RFVC", "boolean", b"yes"), "booleans are true/false (or legacy 1/0)"),
        ("boolean-capitalised", sealed("Tk9D", "boolean", b"True"), "booleans are lowercase"),
        ("number-garbage", sealed("RFVC", "number", b"12abc"), "not a number"),
        ("number-empty", sealed("Tk9D", "number", b""), "an empty number"),
        ("string-as-number", _insert_segment(k1, 2, "number"), "RFVC does not authenticate its datatype"),
        ("invalid-utf8", sealed("RFVC", "string", b"\xff\xfe"), "the plaintext is not UTF-8"),
        (
            "invalid-utf8-after-metadata",
            sealed("S0lS", "string", b"\xc3", frame),
            "the value after the frame is not UTF-8",
        ),
    ]
    for name, text, note in values:
        yield f"value-{name}", text, "malformed-value", note
    ts = struct.pack(">I", TS_DOC)
    metadata = [
        ("tenz-without-frame", _replace_segment(p256, 1, "TENZ"), "Tk9D plaintext read as a TENZ frame"),
        ("frame-too-short", sealed("S0lS", "string", b"\x05"), "one byte cannot hold the uint16 length"),
        ("frame-length-overruns", sealed("QkTC", "string", b"\xff\x00\x82"), "claims 255 bytes"),
        ("map-is-array", sealed("S0lS", "string", b"hello", b"\x92\x01\x02"), "not a map"),
        ("trailing-bytes-in-map", sealed("QkTC", "string", b"hello", frame + b"\x00"), "bytes after the map"),
        ("role-not-string", sealed("S0lS", "string", b"x", b"\x81\xa2dr\x05"), "dr must be a string"),
        (
            "timestamp-not-integer",
            sealed("QkTC", "string", b"x", b"\x81\xa2et\xa1x"),
            "et must be an integer",
        ),
        ("duplicate-key", sealed("S0lS", "string", b"x", b"\x82\xa2eo\x07\xa2eo\x07"), "keys are unique"),
        ("nil-value", sealed("QkTC", "string", b"x", b"\x81\xa2eo\xc0"), "unsupported MessagePack type"),
        ("truncated-map", sealed("S0lS", "string", b"", b"\x82\xa2eo\x07\xa2et\xce" + ts[:2]), "cut short"),
        ("non-string-key", sealed("QkTC", "string", b"x", b"\x81\x01\x02"), "keys are strings"),
    ]
    for name, text, note in metadata:
        yield f"metadata-{name}", text, "metadata", note


def _flip_key_parity(text: str) -> str:
    key = base64.b64decode(text.split(":")[-3])
    return _replace_segment(text, len(text.split(":")) - 3, b64_unpadded(bytes((key[0] ^ 1,)) + key[1:]))


def _non_canonical_ciphertext(text: str) -> str:
    """Set an unused low bit of the last base64 character: same bytes, different text."""
    ct = text.split(":")[4]
    if len(ct) % 4 not in (2, 3):
        raise SystemExit("need a ciphertext whose base64 has unused bits")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(ct[-1]) | 1]
    return _replace_segment(text, 4, ct[:-1] + last)


def _insert_segment(text: str, index: int, segment: str) -> str:
    segments = text.split(":")
    segments.insert(index, segment)
    return ":".join(segments)


def _remove_segment(text: str, index: int) -> str:
    segments = text.split(":")
    del segments[index]
    return ":".join(segments)


def invalid_files() -> Iterator[tuple[str, bytes, str, str]]:
    k1, _, _, _ = ref_file(FileInputs(K1, 2, "app-1", EPH_DOC, IV_DOC, b"hello file"))
    p256, _, _, _ = ref_file(FileInputs(P256, 3, "app-1", EPH_DOC, IV_DOC, b"hello file"))
    v5, _, _, _ = ref_file(
        FileInputs(P256, 5, "app-1", EPH_DOC, IV_DOC, b"hello file", ref_map(ROLE, 7, TS_DOC))
    )
    v1, _, _, _ = ref_file(FileInputs(P256, 1, "app-1", EPH_DOC, IV_DOC, b"hello file"))
    body = k1[:-4]

    def patched(data: bytes, offset: int, new: bytes) -> bytes:
        return data[:offset] + new + data[offset + len(new) :]

    def flip(data: bytes, offset: int) -> bytes:
        return patched(data, offset, bytes((data[offset] ^ 0x01,)))

    yield "envelope-empty", b"", "malformed-file", "no bytes"
    yield "envelope-magic-only", b"%EVENC", "malformed-file", "just the magic"
    yield "envelope-wrong-magic", b"%EVENX" + k1[6:], "malformed-file", "magic must be %EVENC"
    yield "envelope-header-truncated", k1[:54], "malformed-file", "shorter than the 55-byte header"
    yield (
        "envelope-no-room-for-tag",
        with_crc(body[:55] + body[55:70]),
        "malformed-file",
        "15-byte ciphertext",
    )
    yield "envelope-header-and-crc-only", with_crc(body[:55]), "malformed-file", "no ciphertext at all"
    yield "envelope-offset-56", with_crc(patched(body, 7, b"\x38\x00")), "malformed-file", "offset must be 55"
    yield (
        "envelope-key-prefix-04",
        with_crc(patched(body, 9, b"\x04")),
        "malformed-file",
        "compressed keys only",
    )
    yield (
        "envelope-v1-no-room-for-tag",
        v1[:70],
        "malformed-file",
        "version 1 has no CRC; 15 bytes after the header cannot hold the tag",
    )
    v5_body = v5[:-4]
    yield (
        "envelope-v5-metadata-length-overruns",
        with_crc(patched(v5_body, 55, b"\xff\x00")),
        "malformed-file",
        "the encrypted metadata length points past the end",
    )
    yield (
        "envelope-v5-metadata-shorter-than-tag",
        with_crc(patched(patched(v5_body, 55, b"\x0f\x00"), 7, struct.pack("<H", 55 + 2 + 15))),
        "malformed-file",
        "encrypted metadata must hold at least a tag",
    )
    yield "version-6", with_crc(patched(body, 6, b"\x06")), "unsupported-version", "known versions are 0-5"
    yield "version-255", with_crc(patched(body, 6, b"\xff")), "unsupported-version", "known versions are 0-5"
    yield "checksum-last-byte", flip(k1, len(k1) - 1), "file-checksum", "the CRC itself altered"
    yield "checksum-ciphertext-bit", flip(k1, 60), "file-checksum", "data altered, CRC not updated"
    yield "checksum-flags-bit", flip(p256, 54), "file-checksum", "flags are covered by the CRC"
    yield "checksum-trailing-byte", k1 + b"\x00", "file-checksum", "an extra byte after the CRC"
    yield "checksum-truncated", k1[:-1], "file-checksum", "the last byte cut off"
    yield (
        "auth-ciphertext-bit",
        with_crc(flip(body, 60)),
        "decryption-failed",
        "CRC recomputed over altered data",
    )
    yield "auth-iv-bit", with_crc(flip(p256[:-4], 42)), "decryption-failed", "the IV is not the one used"
    yield "auth-v2-as-v0", patched(body, 6, b"\x00") + k1[-4:], "decryption-failed", "CRC read as ciphertext"
    yield (
        "auth-wrong-app",
        ref_file(FileInputs(P256, 3, "app-2", EPH_DOC, IV_DOC, b"hello file"))[0],
        "decryption-failed",
        "encrypted for app-2, decrypted with app-1",
    )
    yield (
        "auth-v3-key-parity-flipped",
        with_crc(flip(p256[:-4], 9)),
        "decryption-failed",
        "the P-256 file key comes from the KDF, which hashes the full point",
    )
    yield (
        "auth-other-ephemeral-key",
        with_crc(patched(p256[:-4], 9, ref_points(P256, EPH_ALT)[0])),
        "decryption-failed",
        "a different (valid) ephemeral key",
    )
    yield (
        "auth-v5-metadata-altered",
        with_crc(flip(v5_body, 60)),
        "decryption-failed",
        "the encrypted metadata block altered",
    )
    yield (
        "key-not-on-curve",
        with_crc(patched(body, 9, b"\x02" + bytes(31) + b"\x05")),
        "malformed-ciphertext",
        "x = 5 is not the x-coordinate of a secp256k1 point",
    )
    yield (
        "metadata-v4-not-a-map",
        ref_file(FileInputs(K1, 4, "app-1", EPH_DOC, IV_DOC, b"hello file", b"\x92\x01\x02"))[0],
        "metadata",
        "the encrypted metadata decrypts to an array",
    )


def build_invalid() -> Json:
    strings = [
        {"id": name, "input": text, "error": kind, "note": note}
        for name, text, kind, note in invalid_strings()
    ]
    files = [
        {"id": name, "input": data.hex(), "error": kind, "note": note}
        for name, data, kind, note in invalid_files()
    ]
    decryptor = domain_decryptor("app-1")
    for vector in strings:
        _expect_error(vector, functools.partial(decryptor.decrypt_string, vector["input"]))
    for vector in files:
        _expect_error(vector, functools.partial(decryptor.decrypt_file, bytes.fromhex(vector["input"])))
    return {
        "description": "Inputs every SDK must reject, with the kind of error (decrypt with app-1's keys).",
        "error_kinds": {kind: text for kind, (_cls, text) in ERROR_KINDS.items()},
        "strings": strings,
        "files": files,
    }


def _expect_error(vector: Json, attempt: Callable[[], object]) -> None:
    expected = ERROR_KINDS[vector["error"]][0]
    try:
        attempt()
    except errors.CiphertextError as exc:
        if type(exc) is not expected:
            raise SystemExit(  # noqa: B904 - the domain error is reported in the message
                f"{vector['id']}: domain raised {type(exc).__name__}, spec says {vector['error']}"
            )
        return
    raise SystemExit(f"{vector['id']}: domain accepted an invalid input")


# =======================================================================================
# Output
# =======================================================================================


def build_all() -> dict[str, Json]:
    EPHEMERALS.clear()
    EPHEMERALS.update({"eph-doc": EPH_DOC, "eph-alt": EPH_ALT})
    for curve in CURVES:
        EPHEMERALS[f"eph-leading-zero-{curve}"] = leading_zero_ephemeral(curve)
    return {
        "keys.json": build_keys(),
        "der.json": build_der(),
        "metadata.json": build_metadata(),
        "strings.json": build_strings(),
        "files.json": build_files(),
        "invalid.json": build_invalid(),
    }


def render(document: Json) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with spec/ instead of writing")
    args = parser.parse_args()
    documents = build_all()
    stale = []
    for name, document in documents.items():
        path = SPEC_DIR / name
        text = render(document)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python3 scripts/generate_spec.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
