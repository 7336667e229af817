"""On a terminal, ``evervault bulk encrypt`` draws a progress bar (rows, rows/s, ETA) and a
summary on stderr; the quiet non-terminal case is covered by the round-trip tests."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import bulk_command, cli_environment, people, write_csv


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_progress_bar_on_a_terminal(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(source, people(3_000))
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0x0
    command = bulk_command(
        "encrypt",
        "--in",
        str(source),
        "--out",
        str(output),
        "--columns",
        "card",
        "--workers",
        "1",
        "--chunk-rows",
        "500",
    )
    run = subprocess.Popen(
        command, env=cli_environment(evervault_local), stdout=subprocess.DEVNULL, stderr=terminal
    )
    os.close(terminal)
    shown = read_all(controller).decode(errors="replace")
    os.close(controller)
    assert run.wait(timeout=240) == 0, shown
    assert "rows/s" in shown  # tqdm's rate with unit " rows"
    assert "3.00k/3.00k" in shown or "3000/3000" in shown  # the total is known by the end
    assert "encrypted 3000 rows" in shown
    assert evervault_local.api_key not in shown
