"""Our own domain, driven with fixed randomness: the second opinion on every vector.

The builders use it to confirm that ``Encryptor`` reproduces each "both" vector byte for
byte, that ``Decryptor`` reads every vector back, and that each invalid vector raises its
documented kind of error. This is the only module of the generator that imports
``evervault``.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from evervault.domain import errors  # noqa: E402 - needs the repo root on the path
from evervault.domain.curves import Curve, private_key_from_scalar  # noqa: E402
from evervault.domain.decryption import Decryptor  # noqa: E402
from evervault.domain.encryption import Encryptor  # noqa: E402
from evervault.domain.metadata import encode_frame, encode_map  # noqa: E402

from .inputs import APP_SCALARS, CURVES, K1, P256  # noqa: E402
from .reference import ref_points  # noqa: E402

__all__ = [
    "ERROR_KINDS",
    "domain_decryptor",
    "domain_encryptor",
    "encode_frame",
    "encode_map",
    "errors",
]

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
    clock = FixedClock(timestamp)
    return Encryptor(
        domain_curve,
        ref_points(curve, APP_SCALARS[app])[0],
        new_private_key=lambda _curve: ephemeral_key,
        next_iv=FixedIv(iv).next_iv,
        now=clock.time,
        monotonic=clock.monotonic,
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
