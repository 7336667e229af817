"""Fail when the ``evervault`` package has an import cycle, lazy imports included.

import-linter's layers contract forbids imports that point outward, but not cycles between
modules of one layer (``services.a -> services.b -> services.a``), and a cycle hidden by a
function-level import still ties the modules together. This check builds grimp's import
graph (every ``import`` statement in the package: module-level, function-level and
``TYPE_CHECKING`` ones) and reports each strongly connected group of modules with one
shortest cycle through it.

Usage: ``python scripts/check_import_cycles.py [package]`` (``make lint`` runs it); exit
status 1 and one line per cycle when there is any.
"""

from __future__ import annotations

import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import grimp

Neighbours = Callable[[str], Iterable[str]]


def import_graph(package: str) -> grimp.ImportGraph:
    """Every import between the modules of ``package`` (no external packages)."""
    return grimp.build_graph(package, cache_dir=None)


def strongly_connected(modules: Iterable[str], imports: Neighbours) -> list[list[str]]:
    """The groups of two or more modules that import one another (Tarjan, iterative)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(imports(root)))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, pending = work[-1]
            if pending:
                target = pending.pop()
                if target not in index:
                    index[target] = lowlink[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(imports(target))))
                elif target in on_stack:
                    lowlink[module] = min(lowlink[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[module])
            if lowlink[module] == index[module]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def shortest_cycle(group: Sequence[str], imports: Neighbours) -> list[str]:
    """A shortest cycle through the first module of ``group``, which closes on that module."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(imports(module)):
            if target not in members:
                continue
            if target == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = module
                queue.append(target)
    raise ValueError(f"{start} is not on a cycle")


def find_cycles(graph: grimp.ImportGraph) -> list[tuple[list[str], list[str]]]:
    """Each group of mutually importing modules of ``graph``, with one shortest cycle in it."""
    imports: Neighbours = graph.find_modules_directly_imported_by
    groups = strongly_connected(graph.modules, imports)
    return [(group, shortest_cycle(group, imports)) for group in groups]


def describe(graph: grimp.ImportGraph, cycle: Sequence[str]) -> str:
    """``a:12 -> b:40 -> a``: each module with the line of its import of the next one."""
    steps = []
    for importer, imported in itertools.pairwise(cycle):
        details = graph.get_import_details(importer=importer, imported=imported)
        lines = ",".join(str(detail["line_number"]) for detail in details)
        steps.append(f"{importer}:{lines}" if lines else importer)
    return " -> ".join([*steps, cycle[-1]])


def cycle_report(package: str) -> list[str]:
    """One line per import cycle in ``package`` (empty when there is none)."""
    graph = import_graph(package)
    report = []
    for group, cycle in find_cycles(graph):
        others = [module for module in group if module not in cycle]
        also = f" (the same knot also holds {', '.join(others)})" if others else ""
        report.append(describe(graph, cycle) + also)
    return report


def main(argv: Sequence[str]) -> int:
    package = argv[0] if argv else "evervault"
    report = cycle_report(package)
    if not report:
        print(f"No import cycles in {package} (lazy and TYPE_CHECKING imports included).")
        return 0
    print(f"{len(report)} import cycle(s) in {package} (lazy and TYPE_CHECKING imports included):")
    for line in report:
        print("  " + line)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
