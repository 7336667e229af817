"""metadata.json: the data-role MessagePack map and its length frame."""

from __future__ import annotations

import struct

from ..crosscheck import encode_frame, encode_map
from ..inputs import PYTHON_ORIGIN, ROLE, TS_DOC, TS_MAX
from ..reference import ref_map
from .common import Json, metadata_json


def build_metadata() -> Json:
    encode_cases = [
        ("role-python", ROLE, PYTHON_ORIGIN, TS_DOC),
        ("no-role-python", None, PYTHON_ORIGIN, TS_DOC),
        ("role-20-chars", "a" * 20, PYTHON_ORIGIN, TS_DOC),
        ("role-1-char", "x", PYTHON_ORIGIN, TS_DOC),
        ("role-digits-dashes", "0-9-role", PYTHON_ORIGIN, 0),
        ("timestamp-max", ROLE, PYTHON_ORIGIN, TS_MAX),
        ("origin-node", ROLE, 5, TS_DOC),
        ("origin-go-no-role", None, 9, TS_DOC),
        ("origin-ios", None, 13, 1716000000),
    ]
    encode = []
    for name, role, origin, timestamp in encode_cases:
        packed = ref_map(role, origin, timestamp)
        if encode_map(role, origin, timestamp) != packed:
            raise SystemExit(f"domain metadata map disagrees with the reference for {name}")
        frame = struct.pack("<H", len(packed)) + packed
        if encode_frame(role, origin, timestamp) != frame:
            raise SystemExit(f"domain metadata frame disagrees with the reference for {name}")
        encode.append(
            {
                "id": name,
                "role": role,
                "origin": origin,
                "timestamp": timestamp,
                "map": packed.hex(),
                "frame": frame.hex(),
            }
        )
    ts = struct.pack(">I", TS_DOC)
    decode_cases: list[tuple[str, bytes, Json, str]] = [
        (
            "two-entries",
            ref_map(None, 9, TS_DOC),
            metadata_json(None, 9, TS_DOC),
            "Go/PHP/iOS without a role",
        ),
        (
            "keys-reversed",
            b"\x83\xa2et\xce" + ts + b"\xa2eo\x07\xa2dr\xa7my-role",
            metadata_json(ROLE, 7, TS_DOC),
            "keys in another order",
        ),
        (
            "eo-before-dr",
            b"\x83\xa2eo\x05\xa2dr\xa7my-role\xa2et\xce" + ts,
            metadata_json(ROLE, 5, TS_DOC),
            "keys in another order",
        ),
        (
            "empty-role",
            b"\x83\xa2dr\xa0\xa2eo\x08\xa2et\xce" + ts,
            metadata_json("", 8, TS_DOC),
            "Ruby writes an empty dr for role ''",
        ),
        (
            "et-uint64",
            b"\x82\xa2eo\x07\xa2et\xcf" + struct.pack(">Q", TS_DOC),
            metadata_json(None, 7, TS_DOC),
            "a generic MessagePack encoder may pick uint64",
        ),
        (
            "et-positive-fixint",
            b"\x82\xa2eo\x07\xa2et\x05",
            metadata_json(None, 7, 5),
            "small timestamps as positive fixint",
        ),
        (
            "eo-uint8",
            b"\x82\xa2eo\xcc\x0a\xa2et\xce" + ts,
            metadata_json(None, 10, TS_DOC),
            "origin as uint8",
        ),
        (
            "role-str8",
            b"\x83\xa2dr\xd9\x07my-role\xa2eo\x07\xa2et\xce" + ts,
            metadata_json(ROLE, 7, TS_DOC),
            "role as str8",
        ),
        (
            "map16-header",
            b"\xde\x00\x02\xa2eo\x07\xa2et\xce" + ts,
            metadata_json(None, 7, TS_DOC),
            "map16 header instead of fixmap",
        ),
        (
            "unknown-key-ignored",
            b"\x83\xa2eo\x07\xa2et\xce" + ts + b"\xa2xx\x01",
            metadata_json(None, 7, TS_DOC),
            "unknown keys are ignored",
        ),
        ("empty-map", b"\x80", {"role": None, "origin": None, "timestamp": None}, "all fields absent"),
    ]
    decode = [
        {"id": name, "map": packed.hex(), "expected": expected, "note": note}
        for name, packed, expected, note in decode_cases
    ]
    return {
        "description": "The data-role metadata map and its uint16-LE length frame (docs/protocol.md §4).",
        "encode": encode,
        "decode_only": decode,
    }
