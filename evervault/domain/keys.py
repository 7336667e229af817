"""The app's public keys as the key endpoint returns them (docs/protocol.md §2.1, §7.3.1)."""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evervault.domain.curves import COMPRESSED_POINT_LENGTH, Curve, load_public_point
from evervault.domain.errors import CiphertextError, InvalidResponseError

AppKeysError = InvalidResponseError  # the key endpoint's answer lacks a usable public key


@dataclass(frozen=True)
class AppKeys:
    """An app's identifiers and its compressed ECDH public keys, one per curve."""

    app_uuid: str | None
    team_uuid: str | None
    ecdh_secp256k1: bytes | None
    ecdh_p256: bytes | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AppKeys:
        if not isinstance(body, Mapping):
            raise AppKeysError("The app key response is not a JSON object.")
        return cls(
            app_uuid=_optional_text(body, "appUuid"),
            team_uuid=_optional_text(body, "teamUuid"),
            ecdh_secp256k1=_optional_key(body, "ecdhKey", Curve.SECP256K1),
            ecdh_p256=_optional_key(body, "ecdhP256Key", Curve.P256),
        )

    def public_key_for(self, curve: Curve) -> bytes:
        key = self.ecdh_secp256k1 if curve is Curve.SECP256K1 else self.ecdh_p256
        if key is None:
            raise AppKeysError(f"The app key response has no {curve.value} key; check the app id and curve.")
        return key


def _optional_text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    return value if isinstance(value, str) else None


def _optional_key(body: Mapping[str, Any], field: str, curve: Curve) -> bytes | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AppKeysError(f"The app key field {field!r} is not a base64 string.")
    try:
        key = binascii.a2b_base64(value)
    except ValueError:  # binascii.Error, or a non-ASCII str (a plain ValueError)
        raise AppKeysError(f"The app key field {field!r} is not valid base64.") from None
    if len(key) != COMPRESSED_POINT_LENGTH:
        raise AppKeysError(f"The app key field {field!r} is not a 33-byte compressed point.")
    try:
        load_public_point(curve, key)
    except CiphertextError:
        raise AppKeysError(f"The app key field {field!r} is not a point on {curve.value}.") from None
    return key
