"""``kill -9`` of ``evervault-local serve`` while it writes its data directory (hardening.kill).

Each restart on the same ``--data-dir`` must load, keep the app, decrypt every value
encrypted in any earlier cycle, accept every API key whose creation was acknowledged, and
leave no temporary file (they hold copies of the key secrets).
"""

from __future__ import annotations

import os
from pathlib import Path

from hardening.kill import run_kill_cycles

CYCLES = int(os.environ.get("EV_KILL_CYCLES", "4"))


def test_kill_9_during_writes_leaves_a_data_dir_that_loads_and_decrypts(tmp_path: Path) -> None:
    result = run_kill_cycles(tmp_path / "data", CYCLES)
    assert result.cycles == CYCLES and result.writes > 0 and result.acknowledged_keys > 0
    assert result.values_checked > 0 and result.values_lost == 0
    assert result.keys_lost == 0
    assert not result.problems
    assert not result.leftovers, f"temporary files left in the data directory: {result.leftovers}"
