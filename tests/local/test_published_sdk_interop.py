"""The published evervault==5.1.3 SDK against the emulator, configured only by its environment.

The published SDK (own virtualenv, ``EV_API_URL`` = the emulator) fetches the emulator's
app keys and encrypts the shared interop corpus; the emulator then decrypts 100% of the
ciphertexts over HTTP. The published SDK's other calls (decrypt, run, tokens) work
against the emulator too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evervault.bootstrap.clients import Client
from evervault.domain.curves import Curve
from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions
from tests.interop.corpus import CURVES, Case, corpus, expected_ciphertexts, is_json_document, leaves
from tests.interop.typed_values import typed_form
from tests.support.published_sdk import (
    client_side_token_call,
    decrypt_call,
    published_sdk_python,
    run_call,
    run_published_sdk,
    run_token_call,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorInfo]:
    published_sdk_python()  # build (or reuse) the published SDK's virtualenv first
    # Its own data directory: the default temporary one (private keys) would outlive the test.
    # 'echo' (explicitly unsafe) shows the published SDK's run returns the Function's plaintext.
    options = EmulatorOptions(data_dir=str(tmp_path_factory.mktemp("emulator")), unsafe_echo_function=True)
    with BackgroundEmulator(options) as info:
        yield info


def _published(info: EmulatorInfo, curve: Curve, items: list[Any]) -> list[Any]:
    results = run_published_sdk(
        api_url=info.api_url, app_id=info.app_id, api_key=info.api_key, curve=curve, items=items
    )
    return [result.unwrap() for result in results]


def _decrypt_and_count(client: Client, case: Case, output: Any) -> int:
    """Decrypt one published-SDK output through the emulator; the number of ciphertexts in it."""
    if isinstance(case.value, (bytes, bytearray)):
        assert client.decrypt(bytes(output)) == bytes(case.value)
        return 1
    if is_json_document(case.value):
        # The whole document in one request: proves the deep traversal keeps shape and types.
        assert typed_form(client.decrypt(output)) == typed_form(case.value)
        return len(list(leaves(case.value)))
    # Sets, non-string keys, NaN/infinity: no JSON form as a whole, so decrypt every leaf.
    ciphertexts = list(leaves(output))
    plaintexts = client.decrypt(ciphertexts)
    assert sorted(map(typed_form, plaintexts)) == sorted(map(typed_form, leaves(case.value)))
    return len(ciphertexts)


def test_the_emulator_decrypts_everything_the_published_sdk_encrypts(emulator: EmulatorInfo) -> None:
    decrypted = 0
    for curve in CURVES:
        cases = corpus(curve)
        outputs = _published(emulator, curve, [case.call for case in cases])
        with emulator.client(curve=curve) as client:
            decrypted += sum(
                _decrypt_and_count(client, case, out) for case, out in zip(cases, outputs, strict=True)
            )
    assert decrypted == expected_ciphertexts()
    print(f"\npublished SDK -> emulator interop: {decrypted}/{expected_ciphertexts()} ciphertexts decrypted")


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.value)
def test_the_published_sdk_uses_the_emulator_for_every_call(emulator: EmulatorInfo, curve: Curve) -> None:
    document = {"name": "Ada", "age": 36, "admin": True}
    with emulator.client(curve=curve) as client:
        encrypted = client.encrypt(document)
    decrypted, run, token, run_token = _published(
        emulator,
        curve,
        [
            decrypt_call(encrypted),
            run_call("echo", encrypted),
            client_side_token_call(encrypted),
            run_token_call("echo", encrypted),
        ],
    )
    assert decrypted == document
    assert run["status"] == "success" and run["result"] == document
    assert token["token"] and token["expiry"] > token["createdAt"]
    assert isinstance(run_token["token"], str) and run_token["token"]


def test_the_published_sdk_sees_the_emulators_errors(emulator: EmulatorInfo) -> None:
    failed_run, tampered = run_published_sdk(
        api_url=emulator.api_url,
        app_id=emulator.app_id,
        api_key=emulator.api_key,
        curve=Curve.SECP256K1,
        items=[run_call("fail", {"message": "card declined"}), decrypt_call("ev:RFVC:bad:$")],
    )
    assert not failed_run.ok and failed_run.error_type == "FunctionRuntimeError"
    assert failed_run.error_message == "card declined"
    assert not tampered.ok and tampered.error_type == "EvervaultError"
