"""The strict CBOR decoder: what Nitro documents use decodes, everything lenient is refused."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.attestation import cbor
from evervault.domain.errors import AttestationError


def _rejected(data: bytes) -> AttestationError:
    with pytest.raises(AttestationError) as caught:
        cbor.decode(data)
    assert caught.value.kind == "malformed-cbor"
    return caught.value


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("00", 0),
        ("17", 23),
        ("1818", 24),
        ("1903e8", 1000),
        ("1b000000e8d4a51000", 1000000000000),
        ("20", -1),
        ("3822", -35),
        ("43010203", b"\x01\x02\x03"),
        ("6449455446", "IETF"),
        ("83010203", [1, 2, 3]),
        ("a201020304", {1: 2, 3: 4}),
        ("f4", False),
        ("f5", True),
        ("f6", None),
        ("d24100", cbor.CborTag(18, b"\x00")),
    ],
)
def test_decodes_rfc_8949_examples(encoded: str, expected: Any) -> None:
    assert cbor.decode(bytes.fromhex(encoded)) == expected


def test_rejects_trailing_bytes() -> None:
    assert "trailing" in str(_rejected(bytes.fromhex("0000")))


def test_rejects_duplicate_map_keys() -> None:
    assert "duplicate" in str(_rejected(bytes.fromhex("a201020103")))


@pytest.mark.parametrize("encoded", ["5f41014102ff", "9fff", "bfff", "7f6161ff"])
def test_rejects_indefinite_lengths(encoded: str) -> None:
    _rejected(bytes.fromhex(encoded))


@pytest.mark.parametrize("encoded", ["f93c00", "fa47c35000", "fb3ff199999999999a", "f7", "f0"])
def test_rejects_floats_and_other_simple_values(encoded: str) -> None:
    _rejected(bytes.fromhex(encoded))


@pytest.mark.parametrize("encoded", ["1c", "3d", "5e"])
def test_rejects_reserved_additional_information(encoded: str) -> None:
    _rejected(bytes.fromhex(encoded))


@pytest.mark.parametrize("encoded", ["", "18", "4201", "6261", "8201", "a101"])
def test_rejects_truncated_items(encoded: str) -> None:
    _rejected(bytes.fromhex(encoded))


def test_rejects_invalid_utf8_text() -> None:
    _rejected(bytes.fromhex("62c328"))


@pytest.mark.parametrize("encoded", ["a18001", "a1a00001", "a1f501"])
def test_rejects_map_keys_that_are_not_int_text_or_bytes(encoded: str) -> None:
    _rejected(bytes.fromhex(encoded))


def test_rejects_nesting_deeper_than_the_limit() -> None:
    _rejected(b"\x81" * (cbor.MAX_DEPTH + 2) + b"\x00")


def test_refuses_huge_declared_counts_before_allocating() -> None:
    _rejected(bytes.fromhex("9bffffffffffffffff"))


_keys = st.one_of(st.integers(-(2**63), 2**64 - 1), st.text(max_size=8), st.binary(max_size=8))
_values = st.recursive(
    st.one_of(
        st.integers(-(2**64), 2**64 - 1),
        st.binary(max_size=16),
        st.text(max_size=16),
        st.booleans(),
        st.none(),
    ),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(_values)
def test_round_trips_what_cbor2_encodes(value: Any) -> None:
    assert cbor.decode(cbor2.dumps(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_raise_anything_but_attestation_error(data: bytes) -> None:
    try:
        cbor.decode(data)
    except AttestationError as failure:
        assert failure.kind == "malformed-cbor"
