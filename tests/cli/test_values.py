"""``evervault encrypt`` / ``decrypt`` of values and JSON documents, against a real emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.local.pytest_plugin import LocalEvervault
from tests.cli.conftest import CliRunner

DOCUMENT = {
    "name": "Ada",
    "age": 36,
    "balance": -12.5,
    "active": True,
    "verified": False,
    "tags": ["a", "b"],
    "address": {"line": "1 Main St", "zip": 12345},
}


@pytest.mark.parametrize(
    "value", ["4242 4242 4242 4242", "", "ünïcødé ✓", 0, 42, -7, 3.25, 1e-9, True, False]
)
def test_every_json_scalar_round_trips_with_its_type(in_process: CliRunner, value: Any) -> None:
    encrypted = in_process("encrypt", "--json-input", json.dumps(value))
    assert encrypted.code == 0, encrypted.stderr
    ciphertext = json.loads(encrypted.stdout)
    assert isinstance(ciphertext, str) and ciphertext.startswith("ev:")

    decrypted = in_process("decrypt", "--json", ciphertext)
    assert decrypted.code == 0, decrypted.stderr
    back = json.loads(decrypted.stdout)
    assert back == value and type(back) is type(value)


def test_a_plain_value_is_a_string_and_prints_without_quotes(in_process: CliRunner) -> None:
    encrypted = in_process("encrypt", "123")
    assert encrypted.code == 0 and encrypted.stderr == ""
    ciphertext = encrypted.stdout.strip()
    assert encrypted.stdout == ciphertext + "\n"
    assert ":number:" not in ciphertext  # a string, not a number

    decrypted = in_process("decrypt", ciphertext)
    assert (decrypted.code, decrypted.stdout) == (0, "123\n")
    assert json.loads(in_process("decrypt", "--json", ciphertext).stdout) == "123"


def test_a_decrypted_number_prints_as_json(in_process: CliRunner) -> None:
    ciphertext = json.loads(in_process("encrypt", "--json-input", "42").stdout)
    assert in_process("decrypt", ciphertext).stdout == "42\n"


def test_a_json_document_from_stdin_keeps_keys_and_types(
    in_process: CliRunner, evervault_local: LocalEvervault
) -> None:
    encrypted = in_process("encrypt", "-", stdin=json.dumps(DOCUMENT))
    assert encrypted.code == 0, encrypted.stderr
    document = json.loads(encrypted.stdout)
    assert document.keys() == DOCUMENT.keys()
    assert document["address"]["zip"].startswith("ev:") and ":number:" in document["address"]["zip"]
    assert ":boolean:" in document["active"]
    assert evervault_local.client.decrypt(document) == DOCUMENT  # the SDK reads what the CLI wrote

    decrypted = in_process("decrypt", "-", stdin=encrypted.stdout)
    assert decrypted.code == 0, decrypted.stderr
    assert json.loads(decrypted.stdout) == DOCUMENT


def test_json_input_without_a_value_reads_stdin(in_process: CliRunner) -> None:
    encrypted = in_process("encrypt", "--json-input", stdin='[1, "two", false]')
    assert encrypted.code == 0, encrypted.stderr
    assert json.loads(in_process("decrypt", "--json-input", stdin=encrypted.stdout).stdout) == [
        1,
        "two",
        False,
    ]


def test_json_output_is_one_compact_line(in_process: CliRunner) -> None:
    encrypted = in_process("encrypt", "--json", "-", stdin=json.dumps(DOCUMENT))
    assert encrypted.stdout.count("\n") == 1 and ", " not in encrypted.stdout
    decrypted = in_process("decrypt", "--json", "-", stdin=encrypted.stdout)
    assert decrypted.stdout == json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False) + "\n"


def test_a_bare_ciphertext_on_stdin_decrypts_like_an_argument(cli: CliRunner) -> None:
    encrypted = cli("encrypt", "piped secret")
    decrypted = cli("decrypt", "-", stdin=encrypted.stdout)
    assert (decrypted.code, decrypted.stdout, decrypted.stderr) == (0, "piped secret\n", "")


def test_role_is_carried_by_the_ciphertext_and_still_decrypts(
    in_process: CliRunner, evervault_local: LocalEvervault
) -> None:
    with_role = in_process("encrypt", "--role", "billing", "4242").stdout.strip()
    without_role = in_process("encrypt", "4242").stdout.strip()
    assert len(with_role) > len(without_role)  # the role's metadata frame is inside
    assert evervault_local.client.decrypt(with_role) == "4242"


def test_an_invalid_role_is_a_one_line_error(in_process: CliRunner) -> None:
    outcome = in_process("encrypt", "--role", "NOT A ROLE", "x")
    assert outcome.code == 1 and outcome.stdout == ""
    assert outcome.stderr.startswith("error: ") and outcome.stderr.count("\n") == 1


def test_a_tampered_ciphertext_fails_with_exit_status_1(in_process: CliRunner) -> None:
    ciphertext = in_process("encrypt", "secret").stdout.strip()
    parts = ciphertext.split(":")
    parts[4] = parts[4][:-2] + ("AA" if parts[4][-2:] != "AA" else "BB")
    outcome = in_process("decrypt", ":".join(parts))
    assert outcome.code == 1 and outcome.stdout == ""
    assert outcome.stderr.startswith("error: ") and outcome.stderr.count("\n") == 1
    assert "Traceback" not in outcome.stderr


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (("encrypt",), "", "give a VALUE"),
        (("encrypt", "-"), "not json", "stdin is not valid JSON"),
        (("encrypt", "--json-input", "{"), "", "VALUE is not valid JSON"),
        (("decrypt", "-"), "ev:has a space", "stdin is not valid JSON"),
        (("encrypt", "x", "--out", "y"), "", "--out goes with --in"),
    ],
)
def test_bad_input_is_a_usage_error(
    in_process: CliRunner, arguments: tuple[str, ...], stdin: str, message: str
) -> None:
    outcome = in_process(*arguments, stdin=stdin)
    assert outcome.code == 2 and outcome.stdout == ""
    assert outcome.stderr.startswith(f"error: {message}")


def test_stdin_must_be_utf8(in_process: CliRunner) -> None:
    outcome = in_process("encrypt", "-", stdin=b'"caf\xe9"')
    assert outcome.code == 2 and outcome.stderr.startswith("error: stdin is not UTF-8 text")


SCALARS = (
    st.text(max_size=20)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=DOCUMENTS)
def test_any_json_document_round_trips_through_stdin(in_process: CliRunner, document: Any) -> None:
    encrypted = in_process("encrypt", "--json", "-", stdin=json.dumps(document))
    assert encrypted.code == 0, encrypted.stderr
    decrypted = in_process("decrypt", "--json", "-", stdin=encrypted.stdout)
    assert decrypted.code == 0, decrypted.stderr
    assert decrypted.stdout == json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
