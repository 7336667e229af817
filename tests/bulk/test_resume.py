"""SIGKILL a bulk run halfway and start it again: the resumed run keeps the chunks the killed
one finished (their ciphertexts appear unchanged in the output), and the output has every row
exactly once, decrypting byte for byte to the input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from evervault.bulk import KeySpec, encrypt_file, runner
from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import bulk_command, cli_environment, people, read_csv, run_bulk, write_csv

ROWS = 60_000
CHUNK_ROWS = 1_000


def completed_chunks(manifest: Path) -> dict[str, int]:
    try:
        return dict(json.loads(manifest.read_text())["completed"])
    except (OSError, ValueError, KeyError):
        return {}


def test_sigkill_halfway_then_resume(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source, output = tmp_path / "big.csv", tmp_path / "big-enc.csv"
    write_csv(source, people(ROWS))
    arguments = [
        "encrypt",
        "--in",
        str(source),
        "--out",
        str(output),
        "--columns",
        "card,ssn",
        "--workers",
        "2",
        "--chunk-rows",
        str(CHUNK_ROWS),
    ]
    state = output.with_name(output.name + ".evbulk")
    manifest = state / "manifest.json"

    # its own process group, so the kill takes the workers down with the parent, mid-flight
    run = subprocess.Popen(
        bulk_command(*arguments),
        env=cli_environment(evervault_local),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not completed_chunks(manifest) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed halfway"

    done_before = completed_chunks(manifest)
    total_chunks = ROWS // CHUNK_ROWS
    assert 1 <= len(done_before) < total_chunks
    assert not output.exists()  # nothing assembled: no partial output was ever visible
    kept_parts = {int(i): (state / f"part-{int(i):08d}.csv").read_bytes() for i in done_before}

    resumed = run_bulk(evervault_local, arguments)
    assert resumed.returncode == 0, resumed.stderr
    assert not state.exists()

    text = output.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert len(lines) == ROWS + 1
    for index, part in kept_parts.items():  # not re-encrypted: the same ciphertexts, same place
        start = 1 + index * CHUNK_ROWS
        assert "".join(lines[start : start + CHUNK_ROWS]).encode() == part

    rows = read_csv(output)
    ids = [row["id"] for row in rows]
    assert ids == [str(i) for i in range(ROWS)]  # no row lost, none duplicated, order kept
    assert len({row["card"] for row in rows}) == ROWS

    decrypted = tmp_path / "big-dec.csv"
    done = run_bulk(
        evervault_local,
        [
            "decrypt",
            "--in",
            str(output),
            "--out",
            str(decrypted),
            "--columns",
            "card,ssn",
            "--chunk-rows",
            "5000",
            "--concurrency",
            "4",
        ],
    )
    assert done.returncode == 0, done.stderr
    assert read_csv(decrypted) == read_csv(source)


def test_state_of_other_arguments_is_discarded(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source, output = tmp_path / "s.csv", tmp_path / "s-enc.csv"
    write_csv(source, people(50))
    state = output.with_name(output.name + ".evbulk")
    state.mkdir()
    (state / "manifest.json").write_text(json.dumps({"fingerprint": "other", "completed": {"0": 50}}))
    (state / "part-00000000.csv").write_text("stale,row\n")
    done = run_bulk(
        evervault_local,
        ["encrypt", "--in", str(source), "--out", str(output), "--columns", "card", "--workers", "1"],
    )
    assert done.returncode == 0, done.stderr
    assert "stale" not in output.read_text()
    assert len(read_csv(output)) == 50


def test_killed_after_the_output_was_renamed(
    key_spec: KeySpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, output = tmp_path / "s.csv", tmp_path / "s-enc.csv"
    write_csv(source, people(120))
    real_remove = runner._remove_state

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_remove_state", killed)
    with pytest.raises(KeyboardInterrupt):
        encrypt_file(source, output, ["card"], key_spec, workers=1, chunk_rows=50)
    finished = output.read_bytes()
    monkeypatch.setattr(runner, "_remove_state", real_remove)
    result = encrypt_file(source, output, ["card"], key_spec, workers=1, chunk_rows=50)
    assert result.rows == 120 and result.resumed_chunks == 3
    assert output.read_bytes() == finished  # nothing redone
    assert not output.with_name(output.name + ".evbulk").exists()
