"""der.json: explicit-parameter SubjectPublicKeyInfo DER and the SHA-256 KDF."""

from __future__ import annotations

import base64

from ..inputs import APP_SCALARS, CURVES, DOC_DER, EPH_DOC
from ..reference import ref_kdf, ref_points, ref_shared_secret, reference_spki
from .common import Json, ephemerals


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
                "source": "docs/protocol.md §2.6",
            }
        )
    for name, scalar in ephemerals().items():
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
        for name, scalar in ephemerals().items():
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
        "(docs/protocol.md §2.3-2.6).",
        "spki_prefixes": prefixes,
        "spki": spki,
        "kdf": kdf,
    }
