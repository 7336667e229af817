"""The relay proxy package keeps one job per module, each importing only the ones below it.

The order is the one its ``__init__`` docstring lists; a module that reached up (say the
session into the server) would bring back the knot the split removed.
"""

from __future__ import annotations

import grimp

import evervault.local.relay_proxy as relay_proxy

PACKAGE = "evervault.local.relay_proxy"
# Lowest first: each module may import only modules before it.
ORDER = ("streams", "messages", "slots", "policy", "context", "interception", "session", "server")


def test_every_module_of_the_package_is_placed() -> None:
    graph = grimp.build_graph("evervault", cache_dir=None)
    modules = {name.removeprefix(PACKAGE + ".") for name in graph.find_children(PACKAGE)}
    assert modules == set(ORDER)


def test_each_module_imports_only_the_ones_below_it() -> None:
    graph = grimp.build_graph("evervault", cache_dir=None)
    for position, name in enumerate(ORDER):
        imported = graph.find_modules_directly_imported_by(f"{PACKAGE}.{name}")
        prefix = PACKAGE + "."
        inside = {module.removeprefix(prefix) for module in imported if module.startswith(prefix)}
        above = inside - set(ORDER[:position])
        assert not above, f"{name} imports {sorted(above)}, which are above it"
        assert PACKAGE not in imported, f"{name} imports the package itself"


def test_the_docstring_lists_the_modules_in_this_order() -> None:
    doc = relay_proxy.__doc__ or ""
    positions = [doc.index(f":mod:`.{name}`") for name in ORDER]
    assert positions == sorted(positions)
