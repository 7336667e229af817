"""The value encoding of the adapter protocol: JSON, plus three tags for what JSON cannot carry.

* ``{"$bytes": "<standard base64>"}`` - a byte string (file contents, encrypted files);
* ``{"$int": "<decimal digits>"}`` - an integer outside +-(2**53 - 1), which many JSON
  readers (JavaScript's among them) would silently round;
* ``{"$set": [...]}`` - an unordered set, for SDKs whose language has one.

Everything else is plain JSON: integers are written without a fraction or exponent, floats
with one (``1.0``, ``1e+300``), so adapters in languages with distinct integer and float
types can keep the distinction. Objects whose only key is one of the tags are reserved.
Non-finite floats (NaN, infinities) are not part of the protocol.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

BYTES_TAG = "$bytes"
INT_TAG = "$int"
SET_TAG = "$set"
MAX_SAFE_INTEGER = 2**53 - 1
_TAGS = (BYTES_TAG, INT_TAG, SET_TAG)


class CodecError(ValueError):
    """A value that the protocol cannot carry, or a malformed encoded value."""


def to_wire(value: Any) -> Any:
    """The protocol's JSON form of a Python value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else {INT_TAG: str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError("Non-finite floats cannot be sent to an adapter.")
        return value
    if isinstance(value, (bytes, bytearray)):
        return {BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CodecError("Only string keys can be sent to an adapter.")
        if len(value) == 1 and next(iter(value)) in _TAGS:
            raise CodecError(f"An object whose only key is {next(iter(value))!r} is reserved for the tag.")
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return {SET_TAG: [to_wire(item) for item in value]}
    raise CodecError(f"A {type(value).__name__} cannot be sent to an adapter.")


def from_wire(node: Any) -> Any:
    """The Python value of an encoded JSON value (sets become ``frozenset``-free ``set``)."""
    if isinstance(node, list):
        return [from_wire(item) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, payload),) = node.items()
        if key == BYTES_TAG:
            return _bytes(payload)
        if key == INT_TAG:
            return _integer(payload)
        if key == SET_TAG:
            if not isinstance(payload, list):
                raise CodecError("A $set value must be a JSON array.")
            return _set(payload)
    return {key: from_wire(item) for key, item in node.items()}


def _bytes(payload: Any) -> bytes:
    if not isinstance(payload, str):
        raise CodecError("A $bytes value must be a base64 string.")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise CodecError("A $bytes value is not valid standard base64.") from None


def _integer(payload: Any) -> int:
    if not isinstance(payload, str) or not payload.lstrip("-").isdigit():
        raise CodecError("An $int value must be a string of decimal digits.")
    return int(payload)


def _set(items: list[Any]) -> set[Any]:
    try:
        return {from_wire(item) for item in items}
    except TypeError:
        raise CodecError("A $set may hold only scalar values.") from None
