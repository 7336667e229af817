"""The judge's diagnoses, on ciphertexts built here with the domain's primitives.

An undecryptable value is a failure unless the judge can show which known defect made
it: the other key derivation of its own ephemeral key (role/no-role key reuse), or the
key of another ephemeral key of the same batch (a key-generation race).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from evervault.domain.ciphertext import Datatype, EncryptedString, Version, aad_for
from evervault.domain.curves import Curve, compressed_point, uncompressed_point
from evervault.domain.metadata import encode_frame
from evervault.domain.session import DerivedKeys
from evervault.local.conformance.judge import Judge, Verdict, same_value
from evervault.local.conformance.report import Status

CURVE = Curve.SECP256K1
APP_KEYS = {curve: ec.generate_private_key(curve.ec_curve) for curve in Curve}
APP_PUBLIC = compressed_point(APP_KEYS[CURVE].public_key())


def ephemeral() -> tuple[bytes, DerivedKeys]:
    private = ec.generate_private_key(CURVE.ec_curve)
    keys = DerivedKeys.derive(CURVE, private, APP_PUBLIC, uncompressed_point(private.public_key()))
    return compressed_point(private.public_key()), keys


def ev_string(
    text: str, *, version: Version, label: bytes, keys: DerivedKeys, use_kdf: bool, role: str | None = None
) -> str:
    """``text`` encrypted under ``keys`` (KDF or raw secret), labelled with ephemeral key ``label``."""
    plaintext = text.encode()
    if version.has_metadata:
        plaintext = encode_frame(role, 7, int(time.time())) + plaintext
    iv = os.urandom(12)
    aead = AESGCM(keys.kdf_key if use_kdf else keys.shared_secret)
    ciphertext = aead.encrypt(iv, plaintext, aad_for(version, Datatype.STRING, label, APP_PUBLIC))
    return EncryptedString(version, Datatype.STRING, iv, label, ciphertext).format()


def statuses(verdicts: list[Verdict], check: str) -> list[Status]:
    return [verdict.status for verdict in verdicts if verdict.check == check]


def test_a_correct_value_passes_every_check() -> None:
    key, keys = ephemeral()
    produced = ev_string("secret", version=Version.S0LS, label=key, keys=keys, use_kdf=True, role="pii")
    verdicts = Judge(APP_KEYS, CURVE).judge_value("v", "secret", produced, "pii")
    assert {verdict.status for verdict in verdicts} == {Status.PASS}
    assert {verdict.check for verdict in verdicts} >= {
        "encrypt.grammar",
        "encrypt.round-trip",
        "encrypt.metadata",
    }


def test_a_role_value_under_the_raw_secret_is_the_role_key_reuse_finding() -> None:
    key, keys = ephemeral()
    produced = ev_string("secret", version=Version.S0LS, label=key, keys=keys, use_kdf=False, role="pii")
    judge = Judge(APP_KEYS, CURVE)
    verdicts = judge.judge_value("v", "secret", produced, "pii")
    finding = next(v for v in verdicts if v.status is Status.FINDING)
    assert finding.check == "encrypt.round-trip"
    assert "S0lS value encrypted with the raw ECDH secret" in (finding.detail or "")
    assert Status.FAIL not in {v.status for v in verdicts}
    assert statuses(verdicts, "encrypt.metadata") == [Status.PASS]  # the value itself was still verified
    assert judge.undecryptable == {"v"}


def test_a_plain_value_under_the_kdf_is_the_role_key_reuse_finding() -> None:
    key, keys = ephemeral()
    produced = ev_string("secret", version=Version.RFVC, label=key, keys=keys, use_kdf=True)
    verdicts = Judge(APP_KEYS, CURVE).judge_value("v", "secret", produced, None)
    assert statuses(verdicts, "encrypt.round-trip") == [Status.FINDING, Status.PASS]
    assert any("RFVC value encrypted with the KDF" in (v.detail or "") for v in verdicts)


def test_a_value_encrypted_with_another_batch_key_is_the_race_finding() -> None:
    key_a, keys_a = ephemeral()
    key_b, _ = ephemeral()
    judge = Judge(APP_KEYS, CURVE)
    judge.batch_keys.add(key_a)
    produced = ev_string("secret", version=Version.RFVC, label=key_b, keys=keys_a, use_kdf=False)
    verdicts = judge.judge_value("v", "secret", produced, None)
    assert any(v.status is Status.FINDING and "key generation race" in (v.detail or "") for v in verdicts)


def test_an_undiagnosable_value_is_a_failure() -> None:
    key, _ = ephemeral()
    _, other_keys = ephemeral()  # never seen in the batch
    produced = ev_string("secret", version=Version.RFVC, label=key, keys=other_keys, use_kdf=False)
    verdicts = Judge(APP_KEYS, CURVE).judge_value("v", "secret", produced, None)
    assert statuses(verdicts, "encrypt.round-trip") == [Status.FAIL]


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (1.0, 1, True),
        (-0.0, 0, True),
        (2**64, 2**64, True),
        (2**64, float(2**64), True),
        (2**53 + 1, 2**53, False),
        (True, 1, False),
        (1, True, False),
        ("1", 1, False),
        ({"a": [1.0, "x"]}, {"a": [1, "x"]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
    ],
)
def test_values_compare_across_languages(expected: Any, actual: Any, same: bool) -> None:
    assert same_value(expected, actual) is same
