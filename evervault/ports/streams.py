"""Byte-stream ports: the binary file objects streaming encryption and decryption read and write.

Any binary file object fits (``open(path, "rb")``, ``io.BytesIO``, a temporary
file, a socket's ``makefile("rb")``); :mod:`evervault.services.file_streams`
drives the domain's sans-I/O file encryptor and decryptor between them.
"""

from __future__ import annotations

from typing import Protocol


class ReadableStream(Protocol):
    """A binary file opened for reading (``open(path, "rb")``, ``io.BytesIO``, ...)."""

    def readinto(self, buffer: memoryview, /) -> int | None:
        """Fill ``buffer`` from the stream; the number of bytes read, 0 at the end."""


class SeekableStream(ReadableStream, Protocol):
    """A readable binary file that can be rewound (a regular or temporary file)."""

    def seekable(self) -> bool:
        """Whether :meth:`seek` works."""

    def tell(self) -> int:
        """The current position."""

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Move to ``offset``."""


class WritableStream(Protocol):
    """A binary file opened for writing."""

    def write(self, data: memoryview, /) -> int | None:
        """Write some or all of ``data``; the number of bytes written."""
