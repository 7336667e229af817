"""strings.json: encrypted primitives, round-tripped and decrypt-only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..crosscheck import domain_decryptor, domain_encryptor
from ..inputs import (
    CURVES,
    DOC_STRINGS,
    EPH_ALT,
    EPH_DOC,
    IV_ALT,
    IV_DOC,
    IV_ZERO,
    K1,
    P256,
    PYTHON_ORIGIN,
    ROLE,
    ROUND_TRIP_VALUES,
    TS_DOC,
    TS_MAX,
)
from ..reference import StringInputs, negated_scalar, ref_map, ref_seal
from .common import PARITY_TWIN_NOTE, Json, metadata_json, python_text, typed_value


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
        vector["source"] = "docs/protocol.md §1.6"
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
