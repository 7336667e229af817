"""The file CRC-32: ISA-L in the default install where a wheel exists, zlib elsewhere, same result."""

from __future__ import annotations

import platform
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement

from evervault.domain import envelope

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
WHEEL_MACHINES = {"x86_64", "AMD64", "aarch64", "arm64"}


def _core_requirement(name: str) -> Requirement:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    matches = [Requirement(text) for text in project["dependencies"] if Requirement(text).name == name]
    assert len(matches) == 1, f"{name} must be a core dependency exactly once"
    return matches[0]


def test_isal_is_a_core_dependency_wherever_it_has_a_wheel() -> None:
    marker = _core_requirement("isal").marker
    assert marker is not None
    for machine in WHEEL_MACHINES:
        environment = {"platform_python_implementation": "CPython", "platform_machine": machine}
        assert marker.evaluate(environment), machine
    # Platforms without a wheel must not be asked to compile ISA-L: they use zlib.
    for implementation, machine in [("PyPy", "x86_64"), ("CPython", "ppc64le"), ("CPython", "s390x")]:
        environment = {"platform_python_implementation": implementation, "platform_machine": machine}
        assert not marker.evaluate(environment), (implementation, machine)


@pytest.mark.skipif(
    platform.python_implementation() != "CPython" or platform.machine() not in WHEEL_MACHINES,
    reason="ISA-L has no wheel for this platform; zlib's CRC-32 is used",
)
def test_this_install_uses_the_isal_crc() -> None:
    assert envelope._crc32.__module__.startswith("isal"), envelope._crc32.__module__


@given(st.binary(max_size=4096), st.integers(min_value=0, max_value=2**32 - 1))
def test_isal_and_zlib_agree_incrementally(data: bytes, start: int) -> None:
    assert envelope._crc32(data, start) == zlib.crc32(data, start)
