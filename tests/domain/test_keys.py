"""The app key endpoint's body (docs/protocol.md §2.1)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from evervault.domain.curves import Curve, compressed_point, private_key_from_scalar, uncompressed_point
from evervault.domain.errors import InvalidResponseError
from evervault.domain.keys import AppKeys
from tests.domain.fakes import APP_SCALAR


def key_b64(curve: Curve, compressed: bool = True) -> str:
    public = private_key_from_scalar(curve, APP_SCALAR).public_key()
    return base64.b64encode(compressed_point(public) if compressed else uncompressed_point(public)).decode()


def test_full_body() -> None:
    keys = AppKeys.from_json(
        {
            "appUuid": "app_1",
            "teamUuid": "team_1",
            "ecdhKey": key_b64(Curve.SECP256K1),
            "ecdhP256Key": key_b64(Curve.P256),
            "ecdhP256KeyUncompressed": key_b64(Curve.P256, compressed=False),
            "key": "legacy RSA key, ignored",
        }
    )
    assert (keys.app_uuid, keys.team_uuid) == ("app_1", "team_1")
    for curve in Curve:
        assert keys.public_key_for(curve) == base64.b64decode(key_b64(curve))


def test_missing_curve_is_reported_when_used() -> None:
    keys = AppKeys.from_json({"ecdhP256Key": key_b64(Curve.P256), "appUuid": 5})
    assert keys.app_uuid is None
    with pytest.raises(InvalidResponseError, match="SECP256K1"):
        keys.public_key_for(Curve.SECP256K1)


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"ecdhKey": 42},
        {"ecdhKey": "%%%"},
        {"ecdhKey": key_b64(Curve.P256, compressed=False)},
        {"ecdhKey": base64.b64encode(b"\x02" + bytes(31) + b"\x07").decode()},
        {"ecdhP256Key": "A081W9y3zAr3KO88zrlhXZBoS7Wyyl+FmrDwtwQHWHG\u00e9"},
    ],
    ids=["not-object", "not-string", "bad-base64", "uncompressed", "not-on-curve", "non-ascii"],
)
def test_unusable_bodies(body: Any) -> None:
    with pytest.raises(InvalidResponseError):
        AppKeys.from_json(body)
