"""``python -m fuzz --minutes N``: every target under atheris, then a table.

Each target runs in its own process for an equal share of the budget, starting from a
corpus of valid seeds (written to a temporary directory); libFuzzer's final statistics
give the executions. A crash stops that target and leaves the input in ``--artifacts``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FuzzResult:
    target: str
    executions: int
    exec_per_second: float
    crashes: int
    seconds: float
    artifact: str = ""


def run_target(name: str, seconds: int, artifacts: Path) -> FuzzResult:
    from fuzz.targets import TARGETS

    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        for index, seed in enumerate(TARGETS[name].seeds()):
            Path(corpus, f"seed-{index}").write_bytes(seed)
        prefix = artifacts / f"{name}-"
        command = [
            sys.executable,
            "-W",
            "ignore",
            "-m",
            "fuzz.atheris_target",
            name,
            f"-max_total_time={seconds}",
            "-print_final_stats=1",
            "-rss_limit_mb=3072",
            "-timeout=20",
            f"-artifact_prefix={prefix}",
            corpus,
        ]
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        finished = subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=seconds + 300
        )
    log = finished.stderr + finished.stdout
    executions = _stat(log, "number_of_executed_units")
    rate = _stat(log, "average_exec_per_sec")
    crashed = finished.returncode != 0
    artifact = ""
    if crashed:
        found = re.findall(r"Test unit written to (\S+)", log)
        artifact = found[-1] if found else "(see log)"
        (artifacts / f"{name}.log").write_text(log)
    return FuzzResult(name, executions, float(rate), int(crashed), float(seconds), artifact)


def _stat(log: str, name: str) -> int:
    match = re.search(rf"stat::{name}:\s*(\d+)", log)
    return int(match.group(1)) if match else 0


def table(results: list[FuzzResult]) -> str:
    lines = [f"{'target':<18} {'executions':>12} {'exec/s':>8} {'crashes':>8}"]
    for result in results:
        rate = f"{result.exec_per_second:,.0f}"
        lines.append(f"{result.target:<18} {result.executions:>12,} {rate:>8} {result.crashes:>8}")
    total = sum(result.executions for result in results)
    lines.append(f"{'total':<18} {total:>12,} {'':>8} {sum(r.crashes for r in results):>8}")
    return "\n".join(lines)


def run_all(minutes: float, names: list[str], artifacts: Path) -> list[FuzzResult]:
    artifacts.mkdir(parents=True, exist_ok=True)
    share = max(5, int(minutes * 60 / len(names)))
    results = []
    for name in names:
        print(f"fuzzing {name} for {share} s ...", file=sys.stderr, flush=True)
        results.append(run_target(name, share, artifacts))
    return results


def main(argv: list[str] | None = None) -> int:
    from fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=1.0, help="total budget, shared by the targets")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="only these (repeatable)")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "fuzz-artifacts", help="where crashes go")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        parser.error("atheris is not installed: pip install -e '.[fuzz]'")
    results = run_all(options.minutes, options.target or list(TARGETS), options.artifacts)
    print(table(results))
    if options.json:
        options.json.write_text(json.dumps([asdict(result) for result in results], indent=2))
    return 1 if any(result.crashes for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
