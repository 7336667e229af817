"""Streaming readers, part writers and assemblers for CSV, JSONL and Parquet.

Input is cut into deterministic chunks of ``chunk_rows`` rows (the last may be
shorter), whatever block sizes the readers use, so a re-run with the same input and
arguments produces the same chunk boundaries. Only a few chunks are ever in memory.

* CSV: every column is read as text (``"007"`` stays ``"007"``), so encrypted CSV
  values are string ev-strings, exactly as a ``csv`` + ``encrypt()`` loop makes them.
* JSONL: one JSON document per line; blank lines are kept as they are.
* Parquet: record batches with their Arrow types (numbers become number ev-strings).
"""

from __future__ import annotations

import enum
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from evervault.domain.errors import InvalidArgumentError

_CSV_BLOCK_BYTES = 256 << 10  # the streaming reader holds several blocks at once
TARGET_CHUNK_BYTES = 4 << 20
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 100, 20_000


class FileFormat(str, enum.Enum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"

    @property
    def extension(self) -> str:
        return self.value

    @classmethod
    def detect(cls, path: Path, explicit: str | None = None) -> FileFormat:
        """``explicit`` if given, else the format named by the file extension."""
        name = explicit if explicit is not None else _EXTENSIONS.get(path.suffix.lower())
        if name is None:
            raise InvalidArgumentError(
                f"Cannot tell the format of {path.name!r} from its extension; "
                "pass --format csv, jsonl or parquet."
            )
        try:
            return cls(name)
        except ValueError:
            raise InvalidArgumentError(f"Unknown format {name!r}; use csv, jsonl or parquet.") from None


_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

Chunk = Any  # a pa.Table (CSV, Parquet) or a list[bytes] of lines (JSONL)


@dataclass
class ReadProgress:
    """How far a reader is: bytes consumed of the input, and the row total if known."""

    total_bytes: int
    bytes_read: int = 0
    total_rows: int | None = None


class ChunkReader:
    """Yields ``(index, chunk, rows)`` for consecutive chunks of one input file."""

    def __init__(self, path: Path, file_format: FileFormat, chunk_rows: int) -> None:
        if chunk_rows < 1:
            raise InvalidArgumentError(f"chunk_rows must be at least 1, got {chunk_rows}.")
        self.path = path
        self.format = file_format
        self.chunk_rows = chunk_rows
        self.progress = ReadProgress(total_bytes=path.stat().st_size)

    def schema(self) -> pa.Schema | None:
        """The input's Arrow schema (CSV: all text; JSONL: none)."""
        if self.format is FileFormat.PARQUET:
            return pq.ParquetFile(self.path).schema_arrow
        if self.format is FileFormat.CSV:
            return _csv_text_schema(self.path)
        return None

    def __iter__(self) -> Iterator[tuple[int, Chunk, int]]:
        if self.format is FileFormat.JSONL:
            yield from self._jsonl_chunks()
        else:
            yield from self._arrow_chunks()

    def _jsonl_chunks(self) -> Iterator[tuple[int, Chunk, int]]:
        with self.path.open("rb") as source:
            index = 0
            lines: list[bytes] = []
            for line in source:
                lines.append(line)
                if len(lines) == self.chunk_rows:
                    self.progress.bytes_read = source.tell()
                    yield index, lines, len(lines)
                    index, lines = index + 1, []
            if lines:
                self.progress.bytes_read = source.tell()
                yield index, lines, len(lines)

    def _arrow_chunks(self) -> Iterator[tuple[int, Chunk, int]]:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        index = 0
        for batch in self._record_batches():
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= self.chunk_rows:
                table = pa.Table.from_batches(pending)
                chunk = table.slice(0, self.chunk_rows)
                rest = table.slice(self.chunk_rows)
                yield index, chunk, chunk.num_rows
                index += 1
                pending = rest.to_batches()
                pending_rows = rest.num_rows
        if pending_rows:
            table = pa.Table.from_batches(pending)
            yield index, table, table.num_rows

    def _record_batches(self) -> Iterator[pa.RecordBatch]:
        if self.format is FileFormat.PARQUET:
            parquet = pq.ParquetFile(self.path)
            self.progress.total_rows = parquet.metadata.num_rows
            yield from parquet.iter_batches(batch_size=self.chunk_rows)
            return
        schema = _csv_text_schema(self.path)
        with pa.OSFile(str(self.path), "r") as source:
            reader = pa_csv.open_csv(
                source,
                read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES, use_threads=False),
                convert_options=_csv_text_options(schema),
            )
            for batch in reader:
                self.progress.bytes_read = source.tell()
                yield batch


