"""Expected PCR measurements: one set (``PCRs``), roll-over alternatives (``AnyOf``), or the
explicit opt-out ``UnsafeSkipPcrChecks``.

A ``PCRs`` names up to four measurements (PCR0 enclave image, PCR1 kernel, PCR2 application,
PCR8 signing certificate); an absent field is a wildcard, but a set must constrain at least
one of them. Values are validated as hex at construction and stored lower-case, so comparison
is case-insensitive: ``D2..`` and ``d2..`` describe the same measurement (the reference
validator compares strings case-sensitively and rejects upper-case input; we deliberately
accept it). ``AnyOf`` passes when any alternative matches, which lets a deployment roll from
one build to the next; it needs at least one alternative.

Fail closed: a value that would check nothing (``None`` - what ``os.environ.get`` returns for
an unset variable -, ``{}``, ``[]``, ``{"pcr_8": None}``, an empty set inside a roll-over
list) is an ``InvalidPCRsError``, never a wildcard. Accepting any measurements takes the one
explicitly named object ``UnsafeSkipPcrChecks()`` (document validity, chain, signature and TLS
binding are still checked).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, TypeAlias

from evervault.domain.attestation.document import AttestationDocument
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import InvalidPCRsError

PCR_INDEX_BY_FIELD = {"pcr_0": 0, "pcr_1": 1, "pcr_2": 2, "pcr_8": 8}
HEX_LENGTHS = frozenset({64, 96, 128})  # 32, 48 or 64-byte measurements
_HEX_DIGITS = frozenset(string.hexdigits)
_EXAMPLE = "{'pcr_8': '<96 hex characters>'} (or a list of such sets to roll over)"
_OPT_OUT_HINT = "to accept any measurements on purpose, pass UnsafeSkipPcrChecks() instead"


@dataclass(frozen=True)
class PCRs:
    """One acceptable set of measurements; ``None`` fields match anything, but not all four."""

    pcr_0: str | None = None
    pcr_1: str | None = None
    pcr_2: str | None = None
    pcr_8: str | None = None

    def __post_init__(self) -> None:
        for name in PCR_INDEX_BY_FIELD:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _normalised_hex(name, value))
        if not self.expected():
            raise InvalidPCRsError(
                "A PCR set with no values constrains nothing and would accept any enclave. "
                f"Give at least one measurement, e.g. {_EXAMPLE}; {_OPT_OUT_HINT}.",
                checks_nothing=True,
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> PCRs:
        """Build from ``{"pcr_0": "...", ...}``; unknown keys and ``None`` values are refused.

        A typo is no wildcard, and neither is ``None``: it is what an unset environment
        variable reads as, so ``{"pcr_8": os.environ.get("PCR8")}`` must not pass silently.
        """
        unknown = sorted(str(key) for key in values if key not in PCR_INDEX_BY_FIELD)
        if unknown:
            raise InvalidPCRsError(f"Unknown PCR key(s) {unknown}; use only {sorted(PCR_INDEX_BY_FIELD)}.")
        missing = sorted(str(key) for key, value in values.items() if value is None)
        if missing:
            raise InvalidPCRsError(
                f"PCR value(s) {missing} are None (an unset environment variable or setting?). "
                "Give the hex measurement, or leave the key out to match any value of that PCR.",
                checks_nothing=len(missing) == len(values),
            )
        return cls(**{str(key): _text(str(key), value) for key, value in values.items()})

    def expected(self) -> dict[str, str]:
        """The constrained fields, e.g. ``{"pcr_8": "97c5..."}``."""
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) is not None
        }

    def mismatches(self, document: AttestationDocument) -> dict[str, str | None]:
        """Constrained fields whose document value differs: field -> received hex (or None)."""
        differing: dict[str, str | None] = {}
        for name, expected in self.expected().items():
            received = document.pcr_hex(PCR_INDEX_BY_FIELD[name])
            if received != expected:
                differing[name] = received
        return differing


@dataclass(frozen=True)
class AnyOf:
    """Roll-over: the document passes when it matches any of one or more alternatives."""

    alternatives: tuple[PCRs, ...]
    checks_pcrs: ClassVar[bool] = True

    def __post_init__(self) -> None:
        alternatives = tuple(self.alternatives)
        if not alternatives:
            raise InvalidPCRsError(
                "An empty list of PCR sets checks nothing and would accept any enclave. "
                f"Give at least one set, e.g. {_EXAMPLE}; {_OPT_OUT_HINT}.",
                checks_nothing=True,
            )
        for position, alternative in enumerate(alternatives):
            if not isinstance(alternative, PCRs):
                raise InvalidPCRsError(
                    f"Roll-over alternative {position} must be PCRs, got {type(alternative).__name__}."
                )
        object.__setattr__(self, "alternatives", alternatives)

    def check(self, document: AttestationDocument) -> None:
        """Raise ``pcr-mismatch`` naming the expected and received values when nothing matches."""
        reports = []
        for position, alternative in enumerate(self.alternatives):
            differing = alternative.mismatches(document)
            if not differing:
                return
            reports.append(_describe(position, alternative, differing))
        raise attestation_failure(
            "pcr-mismatch",
            "the enclave's measurements differ from every expected PCR set: "
            + "; ".join(reports)
            + ". Deploy the expected build or update the expected PCRs.",
        )


@dataclass(frozen=True)
class UnsafeSkipPcrChecks:
    """Accept ANY enclave measurements: the one way to switch the PCR check off.

    The document's structure, certificate chain, signature and binding to the TLS key are
    still verified, so the peer is some genuine enclave - but not necessarily running your
    code. Sessions built with it log a warning every time (``evervault.attestation`` logger).
    """

    checks_pcrs: ClassVar[bool] = False

    def check(self, document: AttestationDocument) -> None:
        """Accept every measurement (deliberately: the caller opted out by name)."""
        return None


PcrPolicy: TypeAlias = AnyOf | UnsafeSkipPcrChecks
"""What the verifier takes: expected PCR sets, or the explicit opt-out."""


def pcr_policy_from(value: object) -> PcrPolicy:
    """Normalise user input (PCRs, AnyOf, UnsafeSkipPcrChecks, a dict, or a list of them).

    Anything that would check nothing raises ``InvalidPCRsError``; see the module docstring.
    """
    if isinstance(value, (AnyOf, UnsafeSkipPcrChecks)):
        return value
    if isinstance(value, PCRs):
        return AnyOf((value,))
    if isinstance(value, Mapping):
        return AnyOf((_single_set(value),))
    if isinstance(value, (list, tuple)):
        return AnyOf(tuple(_single_set(item) for item in value))
    raise InvalidPCRsError(_unusable(value), checks_nothing=value is None)


def _single_set(value: object) -> PCRs:
    if isinstance(value, PCRs):
        return value
    if isinstance(value, Mapping):
        if not value:
            raise InvalidPCRsError(
                "An empty PCR set ({}) constrains nothing and would accept any enclave. "
                f"Give at least one measurement, e.g. {_EXAMPLE}; {_OPT_OUT_HINT}.",
                checks_nothing=True,
            )
        return PCRs.from_mapping(value)
    if isinstance(value, UnsafeSkipPcrChecks):
        raise InvalidPCRsError(
            "UnsafeSkipPcrChecks() cannot be one of several PCR sets: it would make the others "
            "pointless. Pass it alone, or list only real PCR sets.",
            checks_nothing=True,
        )
    raise InvalidPCRsError(f"Each roll-over alternative must be a dict or PCRs; got {type(value).__name__}.")


def _unusable(value: object) -> str:
    if value is None:
        return (
            "Expected PCRs are None (an unset environment variable or setting?), which would "
            f"check nothing. Pass {_EXAMPLE}; {_OPT_OUT_HINT}."
        )
    if value is UnsafeSkipPcrChecks:
        return "Pass an instance, UnsafeSkipPcrChecks(), not the class."
    return f"Expected PCRs as a dict, a list of dicts, PCRs or AnyOf; got {type(value).__name__}."


def _text(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise InvalidPCRsError(f"{name} must be a hex string, got {type(value).__name__}.")


def _normalised_hex(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidPCRsError(f"{name} must be a hex string, got {type(value).__name__}.")
    if len(value) not in HEX_LENGTHS or not set(value) <= _HEX_DIGITS:
        raise InvalidPCRsError(
            f"{name} must be {sorted(HEX_LENGTHS)} hex characters (a 32/48/64-byte "
            f"measurement), got {value!r} ({len(value)} characters). Such a value can never "
            "match a document; copy the PCRs printed by your enclave build."
        )
    return value.lower()


def _describe(position: int, alternative: PCRs, differing: Mapping[str, str | None]) -> str:
    parts = [
        f"{name} expected {alternative.expected()[name]} received {received or 'nothing'}"
        for name, received in differing.items()
    ]
    return f"set {position}: " + ", ".join(parts)
