"""Fixtures of the bulk tests: a key spec for the session emulator, generated input files,
and the ``evervault bulk`` command run in a real subprocess against the emulator."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyarrow", reason="the bulk extra (pyarrow) is not installed")

from evervault.bulk import KeySpec
from evervault.local.pytest_plugin import LocalEvervault

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def key_spec(evervault_local: LocalEvervault) -> KeySpec:
    return KeySpec.from_client(evervault_local.client)


def cli_environment(local: LocalEvervault) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EV_")}
    env.update(local.environment)
    env["EV_APP_ID"] = local.app_id
    env["EV_API_KEY"] = local.api_key
    env["PYTHONPATH"] = str(REPO)
    return env


def bulk_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "evervault", "bulk", *arguments]


def run_bulk(
    local: LocalEvervault, arguments: Sequence[str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bulk_command(*arguments),
        env=cli_environment(local),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Deterministic rows with strings, numbers, booleans and awkward text."""
    rows = []
    for i in range(start, start + count):
        rows.append(
            {
                "id": i,
                "name": f'Person {i}, "quoted" é',
                "card": f"{4242424242420000 + i}",
                "ssn": f"{i:09d}",
                "zip": f"0{i % 1000:04d}",
                "score": i * 0.5,
                "active": i % 3 == 0,
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.DictWriter(sink, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as sink:
        for row in rows:
            nested = {
                "id": row["id"],
                "user": {"name": row["name"], "card": row["card"]},
                "score": row["score"],
                "active": row["active"],
                "note": None,
            }
            sink.write(json.dumps(nested) + "\n")


def read_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def secret_material(local: LocalEvervault) -> list[bytes]:
    """Byte strings no worker may ever receive: the API key, its secret part, and the app's
    private key scalars (from the emulator's data directory)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    secrets = [local.api_key.encode(), local.api_key.split(":")[-1].encode(), b"PRIVATE KEY"]
    for pem in Path(local.data_dir).glob("app-key-*.pem"):
        key = load_pem_private_key(pem.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        secrets.append(key.private_numbers().private_value.to_bytes(32, "big"))
    assert len(secrets) == 5
    return secrets
