"""The decryptor: typed values, metadata, deep documents, missing keys."""

from __future__ import annotations

import pytest

from evervault.domain.ciphertext import Datatype, Version
from evervault.domain.curves import Curve, compressed_point, private_key_from_scalar
from evervault.domain.decryption import Decryptor
from evervault.domain.envelope import FileVersion
from evervault.domain.errors import (
    DecryptionError,
    InvalidArgumentError,
    MalformedCiphertextError,
    MalformedFileError,
)
from evervault.domain.metadata import Metadata
from tests.domain.fakes import (
    APP_SCALAR,
    DOC_TIMESTAMP,
    OTHER_APP_SCALAR,
    counting_encryptor,
    decryptor,
    fixed_encryptor,
)


@pytest.mark.parametrize("curve", list(Curve))
def test_decrypt_string_reports_type_version_and_metadata(curve: Curve) -> None:
    encrypted = fixed_encryptor(curve).encrypt(2.5, role="pii")
    result = decryptor().decrypt_string(encrypted)
    assert (result.value, result.datatype) == (2.5, Datatype.NUMBER)
    assert result.version is Version.current(curve, with_metadata=True)
    assert result.metadata == Metadata(role="pii", origin=7, timestamp=DOC_TIMESTAMP)
    plain = decryptor().decrypt_string(fixed_encryptor(curve).encrypt(True))
    assert (plain.value, plain.datatype, plain.metadata) == (True, Datatype.BOOLEAN, None)


@pytest.mark.parametrize("curve", list(Curve))
def test_decrypt_file(curve: Curve) -> None:
    result = decryptor().decrypt_file(bytearray(fixed_encryptor(curve).encrypt(b"\x00data\xff")))
    assert (result.data, result.version, result.metadata) == (
        b"\x00data\xff",
        FileVersion.current(curve),
        None,
    )


def test_deep_decrypt_passes_other_values_through() -> None:
    encryptor = counting_encryptor(Curve.SECP256K1)
    document = {
        "secret": encryptor.encrypt("s"),
        "plain": "not encrypted",
        "almost": "ev:looks-like-it",
        "none": None,
        "number": 5,
        "nested": [encryptor.encrypt(1), (encryptor.encrypt(False), 2.0)],
        "set": {encryptor.encrypt("x")},
        "frozen": frozenset({encryptor.encrypt("y")}),
        "file": encryptor.encrypt(b"bin"),
    }
    assert decryptor().decrypt(document) == {
        "secret": "s",
        "plain": "not encrypted",
        "almost": "ev:looks-like-it",
        "none": None,
        "number": 5,
        "nested": [1, (False, 2.0)],
        "set": {"x"},
        "frozen": frozenset({"y"}),
        "file": b"bin",
    }
    assert isinstance(decryptor().decrypt(document)["frozen"], frozenset)


def test_a_string_that_claims_to_be_encrypted_must_be() -> None:
    with pytest.raises(MalformedCiphertextError):
        decryptor().decrypt({"k": "ev:garbage:$"})


@pytest.mark.parametrize("curve", list(Curve))
def test_missing_curve_key_is_a_decryption_error_naming_the_curve(curve: Curve) -> None:
    other = Curve.P256 if curve is Curve.SECP256K1 else Curve.SECP256K1
    only_other = Decryptor({other: private_key_from_scalar(other, APP_SCALAR)})
    with pytest.raises(DecryptionError, match=curve.value):
        only_other.decrypt_string(fixed_encryptor(curve).encrypt("x"))
    with pytest.raises(DecryptionError, match=curve.value):
        only_other.public_key(curve)


@pytest.mark.parametrize("curve", list(Curve))
def test_wrong_app_fails_authentication(curve: Curve) -> None:
    with pytest.raises(DecryptionError, match="another app"):
        decryptor(OTHER_APP_SCALAR).decrypt_string(fixed_encryptor(curve).encrypt("x"))
    with pytest.raises(DecryptionError):
        decryptor(OTHER_APP_SCALAR).decrypt_file(fixed_encryptor(curve).encrypt(b"x"))


def test_public_keys_are_the_compressed_app_keys() -> None:
    for curve in Curve:
        expected = compressed_point(private_key_from_scalar(curve, APP_SCALAR).public_key())
        assert decryptor().public_key(curve) == expected


def test_cache_size_zero_still_decrypts() -> None:
    encrypted = counting_encryptor(Curve.P256).encrypt(["a", "b"])
    uncached = Decryptor({Curve.P256: private_key_from_scalar(Curve.P256, APP_SCALAR)}, cache_size=0)
    assert uncached.decrypt(encrypted) == ["a", "b"]


def test_errors_never_contain_the_plaintext() -> None:
    """A value that authenticates but is not a valid number must not be echoed in the error."""
    encryptor = fixed_encryptor(Curve.SECP256K1)
    session = encryptor.current_session()
    encrypted = encryptor.encrypt_text(session, Datatype.NUMBER, "SECRET-4242", None)
    with pytest.raises(MalformedCiphertextError) as caught:
        decryptor().decrypt_string(encrypted)
    assert "SECRET" not in str(caught.value) and "4242" not in str(caught.value)


def test_a_document_nested_too_deeply_is_a_typed_error() -> None:
    document: list[object] = []
    innermost = document
    for _ in range(5000):
        innermost.append([])
        innermost = innermost[0]  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError, match="nested too deeply"):
        decryptor().decrypt(document)


@pytest.mark.parametrize("not_bytes", ["%EVENC", 55, None])
def test_a_file_that_is_not_bytes_like_is_a_typed_error(not_bytes: object) -> None:
    with pytest.raises(MalformedFileError, match="bytes-like"):
        decryptor().decrypt_file(not_bytes)  # type: ignore[arg-type]
