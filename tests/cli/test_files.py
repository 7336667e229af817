"""``evervault encrypt|decrypt --in FILE --out FILE``: streamed, byte-identical, atomic outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evervault.local.pytest_plugin import LocalEvervault
from tests.cli.conftest import CliRunner, console_script

MIB = 1024 * 1024
SIZE = 3 * MIB + 4321  # several 1 MiB chunks, the last one partial


@pytest.fixture
def original(tmp_path: Path) -> Path:
    path = tmp_path / "original.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def test_a_file_round_trips_byte_identical_through_the_console_script(
    cli: CliRunner, original: Path, tmp_path: Path, evervault_local: LocalEvervault
) -> None:
    encrypted, decrypted = tmp_path / "original.evenc", tmp_path / "decrypted.bin"

    outcome = cli("encrypt", "--in", str(original), "--out", str(encrypted))
    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, "", "")  # quiet: not a terminal
    assert encrypted.read_bytes().startswith(b"%EVENC")
    # The SDK decrypts what the command wrote...
    assert evervault_local.client.decrypt(encrypted.read_bytes()) == original.read_bytes()

    outcome = cli("decrypt", "--in", str(encrypted), "--out", str(decrypted))
    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, "", "")
    assert decrypted.read_bytes() == original.read_bytes()


def test_json_reports_paths_and_sizes(in_process: CliRunner, original: Path, tmp_path: Path) -> None:
    encrypted, decrypted = tmp_path / "x.evenc", tmp_path / "x.bin"
    outcome = in_process("encrypt", "--in", str(original), "--out", str(encrypted), "--json")
    assert outcome.code == 0, outcome.stderr
    assert json.loads(outcome.stdout) == {
        "in": str(original),
        "out": str(encrypted),
        "bytes_in": SIZE,
        "bytes_out": encrypted.stat().st_size,
    }
    outcome = in_process("decrypt", "--in", str(encrypted), "--out", str(decrypted), "--json")
    assert json.loads(outcome.stdout)["bytes_out"] == SIZE == decrypted.stat().st_size


def test_standard_streams_work_for_both_directions(cli: CliRunner, original: Path) -> None:
    encrypted = cli("encrypt", "--in", "-", "--out", "-", stdin=original.read_bytes())
    assert (encrypted.code, encrypted.stderr) == (0, "")
    decrypted = cli("decrypt", "--in", "-", "--out", "-", stdin=encrypted.stdout_bytes)
    assert (decrypted.code, decrypted.stderr) == (0, "")
    assert decrypted.stdout_bytes == original.read_bytes()


def test_a_tampered_file_fails_and_leaves_no_output(
    in_process: CliRunner, original: Path, tmp_path: Path
) -> None:
    encrypted, decrypted = tmp_path / "t.evenc", tmp_path / "t.bin"
    assert in_process("encrypt", "--in", str(original), "--out", str(encrypted)).code == 0
    data = bytearray(encrypted.read_bytes())
    data[len(data) // 2] ^= 0x01
    encrypted.write_bytes(bytes(data))

    outcome = in_process("decrypt", "--in", str(encrypted), "--out", str(decrypted))
    assert outcome.code == 1 and outcome.stdout == ""
    assert outcome.stderr.startswith("error: ") and outcome.stderr.count("\n") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["original.bin", "t.evenc"]


def test_a_failed_decrypt_keeps_an_existing_output_file(in_process: CliRunner, tmp_path: Path) -> None:
    garbage, existing = tmp_path / "garbage.evenc", tmp_path / "existing.txt"
    garbage.write_bytes(b"%EVENC" + os.urandom(200))
    existing.write_bytes(b"keep me")
    outcome = in_process("decrypt", "--in", str(garbage), "--out", str(existing))
    assert outcome.code == 1
    assert existing.read_bytes() == b"keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["existing.txt", "garbage.evenc"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--out", "SAME"), "--in and --out are the same file"),
        ((), "--in FILE needs --out FILE"),
        (("--out", "x", "--role", "r"), "files cannot carry a data role"),
        (("--out", "x", "value"), "--in FILE replaces VALUE"),
        (("--out", "-", "--json"), "--json prints a summary"),
    ],
)
def test_file_usage_errors(
    in_process: CliRunner, original: Path, extra: tuple[str, ...], message: str
) -> None:
    arguments = [str(original) if item == "SAME" else item for item in extra]
    outcome = in_process("encrypt", "--in", str(original), *arguments)
    assert outcome.code == 2 and outcome.stdout == ""
    assert outcome.stderr.startswith(f"error: {message}")


def test_a_missing_input_file_is_a_usage_error(in_process: CliRunner, tmp_path: Path) -> None:
    outcome = in_process("decrypt", "--in", str(tmp_path / "absent"), "--out", str(tmp_path / "out"))
    assert outcome.code == 2
    assert outcome.stderr.startswith("error: cannot read ") and "No such file" in outcome.stderr
    assert not (tmp_path / "out").exists()


def _peak_rss_bytes(arguments: list[str], env: dict[str, str]) -> int:
    """Run the console script and return its peak resident memory (Linux ``ru_maxrss`` is KiB)."""
    process = subprocess.Popen(
        [console_script(), *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return usage.ru_maxrss * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss units differ off Linux")
def test_memory_stays_flat_whatever_the_file_size(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A 64 MiB file costs the command about what a 1 KiB one does: it is never held whole."""
    peaks = {}
    for name, size in (("small", 1024), ("large", 64 * MIB)):
        plain, encrypted, decrypted = (tmp_path / f"{name}{suffix}" for suffix in (".bin", ".evenc", ".out"))
        with plain.open("wb") as handle:
            for _ in range(max(1, size // MIB)):
                handle.write(os.urandom(min(size, MIB)))
        encrypt_peak = _peak_rss_bytes(["encrypt", "--in", str(plain), "--out", str(encrypted)], cli_env)
        decrypt_peak = _peak_rss_bytes(["decrypt", "--in", str(encrypted), "--out", str(decrypted)], cli_env)
        assert decrypted.stat().st_size == plain.stat().st_size
        peaks[name] = (encrypt_peak, decrypt_peak)
    for small, large in zip(peaks["small"], peaks["large"], strict=True):
        assert large - small < 24 * MIB, peaks


def test_an_unwritable_output_is_reported_in_one_line(
    in_process: CliRunner, original: Path, tmp_path: Path
) -> None:
    outcome = in_process("encrypt", "--in", str(original), "--out", str(tmp_path / "no-dir" / "x.evenc"))
    assert outcome.code == 2 and outcome.stderr.startswith("error: cannot write ")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_a_one_line_failure(cli_env: dict[str, str], original: Path) -> None:
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [console_script(), "encrypt", "--in", str(original), "--out", "-"],
            stdout=full,
            stderr=subprocess.PIPE,
            env=cli_env,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.decode() == "error: No space left on device\n"
