"""The ev-string grammar: versions, datatypes, strict parse and format.

docs/protocol.md §1.4, §3.2 (the grammar; what each version authenticates)::

    ev:[debug:]VERSION[:DATATYPE]:IV:EPHEMERAL_PUBKEY:CIPHERTEXT:$
"""

from __future__ import annotations

import binascii
import enum
import re
from dataclasses import dataclass

from evervault.domain.curves import Curve
from evervault.domain.errors import MalformedCiphertextError, UnsupportedVersionError

IV_LENGTH = 12
TAG_LENGTH = 16


class AadKind(enum.Enum):
    """What a version authenticates alongside the ciphertext."""

    NONE = "none"
    APP_KEY = "app-key"  # the app's 33-byte compressed public key
    V2 = "v2"  # config byte || ephemeral compressed key || app compressed key


class Version(enum.Enum):
    """Every ev-string version tag (docs/protocol.md §1.2), current and legacy."""

    RFVC = "RFVC"  # secp256k1, raw ECDH secret, no AAD, no metadata
    TK9D = "Tk9D"  # P-256, KDF, AAD = app key, no metadata
    S0LS = "S0lS"  # secp256k1, KDF, v2 AAD, metadata
    QKTC = "QkTC"  # P-256, KDF, v2 AAD, metadata
    QLJV = "QlJV"  # legacy secp256k1, KDF, AAD = app key, metadata
    TENZ = "TENZ"  # legacy P-256, KDF, AAD = app key, metadata
    T1JL = "T1JL"  # legacy P-256, raw ECDH secret, no AAD, no metadata

    @property
    def tag(self) -> str:
        return self.value

    @property
    def curve(self) -> Curve:
        return _VERSION_TRAITS[self][0]

    @property
    def uses_kdf(self) -> bool:
        return _VERSION_TRAITS[self][1]

    @property
    def aad_kind(self) -> AadKind:
        return _VERSION_TRAITS[self][2]

    @property
    def has_metadata(self) -> bool:
        return _VERSION_TRAITS[self][3]

    @property
    def is_legacy(self) -> bool:
        return self in (Version.QLJV, Version.TENZ, Version.T1JL)

    @classmethod
    def from_tag(cls, tag: str) -> Version:
        version = _VERSION_BY_TAG.get(tag)
        if version is None:
            raise UnsupportedVersionError(
                f"Unknown ciphertext version tag {tag[:8]!r}; known tags are {', '.join(_VERSION_BY_TAG)}."
            )
        return version

    @classmethod
    def current(cls, curve: Curve, *, with_metadata: bool) -> Version:
        """The version this SDK emits (the published SDK's choice, docs/protocol.md §1.2)."""
        if curve is Curve.SECP256K1:
            return cls.S0LS if with_metadata else cls.RFVC
        return cls.QKTC if with_metadata else cls.TK9D


_VERSION_TRAITS: dict[Version, tuple[Curve, bool, AadKind, bool]] = {
    Version.RFVC: (Curve.SECP256K1, False, AadKind.NONE, False),
    Version.TK9D: (Curve.P256, True, AadKind.APP_KEY, False),
    Version.S0LS: (Curve.SECP256K1, True, AadKind.V2, True),
    Version.QKTC: (Curve.P256, True, AadKind.V2, True),
    Version.QLJV: (Curve.SECP256K1, True, AadKind.APP_KEY, True),
    Version.TENZ: (Curve.P256, True, AadKind.APP_KEY, True),
    Version.T1JL: (Curve.P256, False, AadKind.NONE, False),
}
_VERSION_BY_TAG = {version.tag: version for version in Version}


