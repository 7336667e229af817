"""The import-linter layer contract (``[tool.importlinter]`` in pyproject.toml) covers the package.

A subpackage missing from the layers is checked by nothing: it could import anything and be
imported from anywhere. So every top-level module or subpackage of ``evervault`` is either in
a layer or one of the few facade modules named here, which only re-export.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path
from typing import Any

import tomllib

import evervault

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# Top-level modules outside the layers: the public import surface kept from the published SDK
# (``evervault``, ``evervault.errors``, ``evervault.enclaves``, ``evervault.cages_v2``), the
# public path of the attested-session builders (``evervault.attested``) and
# ``python -m evervault``. They sit above every layer and only re-export or delegate.
FACADE_MODULES = {
    "evervault",
    "evervault.__main__",
    "evervault.errors",
    "evervault.enclaves",
    "evervault.cages_v2",
    "evervault.attested",
}


def layers_contract() -> dict[str, Any]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    [contract] = [contract for contract in config["contracts"] if contract["type"] == "layers"]
    assert isinstance(contract, dict)
    return contract


def layered_modules() -> set[str]:
    return {
        name.strip()
        for layer in layers_contract()["layers"]
        for name in layer.split("|")
    }


def top_level_modules() -> set[str]:
    return {"evervault"} | {
        f"evervault.{info.name}" for info in pkgutil.iter_modules(evervault.__path__)
    }


def test_every_top_level_module_is_in_a_layer_or_a_named_facade() -> None:
    uncovered = top_level_modules() - layered_modules() - FACADE_MODULES
    assert not uncovered, f"add these to a layer in pyproject.toml [tool.importlinter]: {sorted(uncovered)}"


def test_the_contract_names_only_existing_modules_and_no_facade_is_layered() -> None:
    assert layered_modules() <= top_level_modules()
    assert not layered_modules() & FACADE_MODULES
    assert top_level_modules() >= FACADE_MODULES

