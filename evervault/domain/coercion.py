"""Primitive values <-> the text that is encrypted (docs/protocol.md §5).

Encoding follows the published Python SDK exactly (``str(int)``, ``str(float)``,
``"true"``/``"false"``), because the text *is* the ciphertext's plaintext and
other SDKs and Evervault's servers read it back. Decoding is lenient towards
every SDK's renderings (Node's ``4``/``1e-7``, Go's ``0.0000001``, legacy
``"1"``/``"0"`` booleans) but strict about anything else.
"""

from __future__ import annotations

import re

from evervault.domain.ciphertext import Datatype
from evervault.domain.errors import InvalidArgumentError, MalformedCiphertextError

Primitive = str | int | float | bool

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
    re.IGNORECASE,
)


def is_primitive(value: object) -> bool:
    return isinstance(value, (str, int, float))


def to_text(value: Primitive) -> tuple[Datatype, str]:
    """The datatype and exact text of a primitive; bool is checked before int (bool < int)."""
    if isinstance(value, bool):
        return Datatype.BOOLEAN, "true" if value else "false"
    if isinstance(value, int):
        try:
            return Datatype.NUMBER, int.__repr__(value)  # decimal even for IntEnum subclasses
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise InvalidArgumentError(
                "This integer has too many digits to encrypt; encrypt it as a string instead."
            ) from None
    if isinstance(value, float):
        return Datatype.NUMBER, float.__repr__(value)
    if isinstance(value, str):
        return Datatype.STRING, str.__str__(value)
    raise InvalidArgumentError(f"Cannot encrypt a value of type {type(value).__name__}.")


def from_text(datatype: Datatype, text: str) -> Primitive | None:
    """The typed value of a decrypted text (``None`` only for Node's ``null`` number)."""
    if datatype is Datatype.STRING:
        return text
    if datatype is Datatype.BOOLEAN:
        return _boolean(text)
    return _number(text)


def _boolean(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise MalformedCiphertextError("A boolean ciphertext decrypted to something other than true/false.")


def _number(text: str) -> int | float | None:
    if _INTEGER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise MalformedCiphertextError("A number ciphertext has too many digits.") from None
    if _DECIMAL.fullmatch(text):
        return float(text)
    if text == "null":  # Node renders NaN and +-Infinity as JSON null
        return None
    raise MalformedCiphertextError("A number ciphertext decrypted to something that is not a number.")
