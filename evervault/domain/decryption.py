"""The reverse direction: app private keys in, typed plaintext and metadata out.

Used by the emulator and the conformance spec. Every ephemeral key's derived
secrets are cached (bounded LRU), because a document encrypted by one client
shares one session key across all its fields: deriving once per distinct
ephemeral key instead of once per value is what makes decrypting large
documents cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from evervault.domain import ciphertext as ev_string
from evervault.domain import envelope
from evervault.domain.ciphertext import Datatype, EncryptedString, Version, v2_config_byte
from evervault.domain.coercion import Primitive, from_text
from evervault.domain.curves import (
    Curve,
    compressed_point,
    load_public_point,
    uncompressed_point,
)
from evervault.domain.envelope import FileVersion
from evervault.domain.errors import DecryptionError, InvalidArgumentError, MalformedCiphertextError
from evervault.domain.metadata import Metadata, decode_map, split_frame
from evervault.domain.session import DerivedKeys

DEFAULT_CACHE_SIZE = 4096
_DEBUG_CONFIG_BYTES = (0x80, 0x00)  # browser/iOS write 0x80, Android 0x00 (docs/protocol.md §3.2)


@dataclass(frozen=True)
class DecryptedValue:
    value: Primitive | None = field(repr=False)  # plaintext never goes into repr()
    datatype: Datatype
    version: Version
    metadata: Metadata | None


@dataclass(frozen=True)
class DecryptedFile:
    data: bytes = field(repr=False)  # plaintext never goes into repr()
    version: FileVersion
    metadata: Metadata | None


class Decryptor:
    """Decrypts anything encrypted for the apps whose private keys it holds (one per curve)."""

    def __init__(
        self,
        private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey],
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._private_keys = dict(private_keys)
        self._public_keys = {
            curve: compressed_point(key.public_key()) for curve, key in self._private_keys.items()
        }
        self._derived = functools.lru_cache(maxsize=cache_size)(self._derive)

    def __repr__(self) -> str:
        return f"Decryptor(curves={[curve.value for curve in self._private_keys]})"

    def public_key(self, curve: Curve) -> bytes:
        return self._public_keys[self._require_curve(curve)]

    # --- strings ------------------------------------------------------------------------

    def decrypt_string(self, text: str) -> DecryptedValue:
        parsed = ev_string.parse(text)
        return self.decrypt_parsed(parsed)

    def decrypt_parsed(self, parsed: EncryptedString) -> DecryptedValue:
        version = parsed.version
        keys = self._derived(version.curve, parsed.ephemeral_public_key)
        aead = keys.kdf_aead if version.uses_kdf else keys.raw_aead
        plaintext = _open_with_any(aead, parsed.iv, parsed.ciphertext, self._aads(parsed))
        metadata = None
        if version.has_metadata:
            metadata, plaintext = split_frame(plaintext)
        return DecryptedValue(
            value=from_text(parsed.datatype, _utf8(plaintext)),
            datatype=parsed.datatype,
            version=version,
            metadata=metadata,
        )

    def _aads(self, parsed: EncryptedString) -> list[bytes | None]:
        version = parsed.version
        app_key = self.public_key(version.curve)
        if version.aad_kind is ev_string.AadKind.NONE:
            return [None]
        if version.aad_kind is ev_string.AadKind.APP_KEY:
            return [app_key]
        keys = parsed.ephemeral_public_key + app_key
        if parsed.debug:
            return [bytes((config,)) + keys for config in _DEBUG_CONFIG_BYTES]
        return [bytes((v2_config_byte(version, parsed.datatype),)) + keys]

    # --- files ----------------------------------------------------------------------------

    def decrypt_file(self, data: bytes | bytearray | memoryview) -> DecryptedFile:
        parsed = envelope.parse(data)
        version = parsed.version
        keys = self._derived(version.curve, parsed.ephemeral_public_key)
        aead = keys.kdf_aead if version.uses_kdf else keys.raw_aead
        aad = self.public_key(version.curve) if version.uses_app_key_aad else None
        metadata = None
        if parsed.encrypted_metadata is not None:
            packed = _open_with_any(aead, parsed.iv, parsed.encrypted_metadata, [aad])
            metadata = decode_map(packed)
        plaintext = _open_with_any(aead, parsed.iv, parsed.ciphertext, [aad])
        return DecryptedFile(data=plaintext, version=version, metadata=metadata)

    # --- documents ------------------------------------------------------------------------

    def decrypt(self, value: Any) -> Any:
        """Deep-decrypt: every ev-string anywhere becomes its typed value; files become bytes.

        Other values (plain strings, numbers, None) pass through unchanged, as the
        Evervault decrypt endpoint does.
        """
        try:
            return self._decrypt_deep(value)
        except RecursionError:
            raise InvalidArgumentError("The document is nested too deeply to decrypt.") from None

    def _decrypt_deep(self, value: Any) -> Any:
        if isinstance(value, str):
            if ev_string.looks_encrypted(value):
                return self.decrypt_string(value).value
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.decrypt_file(value).data
        if isinstance(value, dict):
            return {key: self._decrypt_deep(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._decrypt_deep(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._decrypt_deep(item) for item in value)
        if isinstance(value, frozenset):
            return frozenset(self._decrypt_deep(item) for item in value)
        if isinstance(value, set):
            return {self._decrypt_deep(item) for item in value}
        return value

    # --- keys -----------------------------------------------------------------------------

    def _require_curve(self, curve: Curve) -> Curve:
        if curve not in self._private_keys:
            raise DecryptionError(
                f"This data was encrypted on {curve.value}, for which no app private key is loaded."
            )
        return curve

    def _derive(self, curve: Curve, ephemeral_public_key: bytes) -> DerivedKeys:
        private_key = self._private_keys[self._require_curve(curve)]
        ephemeral = load_public_point(curve, ephemeral_public_key)
        return DerivedKeys.derive(curve, private_key, ephemeral_public_key, uncompressed_point(ephemeral))


def _open_with_any(aead: AESGCM, iv: bytes, ciphertext: bytes, aads: list[bytes | None]) -> bytes:
    for aad in aads:
        try:
            return aead.decrypt(iv, ciphertext, aad)
        except InvalidTag:
            continue
    raise DecryptionError(
        "The ciphertext failed authentication: it was altered, or encrypted for another app or key."
    )


def _utf8(plaintext: bytes) -> str:
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCiphertextError("The decrypted value is not valid UTF-8.") from None
