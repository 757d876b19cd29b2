"""Prepared bulk files on disk: bulk workers write each file as chunks of Arrow tables
(pickled, their buffers out of band), and the one writer maps them back, in order, as the
batches it applies.

Light on purpose (no parser, no Prefect): the bulk writer's process imports it.
"""

from __future__ import annotations

import dataclasses
import mmap
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from schemas.batch import ValidationSummary
from schemas.errors import FatalError
from warehouse.prepare import (
    PAYLOADS_SCHEMA,
    PreparedBatch,
    PreparedChunk,
    finish_chunk,
    merge_batches,
)


@dataclass(slots=True)
class SpooledFile:
    """A bulk file's spooled chunks, in order, and the outcome of validating the file as a
    whole: failed critical expectations by file row, the rows a later record with the same id
    supersedes, and one summary per suite."""

    spool: list[Path]
    failed: dict[int, list[str]]
    superseded: set[int]
    summaries: list[ValidationSummary]

    def batches(
        self, *, payloads: bool = True, chunks_per_batch: int | None = None
    ) -> Iterator[PreparedBatch]:
        """The batches to apply, read back from the spool a few chunks at a time (each SQL
        statement of a load has a fixed cost: 5,000 records per batch load ~1.5x faster than
        1,000). A chunk with deletions ends its batch, since a batch applies its records before
        its deletions. The file's validation summaries travel with the first batch.

        Without `payloads` (the loader's second pass, which appends the new rows in one
        statement), their tables are empty and not read, and each chunk is a batch: DuckDB
        holds the batches it scans until their row group is written."""
        if chunks_per_batch is None:
            chunks_per_batch = 5 if payloads else 1
        group: list[PreparedBatch] = []
        for number, path in enumerate(self.spool):
            chunk = read_chunk(path, payloads=payloads)
            group.append(
                finish_chunk(
                    chunk,
                    failed=self.failed,
                    superseded=self.superseded,
                    summaries=self.summaries if number == 0 else [],
                )
            )
            if len(group) == chunks_per_batch or chunk.deletions.num_rows:
                yield merge_batches(group)
                group = []
        if group:
            yield merge_batches(group)


def spool_chunk(chunk: PreparedChunk, path: Path) -> None:
    """Write `chunk` to `path`: its payloads last, in a section of their own, so that a pass
    that needs none stops reading before them."""
    with open(path, "wb") as handle:
        handle.write(_MAGIC)
        _write_section(handle, dataclasses.replace(chunk, payloads=PAYLOADS_SCHEMA.empty_table()))
        _write_section(handle, chunk.payloads)


def read_chunk(path: Path, *, payloads: bool = True) -> PreparedChunk:
    """A chunk `spool_chunk` wrote; with empty payloads unless `payloads`. Its large Arrow
    buffers are the file's pages, mapped, not copies."""
    with open(path, "rb") as handle:
        if handle.read(len(_MAGIC)) != _MAGIC:
            raise FatalError(f"{path} is not a spooled chunk of this version")
        chunk: PreparedChunk = _read_section(handle)
        if payloads:
            chunk.payloads = _read_section(handle)
    return chunk


# A spool file: the magic, then sections. A section is a pickle (protocol 5) whose Arrow
# buffers follow it, out of band; read back, a large one is mapped from the file on its own
# pages (not copied: the writer reads every record twice, ~10 µs per record of copying), a
# small one read. One mapping per buffer, not per file: DuckDB keeps what a transaction
# registered until it ends, and a mapping lives as long as any buffer in it, so a key column
# would have kept a whole chunk's pages, payloads included (+40 MB at the writer's peak).
_MAGIC = b"BIBLIODUCK-SPOOL-2\n"
_PAGE = mmap.ALLOCATIONGRANULARITY
_MAPPED_FROM = 64 * 1024  # smaller buffers are read: a mapping costs a system call or two
_SIZE = struct.Struct("<Q")


def _write_section(handle: BinaryIO, value: object) -> None:
    buffers: list[pickle.PickleBuffer] = []
    header = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    handle.write(_SIZE.pack(len(header)))
    handle.write(header)
    handle.write(_SIZE.pack(len(buffers)))
    for buffer in buffers:
        raw = buffer.raw()
        handle.write(_SIZE.pack(raw.nbytes))
        if raw.nbytes >= _MAPPED_FROM:
            handle.write(b"\0" * (-handle.tell() % _PAGE))
        handle.write(raw)


def _read_section(handle: BinaryIO) -> Any:
    (length,) = _SIZE.unpack(handle.read(_SIZE.size))
    header = handle.read(length)
    (count,) = _SIZE.unpack(handle.read(_SIZE.size))
    buffers: list[bytes | memoryview] = []
    for _ in range(count):
        (size,) = _SIZE.unpack(handle.read(_SIZE.size))
        if size < _MAPPED_FROM:
            buffers.append(handle.read(size))
            continue
        offset = handle.tell()
        offset += -offset % _PAGE
        mapped = mmap.mmap(handle.fileno(), size, offset=offset, access=mmap.ACCESS_READ)
        buffers.append(memoryview(mapped))
        handle.seek(offset + size)
    return pickle.loads(header, buffers=buffers)  # noqa: S301 - our own spool files
