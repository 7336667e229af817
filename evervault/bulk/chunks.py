"""What happens to one chunk: encryption (in worker processes) and decryption (via the API).

:class:`EncryptChunk` is what is pickled and shipped to every worker process with each
chunk: the output format, the column names, the state directory and a
:class:`KeySpec` (public key material only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from evervault.bulk.columns import encrypt_table, transform_batch
from evervault.bulk.formats import Chunk, FileFormat, write_part
from evervault.bulk.jsonpaths import parse_paths, transform_document
from evervault.bulk.keyspec import KeySpec
from evervault.domain.errors import EvervaultError, InvalidArgumentError

DecryptMany = Callable[[list[Any]], list[Any]]


def part_path(state_dir: Path, index: int, file_format: FileFormat) -> Path:
    return state_dir / f"part-{index:08d}.{file_format.extension}"


@dataclass(frozen=True)
class EncryptChunk:
    """Encrypts one chunk's columns and writes its part file; returns the row count."""

    file_format: FileFormat
    columns: tuple[str, ...]
    spec: KeySpec
    state_dir: str

    def __call__(self, index: int, first_row: int, chunk: Chunk) -> int:
        if self.file_format is FileFormat.JSONL:
            encryptor, role = self.spec.encryptor(), self.spec.role
            output, rows = _map_lines(
                chunk,
                first_row,
                self.columns,
                lambda docs, paths: [
                    transform_document(doc, paths, lambda value: encryptor.encrypt(value, role))
                    for doc in docs
                ],
            )
        else:
            output, rows = encrypt_table(chunk, self.columns, self.spec), chunk.num_rows
        write_part(part_path(Path(self.state_dir), index, self.file_format), self.file_format, output)
        return int(rows)


@dataclass(frozen=True)
class DecryptChunk:
    """Decrypts one chunk's columns through the API (``decrypt_many``); runs on threads."""

    file_format: FileFormat
    columns: tuple[str, ...]
    decrypt_many: DecryptMany
    state_dir: str

    def __call__(self, index: int, first_row: int, chunk: Chunk) -> int:
        if self.file_format is FileFormat.JSONL:
            output, rows = _map_lines(chunk, first_row, self.columns, self._decrypt_documents)
        else:
            batches = [
                transform_batch(batch, self.columns, self._decrypt_array) for batch in chunk.to_batches()
            ]
            output = pa.Table.from_batches(batches) if batches else chunk
            rows = chunk.num_rows
        write_part(part_path(Path(self.state_dir), index, self.file_format), self.file_format, output)
        return int(rows)

    def _decrypt_array(self, array: pa.Array, name: str) -> pa.Array:
        values = array.to_pylist()
        present = [value for value in values if value is not None]
        if not present:
            return array
        plain = iter(self.decrypt_many(present))
        return pa.array([None if value is None else next(plain) for value in values])

    def _decrypt_documents(self, documents: list[Any], paths: Sequence[tuple[str, ...]]) -> list[Any]:
        found: list[Any] = []

        def record(value: Any) -> Any:
            found.append(value)
            return value

        for document in documents:
            transform_document(document, paths, record)
        if not found:
            return documents
        plain = iter(self.decrypt_many(found))
        return [transform_document(document, paths, lambda _value: next(plain)) for document in documents]


def _map_lines(
    lines: list[bytes],
    first_row: int,
    columns: Sequence[str],
    transform: Callable[[list[Any], Sequence[tuple[str, ...]]], list[Any]],
) -> tuple[list[bytes], int]:
    """Parse JSONL lines, transform the documents, serialise them again; blank lines kept."""
    paths = parse_paths(columns)
    documents: list[Any] = []
    positions: list[int] = []
    for offset, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except ValueError:
            raise InvalidArgumentError(
                f"Line {first_row + offset + 1} of the input is not valid JSON."
            ) from None
        positions.append(offset)
    try:
        transformed = transform(documents, paths)
    except EvervaultError as exc:
        raise type(exc)(f"Rows {first_row + 1}-{first_row + len(lines)}: {exc}") from None
    output = [line if line.endswith(b"\n") else line + b"\n" for line in lines]
    for offset, document in zip(positions, transformed, strict=True):
        output[offset] = _json_line(document)
    return output, len(lines)


def _json_line(document: Any) -> bytes:
    """One JSONL line: UTF-8 as written, or ``\\u`` escapes for text UTF-8 cannot hold."""
    try:
        return json.dumps(document, ensure_ascii=False).encode() + b"\n"
    except UnicodeEncodeError:  # a lone surrogate from a "\\ud800" escape in the input
        return json.dumps(document).encode() + b"\n"
