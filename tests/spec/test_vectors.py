"""Run every conformance vector in ``spec/`` against our domain, in both directions.

* every file is validated against its JSON Schema (draft 2020-12) first;
* "both" vectors: encrypting the typed value with the vector's fixed ephemeral key,
  IV and clock gives the expected bytes exactly, and decrypting them gives the value back;
* "decrypt-only" vectors (legacy versions, other SDKs' encodings, old file versions,
  built by the generator's independent reference implementation): decrypt to the
  expected typed value and metadata;
* invalid vectors raise exactly the error class their kind maps to.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs needed for two calls
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from evervault.domain import ciphertext as ev_string
from evervault.domain import envelope, errors
from evervault.domain.ciphertext import Datatype, Version
from evervault.domain.curves import (
    Curve,
    compressed_point,
    ecdh,
    explicit_spki_der,
    kdf,
    load_public_point,
    private_key_from_scalar,
    uncompressed_point,
)
from evervault.domain.decryption import Decryptor
from evervault.domain.envelope import FileVersion
from evervault.domain.keys import AppKeys
from evervault.domain.metadata import Metadata, decode_map, encode_frame, encode_map, split_frame
from evervault.domain.session import DerivedKeys
from tests.domain.fakes import fixed_encryptor

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / "spec"
VECTOR_FILES = ("keys.json", "der.json", "metadata.json", "strings.json", "files.json", "invalid.json")
CURVES = {"secp256k1": Curve.SECP256K1, "secp256r1": Curve.P256}
ERROR_CLASSES: dict[str, type[errors.CiphertextError]] = {
    "malformed-ciphertext": errors.MalformedCiphertextError,
    "unsupported-version": errors.UnsupportedVersionError,
    "malformed-file": errors.MalformedFileError,
    "file-checksum": errors.FileChecksumError,
    "decryption-failed": errors.DecryptionError,
    "metadata": errors.MetadataError,
    "malformed-value": errors.MalformedCiphertextError,
}
Json = dict[str, Any]


@functools.cache
def load(name: str) -> Json:
    document: Json = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
    return document


def vectors(name: str, key: str = "vectors", direction: str | None = None) -> list[Json]:
    items: list[Json] = load(name)[key]
    return [item for item in items if direction is None or item["direction"] == direction]


def ids(items: list[Json]) -> list[str]:
    return [item["id"] for item in items]


@functools.cache
def app_scalar(app: str, curve: str) -> bytes:
    for entry in load("keys.json")["apps"]:
        if entry["id"] == app:
            return bytes.fromhex(entry["keys"][curve]["private_scalar"])
    raise LookupError(app)


@functools.cache
def decryptor_for(app: str) -> Decryptor:
    return Decryptor(
        {curve: private_key_from_scalar(curve, app_scalar(app, name)) for name, curve in CURVES.items()}
    )


def typed(value: Json) -> object:
    """The Python value a spec value denotes."""
    kind, text = value["type"], value["value"]
    converters: dict[str, Any] = {
        "string": str,
        "integer": int,
        "float": float,
        "boolean": bool,
        "null": lambda _: None,
    }
    return converters[kind](text)


def assert_same_typed(actual: object, expected: object) -> None:
    """Equal *and* of the same type; nan equals nan; -0.0 differs from 0.0."""
    assert type(actual) is type(expected), f"{type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, float):
        assert isinstance(actual, float)
        if math.isnan(expected):
            assert math.isnan(actual)
            return
        assert math.copysign(1.0, actual) == math.copysign(1.0, expected)
    assert actual == expected


def expected_metadata(metadata: Json | None) -> Metadata | None:
    if metadata is None:
        return None
    return Metadata(role=metadata["role"], origin=metadata["origin"], timestamp=metadata["timestamp"])


# --- schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_file_matches_its_schema(name: str) -> None:
    schema = json.loads((SPEC_DIR / "schemas" / name.replace(".json", ".schema.json")).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(load(name))


def test_every_vector_file_has_a_schema_and_nothing_else_is_there() -> None:
    assert sorted(path.name for path in SPEC_DIR.glob("*.json")) == sorted(VECTOR_FILES)
    schemas = sorted(path.name for path in (SPEC_DIR / "schemas").glob("*.json"))
    assert schemas == sorted(name.replace(".json", ".schema.json") for name in VECTOR_FILES)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("der.json", "spki"),
        ("der.json", "kdf"),
        ("metadata.json", "encode"),
        ("metadata.json", "decode_only"),
        ("strings.json", "vectors"),
        ("files.json", "vectors"),
        ("invalid.json", "strings"),
        ("invalid.json", "files"),
    ],
)
def test_vector_ids_are_unique(name: str, key: str) -> None:
    found = ids(load(name)[key])
    assert len(found) == len(set(found))


def test_generator_reproduces_the_committed_vectors() -> None:
    """The JSON is the generator's output, not hand-edited (and the generator's own checks pass)."""
    path = REPO_ROOT / "scripts" / "generate_spec.py"
    spec = importlib.util.spec_from_file_location("generate_spec", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
        documents = module.build_all()
    finally:
        del sys.modules[spec.name]
    for name, document in documents.items():
        assert module.render(document) == (SPEC_DIR / name).read_text(encoding="utf-8"), name


# --- keys and DER -----------------------------------------------------------------------


@pytest.mark.parametrize("app", load("keys.json")["apps"], ids=ids(load("keys.json")["apps"]))
def test_app_keys(app: Json) -> None:
    endpoint = AppKeys.from_json(app["key_endpoint_body"])
    for name, curve in CURVES.items():
        expected = app["keys"][name]
        public = private_key_from_scalar(curve, bytes.fromhex(expected["private_scalar"])).public_key()
        assert compressed_point(public).hex() == expected["public_compressed"]
        assert uncompressed_point(public).hex() == expected["public_uncompressed"]
        assert endpoint.public_key_for(curve).hex() == expected["public_compressed"]
    uncompressed_p256 = base64.b64decode(app["key_endpoint_body"]["ecdhP256KeyUncompressed"])
    assert uncompressed_p256.hex() == app["keys"]["secp256r1"]["public_uncompressed"]


@pytest.mark.parametrize(
    "ephemeral", load("keys.json")["ephemeral_keys"], ids=ids(load("keys.json")["ephemeral_keys"])
)
def test_ephemeral_keys(ephemeral: Json) -> None:
    for name, curve in CURVES.items():
        public = private_key_from_scalar(curve, bytes.fromhex(ephemeral["private_scalar"])).public_key()
        assert compressed_point(public).hex() == ephemeral["public"][name]["compressed"]
        assert uncompressed_point(public).hex() == ephemeral["public"][name]["uncompressed"]


@pytest.mark.parametrize("prefix", load("der.json")["spki_prefixes"], ids=lambda p: p["curve"])
def test_spki_prefix(prefix: Json) -> None:
    curve = CURVES[prefix["curve"]]
    assert curve.spki_prefix.hex() == prefix["prefix"]
    assert len(curve.spki_prefix) + 65 == prefix["total_length"]


@pytest.mark.parametrize("vector", load("der.json")["spki"], ids=ids(load("der.json")["spki"]))
def test_spki_der(vector: Json) -> None:
    der = explicit_spki_der(CURVES[vector["curve"]], bytes.fromhex(vector["point_uncompressed"]))
    assert der.hex() == vector["der"]
    assert base64.b64encode(der).decode() == vector["der_base64"]


@pytest.mark.parametrize("vector", load("der.json")["kdf"], ids=ids(load("der.json")["kdf"]))
def test_kdf(vector: Json) -> None:
    curve = CURVES[vector["curve"]]
    app_private = private_key_from_scalar(curve, app_scalar(vector["app"], vector["curve"]))
    ephemeral_private = private_key_from_scalar(curve, bytes.fromhex(vector["ephemeral_scalar"]))
    ephemeral_uncompressed = bytes.fromhex(vector["ephemeral_uncompressed"])
    assert uncompressed_point(ephemeral_private.public_key()) == ephemeral_uncompressed
    shared = ecdh(app_private, load_public_point(curve, ephemeral_uncompressed))
    assert shared.hex() == vector["shared_secret"]
    assert kdf(curve, shared, ephemeral_uncompressed).hex() == vector["kdf_key"]
    assert 32 + 4 + len(explicit_spki_der(curve, ephemeral_uncompressed)) == vector["kdf_input_length"]
    # The sender's side derives the same keys from the ephemeral private key and the app key.
    app_public = compressed_point(app_private.public_key())
    sender = DerivedKeys.derive(curve, ephemeral_private, app_public, ephemeral_uncompressed)
    assert (sender.shared_secret.hex(), sender.kdf_key.hex()) == (vector["shared_secret"], vector["kdf_key"])


# --- metadata -----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", load("metadata.json")["encode"], ids=ids(load("metadata.json")["encode"]))
def test_metadata_both_ways(vector: Json) -> None:
    role, origin, timestamp = vector["role"], vector["origin"], vector["timestamp"]
    assert encode_map(role, origin, timestamp).hex() == vector["map"]
    assert encode_frame(role, origin, timestamp).hex() == vector["frame"]
    assert decode_map(bytes.fromhex(vector["map"])) == Metadata(role, origin, timestamp)
    metadata, rest = split_frame(bytes.fromhex(vector["frame"]) + b"value")
    assert (metadata, rest) == (Metadata(role, origin, timestamp), b"value")


@pytest.mark.parametrize(
    "vector", load("metadata.json")["decode_only"], ids=ids(load("metadata.json")["decode_only"])
)
def test_metadata_decode_only(vector: Json) -> None:
    assert decode_map(bytes.fromhex(vector["map"])) == expected_metadata(vector["expected"])


# --- ev-strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector", vectors("strings.json", direction="both"), ids=ids(vectors("strings.json", direction="both"))
)
def test_string_encrypts_byte_exact(vector: Json) -> None:
    encryptor = fixed_encryptor(
        CURVES[vector["curve"]],
        app_scalar=app_scalar(vector["app"], vector["curve"]),
        ephemeral_scalar=bytes.fromhex(vector["ephemeral_scalar"]),
        iv=bytes.fromhex(vector["iv"]),
        timestamp=vector["timestamp"] if vector["timestamp"] is not None else 0,
    )
    assert encryptor.encrypt(typed(vector["value"]), vector["role"]) == vector["expected"]


@pytest.mark.parametrize("vector", vectors("strings.json"), ids=ids(vectors("strings.json")))
def test_string_decrypts(vector: Json) -> None:
    result = decryptor_for(vector["app"]).decrypt_string(vector["expected"])
    assert_same_typed(result.value, typed(vector["value"]))
    assert result.datatype is Datatype(vector["datatype"])
    assert result.version is Version(vector["version"])
    assert result.version.curve is CURVES[vector["curve"]]
    assert result.metadata == expected_metadata(vector["metadata"])


@pytest.mark.parametrize("vector", vectors("strings.json"), ids=ids(vectors("strings.json")))
def test_string_intermediates(vector: Json) -> None:
    """The vector's key kind, AAD and plaintext are what actually opens the ciphertext."""
    parsed = ev_string.parse(vector["expected"])
    assert parsed.format() == vector["expected"]
    assert parsed.debug is vector["debug"]
    assert parsed.iv.hex() == vector["iv"]
    curve = CURVES[vector["curve"]]
    ephemeral = private_key_from_scalar(curve, bytes.fromhex(vector["ephemeral_scalar"]))
    assert parsed.ephemeral_public_key == compressed_point(ephemeral.public_key())
    app_public = compressed_point(
        private_key_from_scalar(curve, app_scalar(vector["app"], vector["curve"])).public_key()
    )
    keys = DerivedKeys.derive(curve, ephemeral, app_public, uncompressed_point(ephemeral.public_key()))
    assert ("kdf" if parsed.version.uses_kdf else "raw") == vector["key"]
    key = keys.kdf_key if vector["key"] == "kdf" else keys.shared_secret
    aad = bytes.fromhex(vector["aad"]) or None
    if not vector["debug"]:  # debug values use the debug config byte, which aad_for covers separately
        assert aad == ev_string.aad_for(
            parsed.version, parsed.datatype, parsed.ephemeral_public_key, app_public
        )
    assert AESGCM(key).decrypt(parsed.iv, parsed.ciphertext, aad).hex() == vector["plaintext"]
    assert bytes.fromhex(vector["plaintext"]).endswith(vector["text"].encode())


