"""``python -m hardening --minutes N`` (or ``make soak MINUTES=N``): the long versions, one table.

1. Soak: 16 threads, then 64 asyncio tasks, against an ``evervault-local serve`` child
   process, with the session key rotating every 3 ms; rounds of ``--values`` values
   (default 200,000 per round, half per mode) until the soak's share of the budget is spent.
2. Faults: the whole matrix (every mode x operation x client), once.
3. ``kill -9`` during writes: ``--kill-cycles`` cycles.
4. Fuzzing: every atheris target for an equal share of what is left (when atheris is
   installed: ``pip install -e '.[fuzz]'``).

The budget is a target: a soak round and the fault matrix always finish, so a very small
``--minutes`` still does one full round. Exit status 1 if any value was lost, any fault
case or kill cycle failed, or a fuzzer crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hardening.emulator import served
from hardening.faults import FaultOutcome, FaultSettings, run_matrix
from hardening.kill import KillResult, run_kill_cycles
from hardening.soak import SOAK_REQUEST_TIMEOUT, SoakResult, fast_rotation, soak_tasks, soak_threads

ROTATION_SECONDS = 0.003
SOAK_SHARE = 0.45


def run_soak(budget: float, values: int) -> list[SoakResult]:
    deadline = time.monotonic() + budget
    threads = SoakResult("16 threads", 16)
    tasks = SoakResult("64 asyncio tasks", 64)
    keys_threads = keys_tasks = 0
    with (
        tempfile.TemporaryDirectory(prefix="hardening-soak-") as data_dir,
        served(Path(data_dir)) as emulator,
    ):
        round_number = 0
        while round_number == 0 or time.monotonic() < deadline:
            round_number += 1
            print(f"soak round {round_number}: {values:,} values ...", file=sys.stderr, flush=True)
            with fast_rotation(ROTATION_SECONDS):
                part = soak_threads(
                    lambda: emulator.client(request_timeout=SOAK_REQUEST_TIMEOUT),
                    values // 2,
                    threads=16,
                    seed=round_number,
                )
                threads.merge(part)
                threads.seconds += part.seconds
                keys_threads += part.distinct_keys
                async_part = asyncio.run(
                    soak_tasks(
                        lambda: emulator.async_client(request_timeout=SOAK_REQUEST_TIMEOUT),
                        values // 2,
                        tasks=64,
                        seed=round_number,
                    )
                )
                tasks.merge(async_part)
                tasks.seconds += async_part.seconds
                keys_tasks += async_part.distinct_keys
    threads.distinct_keys, tasks.distinct_keys = keys_threads, keys_tasks
    return [threads, tasks]


def soak_table(results: list[SoakResult]) -> str:
    lines = [
        f"{'soak':<18} {'values':>10} {'files':>7} {'with role':>10} {'keys':>7} {'values/s':>9} {'lost':>6}"
    ]
    for result in results:
        rate = result.values / result.seconds if result.seconds else 0.0
        lines.append(
            f"{result.mode:<18} {result.values:>10,} {result.files:>7,} {result.with_role:>10,} "
            f"{result.distinct_keys:>7,} {rate:>9,.0f} {result.lost:>6}"
        )
    total = sum(result.values for result in results)
    lines.append(
        f"{'total':<18} {total:>10,} {'':>7} {'':>10} {'':>7} {'':>9} {sum(r.lost for r in results):>6}"
    )
    return "\n".join(lines)


def fault_table(outcomes: list[FaultOutcome]) -> str:
    """One row per mode: the errors each client raised, the most requests seen, the verdict."""
    by_mode: dict[str, list[FaultOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_mode[outcome.mode].append(outcome)
    lines = [f"{'fault mode':<22} {'Client errors':<36} {'AsyncClient errors':<36} {'max req':>7} {'ok':>7}"]
    for mode, cases in by_mode.items():
        errors = {
            kind: ",".join(sorted({case.error for case in cases if case.client == kind}))
            for kind in ("Client", "AsyncClient")
        }
        ok = sum(case.ok for case in cases)
        most = max(case.requests for case in cases)
        verdict = f"{ok}/{len(cases)}"
        lines.append(
            f"{mode:<22} {errors['Client']:<36.36} {errors['AsyncClient']:<36.36} {most:>7} {verdict:>7}"
        )
    failed = [case for case in outcomes if not case.ok]
    lines.append(f"{len(outcomes)} cases, {len(outcomes) - len(failed)} as required, {len(failed)} failed")
    lines += [f"  FAILED {c.client} {c.operation} {c.mode}: {'; '.join(c.problems)}" for c in failed]
    return "\n".join(lines)


def kill_table(result: KillResult) -> str:
    return "\n".join(
        [
            f"{'kill -9 cycles':<18} {'writes':>8} {'acked keys':>11} {'keys lost':>10} "
            f"{'values checked':>15} {'values lost':>12} {'leftovers':>10}",
            f"{result.cycles:<18} {result.writes:>8,} {result.acknowledged_keys:>11,} {result.keys_lost:>10} "
            f"{result.values_checked:>15,} {result.values_lost:>12} {len(result.leftovers):>10}",
            *(f"  PROBLEM {problem}" for problem in result.problems),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardening", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="total budget (default 10)")
    parser.add_argument("--values", type=int, default=200_000, help="values per soak round (default 200,000)")
    parser.add_argument("--kill-cycles", type=int, default=10, help="kill -9 cycles (default 10)")
    parser.add_argument("--no-fuzz", action="store_true", help="skip the atheris targets")
    options = parser.parse_args(argv)
    started = time.monotonic()
    budget = options.minutes * 60

    soak = run_soak(budget * SOAK_SHARE, options.values)
    print("fault matrix ...", file=sys.stderr, flush=True)
    faults = run_matrix(FaultSettings(timeout=1.0))
    print("kill -9 cycles ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="hardening-kill-") as data_dir:
        killed = run_kill_cycles(Path(data_dir) / "data", options.kill_cycles)
    fuzz_text, fuzz_crashes = "fuzzing skipped (--no-fuzz)", 0
    if not options.no_fuzz:
        fuzz_text, fuzz_crashes = run_fuzz(budget - (time.monotonic() - started))

    print()
    print(soak_table(soak))
    print()
    print(fault_table(faults))
    print()
    print(kill_table(killed))
    print()
    print(fuzz_text)
    print(f"\nwall time {(time.monotonic() - started) / 60:.1f} min")
    failed = any(r.lost for r in soak) or not all(c.ok for c in faults) or not killed.ok or fuzz_crashes
    return 1 if failed else 0


def run_fuzz(seconds_left: float) -> tuple[str, int]:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "fuzzing skipped: atheris is not installed (pip install -e '.[fuzz]')", 0
    from fuzz.__main__ import run_all, table
    from fuzz.targets import TARGETS

    results = run_all(max(seconds_left, 0) / 60, list(TARGETS), Path("fuzz-artifacts"))
    return table(results), sum(result.crashes for result in results)


if __name__ == "__main__":
    sys.exit(main())
