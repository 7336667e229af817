"""files.json: ``%EVENC`` encrypted files, every version."""

from __future__ import annotations

from ..crosscheck import domain_decryptor, domain_encryptor
from ..inputs import DOC_FILES, EPH_ALT, EPH_DOC, IV_ALT, IV_DOC, K1, P256, PYTHON_ORIGIN, ROLE, TS_DOC
from ..reference import FileInputs, file_traits, negated_scalar, ref_file, ref_map
from .common import PARITY_TWIN_NOTE, Json, metadata_json


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
                vector["source"] = "docs/protocol.md §6.1"
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
    return {"description": "%EVENC encrypted files (docs/protocol.md §6).", "vectors": vectors}
