"""The adapter protocol's value encoding: JSON plus $bytes, $int and $set."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evervault.local.conformance.codec import CodecError, from_wire, to_wire

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary(max_size=64)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_every_value_survives_a_trip_through_json(value: Any) -> None:
    assert from_wire(json.loads(json.dumps(to_wire(value), allow_nan=False))) == value


def test_tags() -> None:
    assert to_wire(b"\x00\xff") == {"$bytes": "AP8="}
    assert to_wire(2**53 - 1) == 2**53 - 1
    assert to_wire(2**53) == {"$int": "9007199254740992"}
    assert to_wire(-(2**64)) == {"$int": "-18446744073709551616"}
    assert from_wire({"$set": ["a", "b"]}) == {"a", "b"}
    assert from_wire({"$bytes": "AP8=", "other": 1}) == {"$bytes": "AP8=", "other": 1}  # not a tag


@pytest.mark.parametrize(
    "node",
    [
        {"$bytes": "not base64!"},
        {"$bytes": 3},
        {"$int": "12a"},
        {"$int": 5},
        {"$set": "abc"},
        {"$set": [[1]]},
    ],
)
def test_malformed_tags_are_refused(node: Any) -> None:
    with pytest.raises(CodecError):
        from_wire(node)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: "x"}, {"$bytes": "AA=="}, object()])
def test_values_outside_the_protocol_are_refused(value: Any) -> None:
    with pytest.raises(CodecError):
        to_wire(value)
