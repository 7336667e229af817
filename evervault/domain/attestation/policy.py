"""Expected PCR measurements: one set (``PCRs``), roll-over alternatives (``AnyOf``).

A ``PCRs`` names up to four measurements (PCR0 enclave image, PCR1 kernel, PCR2 application,
PCR8 signing certificate); an absent field is a wildcard. Values are validated as hex at
construction and stored lower-case, so comparison is case-insensitive: ``D2..`` and ``d2..``
describe the same measurement (the reference validator compares strings case-sensitively and
rejects upper-case input; we deliberately accept it). ``AnyOf`` passes when any alternative
matches, which lets a deployment roll from one build to the next; an empty ``AnyOf`` means
"no PCR constraint" (document validity and TLS binding are still checked).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from evervault.domain.attestation.document import AttestationDocument
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import InvalidPCRsError

PCR_INDEX_BY_FIELD = {"pcr_0": 0, "pcr_1": 1, "pcr_2": 2, "pcr_8": 8}
HEX_LENGTHS = frozenset({64, 96, 128})  # 32, 48 or 64-byte measurements
_HEX_DIGITS = frozenset(string.hexdigits)


@dataclass(frozen=True)
class PCRs:
    """One acceptable set of measurements; ``None`` fields match anything."""

    pcr_0: str | None = None
    pcr_1: str | None = None
    pcr_2: str | None = None
    pcr_8: str | None = None

    def __post_init__(self) -> None:
        for name in PCR_INDEX_BY_FIELD:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _normalised_hex(name, value))

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> PCRs:
        """Build from ``{"pcr_0": "...", ...}``; unknown keys are refused (a typo is no wildcard)."""
        unknown = sorted(str(key) for key in values if key not in PCR_INDEX_BY_FIELD)
        if unknown:
            raise InvalidPCRsError(f"Unknown PCR key(s) {unknown}; use only {sorted(PCR_INDEX_BY_FIELD)}.")
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
    """Roll-over: the document passes when it matches any alternative; empty = unconstrained."""

    alternatives: tuple[PCRs, ...] = field(default=())

    def check(self, document: AttestationDocument) -> None:
        """Raise ``pcr-mismatch`` naming the expected and received values when nothing matches."""
        if not self.alternatives:
            return
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


def pcr_policy_from(value: object) -> AnyOf:
    """Normalise user input (PCRs, AnyOf, a dict, or a list of them) into an ``AnyOf``."""
    if isinstance(value, AnyOf):
        return value
    if isinstance(value, PCRs):
        return AnyOf((value,))
    if isinstance(value, Mapping):
        return AnyOf((PCRs.from_mapping(value),))
    if isinstance(value, (list, tuple)):
        return AnyOf(tuple(_single_set(item) for item in value))
    raise InvalidPCRsError(
        f"Expected PCRs as a dict, a list of dicts, PCRs or AnyOf; got {type(value).__name__}."
    )


def _single_set(value: object) -> PCRs:
    if isinstance(value, PCRs):
        return value
    if isinstance(value, Mapping):
        return PCRs.from_mapping(value)
    raise InvalidPCRsError(f"Each roll-over alternative must be a dict or PCRs; got {type(value).__name__}.")


def _text(name: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
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
