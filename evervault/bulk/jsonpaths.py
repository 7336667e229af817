"""Encrypting fields of JSON documents named by dotted paths (``user.card``).

A path walks objects by key. A missing field is left missing and a ``null`` stays
``null``; any other value is encrypted with the SDK's typing rules (an object or array
at the path is encrypted leaf by leaf, as :meth:`Encryptor.encrypt` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evervault.domain.errors import InvalidArgumentError

JsonPath = tuple[str, ...]


def parse_paths(columns: Sequence[str]) -> tuple[JsonPath, ...]:
    paths = tuple(tuple(column.split(".")) for column in columns)
    for column, path in zip(columns, paths, strict=True):
        if any(not part for part in path):
            raise InvalidArgumentError(f"JSON path {column!r} has an empty segment.")
    return paths


def transform_document(document: Any, paths: Sequence[JsonPath], transform: Callable[[Any], Any]) -> Any:
    """Apply ``transform`` to the value at each path of ``document`` (in place; returned)."""
    for path in paths:
        parent = document
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        value = parent.get(path[-1])
        if value is not None:
            parent[path[-1]] = transform(value)
    return document
