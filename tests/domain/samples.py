"""Shared value strategies and a type-exact comparison for round-trip tests."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

# Floats include nan, +-inf and -0.0; integers are unbounded (big ints included).
PRIMITIVES: st.SearchStrategy[Any] = (
    st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text()
)
HASHABLE_KEYS: st.SearchStrategy[Any] = st.text(max_size=8) | st.integers() | st.booleans()


def json_like(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON-like document: nested dicts (any hashable keys) and lists of primitives."""
    return st.recursive(
        PRIMITIVES,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(HASHABLE_KEYS, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def python_containers() -> st.SearchStrategy[Any]:
    """Tuples, sets and frozensets (of primitives, as sets need hashable members), nested in lists."""
    members = st.booleans() | st.integers() | st.text(max_size=10) | st.floats(allow_nan=False)
    return st.recursive(
        st.tuples(PRIMITIVES, PRIMITIVES) | st.sets(members, max_size=4) | st.frozensets(members, max_size=4),
        lambda children: st.lists(children, max_size=3) | st.tuples(children, children),
        max_leaves=6,
    )


def canonical(value: Any) -> Any:
    """A comparable form that keeps types apart: True != 1 != 1.0, -0.0 != 0.0, nan == nan."""
    kind = type(value).__name__
    if isinstance(value, (bool, int, str)):
        return (kind, repr(value))
    if isinstance(value, float):
        return (kind, "nan" if math.isnan(value) else repr(value))
    if isinstance(value, (list, tuple)):
        return (kind, [canonical(item) for item in value])
    if isinstance(value, (set, frozenset)):
        return (kind, sorted(repr(canonical(item)) for item in value))
    if isinstance(value, dict):
        return (kind, sorted((repr(canonical(k)), canonical(v)) for k, v in value.items()))
    return (kind, repr(value))


def assert_same_typed(actual: Any, expected: Any) -> None:
    assert canonical(actual) == canonical(expected)
