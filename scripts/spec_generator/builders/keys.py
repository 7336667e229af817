"""keys.json: the fixed app key pairs and the named ephemeral scalars."""

from __future__ import annotations

import base64

from ..inputs import APP_SCALARS, CURVES, K1, P256
from ..reference import ref_points
from .common import Json, ephemerals


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
    ephemeral_keys = []
    for name, scalar in ephemerals().items():
        publics = {}
        for curve in CURVES:
            compressed, uncompressed = ref_points(curve, scalar)
            publics[curve] = {"compressed": compressed.hex(), "uncompressed": uncompressed.hex()}
        ephemeral_keys.append({"id": name, "private_scalar": scalar.hex(), "public": publics})
    return {
        "description": "Fixed app key pairs and ephemeral private scalars used by every other vector file.",
        "apps": apps,
        "ephemeral_keys": ephemeral_keys,
    }