def test_string_vectors_cover_every_version_datatype_and_role() -> None:
    seen = {(v["version"], v["datatype"], v["metadata"] is not None) for v in vectors("strings.json")}
    for version in Version:
        for datatype in Datatype:
            assert (version.tag, datatype.value, version.has_metadata) in seen
    both = {
        (v["version"], v["datatype"], v["role"] is not None)
        for v in vectors("strings.json", "vectors", "both")
    }
    current = [("RFVC", False), ("Tk9D", False), ("S0lS", True), ("QkTC", True)]
    assert both == {(tag, datatype.value, role) for tag, role in current for datatype in Datatype}


def test_published_vectors_are_present() -> None:
    sources = [v.get("source") for v in vectors("strings.json")]
    assert sources.count("docs/protocol.md §1.6") == 17
    assert [v.get("source") for v in vectors("files.json")].count("docs/protocol.md §6.1") == 2
    assert [v.get("source") for v in load("der.json")["spki"]].count("docs/protocol.md §2.6") == 2


# --- files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector", vectors("files.json", direction="both"), ids=ids(vectors("files.json", direction="both"))
)
def test_file_encrypts_byte_exact(vector: Json) -> None:
    encryptor = fixed_encryptor(
        CURVES[vector["curve"]],
        app_scalar=app_scalar(vector["app"], vector["curve"]),
        ephemeral_scalar=bytes.fromhex(vector["ephemeral_scalar"]),
        iv=bytes.fromhex(vector["iv"]),
    )
    assert encryptor.encrypt(bytes.fromhex(vector["plaintext"])).hex() == vector["expected"]


