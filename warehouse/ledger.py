"""The ledger of bulk files (`bulk_files`: one row per file loaded or failed) and the load
of one whole file: all its batches and its ledger row in ONE transaction, so a file is loaded
exactly once and one interrupted half-way leaves no trace."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from schemas.arrow import record_schema
from schemas.batch import LoadCounts
from schemas.errors import FatalError
from warehouse import loading
from warehouse.connection import now as clock
from warehouse.connection import transaction
from warehouse.ddl import FILE_ORDER_FORMAT
from warehouse.prepare import BatchSource, PreparedBatch
from warehouse.runs import add_to_run


@dataclass(slots=True)
class LedgerEntry:
    """What the ledger keeps of one file besides its load counts. NLM's bulk files have a
    place in NLM's sequence (`year`, `number`); other imported files have none (`kind`
    IMPORT_KIND, year and number 0): their deletions apply as an E-utilities page's do."""

    name: str
    kind: str
    year: int
    number: int
    md5: str
    size: int | None = None
    download_seconds: float | None = None
    prepare_seconds: float | None = None

    @property
    def file_order(self) -> str | None:
        """The file's place in NLM's sequence, as text that sorts in it (`FILE_ORDER_FORMAT`);
        None for a file outside it."""
        if self.kind == IMPORT_KIND and not (self.year or self.number):
            return None
        return FILE_ORDER_FORMAT % (self.year, self.number, self.kind)


# The ledger kind of files loaded by `biblioduck import` (NLM's are baseline or update).
IMPORT_KIND = "import"


@dataclass(slots=True)
class FileBatches:
    """One whole file to load: its ledger entry and its prepared batches, in order (read anew
    at each call; see `BatchSource`)."""

    entry: LedgerEntry
    batches: BatchSource


class _NotStreamable(Exception):
    """A file whose batches cannot be appended in one statement (see `load_file`)."""


