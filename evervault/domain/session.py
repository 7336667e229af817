"""The session key: one ephemeral key pair and everything derived from it, immutable.

Everything a ciphertext needs that depends on the ephemeral key (both AES keys,
their AEAD objects, the AAD bytes and the text around the IV) is computed once
and frozen into one object. The encryptor swaps that object as a whole on
rotation, so no thread can ever pair one key's public half with another key's
secret (docs/protocol.md §9.1, §9.2). Its only mutable part is the counter
racing threads claim to decide which of them builds the successor.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from evervault.domain.ciphertext import (
    EV_PREFIX,
    Datatype,
    Version,
    aad_for,
    b64encode_unpadded,
)
from evervault.domain.curves import (
    Curve,
    compressed_point,
    ecdh,
    kdf,
    load_public_point,
    uncompressed_point,
)

# Indexes into the per-datatype tuples below, in Datatype order.
DATATYPES = (Datatype.STRING, Datatype.NUMBER, Datatype.BOOLEAN)


@dataclass(frozen=True)
class DerivedKeys:
    """The two AES keys of one (ephemeral, app) key pair: raw ECDH secret and KDF output."""

    # Secrets: kept out of repr() so a logged session key never reveals them.
    shared_secret: bytes = field(repr=False)
    kdf_key: bytes = field(repr=False)
    raw_aead: AESGCM
    kdf_aead: AESGCM

    @classmethod
    def derive(
        cls,
        curve: Curve,
        private_key: ec.EllipticCurvePrivateKey,
        peer_public_key: bytes,
        ephemeral_uncompressed: bytes,
    ) -> DerivedKeys:
        """``peer_public_key`` is the other side's SEC1 point; the KDF hashes the ephemeral key."""
        shared = ecdh(private_key, load_public_point(curve, peer_public_key))
        kdf_key = kdf(curve, shared, ephemeral_uncompressed)
        return cls(shared, kdf_key, AESGCM(shared), AESGCM(kdf_key))


@dataclass(frozen=True, slots=True)
class SessionKey:
    """An ephemeral key pair bound to one app key, with every per-key constant precomputed.

    Slotted: the encrypt hot path reads several of these attributes per value.
    """

    curve: Curve
    app_public_key: bytes
    ephemeral_public_key: bytes
    keys: DerivedKeys
    expires_at: float
    plain_version: Version
    metadata_version: Version
    # Text before the IV for each datatype, e.g. "ev:RFVC:number:".
    plain_heads: tuple[str, str, str]
    metadata_heads: tuple[str, str, str]
    # ":<ephemeral key b64>:" - between the IV and the ciphertext.
    key_segment: str
    plain_aead: AESGCM
    plain_aad: bytes | None
    # plain_aead.encrypt, bound once, and the no-role string head: the single-string
    # hot path reads these instead of chaining attribute lookups on every call.
    plain_encrypt: Callable[[bytes, bytes, bytes | None], bytes]
    plain_string_head: str
    metadata_aead: AESGCM
    metadata_aads: tuple[bytes, bytes, bytes]
    # Files: secp256k1 (v2) uses the raw secret and no AAD; P-256 (v3) the KDF key and
    # the app key as AAD. The raw key is kept for streaming (incremental) AES-GCM.
    file_aead: AESGCM
    file_key: bytes = field(repr=False)
    file_aad: bytes | None
    # The one moving part, and not part of the key: who gets to build this key's
    # successor. The first next() returns 0, and only that caller rotates (see
    # Encryptor._rotate); a C-level counter, so claiming is atomic under the GIL.
    rotation_claims: Iterator[int] = field(default_factory=itertools.count, repr=False, compare=False)

    @classmethod
    def create(
        cls,
        curve: Curve,
        app_public_key: bytes,
        ephemeral_private_key: ec.EllipticCurvePrivateKey,
        expires_at: float,
    ) -> SessionKey:
        ephemeral_public = ephemeral_private_key.public_key()
        ephemeral_compressed = compressed_point(ephemeral_public)
        keys = DerivedKeys.derive(
            curve, ephemeral_private_key, app_public_key, uncompressed_point(ephemeral_public)
        )
        plain = Version.current(curve, with_metadata=False)
        metadata = Version.current(curve, with_metadata=True)
        raw_file_key = curve is Curve.SECP256K1
        plain_aead = keys.kdf_aead if plain.uses_kdf else keys.raw_aead
        return cls(
            curve=curve,
            app_public_key=app_public_key,
            ephemeral_public_key=ephemeral_compressed,
            keys=keys,
            expires_at=expires_at,
            plain_version=plain,
            metadata_version=metadata,
            plain_heads=_heads(plain),
            metadata_heads=_heads(metadata),
            key_segment=":" + b64encode_unpadded(ephemeral_compressed) + ":",
            plain_aead=plain_aead,
            plain_encrypt=plain_aead.encrypt,
            plain_string_head=_heads(plain)[0],
            plain_aad=aad_for(plain, Datatype.STRING, ephemeral_compressed, app_public_key),
            metadata_aead=keys.kdf_aead,
            metadata_aads=_v2_aads(metadata, ephemeral_compressed, app_public_key),
            file_aead=keys.raw_aead if raw_file_key else keys.kdf_aead,
            file_key=keys.shared_secret if raw_file_key else keys.kdf_key,
            file_aad=None if raw_file_key else app_public_key,
        )


def _heads(version: Version) -> tuple[str, str, str]:
    prefix = EV_PREFIX + version.tag + ":"
    return (prefix, prefix + "number:", prefix + "boolean:")


def _v2_aads(version: Version, ephemeral: bytes, app: bytes) -> tuple[bytes, bytes, bytes]:
    aads = tuple(aad_for(version, datatype, ephemeral, app) or b"" for datatype in DATATYPES)
    return (aads[0], aads[1], aads[2])
