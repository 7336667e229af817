"""The ev-string grammar: versions, AAD, strict base64, parse/format (docs/protocol.md §1, §3.2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.ciphertext import (
    AadKind,
    Datatype,
    EncryptedString,
    Version,
    aad_for,
    b64decode_unpadded,
    b64encode_unpadded,
    looks_encrypted,
    parse,
    v2_config_byte,
)
from evervault.domain.curves import Curve
from evervault.domain.errors import (
    CiphertextError,
    MalformedCiphertextError,
    UnsupportedVersionError,
)

EPHEMERAL = b"\x02" + bytes(range(32))
APP = b"\x03" + bytes(range(32, 64))
K1, P256 = Curve.SECP256K1, Curve.P256


@pytest.mark.parametrize(
    ("version", "curve", "uses_kdf", "aad", "metadata", "legacy"),
    [
        (Version.RFVC, K1, False, AadKind.NONE, False, False),
        (Version.TK9D, P256, True, AadKind.APP_KEY, False, False),
        (Version.S0LS, K1, True, AadKind.V2, True, False),
        (Version.QKTC, P256, True, AadKind.V2, True, False),
        (Version.QLJV, K1, True, AadKind.APP_KEY, True, True),
        (Version.TENZ, P256, True, AadKind.APP_KEY, True, True),
        (Version.T1JL, P256, False, AadKind.NONE, False, True),
    ],
)
def test_version_traits(
    version: Version, curve: Curve, uses_kdf: bool, aad: AadKind, metadata: bool, legacy: bool
) -> None:
    assert (version.curve, version.uses_kdf, version.aad_kind) == (curve, uses_kdf, aad)
    assert (version.has_metadata, version.is_legacy) == (metadata, legacy)
    assert Version.from_tag(version.tag) is version


def test_current_versions() -> None:
    assert Version.current(K1, with_metadata=False) is Version.RFVC
    assert Version.current(K1, with_metadata=True) is Version.S0LS
    assert Version.current(P256, with_metadata=False) is Version.TK9D
    assert Version.current(P256, with_metadata=True) is Version.QKTC


def test_unknown_tag_is_unsupported_and_not_echoed_at_length() -> None:
    with pytest.raises(UnsupportedVersionError) as caught:
        Version.from_tag("X" * 500)
    assert "X" * 20 not in str(caught.value)


@pytest.mark.parametrize(
    ("version", "datatype", "byte"),
    [
        (Version.S0LS, Datatype.STRING, 0x00),
        (Version.S0LS, Datatype.NUMBER, 0x10),
        (Version.S0LS, Datatype.BOOLEAN, 0x20),
        (Version.QKTC, Datatype.STRING, 0x01),
        (Version.QKTC, Datatype.NUMBER, 0x11),
        (Version.QKTC, Datatype.BOOLEAN, 0x21),
    ],
)
def test_v2_config_byte(version: Version, datatype: Datatype, byte: int) -> None:
    assert v2_config_byte(version, datatype) == byte
    assert aad_for(version, datatype, EPHEMERAL, APP) == bytes((byte,)) + EPHEMERAL + APP


def test_aad_per_kind() -> None:
    assert aad_for(Version.RFVC, Datatype.NUMBER, EPHEMERAL, APP) is None
    assert aad_for(Version.T1JL, Datatype.STRING, EPHEMERAL, APP) is None
    for version in (Version.TK9D, Version.QLJV, Version.TENZ):
        assert aad_for(version, Datatype.BOOLEAN, EPHEMERAL, APP) == APP
    assert aad_for(Version.QKTC, Datatype.NUMBER, EPHEMERAL, APP, debug=True) == b"\x80" + EPHEMERAL + APP


@settings(max_examples=100)
@given(st.binary(max_size=80))
def test_base64_round_trip(data: bytes) -> None:
    text = b64encode_unpadded(data)
    assert "=" not in text
    assert b64decode_unpadded(text, "test") == data


@pytest.mark.parametrize(
    "text",
    ["AQ==", "AQ=", "A", "AAAAA", "AQ-_", "AQ\n", "A Q", "AR", "AQJ"],
    ids=["padded", "half-padded", "one-char", "len-mod-4-is-1", "url-safe", "newline", "space", "ar", "aqj"],
)
def test_base64_strictness(text: str) -> None:
    with pytest.raises(MalformedCiphertextError):
        b64decode_unpadded(text, "test")


def _strings() -> st.SearchStrategy[EncryptedString]:
    return st.builds(
        EncryptedString,
        version=st.sampled_from(list(Version)),
        datatype=st.sampled_from(list(Datatype)),
        iv=st.binary(min_size=12, max_size=12),
        ephemeral_public_key=st.tuples(
            st.sampled_from([b"\x02", b"\x03"]), st.binary(min_size=32, max_size=32)
        ).map(b"".join),
        ciphertext=st.binary(min_size=16, max_size=64),
        debug=st.booleans(),
    )


@settings(max_examples=100)
@given(_strings())
def test_format_then_parse_is_identity(value: EncryptedString) -> None:
    text = value.format()
    assert str(value) == text
    assert looks_encrypted(text)
    segments = text.split(":")
    assert len(segments) == 6 + (value.datatype is not Datatype.STRING) + value.debug
    assert parse(text) == value


@settings(max_examples=100)
@given(st.text(max_size=120))
def test_parse_is_strict_and_raises_only_ciphertext_errors(text: str) -> None:
    try:
        parsed = parse(text)
    except CiphertextError:
        return
    assert parsed.format() == text  # strict: only the canonical spelling parses


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(MalformedCiphertextError, match="must be a str"):
        parse(b"ev:RFVC:...:$")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("iv", bytes(11), "IV"),
        ("ephemeral_public_key", b"\x04" + bytes(32), "compressed"),
        ("ephemeral_public_key", b"\x02" + bytes(31), "compressed"),
        ("ciphertext", bytes(15), "tag"),
    ],
)
def test_encrypted_string_validates_its_fields(field: str, value: bytes, message: str) -> None:
    fields = {
        "version": Version.RFVC,
        "datatype": Datatype.STRING,
        "iv": bytes(12),
        "ephemeral_public_key": EPHEMERAL,
        "ciphertext": bytes(16),
    }
    fields[field] = value
    with pytest.raises(MalformedCiphertextError, match=message):
        EncryptedString(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ev:x:$", True), ("ev:", False), ("xev::$", False), ("hello", False), ("", False)],
)
def test_looks_encrypted(text: str, expected: bool) -> None:
    assert looks_encrypted(text) is expected
