"""Judging what an SDK produced, with this repository's strict domain and the app's private keys.

Every check is made on the bytes the SDK wrote: the ev-string grammar and version tag
(:mod:`evervault.domain.ciphertext`), decryption to the same type and value
(:class:`~evervault.domain.decryption.Decryptor`), the metadata frame, the ``%EVENC``
envelope and its CRC-32 (:mod:`evervault.domain.envelope`), and nonce uniqueness.

A value that does not decrypt is diagnosed before it is called a failure: if it opens with
the *other* key derivation of its own ephemeral key (raw ECDH secret instead of the KDF,
or the reverse), it is the published SDKs' role/no-role key reuse (a finding); if it opens
with the key of another ephemeral key of the same batch, it is a key-rotation race.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain import ciphertext as ev_string
from evervault.domain import envelope
from evervault.domain.ciphertext import Datatype, EncryptedString, Version, aad_for
from evervault.domain.coercion import from_text
from evervault.domain.curves import Curve, compressed_point, load_public_point, uncompressed_point
from evervault.domain.decryption import DecryptedValue, Decryptor
from evervault.domain.errors import EvervaultError
from evervault.domain.metadata import split_frame
from evervault.domain.session import DerivedKeys
from evervault.local.conformance.report import Status

MAX_CLOCK_SKEW_SECONDS = 300
MAX_PREVIEW = 60


@dataclass(frozen=True)
class Verdict:
    check: str
    status: Status
    detail: str | None = None


Verdicts = list[Verdict]


class Judge:
    """Judges one curve's outputs; remembers every (ephemeral key, IV) it has seen."""

    def __init__(
        self,
        private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey],
        curve: Curve,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.curve = curve
        self._private_keys = dict(private_keys)
        self._decryptor = Decryptor(private_keys)
        self._clock = clock
        self._nonces: dict[tuple[bytes, bytes], str] = {}
        self.batch_keys: set[bytes] = set()  # ephemeral keys seen in the current batch
        self.undecryptable: set[str] = set()  # names of values the API could not decrypt

    # --- values ---------------------------------------------------------------------------

    def judge_value(self, name: str, original: Any, produced: Any, role: str | None) -> Verdicts:
        verdicts: Verdicts = []
        self._walk(name, original, produced, role, verdicts)
        return verdicts

    def _walk(self, name: str, original: Any, produced: Any, role: str | None, out: Verdicts) -> None:
        if original is None:
            out.append(
                _verdict("encrypt.shape", produced is None, f"{name}: null became {_preview(produced)}")
            )
        elif isinstance(original, (bool, int, float, str)):
            self._leaf(name, original, produced, role, out)
        elif isinstance(original, dict):
            if not isinstance(produced, dict) or set(produced) != set(original):
                out.append(
                    Verdict("encrypt.shape", Status.FAIL, f"{name}: keys differ ({_preview(produced)})")
                )
                return
            out.append(Verdict("encrypt.shape", Status.PASS))
            for key, item in original.items():
                self._walk(f"{name}.{key}", item, produced[key], role, out)
        elif isinstance(original, (list, tuple)):
            if not isinstance(produced, list) or len(produced) != len(original):
                out.append(
                    Verdict("encrypt.shape", Status.FAIL, f"{name}: list changed ({_preview(produced)})")
                )
                return
            out.append(Verdict("encrypt.shape", Status.PASS))
            for index, (item, output) in enumerate(zip(original, produced, strict=True)):
                self._walk(f"{name}[{index}]", item, output, role, out)
        elif isinstance(original, (set, frozenset)):
            self._set(name, original, produced, role, out)
        else:
            raise TypeError(f"the corpus has an unsupported value type {type(original).__name__}")

    def _set(
        self, name: str, original: set[Any] | frozenset[Any], produced: Any, role: str | None, out: Verdicts
    ) -> None:
        items = list(produced) if isinstance(produced, (list, set)) else None
        if items is None or len(items) != len(original):
            out.append(Verdict("encrypt.shape", Status.FAIL, f"{name}: set changed ({_preview(produced)})"))
            return
        out.append(Verdict("encrypt.shape", Status.PASS))
        values = [self._leaf(f"{name}{{}}", None, item, role, out) for item in items]
        same = sorted(map(repr, values)) == sorted(map(repr, original))
        out.append(_verdict("encrypt.round-trip", same, f"{name}: the set decrypts to other members"))

    def _leaf(self, name: str, expected: Any, produced: Any, role: str | None, out: Verdicts) -> Any:
        """Judge one encrypted primitive; ``expected=None`` skips the type and value checks."""
        if not isinstance(produced, str):
            out.append(
                Verdict("encrypt.grammar", Status.FAIL, f"{name}: not an ev-string: {_preview(produced)}")
            )
            return None
        try:
            parsed = ev_string.parse(produced)
        except EvervaultError as error:
            out.append(Verdict("encrypt.grammar", Status.FAIL, f"{name}: {error} ({_preview(produced)})"))
            return None
        out.append(Verdict("encrypt.grammar", Status.PASS))
        wanted = Version.current(self.curve, with_metadata=role is not None)
        version_ok = parsed.version is wanted and not parsed.debug
        out.append(
            _verdict(
                "encrypt.version",
                version_ok,
                f"{name}: tag {parsed.version.tag}"
                f"{' (debug)' if parsed.debug else ''}, expected {wanted.tag}",
            )
        )
        if expected is not None:
            datatype = _datatype_of(expected)
            out.append(
                _verdict(
                    "encrypt.datatype",
                    parsed.datatype is datatype,
                    f"{name}: datatype {parsed.datatype.value}, expected {datatype.value}",
                )
            )
        self._nonce(name, parsed.ephemeral_public_key, parsed.iv, out)
        self.batch_keys.add(parsed.ephemeral_public_key)
        decrypted = self._decrypt(name, parsed, out)
        if decrypted is None:
            return None
        if expected is not None:
            same = same_value(expected, decrypted.value)
            out.append(
                _verdict(
                    "encrypt.round-trip",
                    same,
                    f"{name}: decrypted to {_preview(decrypted.value)}"
                    f" ({type(decrypted.value).__name__}), expected {_preview(expected)}",
                )
            )
        if parsed.version.has_metadata:
            out.append(self._metadata(name, decrypted, role))
        return decrypted.value

    def _nonce(self, name: str, ephemeral_key: bytes, iv: bytes, out: Verdicts) -> None:
        previous = self._nonces.get((ephemeral_key, iv))
        out.append(
            _verdict(
                "encrypt.nonce-unique", previous is None, f"{name}: same ephemeral key and IV as {previous}"
            )
        )
        self._nonces.setdefault((ephemeral_key, iv), name)

    def _decrypt(self, name: str, parsed: EncryptedString, out: Verdicts) -> DecryptedValue | None:
        try:
            return self._decryptor.decrypt_parsed(parsed)
        except EvervaultError as error:
            first_error = error
        self.undecryptable.add(name)
        reused = self._open(parsed, parsed.ephemeral_public_key, use_kdf=not parsed.version.uses_kdf)
        if reused is not None:
            derivation = "the raw ECDH secret" if parsed.version.uses_kdf else "the KDF"
            out.append(
                Verdict(
                    "encrypt.round-trip",
                    Status.FINDING,
                    f"{parsed.version.tag} value encrypted with {derivation} (a key generated for "
                    "the other role-ness was reused): the Evervault API cannot decrypt it",
                )
            )
            return reused
        for other in self.batch_keys - {parsed.ephemeral_public_key}:
            for use_kdf in (True, False):
                raced = self._open(parsed, other, use_kdf=use_kdf)
                if raced is not None:
                    out.append(
                        Verdict(
                            "encrypt.round-trip",
                            Status.FINDING,
                            "value labelled with one ephemeral key but encrypted with the key of "
                            "another (key generation race): the Evervault API cannot decrypt it",
                        )
                    )
                    return raced
        out.append(Verdict("encrypt.round-trip", Status.FAIL, f"{name}: {first_error}"))
        return None

    def _open(self, parsed: EncryptedString, key_of: bytes, *, use_kdf: bool) -> DecryptedValue | None:
        """Decrypt ``parsed`` with the keys derived from ``key_of`` (diagnosis only)."""
        curve = parsed.version.curve
        private_key = self._private_keys.get(curve)
        if private_key is None:
            return None
        try:
            point = load_public_point(curve, key_of)
            keys = DerivedKeys.derive(curve, private_key, key_of, uncompressed_point(point))
        except EvervaultError:
            return None
        app_key = compressed_point(private_key.public_key())
        aad = aad_for(parsed.version, parsed.datatype, parsed.ephemeral_public_key, app_key)
        aead = keys.kdf_aead if use_kdf else keys.raw_aead
        for candidate in {aad, None, app_key}:
            try:
                plaintext = aead.decrypt(parsed.iv, parsed.ciphertext, candidate)
            except InvalidTag:
                continue
            try:
                metadata = None
                if parsed.version.has_metadata:
                    metadata, plaintext = split_frame(plaintext)
                value = from_text(parsed.datatype, plaintext.decode("utf-8"))
            except (EvervaultError, UnicodeDecodeError):
                return None
            return DecryptedValue(value, parsed.datatype, parsed.version, metadata)
        return None

    def _metadata(self, name: str, decrypted: DecryptedValue, role: str | None) -> Verdict:
        metadata = decrypted.metadata
        if metadata is None:
            return Verdict("encrypt.metadata", Status.FAIL, f"{name}: no metadata frame")
        problems = []
        if metadata.role != role:
            problems.append(f"dr is {metadata.role!r}, expected {role!r}")
        if not isinstance(metadata.origin, int) or not 0 <= metadata.origin <= 0x7F:
            problems.append(f"eo is {metadata.origin!r}, expected an integer 0-127")
        now = self._clock()
        if metadata.timestamp is None or abs(metadata.timestamp - now) > MAX_CLOCK_SKEW_SECONDS:
            problems.append(f"et is {metadata.timestamp!r}, expected about {int(now)}")
        return _verdict("encrypt.metadata", not problems, f"{name}: " + "; ".join(problems))

    # --- files ------------------------------------------------------------------------------

    def judge_file(self, name: str, original: bytes, produced: Any) -> Verdicts:
        if not isinstance(produced, bytes):
            return [Verdict("file.envelope", Status.FAIL, f"{name}: not bytes: {_preview(produced)}")]
        try:
            parsed = envelope.parse(produced)
        except EvervaultError as error:
            return [Verdict("file.envelope", Status.FAIL, f"{name}: {error}")]
        wanted = envelope.FileVersion.current(self.curve)
        out = [
            _verdict(
                "file.envelope",
                parsed.version is wanted and parsed.flags == 0,
                f"{name}: version {int(parsed.version)} flags {parsed.flags}, expected {int(wanted)} and 0",
            )
        ]
        self._nonce(name, parsed.ephemeral_public_key, parsed.iv, out)
        try:
            data = self._decryptor.decrypt_file(produced).data
        except EvervaultError as error:
            return [*out, Verdict("file.round-trip", Status.FAIL, f"{name}: {error}")]
        out.append(
            _verdict(
                "file.round-trip",
                data == original,
                f"{name}: decrypted to {len(data)} bytes that differ from the {len(original)} sent",
            )
        )
        return out


def same_value(expected: Any, actual: Any) -> bool:
    """Language-neutral equality: numbers compare by value (``1.0`` equals ``1``), exact for ints."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected is actual
    if isinstance(expected, (int, float)):
        if not isinstance(actual, (int, float)):
            return False
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        return float(expected) == float(actual)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(expected) == set(actual)
            and all(same_value(expected[key], actual[key]) for key in expected)
        )
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same_value(a, b) for a, b in zip(expected, actual, strict=True))
        )
    return type(expected) is type(actual) and bool(expected == actual)


def _datatype_of(value: Any) -> Datatype:
    if isinstance(value, bool):
        return Datatype.BOOLEAN
    if isinstance(value, (int, float)):
        return Datatype.NUMBER
    return Datatype.STRING


def _verdict(check: str, ok: bool, detail: str) -> Verdict:
    return Verdict(check, Status.PASS) if ok else Verdict(check, Status.FAIL, detail)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_PREVIEW else text[: MAX_PREVIEW - 3] + "..."


def worst(verdicts: Iterable[Verdict]) -> Status:
    statuses = {verdict.status for verdict in verdicts}
    for status in (Status.FAIL, Status.FINDING):
        if status in statuses:
            return status
    return Status.PASS
