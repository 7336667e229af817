"""Comparing values strictly: same types, same float signs, and nan equal to nan."""

from __future__ import annotations

from typing import Any


def typed_form(value: Any) -> Any:
    """A comparable form that tells apart True/1/1.0, -0.0/0.0, bytes/bytearray and list/tuple/set.

    Floats compare by ``repr``, so nan equals nan and -0.0 differs from 0.0; sets compare
    as sorted lists of their members' forms, so they need no hashing of the forms.
    """
    if isinstance(value, dict):
        return ("dict", [(typed_form(key), typed_form(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed_form(item) for item in value])
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted(typed_form(item) for item in value))
    return (type(value).__name__, repr(value))
