"""The interop corpus: every value the published SDK can encrypt, on both curves, with roles.

Shared by the domain interop test and the emulator interop test, so both
prove 100% of the same corpus. :func:`expected_ciphertexts` is the number of
ciphertexts (ev-strings plus files) the corpus produces. Some values have no JSON form
(sets, non-string keys, nan/inf, files); :func:`is_json_document` picks the ones a JSON
``/decrypt`` request can carry unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evervault.domain.curves import Curve
from tests.support.published_sdk import SdkCall, encrypt_call

CURVES = (Curve.SECP256K1, Curve.P256)
# None: no metadata. "": the published SDK's quirk (docs/protocol.md §9.3), metadata without "dr".
ROLES: tuple[str | None, ...] = (None, "my-role", "a", "team-7-payments", "abcdefghij0123456789", "")

STRINGS = (
    "",
    "hello",
    "héllo wörld ✓ 😀 日本語 Ελληνικά",
    "  padded\t\n",
    "42",
    "true",
    "ev:RFVC:looks:encrypted:$",
    "long " * 4000,
)
INTEGERS = (0, 1, -1, 42, -42, 2**31, 2**63, 2**64 + 1, 10**25, -(10**30))
FLOATS = (
    4.0, -0.0, 0.0, 1e-07, 1e16, 0.1, 0.30000000000000004, -2.5, math.pi,
    1.7976931348623157e308, 5e-324, math.inf, -math.inf, math.nan,
)  # fmt: skip
BOOLEANS = (True, False)
CONTAINERS: tuple[Any, ...] = (
    {"name": "Ada", "age": 36, "height": 1.7, "admin": False, "tags": ["a", "b"], "home": {"city": "Cork"}},
    [1, "two", 3.0, True, [False, [0, -0.0]], {"deep": {"deeper": ["x"]}}],
    {"ids": {1, 2, 3}, "labels": {"red", "green"}, "mixed": {2, 2.5, "three", False}},
    {7: "int key", 2.5: "float key", "s": ["str key"]},
    [{"a": [{"b": [{"c": [{"d": "bottom"}]}]}]}],
    {2, 2.5, "set member", True},
    {},
    [],
    set(),
)
VALUES: tuple[Any, ...] = (*STRINGS, *INTEGERS, *FLOATS, *BOOLEANS, *CONTAINERS)
ONE_MIB = bytes(range(256)) * 4096
FILES: tuple[bytes | bytearray, ...] = (b"", b"\x00", ONE_MIB, bytearray(b"a bytearray file"))


@dataclass(frozen=True)
class Case:
    """One value handed to the published SDK's ``encrypt``."""

    curve: Curve
    value: Any
    role: str | None = None

    @property
    def call(self) -> SdkCall:
        return encrypt_call(self.value, self.role)


def corpus(curve: Curve) -> list[Case]:
    values = [Case(curve, value, role) for role in ROLES for value in VALUES]
    return values + [Case(curve, data) for data in FILES]


def leaves(value: Any) -> Iterator[Any]:
    """The primitive leaves of a value (dict keys are not encrypted, so not leaves)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def expected_ciphertexts() -> int:
    """How many ev-strings and files :func:`corpus` yields over all :data:`CURVES`."""
    per_curve = sum(len(list(leaves(case.value))) for case in corpus(Curve.P256))
    return per_curve * len(CURVES)


def is_json_document(value: Any) -> bool:
    """Whether ``value`` survives a standard JSON round trip with the same shape and types."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_json_document(item) for key, item in value.items())
    if isinstance(value, list):
        return all(is_json_document(item) for item in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int, bool))
