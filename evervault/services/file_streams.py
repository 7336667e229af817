"""Streaming files: the loops that drive the domain's sans-I/O file encryptor and decryptor.

:func:`encrypt_stream`, :func:`verify_stream` and :func:`decrypt_stream` move a
file between binary file objects (the :mod:`evervault.ports.streams` Protocols)
one chunk at a time, in memory that does not grow with the file.
:func:`decrypt_stream` makes two passes over a seekable source, the first only
to verify the checksum and tag, so it never releases unverified plaintext.

For the clients, :func:`encrypt_file_with` also takes paths, opening them itself,
and :func:`check_file_arguments` checks arguments before anything is fetched,
opened or truncated.

Files the caller passes as objects stay the caller's: they are neither closed nor
rewound. A destination *path* is created (or truncated) and, if encryption fails
part-way, removed again so no half-written ``%EVENC`` file is left behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.curves import Curve
from evervault.domain.encryption import Encryptor
from evervault.domain.envelope import Buffer
from evervault.domain.errors import DecryptionError, InvalidArgumentError, UnsupportedTypeError
from evervault.domain.streaming import (
    DEFAULT_CHUNK_SIZE,
    TRAILER_LENGTH,
    UPDATE_SLACK,
    FileDecryptor,
    FileEncryptor,
    StreamResult,
)
from evervault.ports.streams import ReadableStream, SeekableStream, WritableStream

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
        return encrypt_stream(encryptor.file_encryptor(), reader, writer, chunk_size)


# --- the loops -------------------------------------------------------------------------------


def encrypt_stream(
    encryptor: FileEncryptor,
    source: ReadableStream,
    destination: WritableStream,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Copy ``source`` to ``destination`` as an ``%EVENC`` file; returns the bytes written.

    Two chunk-sized buffers are reused throughout, so memory does not grow with the
    file and no size limit applies. ``source`` needs ``readinto`` (any binary file),
    ``destination`` ``write``.
    """
    check_stream_arguments(source, destination, chunk_size)
    read_buffer = bytearray(chunk_size)
    write_buffer = bytearray(chunk_size + UPDATE_SLACK)
    written = _write_all(destination, encryptor.header)
    with memoryview(read_buffer) as incoming, memoryview(write_buffer) as outgoing:
        while count := _read_into(source, incoming):
            sealed = encryptor.update_into(incoming[:count], outgoing)
            written += _write_all(destination, outgoing[:sealed])
    return written + _write_all(destination, encryptor.finalize())


def verify_stream(
    private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey],
    source: ReadableStream,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StreamResult:
    """Read ``source`` to its end and check its CRC-32 and GCM tag; no plaintext leaves."""
    check_stream_arguments(source, None, chunk_size)
    decryptor = FileDecryptor(private_keys)
    read_buffer = bytearray(chunk_size)
    scratch = bytearray(chunk_size + TRAILER_LENGTH + UPDATE_SLACK)
    with memoryview(read_buffer) as incoming:
        while count := _read_into(source, incoming):
            decryptor.update_into(incoming[:count], scratch)
    return decryptor.finalize()


def decrypt_stream(
    private_keys: Mapping[Curve, ec.EllipticCurvePrivateKey],
    source: SeekableStream,
    destination: WritableStream,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StreamResult:
    """Decrypt a seekable ``source`` into ``destination``, releasing nothing unverified.

    Pass one reads the whole file and checks its CRC-32 and tag without keeping
    any plaintext; only then does pass two decrypt and write. Costs two AES-GCM
    passes and no extra storage; memory stays at about three chunks. If the source
    changes between the passes, pass two fails authentication and raises (with a
    partial ``destination``, which the caller must discard, as after any error).
    """
    check_stream_arguments(source, destination, chunk_size)
    if not source.seekable():
        raise InvalidArgumentError(
            "Streaming decryption needs a seekable source (it is read twice); "
            "spool the ciphertext to a temporary file first."
        )
    start = source.tell()
    verify_stream(private_keys, source, chunk_size)
    source.seek(start)
    decryptor = FileDecryptor(private_keys)
    read_buffer = bytearray(chunk_size)
    write_buffer = bytearray(chunk_size + TRAILER_LENGTH + UPDATE_SLACK)
    with memoryview(read_buffer) as incoming, memoryview(write_buffer) as outgoing:
        while count := _read_into(source, incoming):
            _write_all(destination, outgoing[: decryptor.update_into(incoming[:count], outgoing)])
    try:
        return decryptor.finalize()
    except DecryptionError:
        raise DecryptionError(
            "The file changed between the verification and decryption passes; discard the output."
        ) from None


def check_stream_arguments(source: object, destination: object, chunk_size: object) -> None:
    """Refuse what would fail obscurely (or, for a zero chunk size, silently encrypt nothing)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise InvalidArgumentError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}.")
    if isinstance(source, io.TextIOBase) or not callable(getattr(source, "readinto", None)):
        raise UnsupportedTypeError(
            f"The source must be a binary file object with readinto(), such as open(path, 'rb'); "
            f"got {type(source).__name__}."
        )
    if destination is not None and (
        isinstance(destination, io.TextIOBase) or not callable(getattr(destination, "write", None))
    ):
        raise UnsupportedTypeError(
            f"The destination must be a binary file object with write(), such as open(path, 'wb'); "
            f"got {type(destination).__name__}."
        )


def _read_into(source: ReadableStream, buffer: memoryview) -> int:
    """``readinto``, refusing a non-blocking stream's "nothing yet" (None) rather than taking it for EOF."""
    count = source.readinto(buffer)
    if count is None:
        raise InvalidArgumentError("The source is non-blocking; pass a blocking file object.")
    return count


def _write_all(destination: WritableStream, data: Buffer) -> int:
    """``write`` may be partial on raw files; loop until everything is written."""
    view = memoryview(data)
    total = len(view)
    while view:
        count = destination.write(view)
        if count is None:  # a non-blocking raw stream that could not write now
            raise InvalidArgumentError("The destination is non-blocking; pass a blocking file object.")
        view = view[count:]
    return total


# --- opening paths ---------------------------------------------------------------------------


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
