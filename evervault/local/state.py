"""The emulator's persistent state: one data directory, JSON plus PEM, every file mode 0600.

Layout of ``<data dir>``::

    state.json            app id, team id, API keys and their permissions, function
                          configuration, Outbound Relay destinations
    app-key-secp256k1.pem the app's private key on secp256k1 (PKCS#8, unencrypted)
    app-key-p256.pem      the app's private key on P-256 (PKCS#8, unencrypted)

The private keys exist **only** in this directory: losing (or deleting) it is the one
and only way to lose them, and with them every ciphertext encrypted for the app.
Restarting the emulator with the same directory keeps every old ciphertext decryptable.

Every write goes to a temporary file in the same directory that is then renamed over
the target (``os.replace``), so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.domain.errors import ConfigurationError

STATE_FILE = "state.json"
STATE_FORMAT = 1
KEY_FILES = {Curve.SECP256K1: "app-key-secp256k1.pem", Curve.P256: "app-key-p256.pem"}
SCOPED_KEY_PREFIX = "ev:key"
SCOPED_KEY_VERSION = "1"
DIR_MODE = 0o700


class Permission(enum.Enum):
    """What an API key may do (the dashboard's API key scopes)."""

    DECRYPT = "decrypt"
    RUN_FUNCTION = "run-function"
    CREATE_RUN_TOKEN = "create-run-token"  # noqa: S105 - a permission name
    CREATE_TOKENS = "create-tokens"

    @classmethod
    def parse(cls, name: object) -> Permission:
        for permission in cls:
            if permission.value == name:
                return permission
        choices = ", ".join(repr(p.value) for p in cls)
        raise ConfigurationError(f"Unknown API key permission {name!r}; use one of {choices}.")


ALL_PERMISSIONS = frozenset(Permission)


@dataclass(frozen=True)
class ApiKey:
    """One scoped API key: ``ev:key:<version>:<key id>:<app hash>:<secret>`` (docs/protocol.md §7.3)."""

    key_id: str
    secret: str = field(repr=False)
    app_hash: str
    permissions: frozenset[Permission]
    created_at: str

    @property
    def value(self) -> str:
        return ":".join((SCOPED_KEY_PREFIX, SCOPED_KEY_VERSION, self.key_id, self.app_hash, self.secret))

    def matches(self, presented: str) -> bool:
        # Constant time: the comparison must not reveal how much of a guessed key is right.
        # Keys are ASCII; anything else (say, undecodable header bytes) is simply not a match.
        if not presented.isascii():
            return False
        return hmac.compare_digest(self.value.encode(), presented.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.key_id,
            "secret": self.secret,
            "appHash": self.app_hash,
            "permissions": sorted(p.value for p in self.permissions),
            "createdAt": self.created_at,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ApiKey:
        return cls(
            key_id=_text(body, "id"),
            secret=_text(body, "secret"),
            app_hash=_text(body, "appHash"),
            permissions=frozenset(Permission.parse(p) for p in _list(body, "permissions")),
            created_at=_text(body, "createdAt"),
        )


@dataclass(frozen=True)
class FunctionConfig:
    """A Function: its name, the ``package.module:callable`` that implements it, its timeout."""

    name: str
    target: str
    timeout_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "timeoutSeconds": self.timeout_seconds}

    @classmethod
    def from_json(cls, name: str, body: Mapping[str, Any]) -> FunctionConfig:
        timeout = body.get("timeoutSeconds")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise ConfigurationError(f"Function {name!r}: timeoutSeconds must be a number of seconds.")
        return cls(name=name, target=_text(body, "target"), timeout_seconds=timeout)


@dataclass(frozen=True)
class RelayDestination:
    """An Outbound Relay destination, with the stable ids the real API reports."""

    domain: str
    destination_id: int
    uuid: str
    created_at: str
    curve: str = "secp256k1"

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "id": self.destination_id,
            "uuid": self.uuid,
            "createdAt": self.created_at,
            "curve": self.curve,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RelayDestination:
        destination_id = body.get("id")
        if isinstance(destination_id, bool) or not isinstance(destination_id, int):
            raise ConfigurationError("A relay destination in state.json has no integer 'id'.")
        return cls(
            domain=_text(body, "domain"),
            destination_id=destination_id,
            uuid=_text(body, "uuid"),
            created_at=_text(body, "createdAt"),
            curve=_text(body, "curve"),
        )


@dataclass(frozen=True)
class StateRecord:
    """Everything in ``state.json`` (the private keys live in their PEM files)."""

    app_id: str
    team_id: str
    api_keys: tuple[ApiKey, ...]
    functions: tuple[FunctionConfig, ...] = ()
    relay_destinations: tuple[RelayDestination, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "appId": self.app_id,
            "teamId": self.team_id,
            "apiKeys": [key.to_json() for key in self.api_keys],
            "functions": {fn.name: fn.to_json() for fn in self.functions},
            "relayDestinations": [dest.to_json() for dest in self.relay_destinations],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> StateRecord:
        if body.get("format") != STATE_FORMAT:
            raise ConfigurationError(
                f"state.json has format {body.get('format')!r}; this emulator reads format "
                f"{STATE_FORMAT}. Use a data directory created by this version."
            )
        functions = body.get("functions", {})
        if not isinstance(functions, Mapping):
            raise ConfigurationError("state.json: 'functions' must be an object.")
        return cls(
            app_id=_text(body, "appId"),
            team_id=_text(body, "teamId"),
            api_keys=tuple(ApiKey.from_json(_mapping(k)) for k in _list(body, "apiKeys")),
            functions=tuple(FunctionConfig.from_json(str(n), _mapping(f)) for n, f in functions.items()),
            relay_destinations=tuple(
                RelayDestination.from_json(_mapping(d)) for d in _list(body, "relayDestinations")
            ),
        )


class LocalState:
    """The loaded data directory. Mutations are saved immediately (atomically)."""

    def __init__(
        self, data_dir: Path, record: StateRecord, private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey]
    ) -> None:
        self.data_dir = data_dir
        self._record = record
        self.private_keys = dict(private_keys)

    def __repr__(self) -> str:
        return f"LocalState(data_dir={str(self.data_dir)!r}, app_id={self.app_id!r})"

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, data_dir: str | os.PathLike[str]) -> LocalState:
        """Open ``data_dir``; a missing or empty directory gets a new app, keys and API key."""
        path = Path(data_dir).expanduser().resolve()
        _ensure_private_dir(path)
        _remove_interrupted_writes(path)
        if (path / STATE_FILE).exists():
            return cls._load(path)
        return cls._create(path)

    @classmethod
    def _load(cls, path: Path) -> LocalState:
        try:
            body = json.loads((path / STATE_FILE).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ConfigurationError(
                f"Cannot read {path / STATE_FILE} ({type(error).__name__}); restore it from a backup "
                "or start with an empty data directory (new keys: old ciphertexts become undecryptable)."
            ) from None
        record = StateRecord.from_json(_mapping(body))
        keys = {curve: _read_private_key(path / name, curve) for curve, name in KEY_FILES.items()}
        return cls(path, record, keys)

    @classmethod
    def _create(cls, path: Path) -> LocalState:
        app_id = "app_" + secrets.token_hex(6)
        keys = {curve: ec.generate_private_key(curve.ec_curve) for curve in KEY_FILES}
        for curve, key in keys.items():
            _write_private(path / KEY_FILES[curve], _pem(key))
        record = StateRecord(
            app_id=app_id,
            team_id="team_" + secrets.token_hex(6),
            api_keys=(new_api_key(app_id, ALL_PERMISSIONS),),
        )
        state = cls(path, record, keys)
        state._save()
        return state

    # --- reading ---------------------------------------------------------------------------

    @property
    def app_id(self) -> str:
        return self._record.app_id

    @property
    def team_id(self) -> str:
        return self._record.team_id

    @property
    def api_keys(self) -> tuple[ApiKey, ...]:
        return self._record.api_keys

    @property
    def functions(self) -> tuple[FunctionConfig, ...]:
        return self._record.functions

    @property
    def relay_destinations(self) -> tuple[RelayDestination, ...]:
        return self._record.relay_destinations

    def admin_key(self) -> ApiKey:
        """The first key with every permission (the one ``serve`` prints)."""
        for key in self.api_keys:
            if key.permissions == ALL_PERMISSIONS:
                return key
        raise ConfigurationError(
            f"{self.data_dir / STATE_FILE} has no API key with every permission; add one or use a "
            "new data directory."
        )

    def find_api_key(self, presented: str) -> ApiKey | None:
        """The stored key equal to ``presented`` (constant-time compare), if any."""
        parts = presented.split(":")
        if len(parts) != 6 or ":".join(parts[:2]) != SCOPED_KEY_PREFIX:
            return None
        found = None
        for key in self.api_keys:
            # Compare against every key so the time taken does not depend on which matched.
            if key.matches(presented):
                found = key
        return found

    # --- changing --------------------------------------------------------------------------

    def add_api_key(self, permissions: Iterable[Permission]) -> ApiKey:
        key = new_api_key(self.app_id, frozenset(permissions))
        self._update(replace(self._record, api_keys=(*self._record.api_keys, key)))
        return key

    def set_functions(self, functions: Iterable[FunctionConfig]) -> None:
        """Merge ``functions`` into the configured ones (same name: the new one wins)."""
        merged = {fn.name: fn for fn in self._record.functions}
        merged.update({fn.name: fn for fn in functions})
        self._update(replace(self._record, functions=tuple(merged.values())))

    def set_relay_destinations(self, domains: Iterable[str]) -> tuple[RelayDestination, ...]:
        """Replace the destination list; kept domains keep their ids, new ones get fresh ids."""
        existing = {dest.domain: dest for dest in self._record.relay_destinations}
        next_id = max((d.destination_id for d in existing.values()), default=0) + 1
        destinations = []
        for domain in dict.fromkeys(domains):
            if domain not in existing:
                existing[domain] = RelayDestination(
                    domain=domain,
                    destination_id=next_id,
                    uuid="outbound_destination_" + secrets.token_hex(16),
                    created_at=now_iso(),
                )
                next_id += 1
            destinations.append(existing[domain])
        self._update(replace(self._record, relay_destinations=tuple(destinations)))
        return self.relay_destinations

    def reset(self, keep_key: ApiKey) -> None:
        """Drop relay destinations and every API key but ``keep_key``; keep app id and keys."""
        self._update(replace(self._record, api_keys=(keep_key,), relay_destinations=()))

    def _update(self, record: StateRecord) -> None:
        self._record = record
        self._save()

    def _save(self) -> None:
        text = json.dumps(self._record.to_json(), indent=2, sort_keys=True) + "\n"
        _write_private(self.data_dir / STATE_FILE, text.encode("utf-8"))


# --- keys ------------------------------------------------------------------------------------


def app_hash(app_id: str) -> str:
    """First 6 characters of base64(SHA-512(app id)): the fifth segment of a scoped key."""
    return base64.b64encode(hashlib.sha512(app_id.encode("utf-8")).digest()).decode("ascii")[:6]


def new_api_key(app_id: str, permissions: frozenset[Permission]) -> ApiKey:
    if not permissions:
        raise ConfigurationError("An API key needs at least one permission.")
    return ApiKey(
        key_id=secrets.token_hex(8),
        # token_urlsafe never yields ':' so the six colon-separated segments stay unambiguous.
        secret=secrets.token_urlsafe(32),
        app_hash=app_hash(app_id),
        permissions=permissions,
        created_at=now_iso(),
    )


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _read_private_key(path: Path, curve: Curve) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigurationError(
            f"Cannot read the app's {curve.value} private key from {path} ({type(error).__name__}); "
            "restore it from a backup: without it, data encrypted on that curve cannot be decrypted."
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != curve.ec_curve.name:
        raise ConfigurationError(f"{path} does not hold a {curve.value} private key.")
    return key


# --- files -----------------------------------------------------------------------------------


def _ensure_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"Cannot create the data directory {path} ({error.strerror}); choose another --data-dir."
        ) from None
    if not path.is_dir():
        raise ConfigurationError(f"The data directory {path} is not a directory; choose another --data-dir.")
    with contextlib.suppress(OSError):
        # Tighten an existing directory too: it holds private keys. (Best effort: the owner
        # of a shared directory may not be us.)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(DIR_MODE)


def _write_private(path: Path, content: bytes) -> None:
    """Atomically replace ``path`` with ``content``, readable only by the owner."""
    # mkstemp creates the file with mode 0600 before anything is written to it.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    """Make the rename itself durable (a power cut could otherwise undo it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _remove_interrupted_writes(path: Path) -> None:
    """Delete temporary files a killed emulator left mid-write (``kill -9``, power cut).

    They hold a full copy of the state, API key secrets included, and would pile up with
    every interrupted write. The real files are never affected: they are only ever replaced
    whole by ``os.replace``. The runner takes the data directory lock (data_lock.py) before
    loading, so no other emulator is writing here.
    """
    for name in (STATE_FILE, *KEY_FILES.values()):
        for leftover in path.glob(f".{name}.*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


# --- JSON helpers ----------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError("state.json is damaged: an entry is not a JSON object.")
    return value


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"state.json is damaged: {name!r} is missing or not a string.")
    return value


def _list(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise ConfigurationError(f"state.json is damaged: {name!r} is not a list.")
    return value
