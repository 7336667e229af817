"""What the suite asks an SDK to encrypt: every datatype, edge numbers, unicode, containers, files.

Roles and no roles are interleaved on purpose (every SDK must handle both in one session).
The cases are small, so a run takes seconds; the file sizes go from 0 B to a few MiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLE = "conformance"
OTHER_ROLE = "pii-42"


@dataclass(frozen=True)
class Case:
    name: str
    value: Any
    role: str | None = None
    optional: bool = False  # an adapter may answer "unsupported" (e.g. no set type)


_STRINGS: list[tuple[str, str]] = [
    ("string.empty", ""),
    ("string.ascii", "hello"),
    ("string.separators", "a:b:$:ev:"),
    ("string.quotes", 'quote " backslash \\ slash /'),
    ("string.inner-whitespace", "tab\tnew\nline"),
    ("string.long", "x" * 10_000),
    ("unicode.accents", "café déjà vu"),
    ("unicode.cjk", "日本語のテキスト"),
    ("unicode.emoji", "🔐👍🏽👩‍👩‍👧"),
    ("unicode.rtl", "שלום عليكم"),
    ("unicode.combining", "e\u0301"),
    ("unicode.nul", "a\u0000b"),
    ("unicode.astral", "\U0001d11e\U00010348"),
]

_NUMBERS: list[tuple[str, int | float]] = [
    ("int.zero", 0),
    ("int.one", 1),
    ("int.negative", -1),
    ("int.int32-max", 2**31 - 1),
    ("int.beyond-int32", 2**31),
    ("int.max-safe", 2**53 - 1),
    ("int.min-safe", -(2**53 - 1)),
    ("float.half", 0.5),
    ("float.negative", -2.25),
    ("float.tenth", 0.1),
    ("float.pi", 3.141592653589793),
    ("float.whole", 1.0),
    ("float.negative-zero", -0.0),
    ("float.large", 1e300),
    ("float.1e21", 1e21),
    ("float.small", 1.5e-7),
    ("float.tiny", 1e-300),
    ("float.subnormal", 5e-324),
    ("float.max", 1.7976931348623157e308),
    ("float.digits", 123456.789),
]

_BOOLEANS: list[tuple[str, bool]] = [("bool.true", True), ("bool.false", False)]

_DOCUMENTS: list[tuple[str, Any]] = [
    ("nested.flat", {"name": "Ada", "age": 36, "admin": True, "ratio": 0.25}),
    (
        "nested.deep",
        {"user": {"card": {"number": "4242424242424242", "cvc": 123}, "tags": ["a", "β", 3, False]}},
    ),
    ("nested.list", ["x", 1, 2.5, True, {"k": "v"}, [[], {}]]),
    ("nested.empty-containers", {"empty_object": {}, "empty_list": [], "nested": [{}, []]}),
    ("nested.unicode-keys", {"clé": "valeur", "鍵": "値", "🔑": "🔒"}),
]


def value_cases() -> list[Case]:
    """The corpus, roles interleaved: none, a role, none, another role, ..."""
    plain: list[tuple[str, Any]] = [*_STRINGS, *_NUMBERS, *_BOOLEANS, *_DOCUMENTS]
    roles = (None, ROLE, None, OTHER_ROLE)
    cases = [Case(name, value, roles[index % len(roles)]) for index, (name, value) in enumerate(plain)]
    # Every value once more with the opposite role-ness, so each type is seen both ways.
    cases += [
        Case(
            name + "+role" if case.role is None else name + "+no-role",
            value,
            ROLE if case.role is None else None,
        )
        for case, (name, value) in zip(cases, plain, strict=True)
    ]
    cases.append(Case("set.strings", {"a", "b", "c"}, None, optional=True))
    return cases


FILE_SIZES: tuple[int, ...] = (0, 1, 15, 16, 17, 1000, 64 * 1024 + 3, 1024 * 1024, 3 * 1024 * 1024 + 7)

# Probes of known defects of published SDKs (reported as findings, never as failures).
BIG_INTEGERS: list[tuple[str, int]] = [
    ("bigint.2^53+1", 2**53 + 1),
    ("bigint.2^64", 2**64),
    ("bigint.-2^63-1", -(2**63) - 1),
]
EDGE_WHITESPACE: list[tuple[str, str]] = [
    ("whitespace.padded", "  padded  "),
    ("whitespace.newline-end", "line\n"),
    ("whitespace.only", "   "),
]
RACE_ROUNDS = 8
RACE_VALUES = 64
RACE_CONCURRENCY = 32


def file_bytes(size: int) -> bytes:
    """Deterministic, non-repeating-looking contents of ``size`` bytes."""
    pattern = bytes((index * 31 + 7) % 256 for index in range(251))
    return (pattern * (size // len(pattern) + 1))[:size]