@pytest.mark.parametrize("vector", vectors("files.json"), ids=ids(vectors("files.json")))
def test_file_decrypts(vector: Json) -> None:
    data = bytes.fromhex(vector["expected"])
    result = decryptor_for(vector["app"]).decrypt_file(data)
    assert result.data.hex() == vector["plaintext"]
    assert result.version is FileVersion(vector["file_version"])
    assert result.version.curve is CURVES[vector["curve"]]
    assert result.metadata == expected_metadata(vector["metadata"])
    parsed = envelope.parse(data)
    assert parsed.iv.hex() == vector["iv"]
    assert ("kdf" if parsed.version.uses_kdf else "raw") == vector["key"]


def test_file_vectors_cover_every_version() -> None:
    assert {v["file_version"] for v in vectors("files.json")} == set(range(6))
    assert {v["file_version"] for v in vectors("files.json", direction="both")} == {2, 3}


# --- invalid inputs -----------------------------------------------------------------------


def test_invalid_vectors_are_plentiful_and_every_kind_is_mapped() -> None:
    document = load("invalid.json")
    assert len(document["strings"]) + len(document["files"]) >= 40
    assert set(document["error_kinds"]) == set(ERROR_CLASSES)
    used = {v["error"] for v in document["strings"] + document["files"]}
    assert used == set(ERROR_CLASSES)


