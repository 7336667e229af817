"""Primitive values <-> encrypted text (docs/protocol.md §5.1)."""

from __future__ import annotations

import enum
import math
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings

from evervault.domain.ciphertext import Datatype
from evervault.domain.coercion import Primitive, from_text, is_primitive, to_text
from evervault.domain.errors import InvalidArgumentError, MalformedCiphertextError
from tests.domain.samples import PRIMITIVES, assert_same_typed


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("value", "datatype", "text"),
    [
        (True, Datatype.BOOLEAN, "true"),
        (False, Datatype.BOOLEAN, "false"),
        (42, Datatype.NUMBER, "42"),
        (-7, Datatype.NUMBER, "-7"),
        (10**25, Datatype.NUMBER, "10000000000000000000000000"),
        (Level.HIGH, Datatype.NUMBER, "3"),
        (4.0, Datatype.NUMBER, "4.0"),
        (1e16, Datatype.NUMBER, "1e+16"),
        (1e-07, Datatype.NUMBER, "1e-07"),
        (-0.0, Datatype.NUMBER, "-0.0"),
        (0.1 + 0.2, Datatype.NUMBER, "0.30000000000000004"),
        (math.nan, Datatype.NUMBER, "nan"),
        (math.inf, Datatype.NUMBER, "inf"),
        (-math.inf, Datatype.NUMBER, "-inf"),
        ("", Datatype.STRING, ""),
        ("h\u00e9llo", Datatype.STRING, "h\u00e9llo"),
    ],
)
def test_python_sdk_renderings(value: Primitive, datatype: Datatype, text: str) -> None:
    assert to_text(value) == (datatype, text)


def test_integers_beyond_the_digit_limit_are_an_argument_error() -> None:
    if not hasattr(sys, "get_int_max_str_digits"):
        pytest.skip("no integer string-conversion limit on this Python")
    with pytest.raises(InvalidArgumentError, match="too many digits"):
        to_text(10 ** (sys.get_int_max_str_digits() + 1))


@pytest.mark.parametrize("value", [None, Decimal("1.5"), b"x", [1], object()])
def test_non_primitives_are_rejected(value: object) -> None:
    assert not is_primitive(value) or isinstance(value, bytes)
    with pytest.raises(InvalidArgumentError):
        to_text(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("datatype", "text", "value"),
    [
        (Datatype.BOOLEAN, "true", True),
        (Datatype.BOOLEAN, "0", False),
        (Datatype.BOOLEAN, "1", True),
        (Datatype.NUMBER, "4", 4),
        (Datatype.NUMBER, "-12", -12),
        (Datatype.NUMBER, "1e-7", 1e-07),
        (Datatype.NUMBER, "1.0E16", 1e16),
        (Datatype.NUMBER, "0.0000001", 1e-07),
        (Datatype.NUMBER, ".5", 0.5),
        (Datatype.NUMBER, "Infinity", math.inf),
        (Datatype.NUMBER, "null", None),
        (Datatype.STRING, "null", "null"),
        (Datatype.STRING, "", ""),
    ],
)
def test_lenient_decoding_of_other_sdks(datatype: Datatype, text: str, value: object) -> None:
    assert_same_typed(from_text(datatype, text), value)


@pytest.mark.parametrize(
    ("datatype", "text"),
    [
        (Datatype.BOOLEAN, "yes"),
        (Datatype.BOOLEAN, "True"),
        (Datatype.BOOLEAN, ""),
        (Datatype.NUMBER, ""),
        (Datatype.NUMBER, "12abc"),
        (Datatype.NUMBER, "0x10"),
        (Datatype.NUMBER, " 1"),
        (Datatype.NUMBER, "1_000"),
    ],
)
def test_invalid_renderings_are_rejected_without_echoing_them(datatype: Datatype, text: str) -> None:
    with pytest.raises(MalformedCiphertextError) as caught:
        from_text(datatype, text)
    assert not text or text not in str(caught.value)


@settings(max_examples=100)
@given(PRIMITIVES)
def test_round_trip_preserves_type_and_value(value: Primitive) -> None:
    assert_same_typed(from_text(*to_text(value)), value)
