"""Whole-file bulk encryption and decryption: the functions behind ``evervault bulk``.

Encryption runs in worker processes started with ``spawn`` (never ``fork``: a forked
child would inherit the parent's memory, API key included). Each worker receives only
what :class:`~evervault.bulk.chunks.EncryptChunk` holds - public key material - and
builds its own session key. ``EV_API_KEY`` is taken out of the environment the workers
start with. Decryption goes through the API on a bounded pool of threads.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from evervault.bulk.chunks import DecryptChunk, DecryptMany, EncryptChunk
from evervault.bulk.columns import encrypted_schema, parse_columns, resolve_path
from evervault.bulk.formats import ChunkReader, FileFormat, ReadProgress, auto_chunk_rows
from evervault.bulk.jsonpaths import parse_paths
from evervault.bulk.keyspec import KeySpec
from evervault.bulk.runner import BulkJob, JobResult, Progress, run_job
from evervault.domain.errors import InvalidArgumentError

SECRET_ENVIRONMENT_VARIABLES = ("EV_API_KEY",)
DECRYPT_BATCH_VALUES = 500
_T = TypeVar("_T")


def default_workers() -> int:
    """All the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def encrypt_file(
    input_path: str | Path,
    output_path: str | Path,
    columns: str | Sequence[str],
    spec: KeySpec,
    *,
    workers: int | None = None,
    file_format: str | None = None,
    chunk_rows: int | None = None,
    progress: bool | Progress = False,
    notice: Callable[[str], None] = lambda message: None,
) -> JobResult:
    """Encrypt ``columns`` of a CSV, JSONL or Parquet file into a file of the same format.

    Resumable: after an interruption, the same call finishes the job (see
    :mod:`evervault.bulk.runner`). ``workers`` defaults to all cores; 1 runs in-process.
    ``chunk_rows`` defaults to about 4 MiB of input per chunk (see :func:`auto_chunk_rows`).
    """
    job, schema = _job(
        input_path, output_path, columns, file_format, chunk_rows, "encrypt", _spec_identity(spec)
    )
    output_schema = encrypted_schema(schema, job.columns) if schema is not None else None
    processor = EncryptChunk(job.file_format, job.columns, spec, str(job.state_dir))
    count = _worker_count(workers)
    with _encrypt_executor(count) as executor:
        return run_job(
            job,
            processor,
            executor,
            max_in_flight=2 * count,
            progress=_progress(progress),
            output_schema=output_schema,
            notice=notice,
        )


def decrypt_file(
    input_path: str | Path,
    output_path: str | Path,
    columns: str | Sequence[str],
    decrypt: Callable[[Any], Any],
    *,
    app_id: str,
    concurrency: int = 4,
    file_format: str | None = None,
    chunk_rows: int | None = None,
    batch_values: int = DECRYPT_BATCH_VALUES,
    progress: bool | Progress = False,
    notice: Callable[[str], None] = lambda message: None,
) -> JobResult:
    """Decrypt ``columns`` through the API: ``decrypt`` is ``Client.decrypt`` (with retries).

    At most ``concurrency`` requests are in flight, each with at most ``batch_values`` values.
    """
    if concurrency < 1 or batch_values < 1:
        raise InvalidArgumentError("concurrency and batch_values must be at least 1.")
    job, schema = _job(
        input_path, output_path, columns, file_format, chunk_rows, "decrypt", {"app_id": app_id}
    )
    processor = DecryptChunk(
        job.file_format, job.columns, _batched(decrypt, batch_values), str(job.state_dir)
    )
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="evervault-bulk") as executor:
        return run_job(
            job,
            processor,
            executor,
            max_in_flight=2 * concurrency,
            progress=_progress(progress),
            output_schema=schema,
            notice=notice,
        )


def _job(
    input_path: str | Path,
    output_path: str | Path,
    columns: str | Sequence[str],
    file_format: str | None,
    chunk_rows: int | None,
    operation: str,
    identity: dict[str, Any],
) -> tuple[BulkJob, pa.Schema | None]:
    source, target = Path(input_path), Path(output_path)
    if not source.is_file():
        raise InvalidArgumentError(f"The input file {str(source)!r} does not exist or is not a file.")
    names = parse_columns(columns)
    fmt = FileFormat.detect(source, file_format)
    if chunk_rows is None:
        chunk_rows = auto_chunk_rows(source, fmt)
    reader = ChunkReader(source, fmt, chunk_rows)
    schema = reader.schema()
    if schema is not None:
        for name in names:
            resolve_path(schema, name)
    else:
        parse_paths(names)
    job = BulkJob(source, target, fmt, names, chunk_rows, {"operation": operation, **identity})
    return job, schema


def _spec_identity(spec: KeySpec) -> dict[str, Any]:
    return {"app_id": spec.app_id, "curve": spec.curve.value, "key": spec.public_key.hex(), "role": spec.role}


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if not isinstance(workers, int) or workers < 1:
        raise InvalidArgumentError(f"--workers must be a positive integer, got {workers!r}.")
    return workers


@contextmanager
def _encrypt_executor(workers: int) -> Iterator[Executor]:
    if workers == 1:
        yield InlineExecutor()
        return
    with _secrets_removed_from_environment():
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        for _ in range(workers):  # start every worker now: imports overlap the input's hashing
            executor.submit(_warm_up)
        try:
            yield executor
        finally:
            executor.shutdown(wait=True, cancel_futures=True)


def _warm_up() -> None:
    """Runs first in each worker: loads what encrypting a chunk needs (pyarrow, the SDK)."""
    import evervault.bulk.chunks  # noqa: F401

    pa.array(["warm-up"])  # pyarrow's first list conversion imports its pandas shim (~1 s)


@contextmanager
def _secrets_removed_from_environment() -> Iterator[None]:
    """Spawned workers inherit ``os.environ``: keep the API key out of it while they start."""
    saved = {name: os.environ.pop(name) for name in SECRET_ENVIRONMENT_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


class InlineExecutor(Executor):
    """Runs each task at submission, in this process (``--workers 1``)."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def _batched(decrypt: Callable[[Any], Any], size: int) -> DecryptMany:
    def decrypt_many(values: list[Any]) -> list[Any]:
        plain: list[Any] = []
        for start in range(0, len(values), size):
            batch = values[start : start + size]
            result = decrypt(batch)
            if not isinstance(result, list) or len(result) != len(batch):
                raise InvalidArgumentError("The decrypt API answered a different number of values.")
            plain.extend(result)
        return plain

    return decrypt_many


def _progress(progress: bool | Progress) -> Progress | None:
    if progress is True:
        return TerminalProgress() if sys.stderr.isatty() else None
    if progress is False:
        return None
    return progress


class TerminalProgress:
    """A tqdm bar on stderr: rows, rows/s and ETA (the row total is estimated from bytes read)."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=None, unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True)
        self._rows = 0

    def advance(self, rows: int, read: ReadProgress) -> None:
        self._rows += rows
        if read.total_rows is not None:
            total = read.total_rows
        elif read.bytes_read:
            total = max(self._rows, round(self._rows * read.total_bytes / read.bytes_read))
        else:
            total = None
        if total is not None and total != self._bar.total:
            self._bar.total = total
        self._bar.update(rows)

    def close(self) -> None:
        self._bar.close()
