"""Resumable, bounded-memory bulk jobs over one file: chunks, part files, manifest, assembly.

A job keeps its state next to the output, in ``<output>.evbulk/``:

* ``part-NNNNNNNN.<ext>``: one chunk's finished output, written atomically (temp file,
  fsync, rename) by whoever processed the chunk;
* ``manifest.json``: the job's fingerprint (SHA-256 of the input bytes and of every
  argument that changes the output) and the chunks whose part is complete, rewritten
  atomically by the parent after each chunk.

A run killed at any point and started again with the same arguments re-reads the input
(cheap next to encryption), skips every chunk the manifest lists whose part exists, and
processes the rest. The output is assembled from the parts in chunk order into a temp
file that is renamed over ``output`` in one step; only then are parts and manifest
removed. A state directory from a different input or different arguments is discarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa

from evervault.bulk.chunks import part_path
from evervault.bulk.formats import ChunkReader, FileFormat, ReadProgress, assemble
from evervault.domain.errors import InvalidArgumentError

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"


class ChunkProcessor(Protocol):
    def __call__(self, index: int, first_row: int, chunk: Any) -> int: ...


@dataclass(frozen=True)
class BulkJob:
    """One file in, one file out; ``identity`` is everything else that changes the output."""

    input_path: Path
    output_path: Path
    file_format: FileFormat
    columns: tuple[str, ...]
    chunk_rows: int
    identity: Mapping[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.output_path.with_name(self.output_path.name + ".evbulk")

    def fingerprint(self) -> str:
        description = {
            "manifest_version": MANIFEST_VERSION,
            "input_sha256": _file_sha256(self.input_path),
            "input_size": self.input_path.stat().st_size,
            "format": self.file_format.value,
            "columns": list(self.columns),
            "chunk_rows": self.chunk_rows,
            "identity": dict(self.identity),
        }
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


@dataclass
class JobResult:
    rows: int
    chunks: int
    resumed_chunks: int


class Progress(Protocol):
    def advance(self, rows: int, read: ReadProgress) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def advance(self, rows: int, read: ReadProgress) -> None:
        return

    def close(self) -> None:
        return


class Manifest:
    """The completed chunks of one job, persisted atomically after every change."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.completed: dict[int, int] = {}
        self.total_chunks: int | None = None
        self.assembled = False  # the output is complete; only clean-up was left to do

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> Manifest | None:
        """The saved manifest if it belongs to this job, else ``None``."""
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(body, dict) or body.get("fingerprint") != fingerprint:
            return None
        manifest = cls(path, fingerprint)
        manifest.completed = {int(k): int(v) for k, v in body.get("completed", {}).items()}
        total = body.get("total_chunks")
        manifest.total_chunks = total if isinstance(total, int) else None
        manifest.assembled = body.get("assembled") is True
        return manifest

    def save(self) -> None:
        body = {
            "version": MANIFEST_VERSION,
            "fingerprint": self.fingerprint,
            "completed": {str(k): v for k, v in sorted(self.completed.items())},
            "total_chunks": self.total_chunks,
            "assembled": self.assembled,
        }
        _write_atomically(self.path, json.dumps(body).encode())