def ledger(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Every bulk file the warehouse knows, by name."""
    cursor = con.execute("SELECT * FROM bulk_files ORDER BY year, number, kind")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def load_file(
    con: duckdb.DuckDBPyConnection,
    file: FileBatches,
    *,
    run_id: str | None,
    memory_limit: str,
    progress: Callable[[int], None] | None = None,
) -> LoadCounts:
    """Apply all batches of one file and mark it loaded, in ONE transaction: a file is
    loaded exactly once, and one interrupted half-way leaves no trace.

    `file.batches` gives the file's batches in order and is called twice: a first pass applies
    all but the new rows, a second appends every new row of the file in one statement
    streamed from the batches. DuckDB keeps a transaction's appended rows in memory until
    it commits, except whole row groups, which it writes out as a statement fills them:
    opened with small row groups (`row_group_size`, as the bulk flow does) the memory a
    file needs no longer grows with it. The batches it scans stay alive until their row
    group is written, so the second pass reads them without payloads. `progress` gets the
    items applied so far after each batch of the first pass."""
    entry, batches = file.entry, file.batches
    started = time.perf_counter()
    try:
        try:
            with transaction(con):
                counts, deletions = _load_file_streaming(con, entry, batches, run_id, progress)
                _finish_file(con, entry, counts, deletions, started, run_id)
        except _NotStreamable:
            # Records after a deletion, or one id twice: apply batch by batch, in order.
            with transaction(con):
                counts, deletions = LoadCounts(), 0
                for prepared in batches():
                    counts.add(loading.apply(con, prepared, run_id=run_id, file=entry))
                    deletions += prepared.deletions.num_rows
                _finish_file(con, entry, counts, deletions, started, run_id)
    except duckdb.OutOfMemoryException as exc:
        raise FatalError(
            f"{entry.name}: DuckDB ran out of its memory limit ({memory_limit}) while "
            "loading the file in one transaction; nothing of the file was loaded. Raise "
            "BIBLIODUCK_BULK_MEMORY_LIMIT (80MB loads 41,576 recent PubMed records in one "
            f"file). DuckDB said: {exc}"
        ) from exc
    # The commit (DuckDB writes the WAL and usually checkpoints here) is a large part of a
    # load: measured, about half of it on the e2e benchmark. Count it too.
    con.execute(
        "UPDATE bulk_files SET load_seconds = ? WHERE name = ?",
        [time.perf_counter() - started, entry.name],
    )
    return counts


def _finish_file(
    con: duckdb.DuckDBPyConnection,
    entry: LedgerEntry,
    counts: LoadCounts,
    deletions: int,
    started: float,
    run_id: str | None,
) -> None:
    _write_ledger(
        con,
        entry,
        status="loaded",
        counts=counts,
        deletions=deletions,
        load_seconds=time.perf_counter() - started,
        run_id=run_id,
        error=None,
    )


def _load_file_streaming(
    con: duckdb.DuckDBPyConnection,
    entry: LedgerEntry,
    batches: BatchSource,
    run_id: str | None,
    progress: Callable[[int], None] | None,
) -> tuple[LoadCounts, int]:
    now = clock()
    counts = LoadCounts()
    seen: set[tuple[str, str]] = set()
    # Which of the file's records to append, in file order, and the first_loaded_at of
    # those that replace stored ones.
    appending = loading.Selection([], {})
    with_deletions: list[PreparedBatch] = []
    applied = batch_count = 0
    for prepared in batches():
        if with_deletions and prepared.records.num_rows:
            raise _NotStreamable
        keys = list(
            zip(
                prepared.records.column("source").to_pylist(),
                prepared.records.column("source_id").to_pylist(),
                strict=True,
            )
        )
        if len(set(keys)) < len(keys) or not seen.isdisjoint(keys):
            raise _NotStreamable
        seen.update(keys)
        batch_counts, selection = loading.apply_records(con, prepared, run_id, now, entry)
        batch_count += 1
        if selection is None:
            appending.mask.extend([False] * prepared.records.num_rows)
        else:
            appending.mask.extend(selection.mask)
            appending.first_loaded.update(selection.first_loaded)
        if prepared.deletions.num_rows:  # kept without its records and payloads
            with_deletions.append(
                dataclasses.replace(
                    prepared,
                    records=prepared.records.schema.empty_table(),
                    payloads=prepared.payloads.schema.empty_table(),
                )
            )
        loading.apply_rest(con, prepared, run_id, now)
        counts.add(batch_counts)
        applied += prepared.fetched
        if progress is not None:
            progress(applied)
    if batch_count:
        del prepared  # the last batch would stay alive through the append
    if any(appending.mask):
        loading.append_records(con, _rows_reader(batches, appending, run_id, now))
    deletions = 0
    for prepared in with_deletions:  # after every record, as in the file
        counts.deleted += loading.apply_deletions(con, prepared, run_id, now, entry)
        deletions += prepared.deletions.num_rows
    add_to_run(con, run_id, counts, batches=batch_count)
    return counts, deletions


def _rows_reader(
    batches: BatchSource,
    appending: loading.Selection,
    run_id: str | None,
    now: dt.datetime,
) -> pa.RecordBatchReader:
    """The new rows of the file (`appending`: which records, in file order), its batches
    read again without payloads, one at a time (the reader runs inside DuckDB's INSERT:
    it must not use the connection)."""
    empty = pa.schema([*record_schema(), pa.field("content_hash", pa.string())]).empty_table()
    schema = loading.stored_rows(empty, {}, run_id, now).schema

    def rows() -> Iterator[pa.RecordBatch]:
        start = 0
        for prepared in batches(payloads=False):
            end = start + prepared.records.num_rows
            selection = loading.Selection(appending.mask[start:end], appending.first_loaded)
            start = end
            if any(selection.mask):
                yield from selection.rows(prepared, run_id, now).cast(schema).to_batches()
        if start != len(appending.mask):
            raise FatalError(
                f"a file's batches gave {start} records to append from, then "
                f"{len(appending.mask)} when read again"
            )

    return pa.RecordBatchReader.from_batches(schema, rows())


def mark_file_failed(
    con: duckdb.DuckDBPyConnection, entry: LedgerEntry, *, run_id: str | None, error: str
) -> None:
    """Note a file that could not be loaded (it stays to be loaded by the next run)."""
    with transaction(con):
        _write_ledger(
            con,
            entry,
            status="failed",
            counts=LoadCounts(),
            deletions=0,
            load_seconds=None,
            run_id=run_id,
            error=error,
        )


def _write_ledger(
    con: duckdb.DuckDBPyConnection,
    entry: LedgerEntry,
    *,
    status: str,
    counts: LoadCounts,
    deletions: int,
    load_seconds: float | None,
    run_id: str | None,
    error: str | None,
) -> None:
    # Delete and insert, not INSERT OR REPLACE: a DuckLake has no key to replace by. Callers
    # write the ledger inside the file's (or the failure's) transaction.
    con.execute("DELETE FROM bulk_files WHERE name = ?", [entry.name])
    con.execute(
        "INSERT INTO bulk_files VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            entry.name,
            entry.kind,
            entry.year,
            entry.number,
            entry.md5,
            entry.size,
            status,
            counts.fetched - deletions,
            deletions,
            counts.quarantined,
            counts.inserted,
            counts.updated,
            counts.unchanged,
            counts.stale,
            counts.deleted,
            entry.download_seconds,
            entry.prepare_seconds,
            load_seconds,
            run_id,
            error,
            clock(),
        ],
    )