class Datatype(enum.Enum):
    """The plaintext's type; ``STRING`` has no segment in the ev-string."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"

    @property
    def segment(self) -> str | None:
        return None if self is Datatype.STRING else self.value

    @property
    def aad_number(self) -> int:
        """The datatype number in bits 6..4 of the v2 AAD config byte."""
        return _DATATYPE_AAD_NUMBER[self]


_DATATYPE_AAD_NUMBER = {Datatype.STRING: 0, Datatype.NUMBER: 1, Datatype.BOOLEAN: 2}
_DEBUG_AAD_CONFIG_BYTE = 0x80


def v2_config_byte(version: Version, datatype: Datatype) -> int:
    """The first byte of the v2 AAD: datatype number << 4 | version bit (0 = S0lS, 1 = QkTC)."""
    version_bit = 1 if version.curve is Curve.P256 else 0
    return (datatype.aad_number << 4) | version_bit


def aad_for(
    version: Version,
    datatype: Datatype,
    ephemeral_public_key: bytes,
    app_public_key: bytes,
    *,
    debug: bool = False,
) -> bytes | None:
    """The exact additional authenticated data of a value (docs/protocol.md §3.2)."""
    kind = version.aad_kind
    if kind is AadKind.NONE:
        return None
    if kind is AadKind.APP_KEY:
        return app_public_key
    config = _DEBUG_AAD_CONFIG_BYTE if debug else v2_config_byte(version, datatype)
    return bytes((config,)) + ephemeral_public_key + app_public_key


# --- base64 without padding (docs/protocol.md §1.3) ------------------------------------------

_B64_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")


def b64encode_unpadded(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii").rstrip("=")


def b64decode_unpadded(text: str, what: str) -> bytes:
    """Strict decode of unpadded standard base64: alphabet, length and canonical trailing bits.

    Canonical form matters: without it two different strings would decrypt to the
    same value, so a mutated ciphertext could be accepted.
    """
    if not _B64_ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedCiphertextError(f"The {what} segment is not unpadded standard base64.")
    try:
        data = binascii.a2b_base64(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise MalformedCiphertextError(f"The {what} segment is not valid base64.") from None
    if b64encode_unpadded(data) != text:
        raise MalformedCiphertextError(f"The {what} segment is not canonical base64.")
    return data


# --- the ev-string value --------------------------------------------------------------------

EV_PREFIX = "ev:"
EV_SUFFIX = ":$"
_DEBUG_SEGMENT = "debug"
_MAX_REPORTED_LENGTH = 12


@dataclass(frozen=True)
class EncryptedString:
    """A parsed ev-string. ``ciphertext`` is the AES-GCM output with its 16-byte tag."""

    version: Version
    datatype: Datatype
    iv: bytes
    ephemeral_public_key: bytes
    ciphertext: bytes
    debug: bool = False

    def __post_init__(self) -> None:
        if len(self.iv) != IV_LENGTH:
            raise MalformedCiphertextError(f"The IV must be {IV_LENGTH} bytes, got {len(self.iv)}.")
        if len(self.ephemeral_public_key) != 33 or self.ephemeral_public_key[0] not in (2, 3):
            raise MalformedCiphertextError(
                "The ephemeral public key must be a 33-byte compressed SEC1 point (02/03 prefix)."
            )
        if len(self.ciphertext) < TAG_LENGTH:
            raise MalformedCiphertextError(f"The ciphertext is shorter than the {TAG_LENGTH}-byte GCM tag.")

    def format(self) -> str:
        segments = ["ev"]
        if self.debug:
            segments.append(_DEBUG_SEGMENT)
        segments.append(self.version.tag)
        if self.datatype.segment is not None:
            segments.append(self.datatype.segment)
        segments += [
            b64encode_unpadded(self.iv),
            b64encode_unpadded(self.ephemeral_public_key),
            b64encode_unpadded(self.ciphertext),
            "$",
        ]
        return ":".join(segments)

    def __str__(self) -> str:
        return self.format()


def looks_encrypted(value: str) -> bool:
    """Cheap test used when walking documents: does this string claim to be an ev-string?"""
    return value.startswith(EV_PREFIX) and value.endswith(EV_SUFFIX)


def parse(text: str) -> EncryptedString:
    """Strictly parse an ev-string; every defect raises a :class:`CiphertextError` subclass."""
    if not isinstance(text, str):
        raise MalformedCiphertextError(f"An encrypted value must be a str, got {type(text).__name__}.")
    if not looks_encrypted(text):
        raise MalformedCiphertextError(
            "Not an Evervault encrypted string: it must start with 'ev:' and end with ':$'."
        )
    segments = text.split(":")
    if segments[-1] != "$":
        raise MalformedCiphertextError("An encrypted string must end with ':$'.")
    body = segments[1:-1]
    debug = bool(body) and body[0] == _DEBUG_SEGMENT
    if debug:
        body = body[1:]
    if len(body) not in (4, 5):
        raise MalformedCiphertextError(
            f"An encrypted string has 6 or 7 ':'-separated segments, got {len(segments)}."
        )
    version = Version.from_tag(body[0])
    datatype = _parse_datatype(body[1]) if len(body) == 5 else Datatype.STRING
    iv_text, key_text, ct_text = body[-3:]
    if len(iv_text) != 16 or len(key_text) != 44:
        raise MalformedCiphertextError(
            "The IV segment must be 16 base64 characters and the public key segment 44."
        )
    return EncryptedString(
        version=version,
        datatype=datatype,
        iv=b64decode_unpadded(iv_text, "IV"),
        ephemeral_public_key=b64decode_unpadded(key_text, "public key"),
        ciphertext=b64decode_unpadded(ct_text, "ciphertext"),
        debug=debug,
    )


def _parse_datatype(segment: str) -> Datatype:
    if segment == Datatype.NUMBER.value:
        return Datatype.NUMBER
    if segment == Datatype.BOOLEAN.value:
        return Datatype.BOOLEAN
    raise MalformedCiphertextError(
        f"Unknown datatype segment {segment[:_MAX_REPORTED_LENGTH]!r}; "
        "expected 'number' or 'boolean' (strings have no segment)."
    )