def run_job(
    job: BulkJob,
    processor: ChunkProcessor,
    executor: Executor,
    *,
    max_in_flight: int,
    progress: Progress | None = None,
    output_schema: pa.Schema | None = None,
    notice: Callable[[str], None] = lambda message: None,
) -> JobResult:
    """Run ``job`` (or finish an interrupted run of it) and assemble the output atomically.

    ``processor(index, first_row, chunk)`` writes the part of one chunk; it runs on
    ``executor`` with at most ``max_in_flight`` chunks submitted at once, which bounds
    memory. ``output_schema`` is needed for CSV (the header) and an empty Parquet input.
    """
    if job.output_path.resolve() == job.input_path.resolve():
        raise InvalidArgumentError("--out must be a different file from --in.")
    progress = progress or NoProgress()
    manifest = _open_state(job, notice)
    if manifest.assembled and manifest.total_chunks is not None and job.output_path.exists():
        _remove_state(job, manifest)  # killed after the output was renamed into place
        return JobResult(sum(manifest.completed.values()), manifest.total_chunks, manifest.total_chunks)
    reader = ChunkReader(job.input_path, job.file_format, job.chunk_rows)
    resumed = 0
    pending: dict[Future[int], int] = {}
    try:
        total_chunks = 0
        for index, chunk, rows in reader:
            total_chunks = index + 1
            if (
                manifest.completed.get(index) == rows
                and part_path(job.state_dir, index, job.file_format).exists()
            ):
                resumed += 1
                progress.advance(rows, reader.progress)
                continue
            while len(pending) >= max_in_flight:
                _collect(pending, manifest, progress, reader.progress, wait_for_one=True)
            pending[executor.submit(processor, index, index * job.chunk_rows, chunk)] = index
            _collect(pending, manifest, progress, reader.progress, wait_for_one=False)
        while pending:
            _collect(pending, manifest, progress, reader.progress, wait_for_one=True)
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    finally:
        progress.close()
    manifest.total_chunks = total_chunks
    manifest.save()
    _assemble_output(job, manifest, output_schema)
    return JobResult(rows=sum(manifest.completed.values()), chunks=total_chunks, resumed_chunks=resumed)


def _collect(
    pending: dict[Future[int], int],
    manifest: Manifest,
    progress: Progress,
    read: ReadProgress,
    *,
    wait_for_one: bool,
) -> None:
    done, _ = wait(list(pending), timeout=None if wait_for_one else 0, return_when=FIRST_COMPLETED)
    for future in done:
        index = pending.pop(future)
        rows = future.result()  # a worker's error surfaces here, after earlier chunks are saved
        manifest.completed[index] = rows
        manifest.save()
        progress.advance(rows, read)


def _open_state(job: BulkJob, notice: Callable[[str], None]) -> Manifest:
    fingerprint = job.fingerprint()
    manifest_path = job.state_dir / MANIFEST_NAME
    if job.state_dir.exists():
        manifest = Manifest.load(manifest_path, fingerprint)
        if manifest is not None:
            if manifest.completed:
                notice(f"resuming: {len(manifest.completed)} chunk(s) already done")
            return manifest
        notice("the saved state of an earlier run is for other input or arguments; starting over")
        shutil.rmtree(job.state_dir)
    job.state_dir.mkdir(parents=True)
    manifest = Manifest(manifest_path, fingerprint)
    manifest.save()
    return manifest


def _assemble_output(job: BulkJob, manifest: Manifest, output_schema: pa.Schema | None) -> None:
    assert manifest.total_chunks is not None
    parts = [part_path(job.state_dir, index, job.file_format) for index in range(manifest.total_chunks)]
    missing = [part.name for part in parts if not part.exists()]
    if missing:  # only possible if someone removed files from the state directory
        raise InvalidArgumentError(
            f"Part files {missing[:3]} are missing; delete {job.state_dir} and run again."
        )
    with _atomic_output(job.output_path) as sink:
        assemble(parts, job.file_format, sink, output_schema)
    manifest.assembled = True
    manifest.save()
    _remove_state(job, manifest)


def _remove_state(job: BulkJob, manifest: Manifest) -> None:
    """Parts first, the manifest last: a kill in between leaves a state a re-run understands."""
    for path in job.state_dir.iterdir():
        if path != manifest.path:
            path.unlink()
    manifest.path.unlink()
    job.state_dir.rmdir()


@contextmanager
def _atomic_output(path: Path) -> Iterator[IO[bytes]]:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp, path)
        _fsync_directory(path.parent)
    finally:
        temp.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    with _atomic_output(path) as sink:
        sink.write(data)


def _fsync_directory(directory: Path) -> None:
    if sys.platform == "win32":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
