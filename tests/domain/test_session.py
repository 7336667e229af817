"""The immutable session key: everything derived from one ephemeral key, frozen together."""

from __future__ import annotations

import dataclasses

import pytest

from evervault.domain.ciphertext import AadKind, Datatype, Version, aad_for, b64encode_unpadded
from evervault.domain.curves import (
    Curve,
    compressed_point,
    ecdh,
    kdf,
    private_key_from_scalar,
    uncompressed_point,
)
from evervault.domain.session import DerivedKeys, SessionKey
from tests.domain.fakes import APP_SCALAR, EPHEMERAL_SCALAR, app_public_key


def make_session(curve: Curve) -> SessionKey:
    ephemeral = private_key_from_scalar(curve, EPHEMERAL_SCALAR)
    return SessionKey.create(curve, app_public_key(curve), ephemeral, expires_at=42.0)


@pytest.mark.parametrize("curve", list(Curve))
def test_session_key_binds_every_constant_to_one_ephemeral_key(curve: Curve) -> None:
    session = make_session(curve)
    ephemeral = private_key_from_scalar(curve, EPHEMERAL_SCALAR).public_key()
    assert session.ephemeral_public_key == compressed_point(ephemeral)
    assert session.key_segment == ":" + b64encode_unpadded(session.ephemeral_public_key) + ":"
    assert (session.curve, session.app_public_key, session.expires_at) == (curve, app_public_key(curve), 42.0)
    assert session.plain_version is Version.current(curve, with_metadata=False)
    assert session.metadata_version is Version.current(curve, with_metadata=True)
    assert session.plain_heads[1] == f"ev:{session.plain_version.tag}:number:"
    assert session.metadata_heads[2] == f"ev:{session.metadata_version.tag}:boolean:"
    expected_aads = [
        aad_for(session.metadata_version, datatype, session.ephemeral_public_key, session.app_public_key)
        for datatype in (Datatype.STRING, Datatype.NUMBER, Datatype.BOOLEAN)
    ]
    assert list(session.metadata_aads) == expected_aads
    assert session.metadata_version.aad_kind is AadKind.V2


@pytest.mark.parametrize("curve", list(Curve))
def test_derived_keys_match_ecdh_and_kdf(curve: Curve) -> None:
    session = make_session(curve)
    app_private = private_key_from_scalar(curve, APP_SCALAR)
    ephemeral_public = private_key_from_scalar(curve, EPHEMERAL_SCALAR).public_key()
    shared = ecdh(app_private, ephemeral_public)
    assert session.keys.shared_secret == shared
    assert session.keys.kdf_key == kdf(curve, shared, uncompressed_point(ephemeral_public))


def test_session_keys_and_derived_keys_are_immutable() -> None:
    session = make_session(Curve.P256)
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.ephemeral_public_key = b"x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.keys.kdf_key = b"x"  # type: ignore[misc]
    assert isinstance(session.keys, DerivedKeys)
