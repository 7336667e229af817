"""Chunking is deterministic and lossless whatever the reader's block sizes; chunk sizes follow
the input's row width; formats come from extensions."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.bulk.formats import (
    MAX_CHUNK_ROWS,
    MIN_CHUNK_ROWS,
    ChunkReader,
    FileFormat,
    auto_chunk_rows,
)
from evervault.domain.errors import InvalidArgumentError
from tests.bulk.conftest import people, write_csv, write_jsonl


def chunk_rows_of(path: Path, file_format: FileFormat, chunk_rows: int) -> list[int]:
    return [rows for _, _, rows in ChunkReader(path, file_format, chunk_rows)]


@settings(max_examples=25)
@given(rows=st.integers(1, 700), chunk_rows=st.integers(1, 300), row_group=st.integers(1, 250))
def test_parquet_chunks_are_exact_and_lossless(
    tmp_path_factory: pytest.TempPathFactory, rows: int, chunk_rows: int, row_group: int
) -> None:
    path = tmp_path_factory.mktemp("pq") / "t.parquet"
    table = pa.Table.from_pylist(people(rows))
    pq.write_table(table, path, row_group_size=row_group)
    chunks = list(ChunkReader(path, FileFormat.PARQUET, chunk_rows))
    assert [index for index, _, _ in chunks] == list(range(len(chunks)))
    assert all(count == chunk_rows for _, _, count in chunks[:-1]) and 1 <= chunks[-1][2] <= chunk_rows
    assert pa.concat_tables([chunk for _, chunk, _ in chunks]).to_pylist() == table.to_pylist()


def test_csv_and_jsonl_chunks(tmp_path: Path) -> None:
    csv_path, jsonl_path = tmp_path / "p.csv", tmp_path / "p.jsonl"
    write_csv(csv_path, people(1_001))
    write_jsonl(jsonl_path, people(1_001))
    assert chunk_rows_of(csv_path, FileFormat.CSV, 250) == [250, 250, 250, 250, 1]
    assert chunk_rows_of(jsonl_path, FileFormat.JSONL, 500) == [500, 500, 1]
    texts = pa.concat_tables([chunk for _, chunk, _ in ChunkReader(csv_path, FileFormat.CSV, 97)])
    assert texts.column("zip")[0].as_py() == "00000"  # CSV values stay text
    assert texts.num_rows == 1_001


def test_chunk_size_follows_row_width(tmp_path: Path) -> None:
    narrow, wide = tmp_path / "narrow.csv", tmp_path / "wide.csv"
    narrow.write_text("a\n" + "1\n" * 50_000)
    wide.write_text("a,b\n" + f"1,{'x' * 100_000}\n" * 30)
    assert auto_chunk_rows(narrow, FileFormat.CSV) == MAX_CHUNK_ROWS
    assert auto_chunk_rows(wide, FileFormat.CSV) == MIN_CHUNK_ROWS
    middle = tmp_path / "middle.csv"
    middle.write_text("a,b\n" + f"1,{'x' * 1000}\n" * 2000)
    assert auto_chunk_rows(middle, FileFormat.CSV) == auto_chunk_rows(middle, FileFormat.CSV) < MAX_CHUNK_ROWS


def test_format_detection(tmp_path: Path) -> None:
    assert FileFormat.detect(Path("a.CSV")) is FileFormat.CSV
    assert FileFormat.detect(Path("a.ndjson")) is FileFormat.JSONL
    assert FileFormat.detect(Path("a.pq")) is FileFormat.PARQUET
    assert FileFormat.detect(Path("a.txt"), "csv") is FileFormat.CSV
    with pytest.raises(InvalidArgumentError, match="--format"):
        FileFormat.detect(Path("a.json"))
    with pytest.raises(InvalidArgumentError):
        FileFormat.detect(Path("a.csv"), "xml")
    with pytest.raises(InvalidArgumentError):
        ChunkReader(tmp_path / "x.csv", FileFormat.CSV, 0)
