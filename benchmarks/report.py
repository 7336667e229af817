"""The benchmark's table and chart: each row is this SDK against one anchor, with its target."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Member = tuple[str, str]  # (process name, case)


@dataclass(frozen=True)
class Row:
    """``faster``: ratio = anchor / this SDK, target is a minimum.
    ``floor``: ratio = this SDK / anchor (the hardware floor), target is a maximum."""

    label: str
    ours: Member
    anchor: Member
    kind: Literal["faster", "floor"]
    target: float | None
    per: int = 1  # divide times by this (e.g. per field of a 1,000-field dict)

    def anchor_label(self) -> str:
        process, case = self.anchor
        if case.startswith("floor_"):
            return "AES-GCM+CRC floor" if case.endswith("_crc") else "AES-GCM floor"
        return process.rsplit(" ", 1)[0] if process.endswith((" ga", " beta")) else process

    def verdict(self, ratio: float) -> str:
        if self.target is None:
            return ""
        met = ratio >= self.target if self.kind == "faster" else ratio <= self.target
        sign = ">=" if self.kind == "faster" else "<="
        return f"{sign}{self.target:g}x {'met' if met else 'MISSED'}"


@dataclass
class Table:
    lines: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def paired_ratio(row: Row, ours: list[float], anchor: list[float]) -> float:
    """Median of round-by-round ratios: a burst of load slows one pair, not the result."""
    pairs = zip(anchor, ours, strict=False)
    if row.kind == "faster":
        return statistics.median(theirs / mine for theirs, mine in pairs)
    return statistics.median(mine / theirs for theirs, mine in pairs)


def table(rows: list[Row], samples: dict[str, list[float]]) -> Table:
    result = Table()
    result.lines.append(
        f"{'case':<42} {'anchor':<20} {'anchor':>10} {'this SDK':>10} {'ratio':>7}  target"
    )
    for row in rows:
        ours = samples[f"{row.ours[0]}:{row.ours[1]}"]
        anchor = samples.get(f"{row.anchor[0]}:{row.anchor[1]}")
        if not anchor:
            continue
        ratio = paired_ratio(row, ours, anchor)
        mine, theirs = statistics.median(ours) / row.per, statistics.median(anchor) / row.per
        what = "faster" if row.kind == "faster" else "x floor"
        result.lines.append(
            f"{row.label:<42} {row.anchor_label():<20} {format_seconds(theirs):>10} "
            f"{format_seconds(mine):>10} {ratio:>6.2f}x  {what} {row.verdict(ratio)}".rstrip()
        )
        result.records.append(
            {
                "label": row.label,
                "anchor": row.anchor_label(),
                "kind": row.kind,
                "anchor_seconds": theirs,
                "our_seconds": mine,
                "ratio": ratio,
                "target": row.target,
                "verdict": row.verdict(ratio),
            }
        )
    return result


def chart(records: list[dict[str, Any]], path: Path, title: str) -> bool:
    """Two panels: times faster than each anchor, and times the hardware floor; targets marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [("faster", "times faster than the anchor (higher is better)"),
              ("floor", "times the AES-GCM(+CRC) floor (lower is better; 1 = the floor)")]
    figure, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    for axis, (kind, heading) in zip(axes, panels, strict=True):
        chosen = [record for record in records if record["kind"] == kind]
        names = [f"{record['label']}\nvs {record['anchor']}" for record in chosen]
        ratios = [record["ratio"] for record in chosen]
        colours = [_colour(record) for record in chosen]
        positions = range(len(chosen))
        axis.barh(list(positions), ratios, color=colours)
        for position, record in zip(positions, chosen, strict=True):
            axis.text(record["ratio"], position, f" {record['ratio']:.2f}x", va="center", fontsize=8)
            if record["target"] is not None:
                target = [record["target"]] * 2
                axis.plot(target, [position - 0.4, position + 0.4], color="black", linewidth=2)
        axis.set_yticks(list(positions), names, fontsize=8)
        axis.invert_yaxis()
        axis.set_title(heading, fontsize=10)
        if kind == "faster":
            axis.set_xscale("log")
    figure.suptitle(title, fontsize=8, wrap=True)
    figure.text(0.01, 0.01, "black tick: target; green: met, red: missed, grey: no target", fontsize=8)
    figure.tight_layout(rect=(0, 0.03, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _colour(record: dict[str, Any]) -> str:
    verdict = record["verdict"]
    if not verdict:
        return "#9e9e9e"
    return "#2e7d32" if verdict.endswith("met") else "#c62828"
