"""Every optimised encryption path reproduces the spec/ vectors byte for byte.

The engine has three ways to seal a value (the inlined single-string path, the
inlined dict loop, and the general walker) and two ways to build a file (one
buffer, or a stream); each must produce exactly the published SDK's bytes.
"""

from __future__ import annotations

import array
import enum
import io

import pytest

from evervault.domain.ciphertext import Datatype
from evervault.domain.curves import Curve
from evervault.domain.decryption import Decryptor
from evervault.domain.errors import InvalidArgumentError, InvalidRoleError, UnsupportedTypeError
from evervault.services.file_streams import encrypt_stream
from tests.perf.vectors import (
    FILE_CONTENT,
    FILE_VECTORS,
    STRING_VECTORS,
    FixedClock,
    app_private_key,
    deterministic_encryptor,
)

CASES = [
    (curve, value, role, expected) for curve, rows in STRING_VECTORS.items() for value, role, expected in rows
]
CURVES = [Curve.SECP256K1, Curve.P256]


class Number(enum.IntEnum):
    FORTY_TWO = 42


@pytest.mark.parametrize(("curve", "value", "role", "expected"), CASES)
def test_a_single_value_matches_its_vector(
    curve: Curve, value: object, role: str | None, expected: str
) -> None:
    assert deterministic_encryptor(curve).encrypt(value, role) == expected


@pytest.mark.parametrize(("curve", "value", "role", "expected"), CASES)
def test_every_container_path_matches_the_vector(
    curve: Curve, value: object, role: str | None, expected: str
) -> None:
    encryptor = deterministic_encryptor(curve)
    document = {"leaf": value, "list": [value], "tuple": (value,), "nested": {"deeper": {"leaf": value}}}
    assert encryptor.encrypt(document, role) == {
        "leaf": expected,
        "list": [expected],
        "tuple": (expected,),
        "nested": {"deeper": {"leaf": expected}},
    }
    assert encryptor.encrypt([value, [value]], role) == [expected, [expected]]
    assert encryptor.encrypt({value}, role) == {expected}
    assert encryptor.encrypt(frozenset([value]), role) == frozenset([expected])


@pytest.mark.parametrize("curve", CURVES)
def test_subclasses_of_primitives_encrypt_as_their_base_type(curve: Curve) -> None:
    encryptor = deterministic_encryptor(curve)
    forty_two = next(
        expected for value, role, expected in STRING_VECTORS[curve] if value == 42 and role is None
    )
    assert encryptor.encrypt(Number.FORTY_TWO) == forty_two
    assert encryptor.encrypt({"n": Number.FORTY_TWO}) == {"n": forty_two}


@pytest.mark.parametrize("curve", CURVES)
def test_encrypt_text_matches_the_string_vector(curve: Curve) -> None:
    encryptor = deterministic_encryptor(curve)
    expected = next(expected for value, role, expected in STRING_VECTORS[curve] if value == "hello" and role)
    assert (
        encryptor.encrypt_text(encryptor.current_session(), Datatype.STRING, "hello", "my-role") == expected
    )


@pytest.mark.parametrize("curve", CURVES)
def test_a_file_matches_its_vector_from_every_kind_of_buffer(curve: Curve) -> None:
    encryptor = deterministic_encryptor(curve)
    expected = FILE_VECTORS[curve]
    assert encryptor.encrypt(FILE_CONTENT) == expected
    assert encryptor.encrypt(bytearray(FILE_CONTENT)) == expected
    assert encryptor.encrypt(memoryview(FILE_CONTENT)) == expected
    # A strided view is not contiguous; it is copied rather than rejected.
    interleaved = bytes(byte for character in FILE_CONTENT for byte in (character, 0))
    assert encryptor.encrypt(memoryview(interleaved)[::2]) == expected
    # A multi-byte item format is encrypted as its raw bytes.
    words = array.array("I", [1, 2, 3])
    assert encryptor.encrypt(memoryview(words)) == encryptor.encrypt(words.tobytes())
    assert type(encryptor.encrypt(FILE_CONTENT)) is bytes


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("chunk_size", [1, 3, 16, 64 * 1024])
def test_a_streamed_file_matches_its_vector(curve: Curve, chunk_size: int) -> None:
    destination = io.BytesIO()
    written = encrypt_stream(
        deterministic_encryptor(curve).file_encryptor(), io.BytesIO(FILE_CONTENT), destination, chunk_size
    )
    assert destination.getvalue() == FILE_VECTORS[curve]
    assert written == len(FILE_VECTORS[curve])


@pytest.mark.parametrize("curve", CURVES)
def test_role_frames_follow_the_wall_clock_second(curve: Curve) -> None:
    clock = FixedClock(wall=1_700_000_000.25)
    encryptor = deterministic_encryptor(curve, clock)
    decryptor = Decryptor({curve: app_private_key(curve)})

    def timestamp() -> int | None:
        metadata = decryptor.decrypt_string(encryptor.encrypt("x", "my-role")).metadata
        assert metadata is not None and metadata.role == "my-role"
        return metadata.timestamp

    assert timestamp() == 1_700_000_000
    clock.wall = 1_700_000_000.99
    assert timestamp() == 1_700_000_000  # same second: the cached frame
    clock.wall = 1_700_000_001.0
    assert timestamp() == 1_700_000_001
    clock.wall = 1_699_999_990.5  # the wall clock stepped back: never a stale future second
    assert timestamp() == 1_699_999_990
    nested = decryptor.decrypt_string(encryptor.encrypt({"a": ["x"]}, "other-role")["a"][0]).metadata
    assert nested is not None and (nested.role, nested.timestamp) == ("other-role", 1_699_999_990)


@pytest.mark.parametrize("role", ["", "UPPER", "x" * 21, "spa ce", 5, [], {}])
def test_invalid_roles_are_rejected_on_every_path(role: object) -> None:
    encryptor = deterministic_encryptor(Curve.SECP256K1)
    for value in ("text", {"a": "text"}, 42):
        with pytest.raises(InvalidRoleError):
            encryptor.encrypt(value, role)  # type: ignore[arg-type]


def test_bad_values_raise_evervault_errors_on_the_fast_paths() -> None:
    encryptor = deterministic_encryptor(Curve.SECP256K1)
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        encryptor.encrypt("\ud800")
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        encryptor.encrypt({"a": "\ud800"})
    with pytest.raises(InvalidArgumentError, match="too many digits"):
        encryptor.encrypt({"a": 10**5000})
    with pytest.raises(InvalidArgumentError, match="too many digits"):
        encryptor.encrypt([10**5000])
    with pytest.raises(UnsupportedTypeError):
        encryptor.encrypt({"a": None})
    with pytest.raises(UnsupportedTypeError):
        encryptor.encrypt({"a": b"bytes"})
    with pytest.raises(InvalidArgumentError):
        encryptor.encrypt(b"file", "my-role")
