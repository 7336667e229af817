"""Worker processes get the app's public key and nothing secret: not the API key (neither in
what is pickled to them nor in their environment), and each builds its own session key."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pyarrow as pa
import pytest

from evervault.bulk import KeySpec, encrypt_file
from evervault.bulk.chunks import EncryptChunk
from evervault.bulk.files import _encrypt_executor
from evervault.bulk.formats import FileFormat
from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import people, read_csv, secret_material, write_csv


def read_environment(name: str) -> str | None:
    return os.environ.get(name)


def session_of(spec: KeySpec) -> tuple[int, bytes]:
    time.sleep(0.3)  # keep this worker busy so the other one takes the next task
    return os.getpid(), spec.encryptor().current_session().ephemeral_public_key


def test_what_is_pickled_to_workers_holds_no_secret(
    evervault_local: LocalEvervault, key_spec: KeySpec
) -> None:
    processor = EncryptChunk(FileFormat.CSV, ("card",), key_spec.with_role("billing"), "/tmp/state")
    task = pickle.dumps((processor, 0, 0, pa.Table.from_pylist(people(3))))
    for secret in secret_material(evervault_local):  # API key, its secret part, private keys
        assert secret not in task
    assert key_spec.public_key in task  # what workers need is there


def test_workers_start_without_the_api_key_in_their_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EV_API_KEY", "ev:key:1:secret-that-must-not-reach-workers")
    with _encrypt_executor(2) as executor:
        seen = [executor.submit(read_environment, "EV_API_KEY").result(timeout=120) for _ in range(4)]
    assert seen == [None] * 4
    assert os.environ["EV_API_KEY"] == "ev:key:1:secret-that-must-not-reach-workers"  # restored here


def test_each_worker_process_has_its_own_session_key(key_spec: KeySpec) -> None:
    with _encrypt_executor(2) as executor:
        sessions = dict(
            future.result(timeout=120) for future in [executor.submit(session_of, key_spec) for _ in range(6)]
        )
    parent = key_spec.encryptor().current_session().ephemeral_public_key
    assert os.getpid() not in sessions
    assert parent not in sessions.values()
    assert len(set(sessions.values())) == len(sessions)  # one key per process, none shared


def test_encrypted_file_decrypts_with_several_workers(
    evervault_local: LocalEvervault, key_spec: KeySpec, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(source, people(2_000))
    encrypt_file(source, output, ["card"], key_spec, workers=2, chunk_rows=250)
    cards = [row["card"] for row in read_csv(output)]
    assert evervault_local.client.decrypt(cards[::40]) == [row["card"] for row in people(2_000)][::40]
