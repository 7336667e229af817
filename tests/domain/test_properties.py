"""Hypothesis properties over the whole pipeline: round trips keep values and types; every
mutation of a ciphertext string or file is rejected with a CiphertextError (never another
exception), with one exception the wire format itself makes undetectable:

The parity twin. Flipping the ephemeral key's compressed-point prefix (02 <-> 03) negates
the point, and ECDH's x-coordinate is the same for P and -P. Versions that use that raw
secret as the key with no AAD (RFVC, T1JL, files v0/v2) therefore decrypt the twin to the
*identical* plaintext; either parity is a legitimate sender key, so no decoder can tell.
Versions with the KDF hash the full point and reject it. The properties below accept a
mutation only if it is exactly that twin and yields exactly the original value.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evervault.domain import ciphertext as ev_string
from evervault.domain import envelope
from evervault.domain.ciphertext import AadKind
from evervault.domain.curves import Curve
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import CiphertextError
from tests.domain.fakes import counting_encryptor, decryptor
from tests.domain.samples import PRIMITIVES, assert_same_typed, json_like, python_containers

ENCRYPTORS: dict[Curve, Encryptor] = {curve: counting_encryptor(curve) for curve in Curve}
DECRYPTOR = decryptor()
CURVES = st.sampled_from(list(Curve))
ROLES = st.none() | st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)
EXAMPLES = settings(max_examples=75, deadline=None)


# --- round trips --------------------------------------------------------------------------


@EXAMPLES
@given(curve=CURVES, role=ROLES, value=json_like())
def test_json_like_values_round_trip_with_types(curve: Curve, role: str | None, value: Any) -> None:
    encrypted = ENCRYPTORS[curve].encrypt(value, role)
    assert_same_typed(DECRYPTOR.decrypt(encrypted), value)


@EXAMPLES
@given(curve=CURVES, role=ROLES, value=PRIMITIVES)
def test_primitives_carry_their_role(curve: Curve, role: str | None, value: Any) -> None:
    result = DECRYPTOR.decrypt_string(ENCRYPTORS[curve].encrypt(value, role))
    assert_same_typed(result.value, value)
    assert (result.metadata is None) is (role is None)
    if result.metadata is not None:
        assert (result.metadata.role, result.metadata.origin) == (role, 7)


@EXAMPLES
@given(curve=CURVES, role=ROLES, value=python_containers())
def test_tuples_sets_and_frozensets_round_trip(curve: Curve, role: str | None, value: Any) -> None:
    assert_same_typed(DECRYPTOR.decrypt(ENCRYPTORS[curve].encrypt(value, role)), value)


@EXAMPLES
@given(curve=CURVES, data=st.binary(max_size=4096))
def test_files_round_trip(curve: Curve, data: bytes) -> None:
    encrypted = ENCRYPTORS[curve].encrypt(data)
    assert len(encrypted) == 55 + len(data) + 16 + 4
    assert DECRYPTOR.decrypt(encrypted) == data


# --- mutations ------------------------------------------------------------------------------


@st.composite
def mutated_strings(draw: st.DrawFn) -> tuple[str, str]:
    """(original, mutated) ev-strings; the mutation is a bit flip, truncation, extension or swap."""
    curve, role, value = draw(CURVES), draw(ROLES), draw(PRIMITIVES)
    original: str = ENCRYPTORS[curve].encrypt(value, role)
    kind = draw(st.sampled_from(["flip", "truncate-end", "truncate-start", "extend", "swap"]))
    if kind == "flip":
        raw = bytearray(original.encode("ascii"))
        raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
        mutated = raw.decode("latin-1")
    elif kind == "truncate-end":
        mutated = original[: draw(st.integers(0, len(original) - 1))]
    elif kind == "truncate-start":
        mutated = original[draw(st.integers(1, len(original))) :]
    elif kind == "extend":
        mutated = original + draw(st.text(min_size=1, max_size=8))
    else:
        segments = original.split(":")
        first, second = draw(st.lists(st.integers(0, len(segments) - 1), min_size=2, max_size=2, unique=True))
        segments[first], segments[second] = segments[second], segments[first]
        mutated = ":".join(segments)
    assume(mutated != original)
    return original, mutated


def is_string_parity_twin(original: str, mutated: str) -> bool:
    before, after = ev_string.parse(original), ev_string.parse(mutated)
    raw_secret = not before.version.uses_kdf and before.version.aad_kind is AadKind.NONE
    flipped = bytes((before.ephemeral_public_key[0] ^ 1,)) + before.ephemeral_public_key[1:]
    return raw_secret and after == dataclasses.replace(before, ephemeral_public_key=flipped)


@EXAMPLES
@given(mutated_strings())
def test_mutated_strings_are_rejected(pair: tuple[str, str]) -> None:
    original, mutated = pair
    try:
        accepted = DECRYPTOR.decrypt_string(mutated)
    except CiphertextError:
        return
    assert is_string_parity_twin(original, mutated)
    assert_same_typed(accepted.value, DECRYPTOR.decrypt_string(original).value)


def test_the_parity_twin_of_a_raw_secret_string_decrypts_to_the_same_value() -> None:
    """The documented exception, made explicit: RFVC accepts it, KDF versions reject it."""
    for curve in Curve:
        for role in (None, "r"):
            original = ev_string.parse(ENCRYPTORS[curve].encrypt("same", role))
            key = original.ephemeral_public_key
            twin = dataclasses.replace(original, ephemeral_public_key=bytes((key[0] ^ 1,)) + key[1:]).format()
            if original.version.uses_kdf:
                with pytest.raises(CiphertextError):
                    DECRYPTOR.decrypt_string(twin)
            else:
                assert DECRYPTOR.decrypt_string(twin).value == "same"


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(original, mutated) files; the mutation is a bit flip, truncation, extension or swap."""
    curve, data = draw(CURVES), draw(st.binary(max_size=64))
    original: bytes = ENCRYPTORS[curve].encrypt(data)
    mutated = bytearray(original)
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "swap"]))
    if kind == "flip":
        mutated[draw(st.integers(0, len(mutated) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        del mutated[draw(st.integers(0, len(mutated) - 1)) :]
    elif kind == "extend":
        mutated += draw(st.binary(min_size=1, max_size=16))
    else:
        width = draw(st.integers(1, 16))
        first = draw(st.integers(0, len(mutated) - 2 * width))
        second = draw(st.integers(first + width, len(mutated) - width))
        mutated[first : first + width], mutated[second : second + width] = (
            original[second : second + width],
            original[first : first + width],
        )
    assume(bytes(mutated) != original)
    return original, bytes(mutated)


def is_file_parity_twin(original: bytes, mutated: bytes) -> bool:
    """Same file but for the key prefix byte (offset 9), with a valid CRC, on a raw-secret version."""
    twin = bytearray(original[:-4])
    twin[9] ^= 1
    twin += struct.pack("<I", zlib.crc32(twin))
    return not envelope.parse(original).version.uses_kdf and bytes(twin) == mutated


@EXAMPLES
@given(mutated_files())
def test_mutated_files_are_rejected(pair: tuple[bytes, bytes]) -> None:
    original, mutated = pair
    try:
        accepted = DECRYPTOR.decrypt_file(mutated)
    except CiphertextError:
        return
    assert is_file_parity_twin(original, mutated)
    assert accepted.data == DECRYPTOR.decrypt_file(original).data


@EXAMPLES
@given(curve=CURVES, data=st.binary(max_size=64), position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_bit_flips_behind_a_recomputed_crc_are_rejected(
    curve: Curve, data: bytes, position: int, bit: int
) -> None:
    """An attacker can fix the CRC; authenticated encryption must still catch the change.

    The flags byte (offset 54) is excluded: it carries no meaning for decryption (browsers
    set 0x01 in debug mode) and is covered by the CRC only, by design of the format.
    """
    original = ENCRYPTORS[curve].encrypt(data)
    body = bytearray(original[:-4])
    position %= len(body)
    assume(position != 54)
    body[position] ^= 1 << bit
    mutated = bytes(body) + struct.pack("<I", zlib.crc32(body))
    try:
        accepted = DECRYPTOR.decrypt_file(mutated)
    except CiphertextError:
        return
    assert is_file_parity_twin(original, mutated)
    assert accepted.data == data
