"""Bounded memory: encrypting a CSV eight times larger costs (almost) no more peak RSS.

Each run happens in a wrapper process around the real command that reports getrusage's
peak RSS of its children (the command and its worker processes, the largest of them).
Comparing a small and a large input removes the interpreter's and pyarrow's baseline from
the figure, so the bound can be tight on growth and generous in absolute terms.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import bulk_command, cli_environment

MIB = 1024 * 1024
SMALL_MIB, LARGE_MIB = 32, 256
MAX_GROWTH_MIB = 64  # 224 MiB more input may cost at most this much more memory
ABSOLUTE_BOUND_MIB = 400

WRAPPER = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # largest of command + workers
print(json.dumps({"code": done.returncode, "stderr": done.stderr[-2000:], "peak_mib": peak_kib / 1024}))
"""


def write_large_csv(path: Path, size: int) -> int:
    padding = "x" * 1000
    rows = 0
    with path.open("w", encoding="ascii") as sink:
        sink.write("id,card,padding\n")
        while sink.tell() < size:
            block = "".join(f"{rows + i},{4242424242420000 + rows + i},{padding}\n" for i in range(1000))
            sink.write(block)
            rows += 1000
    return rows


def encrypt_measured(local: LocalEvervault, source: Path, output: Path) -> dict[str, Any]:
    command = bulk_command(
        "encrypt",
        "--in",
        str(source),
        "--out",
        str(output),
        "--columns",
        "card",
        "--workers",
        "2",
        "--chunk-rows",
        "5000",
    )
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command],
        env=cli_environment(local),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["code"] == 0, report["stderr"]
    return report


def test_peak_rss_does_not_grow_with_the_input(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    peaks = {}
    for size in (SMALL_MIB, LARGE_MIB):
        source, output = tmp_path / f"in-{size}.csv", tmp_path / f"out-{size}.csv"
        rows = write_large_csv(source, size * MIB)
        peaks[size] = encrypt_measured(evervault_local, source, output)["peak_mib"]
        with output.open(encoding="ascii") as sealed:
            assert sum(1 for _ in sealed) == rows + 1
        source.unlink()
        output.unlink()
    growth = peaks[LARGE_MIB] - peaks[SMALL_MIB]
    assert growth < MAX_GROWTH_MIB, f"peak RSS {peaks}: grew {growth:.0f} MiB with the input"
    assert peaks[LARGE_MIB] < ABSOLUTE_BOUND_MIB, f"peak RSS {peaks}"
