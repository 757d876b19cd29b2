"""Prepared bulk files on disk: bulk workers write each file as chunks of Arrow tables
(pickled), and the one writer reads them back, in order, as the batches it applies.

Light on purpose (no parser, no Prefect): the bulk writer's process imports it.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.batch import ValidationSummary
from warehouse.store import (
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
    """Write `chunk` to `path`: its payloads last, as a pickle of their own, so that a pass
    that needs none stops reading before them."""
    with open(path, "wb") as handle:
        pickle.dump(
            dataclasses.replace(chunk, payloads=PAYLOADS_SCHEMA.empty_table()),
            handle,
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        pickle.dump(chunk.payloads, handle, protocol=pickle.HIGHEST_PROTOCOL)


def read_chunk(path: Path, *, payloads: bool = True) -> PreparedChunk:
    """A chunk `spool_chunk` wrote; with empty payloads unless `payloads`."""
    with open(path, "rb") as handle:
        chunk: PreparedChunk = pickle.load(handle)  # noqa: S301 - our own spool files
        if payloads:
            chunk.payloads = pickle.load(handle)  # noqa: S301
    return chunk