def _csv_text_schema(path: Path) -> pa.Schema:
    """The CSV's header as a schema of string columns (read from the first block only)."""
    with pa.OSFile(str(path), "r") as source:
        reader = pa_csv.open_csv(source, read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES))
        names = reader.schema.names
    return pa.schema([pa.field(name, pa.string()) for name in names])


def _csv_text_options(schema: pa.Schema) -> pa_csv.ConvertOptions:
    return pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in schema.names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def auto_chunk_rows(path: Path, file_format: FileFormat) -> int:
    """Rows per chunk for about :data:`TARGET_CHUNK_BYTES` of input, from the input alone.

    Memory per chunk in flight then stays the same for narrow and wide rows. The row size
    is taken from the first MiB (CSV, JSONL) or the first row group (Parquet), so the same
    input always gets the same chunk boundaries, which resuming relies on.
    """
    if file_format is FileFormat.PARQUET:
        metadata = pq.ParquetFile(path).metadata
        if metadata.num_row_groups == 0 or metadata.row_group(0).num_rows == 0:
            return MAX_CHUNK_ROWS
        group = metadata.row_group(0)
        row_bytes = max(1, int(group.total_byte_size) // int(group.num_rows))
    else:
        with path.open("rb") as source:
            head = source.read(1 << 20)
        row_bytes = max(1, len(head) // max(1, head.count(b"\n")))
    return max(MIN_CHUNK_ROWS, min(MAX_CHUNK_ROWS, TARGET_CHUNK_BYTES // row_bytes))


# --- parts --------------------------------------------------------------------------------------


def write_part(path: Path, file_format: FileFormat, data: Chunk) -> None:
    """Write one chunk's output to ``path`` atomically (temp file, fsync, rename)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
    try:
        with temp.open("wb") as sink:
            if file_format is FileFormat.CSV:
                pa_csv.write_csv(data, sink, write_options=pa_csv.WriteOptions(include_header=False))
            elif file_format is FileFormat.PARQUET:
                pq.write_table(data, sink)
            else:
                sink.writelines(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def assemble(parts: list[Path], file_format: FileFormat, sink: IO[bytes], schema: pa.Schema | None) -> None:
    """Concatenate the parts, in order, into ``sink`` as one file of ``file_format``.

    ``schema`` is the output's schema: the CSV header, or a Parquet file's schema when
    there are no rows at all.
    """
    if file_format is FileFormat.CSV:
        assert schema is not None
        header = pa.Table.from_batches([], schema=schema)
        pa_csv.write_csv(header, sink)
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink, 1 << 20)
    elif file_format is FileFormat.JSONL:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink, 1 << 20)
    else:
        _assemble_parquet(parts, sink, schema)


def _assemble_parquet(parts: list[Path], sink: IO[bytes], empty_schema: pa.Schema | None) -> None:
    writer: pq.ParquetWriter | None = None
    try:
        for part in parts:
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(sink, table.schema)
            writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)
        if writer is None:  # no rows at all: still a valid Parquet file with the schema
            assert empty_schema is not None
            writer = pq.ParquetWriter(sink, empty_schema)
    finally:
        if writer is not None:
            writer.close()
