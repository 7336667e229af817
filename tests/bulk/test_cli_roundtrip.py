"""``evervault bulk encrypt`` then ``evervault bulk decrypt`` through the real emulator, in real
subprocesses with worker processes, for CSV, JSONL and Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evervault.local.pytest_plugin import LocalEvervault
from tests.bulk.conftest import people, read_csv, read_jsonl, run_bulk, write_csv, write_jsonl

ROWS = 1_250
CHUNK = ["--chunk-rows", "300"]  # several chunks, the last one short


def is_ev(value: object) -> bool:
    return isinstance(value, str) and value.startswith("ev:") and value.endswith(":$")


def encrypt_and_decrypt(
    local: LocalEvervault, source: Path, columns: str, workers: str = "2"
) -> tuple[Path, Path]:
    encrypted, decrypted = source.with_name("enc" + source.suffix), source.with_name("dec" + source.suffix)
    done = run_bulk(
        local,
        [
            "encrypt",
            "--in",
            str(source),
            "--out",
            str(encrypted),
            "--columns",
            columns,
            "--workers",
            workers,
            *CHUNK,
        ],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # quiet when not on a terminal
    assert not encrypted.with_name(encrypted.name + ".evbulk").exists()  # state removed
    done = run_bulk(
        local, ["decrypt", "--in", str(encrypted), "--out", str(decrypted), "--columns", columns, *CHUNK]
    )
    assert done.returncode == 0, done.stderr
    return encrypted, decrypted


def test_csv_round_trip(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    write_csv(source, people(ROWS))
    encrypted, decrypted = encrypt_and_decrypt(evervault_local, source, "card,ssn,zip")
    original, sealed = read_csv(source), read_csv(encrypted)
    assert len(sealed) == ROWS
    for before, after in zip(original, sealed, strict=True):
        assert all(is_ev(after[name]) for name in ("card", "ssn", "zip"))
        assert {k: v for k, v in after.items() if k not in ("card", "ssn", "zip")} == {
            k: v for k, v in before.items() if k not in ("card", "ssn", "zip")
        }
    # every encrypted value decrypts to the original text (leading zeros kept: "0042")
    assert read_csv(decrypted) == original


def test_jsonl_round_trip_with_json_paths(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    write_jsonl(source, people(ROWS))
    encrypted, decrypted = encrypt_and_decrypt(
        evervault_local, source, "user.card,score,active,note,missing.path"
    )
    original, sealed = read_jsonl(source), read_jsonl(encrypted)
    assert len(sealed) == ROWS
    for before, after in zip(original, sealed, strict=True):
        assert (
            is_ev(after["user"]["card"]) and ":number:" in after["score"] and ":boolean:" in after["active"]
        )
        assert after["note"] is None  # null stays null
        assert after["user"]["name"] == before["user"]["name"] and after["id"] == before["id"]
    assert read_jsonl(decrypted) == original


def test_parquet_round_trip_keeps_types(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source = tmp_path / "people.parquet"
    rows = people(ROWS)
    for i, row in enumerate(rows):
        row["card"] = None if i % 7 == 0 else row["card"]
        row["address"] = {"city": f"City {i}", "postcode": f"P{i}"}
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, source, row_group_size=400)
    encrypted, decrypted = encrypt_and_decrypt(
        evervault_local, source, "card,id,score,active,address.postcode"
    )
    sealed = pq.read_table(encrypted)
    assert sealed.num_rows == ROWS
    for name in ("name", "ssn", "zip"):
        assert sealed.column(name).equals(table.column(name))
    assert sealed.column("card").null_count == table.column("card").null_count
    first = sealed.slice(1, 1).to_pylist()[0]
    assert (
        ":number:" in first["id"] and ":boolean:" in first["active"] and is_ev(first["address"]["postcode"])
    )
    assert first["address"]["city"] == "City 1"
    assert pq.read_table(decrypted).to_pylist() == table.to_pylist()


def test_one_worker_and_a_role(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source = tmp_path / "small.csv"
    write_csv(source, people(40))
    encrypted = tmp_path / "small-enc.csv"
    done = run_bulk(
        evervault_local,
        [
            "encrypt",
            "--in",
            str(source),
            "--out",
            str(encrypted),
            "--columns",
            "card",
            "--workers",
            "1",
            "--role",
            "billing",
        ],
    )
    assert done.returncode == 0, done.stderr
    cards = [row["card"] for row in read_csv(encrypted)]
    assert evervault_local.client.decrypt(cards) == [row["card"] for row in read_csv(source)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--columns", "nope"], "not in the input"),
        (["--columns", "card", "--workers", "0"], "--workers"),
        (["--columns", "card", "--role", "Bad Role"], "role"),
        (["--columns", "card", "--format", "xml"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    evervault_local: LocalEvervault, tmp_path: Path, arguments: list[str], message: str
) -> None:
    source = tmp_path / "small.csv"
    write_csv(source, people(3))
    done = run_bulk(
        evervault_local, ["encrypt", "--in", str(source), "--out", str(tmp_path / "o.csv"), *arguments]
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert evervault_local.api_key not in done.stderr and "Traceback" not in done.stderr


def test_unknown_extension_and_missing_input(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    odd = tmp_path / "data.txt"
    odd.write_text("a\n1\n")
    done = run_bulk(
        evervault_local, ["encrypt", "--in", str(odd), "--out", str(tmp_path / "o.txt"), "--columns", "a"]
    )
    assert done.returncode == 2 and "--format" in done.stderr
    done = run_bulk(
        evervault_local,
        ["encrypt", "--in", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv"), "--columns", "a"],
    )
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert json.dumps(done.stderr).count("Traceback") == 0


def test_a_bad_line_in_a_worker_is_one_error_line(evervault_local: LocalEvervault, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"a": "x"}\n{"a": "y"}\nnot json\n')
    done = run_bulk(
        evervault_local,
        [
            "encrypt",
            "--in",
            str(source),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--columns",
            "a",
            "--workers",
            "2",
            "--chunk-rows",
            "1",
        ],
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: Line 3 of the input is not valid JSON."
    assert not (tmp_path / "o.jsonl").exists()
