"""Everything the published evervault==5.1.3 SDK encrypts, our domain decryptor decrypts.

The published SDK runs in its own virtualenv (tests/support/published_sdk.py) and
fetches our test app's public keys from a local key endpoint; our
:class:`~evervault.domain.decryption.Decryptor` holds the matching private keys.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.domain.ciphertext import Version
from evervault.domain.curves import Curve
from evervault.domain.decryption import Decryptor
from evervault.domain.envelope import FileVersion
from evervault.domain.errors import CiphertextError
from evervault.domain.metadata import PYTHON_ENCRYPTION_ORIGIN
from tests.interop.corpus import CURVES, FILES, ROLES, VALUES, Case, corpus, expected_ciphertexts, leaves
from tests.interop.interop_app import API_KEY, APP_ID, KeyEndpoint
from tests.interop.typed_values import typed_form
from tests.support.published_sdk import (
    SdkResult,
    encrypt_call,
    run_published_sdk,
    run_published_sdk_process,
)

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("published_sdk")]

# --- checking one output ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Unix seconds bracketing the published SDK's run (its metadata timestamps fall inside)."""

    start: int
    end: int


def check_file(decryptor: Decryptor, case: Case, output: Any) -> int:
    assert isinstance(output, bytes), f"a file encrypted to {type(output).__name__}"
    decrypted = decryptor.decrypt_file(output)
    assert decrypted.data == bytes(case.value)
    assert decrypted.version is FileVersion.current(case.curve)
    assert decrypted.metadata is None
    return 1


def check_ev_string(decryptor: Decryptor, case: Case, text: Any, window: Window) -> None:
    assert isinstance(text, str) and text.startswith("ev:"), f"an unencrypted leaf came back: {type(text)}"
    decrypted = decryptor.decrypt_string(text)
    assert decrypted.version is Version.current(case.curve, with_metadata=case.role is not None)
    if case.role is None:
        assert decrypted.metadata is None
        return
    metadata = decrypted.metadata
    assert metadata is not None
    assert metadata.role == (case.role or None)  # "" writes a map without "dr"
    assert metadata.origin == PYTHON_ENCRYPTION_ORIGIN
    assert metadata.timestamp is not None and window.start <= metadata.timestamp <= window.end


def check_output(decryptor: Decryptor, case: Case, output: Any, window: Window) -> int:
    """Assert ``output`` decrypts to ``case.value`` with types and metadata; count its ciphertexts."""
    if isinstance(case.value, (bytes, bytearray)):
        return check_file(decryptor, case, output)
    assert typed_form(decryptor.decrypt(output)) == typed_form(case.value)
    ciphertexts = list(leaves(output))
    assert len(ciphertexts) == len(list(leaves(case.value)))
    for text in ciphertexts:
        check_ev_string(decryptor, case, text, window)
    return len(ciphertexts)


def encrypt_with_published_sdk(endpoint: KeyEndpoint, curve: Curve, cases: Sequence[Case]) -> list[SdkResult]:
    return run_published_sdk(
        api_url=endpoint.api_url, app_id=APP_ID, api_key=API_KEY, curve=curve, items=[c.call for c in cases]
    )


def assert_key_fetches_authenticated(endpoint: KeyEndpoint) -> None:
    headers = endpoint.key_request_headers()
    assert headers, "the published SDK never fetched the app keys"
    assert all(h.get("Api-Key") == API_KEY for h in headers), "a cages/key request lacked the test Api-Key"


# --- tests --------------------------------------------------------------------------------------


def test_published_sdk_output_all_decrypts(
    key_endpoint: KeyEndpoint, decryptor: Decryptor, capsys: pytest.CaptureFixture[str]
) -> None:
    window_start = int(time.time())
    outputs = {curve: encrypt_with_published_sdk(key_endpoint, curve, corpus(curve)) for curve in CURVES}
    window = Window(window_start, int(time.time()) + 1)

    decrypted = 0
    for curve, results in outputs.items():
        for case, result in zip(corpus(curve), results, strict=True):
            decrypted += check_output(decryptor, case, result.unwrap(), window)

    expected = expected_ciphertexts()
    assert expected == (sum(len(list(leaves(v))) for v in VALUES) * len(ROLES) + len(FILES)) * len(CURVES)
    assert decrypted == expected
    assert_key_fetches_authenticated(key_endpoint)
    with capsys.disabled():
        print(f"\ninterop: {decrypted}/{expected} published-SDK ciphertexts decrypted")


def test_published_sdk_refusals_come_back_as_errors(key_endpoint: KeyEndpoint) -> None:
    refused = [encrypt_call(b"file", role="my-role"), encrypt_call(None), encrypt_call(("a", "tuple"))]
    results = run_published_sdk(
        api_url=key_endpoint.api_url, app_id=APP_ID, api_key=API_KEY, curve=Curve.P256, items=refused
    )
    assert [result.ok for result in results] == [False, False, False]
    assert [result.error_type for result in results] == ["EvervaultError"] * 3
    assert "roles are not supported for file" in str(results[0].error_message)
    assert "not defined" in str(results[1].error_message)


def test_one_process_mixing_roles_hits_the_published_key_reuse_defect(
    key_endpoint: KeyEndpoint, decryptor: Decryptor
) -> None:
    """Why run_published_sdk isolates role groups: docs/protocol.md §9.1, observed directly.

    In one process a role-bearing secp256k1 encrypt within 15 s of a role-less one
    reuses the raw-secret key where the KDF key is required, so the result is an
    ``S0lS`` ciphertext that no correct decryptor (ours included) can open.
    """
    first, second = run_published_sdk_process(
        api_url=key_endpoint.api_url,
        app_id=APP_ID,
        api_key=API_KEY,
        curve=Curve.SECP256K1,
        items=[encrypt_call("no role"), encrypt_call("with role", role="my-role")],
    )
    assert decryptor.decrypt(first.unwrap()) == "no role"
    with pytest.raises(CiphertextError):
        decryptor.decrypt_string(second.unwrap())


# --- property: arbitrary JSON-like documents ----------------------------------------------------

_primitives = st.one_of(
    st.text(max_size=20), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
_documents = st.recursive(
    _primitives,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    documents=st.lists(_documents, min_size=1, max_size=8),
    curve=st.sampled_from(CURVES),
    role=st.sampled_from(ROLES),
)
def test_published_sdk_documents_round_trip(
    key_endpoint: KeyEndpoint, decryptor: Decryptor, documents: list[Any], curve: Curve, role: str | None
) -> None:
    # One role per example keeps every example to a single published-SDK process.
    cases = [Case(curve, document, role) for document in documents]
    window_start = int(time.time())
    results = encrypt_with_published_sdk(key_endpoint, curve, cases)
    window = Window(window_start, int(time.time()) + 1)
    for case, result in zip(cases, results, strict=True):
        check_output(decryptor, case, result.unwrap(), window)
