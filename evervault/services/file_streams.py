"""Streaming file encryption for the clients: paths or binary file objects in and out.

The domain's :meth:`~evervault.domain.encryption.Encryptor.encrypt_file_stream`
works on file objects; this module opens the paths a caller may pass instead, and
checks arguments before anything is fetched, opened or truncated.

Files the caller passes as objects stay the caller's: they are neither closed nor
rewound. A destination *path* is created (or truncated) and, if encryption fails
part-way, removed again so no half-written ``%EVENC`` file is left behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from evervault.domain.encryption import Encryptor
from evervault.domain.errors import InvalidArgumentError, UnsupportedTypeError
from evervault.domain.streaming import ReadableStream, WritableStream

FilePath = str | os.PathLike[str]
FileSource = FilePath | ReadableStream
FileDestination = FilePath | WritableStream

_PATH_TYPES = (str, os.PathLike)


def check_file_arguments(source: object, destination: object, chunk_size: object) -> None:
    """Raise a clear error for anything :func:`encrypt_file_with` could not use."""
    _check_endpoint(source, "source", "readinto", "open(path, 'rb')")
    _check_endpoint(destination, "destination", "write", "open(path, 'wb')")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidArgumentError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}.")
    if isinstance(source, _PATH_TYPES) and isinstance(destination, _PATH_TYPES):
        _check_distinct(source, destination)


def encrypt_file_with(
    encryptor: Encryptor, source: FileSource, destination: FileDestination, chunk_size: int
) -> int:
    """Encrypt ``source`` into ``destination`` as one ``%EVENC`` file; returns the bytes written."""
    with _opened_source(source) as reader, _opened_destination(destination) as writer:
        return encryptor.encrypt_file_stream(reader, writer, chunk_size)


def _check_endpoint(value: object, role: str, method: str, example: str) -> None:
    if isinstance(value, _PATH_TYPES):
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise UnsupportedTypeError(
            f"The {role} must be a path or a binary file object, not {type(value).__name__}; "
            "to encrypt bytes held in memory, call encrypt(data) instead."
        )
    if isinstance(value, io.TextIOBase) or not callable(getattr(value, method, None)):
        raise UnsupportedTypeError(
            f"The {role} must be a path (str or os.PathLike) or a binary file object with "
            f"{method}() such as {example}; got {type(value).__name__}."
        )


def _check_distinct(source: FilePath, destination: FilePath) -> None:
    """Opening the destination truncates it: it must not be the file being read."""
    try:
        same = os.path.samefile(source, destination)
    except OSError:  # either does not exist (yet): they cannot be the same file
        return
    if same:
        raise InvalidArgumentError(
            "The source and destination are the same file; write the encrypted file to another path."
        )


@contextmanager
def _opened_source(source: FileSource) -> Iterator[ReadableStream]:
    if not isinstance(source, _PATH_TYPES):
        yield source
        return
    try:
        reader = open(source, "rb")  # noqa: SIM115 - closed by the with block below
    except OSError as error:
        raise InvalidArgumentError(
            f"Cannot open the source file {os.fspath(source)!r} for reading: {error.strerror}."
        ) from error
    with reader:
        yield reader


@contextmanager
def _opened_destination(destination: FileDestination) -> Iterator[WritableStream]:
    if not isinstance(destination, _PATH_TYPES):
        yield destination
        return
    try:
        writer = open(destination, "wb")  # noqa: SIM115 - closed by the with block below
    except OSError as error:
        raise InvalidArgumentError(
            f"Cannot open the destination file {os.fspath(destination)!r} for writing: {error.strerror}."
        ) from error
    try:
        with writer:
            yield writer
    except BaseException:
        # Leave no partial ciphertext that could pass for a whole file at a glance.
        with suppress(OSError):  # the original error matters more than a failed clean-up
            os.unlink(destination)
        raise
