"""Nothing secret (derived keys, private scalars, plaintext) appears in any repr or str."""

from __future__ import annotations

import base64

import pytest

from evervault.adapters.system import OsRandomIvSource, default_encryptor
from evervault.domain.curves import Curve, private_key_from_scalar
from evervault.domain.decryption import Decryptor
from tests.domain.fakes import APP_SCALAR, app_public_key, fixed_encryptor

PLAINTEXT = "TOP-SECRET-PLAINTEXT"


def forms(secret: bytes) -> list[str]:
    """Every way a secret could plausibly be rendered."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1][:24],
        str(int.from_bytes(secret, "big")),
    ]


def assert_hidden(text: str, *secrets: bytes | str) -> None:
    for secret in secrets:
        if isinstance(secret, str):
            assert secret not in text
        else:
            for form in forms(secret):
                assert form not in text, f"secret rendered as {form[:8]}..."


@pytest.mark.parametrize("curve", list(Curve))
def test_encryption_objects_hide_their_secrets(curve: Curve) -> None:
    encryptor = fixed_encryptor(curve)
    session = encryptor.current_session()
    secrets = (session.keys.shared_secret, session.keys.kdf_key, bytes([0x22]) * 32)
    for text in (repr(encryptor), str(encryptor), repr(session), str(session), repr(session.keys)):
        assert_hidden(text, *secrets)


@pytest.mark.parametrize("curve", list(Curve))
def test_decryption_results_hide_the_plaintext(curve: Curve) -> None:
    private = private_key_from_scalar(curve, APP_SCALAR)
    reader = Decryptor({curve: private})
    value = reader.decrypt_string(fixed_encryptor(curve).encrypt(PLAINTEXT, role="r"))
    file = reader.decrypt_file(fixed_encryptor(curve).encrypt(PLAINTEXT.encode()))
    assert value.value == PLAINTEXT and file.data == PLAINTEXT.encode()
    for text in (repr(reader), repr(value), str(value), repr(file), str(file)):
        assert_hidden(text, PLAINTEXT, APP_SCALAR)


def test_system_sources_hide_their_state() -> None:
    source = OsRandomIvSource()
    upcoming = source.next_iv()[0]
    encryptor = default_encryptor(Curve.SECP256K1, app_public_key(Curve.SECP256K1))
    session = encryptor.current_session()
    assert_hidden(repr(source), upcoming)
    assert_hidden(repr(encryptor), session.keys.shared_secret, session.keys.kdf_key)
