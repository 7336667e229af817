"""No import cycle in ``evervault``, lazy (function-level) and ``TYPE_CHECKING`` imports included.

The check is ``scripts/check_import_cycles.py`` (``make lint`` runs it too); these tests run
it on the package and on small hand-made graphs, so a broken cycle finder cannot pass
silently.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grimp
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_import_cycles.py"


@pytest.fixture(scope="module")
def checker() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("check_import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def graph_of(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    return graph


def test_evervault_has_no_import_cycle(checker: ModuleType) -> None:
    report = checker.cycle_report("evervault")
    assert report == [], "import cycles (module:line -> ...):\n" + "\n".join(report)


def test_a_two_module_cycle_is_found_with_its_lines(checker: ModuleType) -> None:
    graph = graph_of(("p.a", "p.b"), ("p.b", "p.a"), ("p.b", "p.c"))
    assert checker.find_cycles(graph) == [(["p.a", "p.b"], ["p.a", "p.b", "p.a"])]
    assert checker.describe(graph, ["p.a", "p.b", "p.a"]) == "p.a:1 -> p.b:1 -> p.a"


def test_the_shortest_cycle_of_a_knot_is_reported_and_the_knot_named(checker: ModuleType) -> None:
    # a -> b -> c -> d -> a, with the shortcut c -> a: one knot of four modules.
    graph = graph_of(("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.d"), ("p.d", "p.a"), ("p.c", "p.a"))
    [(group, cycle)] = checker.find_cycles(graph)
    assert group == ["p.a", "p.b", "p.c", "p.d"]
    assert cycle == ["p.a", "p.b", "p.c", "p.a"]


def test_separate_knots_are_reported_separately_and_chains_are_not_cycles(checker: ModuleType) -> None:
    graph = graph_of(
        ("p.a", "p.b"), ("p.b", "p.a"), ("p.b", "p.x"), ("p.x", "p.y"), ("p.y", "p.z"), ("p.z", "p.y")
    )
    assert [group for group, _ in checker.find_cycles(graph)] == [["p.a", "p.b"], ["p.y", "p.z"]]
    assert checker.find_cycles(graph_of(("p.a", "p.b"), ("p.b", "p.c"), ("p.a", "p.c"))) == []


def test_lazy_imports_count(checker: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cycle closed only by an import inside a function is still a cycle."""
    package = tmp_path / "lazycycle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from lazycycle import second\n")
    (package / "second.py").write_text("def later() -> None:\n    from lazycycle import first\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    report = checker.cycle_report("lazycycle")
    assert report == ["lazycycle.first:1 -> lazycycle.second:2 -> lazycycle.first"]
    assert checker.main(["lazycycle"]) == 1
