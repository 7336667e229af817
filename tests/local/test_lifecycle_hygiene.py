"""Nothing secret left behind, nothing alarming logged: temporary key directories and disconnects."""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evervault.domain.errors import ConfigurationError
from evervault.local.runner import BackgroundEmulator, EmulatorOptions
from tests.local.raw_http import address_of
from tests.local.serve_process import REPO_ROOT, child_env

LOG_WAIT_SECONDS = 30.0


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``tempfile`` creates directories in this process, so leftovers can be seen."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_stop_deletes_the_temporary_data_directory_with_its_private_keys(private_tmp: Path) -> None:
    emulator = BackgroundEmulator(EmulatorOptions(relay_proxy=False))
    data_dir = Path(emulator.start().data_dir)
    assert data_dir.parent == private_tmp
    assert (data_dir / "app-key-secp256k1.pem").is_file()
    emulator.stop()
    assert not data_dir.exists()
    assert list(private_tmp.iterdir()) == []


def test_a_failed_start_deletes_the_temporary_data_directory(private_tmp: Path, taken_port: int) -> None:
    emulator = BackgroundEmulator(EmulatorOptions(port=taken_port, relay_proxy=False))
    with pytest.raises(ConfigurationError, match="Cannot listen"):
        emulator.start()
    assert list(private_tmp.iterdir()) == []


def test_a_given_data_directory_is_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "kept"
    with BackgroundEmulator(EmulatorOptions(data_dir=str(data_dir), relay_proxy=False)):
        pass
    assert (data_dir / "state.json").is_file()


def test_serve_that_fails_to_start_leaves_no_directory(tmp_path: Path, taken_port: int) -> None:
    env = {**child_env(), "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "evervault.local", "serve", "--port", str(taken_port)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Cannot listen" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content_type", [b"application/json", b"application/octet-stream"])
def test_a_client_disconnecting_mid_body_is_one_info_line_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content_type: bytes
) -> None:
    caplog.set_level(logging.DEBUG, logger="evervault.local")
    with BackgroundEmulator(EmulatorOptions(data_dir=str(tmp_path), relay_proxy=False)) as info:
        # Valid credentials: they are checked before the body is read.
        basic = base64.b64encode(f"{info.app_id}:{info.api_key}".encode())
        head = (
            b"POST /decrypt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic "
            + basic
            + b"\r\nContent-Type: "
            + content_type
            + b"\r\nContent-Length: 100000\r\n\r\n"
        )
        with socket.create_connection(address_of(info.api_url), timeout=30) as sock:
            sock.sendall(head + b'{"data": "')
            time.sleep(0.2)  # let the handler start reading the body
        deadline = time.monotonic() + LOG_WAIT_SECONDS
        while not _disconnect_records(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(_disconnect_records(caplog)) == 1
    for record in caplog.records:
        assert record.levelno < logging.WARNING, record.getMessage()
        assert record.exc_info is None, record.getMessage()
    assert info.api_key not in caplog.text


def _disconnect_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "disconnected" in record.getMessage()]
