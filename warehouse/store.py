"""The DuckDB warehouse: open (and migrate), load, runs and sync state, reads.

One door in: `Warehouse.load` takes a prepared batch (with the sync state that says "done up
to here") or a whole file's batches (with its ledger entry), and commits it in ONE
transaction with its raw payloads, quarantined rows, superseded copies, validation summaries
and the run's counters: a crash at any point loses nothing, and loading the same input again
changes nothing (content hashes).

The concerns live in modules of their own, this class only holds the connection:
`warehouse.prepare` (Arrow and payloads, built in workers), `warehouse.loading` (what
loading a batch means), `warehouse.ledger` (bulk files, each loaded exactly once),
`warehouse.runs` (runs and sync state), `warehouse.connection` (opening, transactions).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from schemas.batch import LoadCounts, StateUpdate
from schemas.errors import FatalError, UsageError
from warehouse import ledger, loading, readers, runs
from warehouse.connection import open_connection, transaction
from warehouse.ddl import migrate
from warehouse.ledger import IMPORT_KIND, FileBatches, LedgerEntry
from warehouse.location import lake_location, warehouse_exists
from warehouse.prepare import (
    PAYLOAD_ENCODING,
    PAYLOADS_SCHEMA,
    SUPERSEDED_SCHEMA,
    BatchSource,
    PreparedBatch,
    PreparedChunk,
    content_hash,
    decode_payload,
    encode_payload,
    finish_chunk,
    merge_batches,
    prepare_batch,
    prepare_chunk,
)

__all__ = [
    "IMPORT_KIND",
    "PAYLOADS_SCHEMA",
    "PAYLOAD_ENCODING",
    "SUPERSEDED_SCHEMA",
    "BatchSource",
    "FileBatches",
    "LedgerEntry",
    "PreparedBatch",
    "PreparedChunk",
    "Warehouse",
    "WarehouseHandle",
    "content_hash",
    "decode_payload",
    "encode_payload",
    "finish_chunk",
    "merge_batches",
    "prepare_batch",
    "prepare_chunk",
]

# Warehouses open for writing in this process, by path: what a handle finds (`WarehouseHandle`).
_OPEN: weakref.WeakValueDictionary[Path, Warehouse] = weakref.WeakValueDictionary()


class Warehouse:
    """One open warehouse file. Writers migrate on open; readers open read-only."""

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        memory_limit: str = "256MB",
        row_group_size: int | None = None,
        threads: int | None = None,
        as_of: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.lake = lake_location(path)
        if read_only and not warehouse_exists(path):
            raise FatalError(
                f"no warehouse at {self.path}: run `biblioduck demo` or a sync first, "
                "or point --db / BIBLIODUCK_DB at an existing file"
            )
        if not read_only and self.lake is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if as_of is not None and not read_only:
            raise UsageError("--as-of reads an earlier snapshot: it cannot be written")
        self.read_only = read_only
        self.memory_limit = memory_limit
        self._row_group_size = row_group_size
        self._threads = threads
        self._as_of = as_of
        self._reading: ExitStack | None = None
        if self.lake is not None:  # a lake's readers never wait, nor wait for
            self.con = self._connect()
        elif read_only:
            # A load on this file lets readers in between two of its batches
            # (`warehouse.readers`); marked as reading, so that a load opening the file knows
            # it is held by a reader, for a moment, not by another load.
            self._reading = ExitStack()
            self._reading.enter_context(readers.marked(self.path, readers.READING))
            try:
                self.con = readers.open_as_reader(self.path, self._connect)
            except BaseException:
                self._reading.close()
                raise
        else:
            self.con = readers.open_as_writer(self.path, self._connect)
        if not read_only:
            migrate(self.con)
            _OPEN[self.path.resolve()] = self

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = open_connection(self.path, self.read_only, self._row_group_size, as_of=self._as_of)
        # DuckDB would otherwise cache up to 80% of RAM; past this it spills to disk. A whole
        # bulk file loads in one transaction, so the cap is what keeps memory flat.
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        if self._threads is not None:
            con.execute(f"SET threads = {int(self._threads)}")
        return con

    def serve_readers(self) -> None:
        """Between two batches of a load: if our readers knock at this DuckDB file, close it,
        let them in and open it again once they are done (`warehouse.readers`). Call only
        where nothing is uncommitted and nothing holds `con`."""
        if self.read_only or self.lake is not None or not readers.waiting(self.path):
            return
        self.con.close()
        readers.let_readers_in(self.path)
        self.con = readers.open_as_writer(self.path, self._connect)

    def close(self) -> None:
        if _OPEN.get(self.path.resolve()) is self:
            del _OPEN[self.path.resolve()]
        self.con.close()
        if self._reading is not None:
            self._reading.close()
            self._reading = None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def handle(self) -> WarehouseHandle:
        """What a Prefect task is handed instead of this open connection."""
        return WarehouseHandle(self.path)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with transaction(self.con) as con:
            yield con

    # ---- the one door in ----------------------------------------------------------------------

    def load(
        self,
        batch: PreparedBatch | FileBatches,
        *,
        run_id: str | None,
        state: StateUpdate | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> LoadCounts:
        """Load one input in one transaction and return what it did: a prepared batch (its
        source, id and counts in it) with `state`, the sync state it brings the sync to; or a
        whole file's batches with its ledger entry (`FileBatches`: loaded exactly once, with
        its row in `bulk_files`; `progress` gets the items applied so far)."""
        if isinstance(batch, FileBatches):
            if state is not None:
                raise FatalError(f"{batch.entry.name}: a file load carries no sync state")
            counts = ledger.load_file(
                self.con, batch, run_id=run_id, memory_limit=self.memory_limit, progress=progress
            )
        else:
            with self.transaction() as con:
                counts = loading.apply(con, batch, run_id=run_id, state=state)
        self.serve_readers()
        return counts

    # ---- runs, sync state, the ledger ----------------------------------------------------------

    def start_run(self, source: str, kind: str, parameters: dict[str, Any]) -> str:
        return runs.start_run(self.con, source, kind, parameters)

    def finish_run(self, run_id: str, *, status: str, error: str | None = None) -> dict[str, Any]:
        return runs.finish_run(self.con, run_id, status=status, error=error)

    def run(self, run_id: str) -> dict[str, Any]:
        return runs.run(self.con, run_id)

    def state(self, source: str, scope: str) -> tuple[str | None, dict[str, Any] | None]:
        """(watermark, checkpoint) of one sync scope; (None, None) when never synced."""
        return runs.state(self.con, source, scope)

    def save_state(self, update: StateUpdate) -> None:
        """Sync state on its own (a window completed), in a transaction of its own."""
        with self.transaction() as con:
            runs.write_state(con, update)

    def ledger(self) -> dict[str, dict[str, Any]]:
        """Every bulk file the warehouse knows, by name."""
        return ledger.ledger(self.con)

    def mark_file_failed(self, entry: LedgerEntry, *, run_id: str | None, error: str) -> None:
        """Note a file that could not be loaded (it stays to be loaded by the next run)."""
        ledger.mark_file_failed(self.con, entry, run_id=run_id, error=error)

    # ---- reading ------------------------------------------------------------------------------

    def raw_payload(self, digest: str) -> bytes | None:
        """The original payload stored under a content hash (for replays and quarantine)."""
        row = self.con.execute(
            "SELECT encoding, payload, raw_bytes FROM raw_payloads WHERE content_hash = ? LIMIT 1",
            [digest],
        ).fetchone()
        if row is None:
            return None
        return decode_payload(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class WarehouseHandle:
    """A warehouse as a Prefect task is handed it: its path, never a live connection (a task
    may run in another thread or process, and Prefect inspects its arguments). `open` gives
    the warehouse this process has open for writing at that path, or opens it for the block."""

    path: Path

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        held = _OPEN.get(self.path.resolve())
        if held is not None:
            yield held
            return
        with Warehouse(self.path) as warehouse:
            yield warehouse
