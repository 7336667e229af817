"""Fixtures for driving the published evervault==5.1.3 SDK against our test app's keys."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer

from evervault.domain.curves import Curve, compressed_point, private_key_from_scalar, uncompressed_point
from evervault.domain.decryption import Decryptor
from tests.support.published_sdk import published_sdk_python

APP_ID = "app_1234abcd5678"
TEAM_ID = "team_0a1b2c3d4e5f"
# Scoped-key shape (wire-format 7.3) with the app hash of APP_ID; not a real credential.
API_KEY = "ev:key:1:interop-key-id:ti6aDz:not-a-real-secret"

# Fixed private scalars, so the app keys (and any failure) are reproducible.
APP_SCALARS: Mapping[Curve, bytes] = {
    Curve.SECP256K1: bytes([0x11]) * 32,
    Curve.P256: bytes([0x21]) * 32,
}


@dataclass(frozen=True)
class KeyEndpoint:
    """A local stand-in for the Evervault API that only serves ``GET /cages/key``."""

    server: HTTPServer

    @property
    def api_url(self) -> str:
        return self.server.url_for("/")

    def key_request_headers(self) -> list[Mapping[str, str]]:
        return [dict(request.headers) for request, _ in self.server.log if request.path == "/cages/key"]


@pytest.fixture(scope="session")
def published_sdk() -> Path:
    """Build (or reuse) the published SDK's virtualenv once per session."""
    return published_sdk_python()


@pytest.fixture(scope="session")
def app_private_keys() -> dict[Curve, ec.EllipticCurvePrivateKey]:
    return {curve: private_key_from_scalar(curve, scalar) for curve, scalar in APP_SCALARS.items()}


@pytest.fixture
def decryptor(app_private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]) -> Decryptor:
    return Decryptor(app_private_keys)


def app_keys_body(private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]) -> dict[str, str]:
    """The ``cages/key`` response body for our test app (wire-format 7.3.1)."""
    k1 = private_keys[Curve.SECP256K1].public_key()
    p256 = private_keys[Curve.P256].public_key()
    return {
        "teamUuid": TEAM_ID,
        "appUuid": APP_ID,
        "ecdhKey": base64.b64encode(compressed_point(k1)).decode("ascii"),
        "ecdhP256Key": base64.b64encode(compressed_point(p256)).decode("ascii"),
        "ecdhP256KeyUncompressed": base64.b64encode(uncompressed_point(p256)).decode("ascii"),
    }


@pytest.fixture
def key_endpoint(
    httpserver_ipv4: HTTPServer, app_private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]
) -> KeyEndpoint:
    # No header condition on the handler: a missing or wrong Api-Key should fail the
    # test's explicit header assertion, not surface as an opaque SDK error.
    httpserver_ipv4.expect_request("/cages/key", method="GET").respond_with_json(
        app_keys_body(app_private_keys)
    )
    return KeyEndpoint(httpserver_ipv4)