@pytest.mark.parametrize("vector", load("invalid.json")["strings"], ids=ids(load("invalid.json")["strings"]))
def test_invalid_string_is_rejected(vector: Json) -> None:
    with pytest.raises(errors.CiphertextError) as caught:
        decryptor_for("app-1").decrypt_string(vector["input"])
    assert type(caught.value) is ERROR_CLASSES[vector["error"]]


@pytest.mark.parametrize("vector", load("invalid.json")["files"], ids=ids(load("invalid.json")["files"]))
def test_invalid_file_is_rejected(vector: Json) -> None:
    with pytest.raises(errors.CiphertextError) as caught:
        decryptor_for("app-1").decrypt_file(bytes.fromhex(vector["input"]))
    assert type(caught.value) is ERROR_CLASSES[vector["error"]]


def test_parity_twins_share_the_ciphertext_of_their_original() -> None:
    """x-only ECDH: the negated ephemeral key yields the same raw-secret ciphertext (see spec README)."""
    by_id = {v["id"]: v for v in vectors("strings.json")}
    twins = [v for v in vectors("strings.json") if "parity-twin" in v["id"]]
    assert twins
    for twin in twins:
        original = by_id[twin["id"].replace("parity-twin", "doc")]
        twin_segments, original_segments = twin["expected"].split(":"), original["expected"].split(":")
        assert twin_segments[-2] == original_segments[-2]  # identical ciphertext and tag
        twin_key, original_key = (
            base64.b64decode(s[-3] + "=" * (-len(s[-3]) % 4)) for s in (twin_segments, original_segments)
        )
        assert twin_key[0] ^ original_key[0] == 1 and twin_key[1:] == original_key[1:]
    files = {v["id"]: v for v in vectors("files.json")}
    twin_file = bytes.fromhex(files["secp256k1-v2-parity-twin"]["expected"])
    original_file = bytes.fromhex(files["secp256k1-v2-hello-file"]["expected"])
    assert twin_file[9] ^ original_file[9] == 1 and twin_file[10:-4] == original_file[10:-4]
