"""The fuzz targets of ``fuzz/`` under Hypothesis, bounded for the default run.

Each target gets random bytes and mutations of valid seeds (bit flips, cut, spliced and
duplicated slices, truncations); only typed ``EvervaultError``s may come out (the targets
raise ``FuzzFinding`` for anything else). ``python -m fuzz`` runs the same targets
coverage-guided under atheris.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS, fuzz_emulator_http

EXAMPLES = {"emulator-http": 60, "attestation-doc": 60, "evenc-file": 120}
DEFAULT_EXAMPLES = 200


@functools.cache
def seeds(name: str) -> tuple[bytes, ...]:
    return tuple(TARGETS[name].seeds())


@st.composite
def mutated(draw: Any, name: str) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds(name))))
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        kind = draw(st.integers(0, 4))
        at = draw(st.integers(0, size))
        if kind == 0 and size:
            position = min(at, size - 1)
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == 1:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == 2:
            del data[at : at + draw(st.integers(1, 32))]
        elif kind == 3:
            data[at:] = data[at : at + draw(st.integers(0, 8))]  # truncate near ``at``
        else:
            data[at:at] = data[max(0, at - 16) : at]  # duplicate a slice
    return bytes(data)


def inputs(name: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), mutated(name))


def run(name: str, data: bytes) -> None:
    if name == "emulator-http":
        # Raw non-ASCII Authorization values are left to the atheris run and the auth tests.
        fuzz_emulator_http(data, ascii_authorization=True)
    else:
        TARGETS[name].run(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_passes(name: str) -> None:
    for seed in seeds(name):
        run(name, seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_only_typed_errors_escape(name: str) -> None:
    @settings(
        max_examples=EXAMPLES.get(name, DEFAULT_EXAMPLES),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(data=inputs(name))
    def check(data: bytes) -> None:
        run(name, data)

    check()


def test_a_target_lets_untyped_errors_through_so_they_are_findings() -> None:
    from evervault.domain.errors import MalformedCiphertextError
    from fuzz.targets import typed_only

    @typed_only
    def parser(data: bytes) -> None:
        if data == b"typed":
            raise MalformedCiphertextError("typed")
        raise KeyError(data)

    parser(b"typed")
    with pytest.raises(KeyError):
        parser(b"anything else")
