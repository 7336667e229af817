"""Our test app as the published SDK sees it: ids, a fake API key, fixed key pairs, a key endpoint."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer

from evervault.domain.curves import Curve, compressed_point, uncompressed_point

APP_ID = "app_1234abcd5678"
TEAM_ID = "team_0a1b2c3d4e5f"
# Scoped-key shape (docs/protocol.md §7.3) with the app hash of APP_ID; not a real credential.
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


def app_keys_body(private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]) -> dict[str, str]:
    """The ``cages/key`` response body for our test app (docs/protocol.md §7.3.1)."""
    k1 = private_keys[Curve.SECP256K1].public_key()
    p256 = private_keys[Curve.P256].public_key()
    return {
        "teamUuid": TEAM_ID,
        "appUuid": APP_ID,
        "ecdhKey": base64.b64encode(compressed_point(k1)).decode("ascii"),
        "ecdhP256Key": base64.b64encode(compressed_point(p256)).decode("ascii"),
        "ecdhP256KeyUncompressed": base64.b64encode(uncompressed_point(p256)).decode("ascii"),
    }
