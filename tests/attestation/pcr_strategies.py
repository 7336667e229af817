"""Hypothesis strategies for PCR policy values, careless and mixed."""

from __future__ import annotations

from hypothesis import strategies as st

from evervault.domain.attestation.policy import PCR_INDEX_BY_FIELD

_PCR_NAMES = st.sampled_from(sorted(PCR_INDEX_BY_FIELD))
_EMPTY_ATOMS = st.sampled_from([None, {}, [], ()])
# Values assembled only from None, {} and [] (nested lists, dicts with None values, ...).
CARELESS_VALUES = st.recursive(
    _EMPTY_ATOMS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_PCR_NAMES, st.none() | children, max_size=4)
    ),
    max_leaves=8,
)
_HEX = st.binary(min_size=48, max_size=48).map(bytes.hex)
# The same shapes with some real measurements mixed in.
MIXED_VALUES = st.recursive(
    _EMPTY_ATOMS | st.dictionaries(_PCR_NAMES, _HEX, min_size=1, max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_PCR_NAMES, st.none() | _HEX | children, max_size=4)
    ),
    max_leaves=8,
)
