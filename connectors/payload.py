"""One door for opening a payload (bytes, a path, or a binary stream): gunzipped when it starts
with gzip's magic, whatever its name, and never more than a cap of decompressed bytes, so a
gzip bomb (4 GiB of spaces in 4 MB) is refused early instead of filling memory or running for
minutes.

Two caps, because formats are read two ways: a streamed file (PubMed XML, JSON-lines, a
Crossref public-data-file part) holds a few records at a time, so its cap only bounds time
(`BIBLIODUCK_MAX_FILE_BYTES`, default 4 GiB: NLM's largest files decompress to ~250 MB); a
document read whole (a Crossref API page, an OAI-PMH page) and one record of a stream are held
in memory, so their cap bounds memory too (`BIBLIODUCK_MAX_DOCUMENT_BYTES`, default 64 MiB:
API and OAI-PMH pages are a few MB; reading one holds about twice its size at its peak, so a
refused bomb stays under ~250 MB).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, BinaryIO, cast

from isal import igzip, isal_zlib

from schemas.errors import MalformedPayloadError

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_FILE_BYTES = 4 << 30
DEFAULT_MAX_DOCUMENT_BYTES = 64 << 20

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO
# What a truncated or corrupt gzip stream raises (ISA-L's reader, a drop-in for the standard
# library's, ~2x faster: the same class, EOFError and BadGzipFile, its own zlib error).
GZIP_ERRORS = (EOFError, zlib.error, cast("type[Exception]", isal_zlib.error), gzip.BadGzipFile)


class PayloadTooLargeError(MalformedPayloadError):
    """A payload decompresses to more than its cap (a gzip bomb, or a file that is not what
    it claims): refused, naming the source and the cap."""


def _cap(variable: str, default: int) -> int:
    given = os.environ.get(variable)
    if not given:
        return default
    try:
        value = int(given)
    except ValueError:
        raise MalformedPayloadError(
            f"{variable} must be a number of bytes, not {given!r}"
        ) from None
    if value < 1:
        raise MalformedPayloadError(f"{variable} must be at least 1 byte, not {value}")
    return value


def max_file_bytes() -> int:
    """The cap on a streamed file's decompressed bytes (`BIBLIODUCK_MAX_FILE_BYTES`)."""
    return _cap("BIBLIODUCK_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)


def max_document_bytes() -> int:
    """The cap on a document read whole (`BIBLIODUCK_MAX_DOCUMENT_BYTES`)."""
    return _cap("BIBLIODUCK_MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES)


class _Bounded(io.RawIOBase):
    """Reads `inner` and raises `PayloadTooLargeError` once more than `limit` bytes came."""

    def __init__(self, inner: IO[bytes], limit: int, origin: str, variable: str) -> None:
        super().__init__()
        self._inner = inner
        self._left = limit
        self._limit = limit
        self._origin = origin
        self._variable = variable

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        # One byte past the cap tells "more than the cap" from "exactly the cap".
        try:
            data = self._inner.read(min(len(view), self._left + 1))
        except GZIP_ERRORS as error:
            raise MalformedPayloadError(
                f"{self._origin}: the gzip stream is truncated or corrupt ({error}); fetch it again"
            ) from error
        if len(data) > self._left:
            raise PayloadTooLargeError(
                f"{self._origin}: decompresses to more than {self._limit:,} bytes (the cap, "
                f"{self._variable}); refused as a gzip bomb or not what it claims to be"
            )
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)


@contextmanager
def open_payload(
    source: Source, origin: str, *, whole: bool = False
) -> Iterator[io.BufferedReader]:
    """A buffered binary stream of the payload itself: gunzipped when it starts with gzip's
    magic, and refused (`PayloadTooLargeError`) past its cap, the document cap when the
    caller reads it `whole`, else the file cap. A stream the caller passes need not be
    seekable. A truncated or corrupt gzip stream raises `MalformedPayloadError` naming the
    origin."""
    limit = max_document_bytes() if whole else max_file_bytes()
    variable = "BIBLIODUCK_MAX_DOCUMENT_BYTES" if whole else "BIBLIODUCK_MAX_FILE_BYTES"
    if isinstance(source, str) and source.lstrip()[:1] in ("<", "{", "["):
        raise TypeError(f"{origin}: pass the payload as bytes; a str source is a path")
    with _raw(source) as raw:
        head = raw.read(2)
        if not isinstance(head, bytes):
            raise TypeError(f"{origin}: the file object must be opened in binary mode")
        stream: IO[bytes] = io.BufferedReader(_Prefixed(head, raw))
        if head == GZIP_MAGIC:
            stream = cast(IO[bytes], igzip.GzipFile(fileobj=stream))
        yield io.BufferedReader(_Bounded(stream, limit, origin, variable))


def read_whole(source: Source, origin: str) -> bytes:
    """The payload's bytes, gunzipped, under the document cap."""
    with open_payload(source, origin, whole=True) as stream:
        return stream.read()


def read_document(stream: IO[bytes], origin: str) -> bytes:
    """The rest of a streamed payload that turns out to be one document, read whole: under
    the document cap (a stream opened with the file cap may hold JSON-lines, or one JSON
    document that must fit in memory)."""
    return bytes(_under_document_cap(stream, origin, "one document", line=False))


def read_line(stream: IO[bytes], origin: str) -> bytes:
    """One line of a streamed payload (a JSON-lines record, or a one-line document), under
    the document cap."""
    return bytes(_under_document_cap(stream, origin, "a line", line=True))


_PIECE = 1 << 20


def _under_document_cap(stream: IO[bytes], origin: str, what: str, *, line: bool) -> bytearray:
    """Read (a line, or all) a piece at a time into one growing buffer, refusing at the cap
    before reading more: a refused bomb costs the cap once, not twice (one `read(cap)` joins
    its pieces into a second copy: 305 MB at the peak for a 64 MiB cap)."""
    limit = max_document_bytes()
    data = bytearray()
    while True:
        piece = stream.readline(_PIECE) if line else stream.read(_PIECE)
        data += piece
        if len(data) > limit:
            raise PayloadTooLargeError(
                f"{origin}: {what} of more than {limit:,} bytes (the cap, "
                "BIBLIODUCK_MAX_DOCUMENT_BYTES); refused as a gzip bomb or not what it claims "
                "to be"
            )
        if not piece or (line and piece.endswith(b"\n")):
            return data


@contextmanager
def _raw(source: Source) -> Iterator[IO[bytes]]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield handle
    else:
        yield source


class _Prefixed(io.RawIOBase):
    """A read-only raw stream: `head` (already read from `rest`), then the rest of `rest`."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        size = len(view)
        chunk = self._head[:size]
        self._head = self._head[size:]
        if len(chunk) < size:
            chunk += self._rest.read(size - len(chunk)) or b""
        view[: len(chunk)] = chunk
        return len(chunk)
