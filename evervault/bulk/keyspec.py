"""What a worker process needs to encrypt: the app's public key, never the API key.

A :class:`KeySpec` is small, immutable and picklable, so it can be shipped to
``multiprocessing`` workers, Dask workers and Spark executors. Each process turns it
into its own :class:`~evervault.domain.encryption.Encryptor` (its own ephemeral session
key, its own IV source) the first time it encrypts, and reuses it after that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from evervault.adapters.system import default_encryptor
from evervault.domain.curves import Curve, load_public_point
from evervault.domain.encryption import Encryptor
from evervault.domain.errors import CiphertextError, InvalidArgumentError
from evervault.domain.keys import AppKeys
from evervault.domain.metadata import validate_role


@dataclass(frozen=True)
class KeySpec:
    """An app's public encryption key, its curve, and the data role to attach (if any).

    Everything here is public: it may be logged, pickled and sent anywhere.
    """

    app_id: str
    curve: Curve
    public_key: bytes
    role: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.curve, Curve):
            raise InvalidArgumentError("KeySpec.curve must be an evervault Curve.")
        if not isinstance(self.public_key, bytes):
            raise InvalidArgumentError("KeySpec.public_key must be the app's compressed public key bytes.")
        try:
            load_public_point(self.curve, self.public_key)
        except CiphertextError:
            raise InvalidArgumentError(
                f"KeySpec.public_key is not a public key on {self.curve.value}."
            ) from None
        if self.role is not None:
            validate_role(self.role)

    @classmethod
    def from_app_keys(cls, keys: AppKeys, app_id: str, curve: Curve, role: str | None = None) -> KeySpec:
        """The spec for keys fetched from the API (``Client.fetch_app_keys()``)."""
        return cls(app_id=app_id, curve=curve, public_key=keys.public_key_for(curve), role=role)

    @classmethod
    def from_client(cls, client: _KeyFetchingClient, role: str | None = None) -> KeySpec:
        """Fetch the app's public keys once through ``client`` (an :class:`evervault.Client`)."""
        return cls.from_app_keys(client.fetch_app_keys(), client.app_id, client.config.curve, role)

    def with_role(self, role: str | None) -> KeySpec:
        return KeySpec(self.app_id, self.curve, self.public_key, role)

    def encryptor(self) -> Encryptor:
        """This process's encryptor for the key (built once per process and key)."""
        cache_key = (self.curve, self.public_key)
        encryptor = _ENCRYPTORS.get(cache_key)
        if encryptor is None:
            with _ENCRYPTORS_LOCK:
                encryptor = _ENCRYPTORS.get(cache_key)
                if encryptor is None:
                    encryptor = default_encryptor(self.curve, self.public_key)
                    _ENCRYPTORS[cache_key] = encryptor
        return encryptor


class _ClientConfigLike(Protocol):
    @property
    def curve(self) -> Curve: ...


class _KeyFetchingClient(Protocol):
    """The part of :class:`evervault.Client` that :meth:`KeySpec.from_client` uses."""

    @property
    def app_id(self) -> str: ...

    @property
    def config(self) -> _ClientConfigLike: ...

    def fetch_app_keys(self) -> AppKeys: ...


# One encryptor per (curve, key) per process: default_encryptor() registers each for a
# reset after fork, so a forked worker never reuses its parent's session key or IVs.
_ENCRYPTORS: dict[tuple[Curve, bytes], Encryptor] = {}
_ENCRYPTORS_LOCK = threading.Lock()
