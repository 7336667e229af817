"""Helpers shared by the builders: how values and metadata are written in the JSON."""

from __future__ import annotations

import functools
from typing import Any

from ..inputs import CURVES, EPH_ALT, EPH_DOC
from ..reference import leading_zero_ephemeral

Json = dict[str, Any]


def typed_value(value: object) -> Json:
    """A value as the spec writes it: integers and floats as text so no precision is lost."""
    if value is None:
        return {"type": "null", "value": None}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int):
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    raise TypeError(f"no spec encoding for {type(value).__name__}")


def python_text(value: object) -> tuple[str, str]:
    """(datatype, text) as the Python SDK renders a primitive (docs/protocol.md §5.1)."""
    if isinstance(value, bool):
        return "boolean", "true" if value else "false"
    if isinstance(value, (int, float)):
        return "number", repr(value)
    if isinstance(value, str):
        return "string", value
    raise TypeError(type(value).__name__)


def metadata_json(role: str | None, origin: int, timestamp: int) -> Json:
    return {"role": role, "origin": origin, "timestamp": timestamp}


def ephemerals() -> dict[str, bytes]:
    """The named ephemeral scalars listed in keys.json and used by der.json, in file order."""
    return dict(_named_ephemerals())


@functools.cache  # the leading-zero search runs once per process, not once per builder
def _named_ephemerals() -> tuple[tuple[str, bytes], ...]:
    named = [("eph-doc", EPH_DOC), ("eph-alt", EPH_ALT)]
    named += [(f"eph-leading-zero-{curve}", leading_zero_ephemeral(curve)) for curve in CURVES]
    return tuple(named)


PARITY_TWIN_NOTE = (
    "Parity twin of the eph-doc vector: ephemeral scalar n - e, so the key prefix flips (02 <-> 03) "
    "and x-only ECDH gives the same secret. Raw-secret versions without AAD (RFVC, T1JL, files v0/v2) "
    "produce the identical ciphertext; a decoder cannot and must not reject it."
)
