"""A strict, minimal CBOR (RFC 8949) decoder for attestation documents.

General-purpose decoders are lenient where a verifier must not be: they accept duplicate map
keys (last one wins, so two readers can disagree about a signed document), trailing bytes and
unbounded nesting. This one decodes only what a COSE_Sign1 Nitro document uses - integers,
byte and text strings, arrays, maps, tags, ``true``/``false``/``null`` - with definite lengths,
and rejects everything else as ``malformed-cbor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import AttestationError

MAX_DEPTH = 16

CborKey: TypeAlias = "int | str | bytes"
CborValue: TypeAlias = (
    "int | bytes | str | bool | list[CborValue] | dict[CborKey, CborValue] | CborTag | None"
)


@dataclass(frozen=True)
class CborTag:
    """A tagged item (major type 6), e.g. COSE_Sign1's tag 18."""

    tag: int
    value: CborValue


_SIMPLE_VALUES: dict[int, CborValue] = {20: False, 21: True, 22: None}


def decode(data: bytes) -> CborValue:
    """Decode exactly one CBOR item that spans all of ``data``."""
    reader = _Reader(bytes(data))
    value = reader.item(depth=0)
    if reader.position != len(reader.data):
        raise _malformed(f"{len(reader.data) - reader.position} trailing byte(s) after the item")
    return value


def _malformed(reason: str) -> AttestationError:
    return attestation_failure(
        "malformed-cbor",
        f"the attestation document is not valid CBOR: {reason}. "
        "Fetch a fresh document; a corrupted or tampered document cannot be verified.",
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise _malformed(f"needs {count} byte(s) at offset {self.position}, data ends first")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def head(self) -> tuple[int, int, int]:
        """Return (major type, additional info, argument) of the next item."""
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info, info
        if info <= 27:
            return major, info, int.from_bytes(self.take(1 << (info - 24)), "big")
        raise _malformed(f"indefinite or reserved length (additional info {info}) is not allowed")

    def item(self, depth: int) -> CborValue:
        if depth > MAX_DEPTH:
            raise _malformed(f"nesting deeper than {MAX_DEPTH} levels")
        major, info, argument = self.head()
        if major == 0:
            return argument
        if major == 1:
            return -1 - argument
        if major == 2:
            return self.take(argument)
        if major == 3:
            return self.text(argument)
        if major == 4:
            return self.array(argument, depth)
        if major == 5:
            return self.map(argument, depth)
        if major == 6:
            return CborTag(argument, self.item(depth + 1))
        return self.simple(info, argument)

    def text(self, length: int) -> str:
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed("a text string is not valid UTF-8") from exc

    def array(self, length: int, depth: int) -> list[CborValue]:
        self.require_room(length)
        return [self.item(depth + 1) for _ in range(length)]

    def map(self, length: int, depth: int) -> dict[CborKey, CborValue]:
        self.require_room(2 * length)
        result: dict[CborKey, CborValue] = {}
        for _ in range(length):
            key = self.item(depth + 1)
            if isinstance(key, bool) or not isinstance(key, (int, str, bytes)):
                raise _malformed(f"a map key has type {type(key).__name__}; only int/text/bytes")
            if key in result:
                raise _malformed(f"duplicate map key {key!r}")
            result[key] = self.item(depth + 1)
        return result

    def require_room(self, item_count: int) -> None:
        # Every item takes at least one byte: refuse absurd counts before allocating.
        if item_count > len(self.data) - self.position:
            raise _malformed(f"declares {item_count} items, more than the bytes that remain")

    @staticmethod
    def simple(info: int, argument: int) -> CborValue:
        if info < 24 and argument in _SIMPLE_VALUES:
            return _SIMPLE_VALUES[argument]
        raise _malformed("floats and simple values other than true/false/null are not allowed")
