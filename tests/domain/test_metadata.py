"""The data-role metadata frame (docs/protocol.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.errors import InvalidRoleError, MetadataError
from evervault.domain.metadata import (
    PYTHON_ENCRYPTION_ORIGIN,
    Metadata,
    decode_map,
    encode_frame,
    encode_map,
    split_frame,
    validate_role,
)

ROLES = st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)


def test_python_origin_is_seven() -> None:
    assert PYTHON_ENCRYPTION_ORIGIN == 7


def test_published_layout() -> None:
    packed = encode_map("my-role", 7, 1700000000)
    assert packed.hex() == "83a26472a76d792d726f6c65a2656f07a26574ce6553f100"
    assert encode_frame(None, 7, 1700000000).hex() == "0d0082a2656f07a26574ce6553f100"


@pytest.mark.parametrize("role", ["a", "my-role", "0-9", "a" * 20, "-"])
def test_valid_roles(role: str) -> None:
    assert validate_role(role) == role


@pytest.mark.parametrize(
    "role",
    ["", "a" * 21, "My-Role", "my_role", "my role", "r\u00f4le", "role\n", 5, None, b"role"],
    ids=["empty", "21-chars", "upper", "underscore", "space", "non-ascii", "newline", "int", "none", "bytes"],
)
def test_invalid_roles_are_rejected_without_echoing_them(role: object) -> None:
    with pytest.raises(InvalidRoleError) as caught:
        validate_role(role)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "1-20" in message and "role=None" in message
    if isinstance(role, str) and role:
        assert role not in message


@pytest.mark.parametrize(
    ("origin", "timestamp"),
    [(-1, 0), (128, 0), (7, -1), (7, 2**32)],
)
def test_encode_rejects_out_of_range_numbers(origin: int, timestamp: int) -> None:
    with pytest.raises(MetadataError):
        encode_map(None, origin, timestamp)


def test_encode_validates_the_role() -> None:
    with pytest.raises(InvalidRoleError):
        encode_map("Not Valid", 7, 0)


@settings(max_examples=100)
@given(
    role=st.none() | ROLES,
    origin=st.integers(min_value=0, max_value=127),
    timestamp=st.integers(min_value=0, max_value=2**32 - 1),
    value=st.binary(max_size=40),
)
def test_frame_round_trip(role: str | None, origin: int, timestamp: int, value: bytes) -> None:
    frame = encode_frame(role, origin, timestamp)
    assert int.from_bytes(frame[:2], "little") == len(frame) - 2
    assert split_frame(frame + value) == (Metadata(role, origin, timestamp), value)


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (b"", "too short"),
        (b"\x05", "too short"),
        (b"\x05\x00\x80", "claims 5 bytes"),
        (b"\x01\x00\x91", "not a MessagePack map"),
        (b"\x01\x00\x81", "truncated"),
    ],
)
def test_split_frame_errors(plaintext: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        split_frame(plaintext)


@settings(max_examples=100)
@given(st.binary(max_size=40))
def test_decoding_arbitrary_bytes_only_ever_raises_metadata_errors(data: bytes) -> None:
    for decode in (decode_map, lambda packed: split_frame(packed)[0]):
        try:
            metadata = decode(data)
        except MetadataError:
            continue
        assert isinstance(metadata, Metadata)
