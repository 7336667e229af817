"""Property: for any JSON-like document, decrypt(encrypt(doc)) == doc through the emulator.

Over real HTTP with our SDK's ``Client`` (urllib3 transport), on both curves, with and
without a data role, against the session emulator of the pytest plugin.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.curves import Curve
from evervault.local.pytest_plugin import LocalEvervault
from tests.interop.typed_values import typed_form

PRIMITIVES = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=24),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
DOCUMENTS = st.recursive(
    PRIMITIVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
ROLES = st.one_of(st.none(), st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True))


@pytest.mark.parametrize("curve", [Curve.SECP256K1, Curve.P256], ids=lambda c: c.value)
def test_decrypt_of_encrypt_is_identity_through_the_emulator(
    evervault_local: LocalEvervault, curve: Curve
) -> None:
    with evervault_local.info.client(curve=curve) as client:

        @settings(max_examples=40, deadline=None)
        @given(document=DOCUMENTS, role=ROLES)
        def round_trip(document: Any, role: str | None) -> None:
            encrypted = client.encrypt(document, role)
            # The top level of a JSON-like document is a str/dict/list once encrypted.
            assert typed_form(client.decrypt(encrypted)) == typed_form(document)

        round_trip()


def test_files_round_trip_through_the_emulator(evervault_local: LocalEvervault) -> None:
    client = evervault_local.client

    @settings(max_examples=15, deadline=None)
    @given(content=st.binary(max_size=4096))
    def round_trip(content: bytes) -> None:
        assert client.decrypt(client.encrypt(content)) == content

    round_trip()
