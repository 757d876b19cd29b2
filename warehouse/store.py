"""The DuckDB warehouse: open (and migrate), load one batch atomically, sync state, runs.

A batch's records, deletions, raw payloads, quarantined rows, validation summaries, the run's
counters and the sync state that says "done up to here" commit in ONE transaction: a crash at any
point loses nothing, and loading the same input again changes nothing (content hashes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from schemas.arrow import record_schema, records_table
from schemas.batch import LoadCounts, StateUpdate, ValidatedBatch, ValidationSummary
from schemas.errors import FatalError, WarehouseBusyError
from schemas.record import Deletion, Record
from warehouse.ddl import FILE_ORDER_FORMAT, migrate

# Payloads are compressed in the (parallel) workers: zstd level 1 keeps a PubMed record in
# ~27 % of its size at ~200 MB/s (measured on pubmed21n1298: zlib level 1 took twice as long
# for a larger result). Rows written before this kept "zlib"; `decode_payload` reads both.
PAYLOAD_ENCODING = "zstd"
_PAYLOAD_CODEC = pa.Codec("zstd", compression_level=1)


def encode_payload(raw: bytes) -> bytes:
    """`raw` compressed as stored in `raw_payloads.payload` (encoding `PAYLOAD_ENCODING`)."""
    compressed: bytes = _PAYLOAD_CODEC.compress(raw, asbytes=True)
    return compressed


def decode_payload(encoding: str, payload: bytes, raw_bytes: int | None) -> bytes:
    """The original bytes of a stored payload, whatever encoding it was stored with."""
    if encoding == "zstd":
        if raw_bytes is None:
            raise FatalError("a zstd payload without its raw_bytes size")
        decoded: bytes = _PAYLOAD_CODEC.decompress(
            payload, decompressed_size=raw_bytes, asbytes=True
        )
        return decoded
    if encoding == "zlib":
        return zlib.decompress(payload)
    return bytes(payload)


def content_hash(raw: bytes) -> str:
    """The identity of one payload version (128-bit BLAKE2b, hex)."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _record_hash(record: Record) -> str:
    if record.raw is not None:
        return content_hash(record.raw)
    # Parsers always keep the payload; this keeps hand-built records loadable and idempotent.
    return content_hash(repr(record).encode())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _open(path: Path, read_only: bool, row_group_size: int | None) -> duckdb.DuckDBPyConnection:
    try:
        if row_group_size is None:
            return duckdb.connect(str(path), read_only=read_only)
        # A row-group size is an option of ATTACH, not of connect. The file stays readable by
        # any connection: row groups of different sizes mix in one table.
        con = duckdb.connect()
        quoted = str(path).replace("'", "''")
        # An in-memory connection spills to `.tmp` in the current directory, shared by every
        # such process started there: two loads at once overwrote each other's spilled blocks
        # and DuckDB crashed (SIGSEGV in the append, seen four times). Spill beside the file,
        # as DuckDB does for a connection opened on the file itself.
        con.execute(f"SET temp_directory = '{quoted}.tmp'")
        con.execute(
            f"ATTACH '{quoted}' AS warehouse (READ_ONLY {str(read_only).upper()}, "
            f"ROW_GROUP_SIZE {int(row_group_size)})"
        )
        con.execute("USE warehouse")
        return con
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusyError(
                f"the warehouse {path} is in use by another process (one writer at a time); "
                f"wait for that run to finish, or point --db / BIBLIODUCK_DB at another file. "
                f"DuckDB said: {exc}"
            ) from exc
        raise FatalError(f"cannot open the warehouse {path}: {exc}") from exc


SUPERSEDED_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("source_version", pa.string()),
    ]
)


def _no_superseded() -> pa.Table:
    return SUPERSEDED_SCHEMA.empty_table()


@dataclass(slots=True)
class PreparedBatch:
    """A validated batch as Arrow tables, ready to apply. Building it is CPU work only
    (hashing, compressing payloads, Arrow conversion), so worker processes can do it in
    parallel and hand it (it pickles as Arrow buffers) to the single writer."""

    source: str
    batch_id: str
    fetched: int
    records: pa.Table  # record columns + content_hash, one row per source id
    payloads: pa.Table  # content_hash, source, payload (compressed), raw_bytes
    deletions: pa.Table  # source, source_id, reason
    quarantine: pa.Table  # source_id, row_in_batch, failed_expectations, content_hash
    summaries: list[ValidationSummary]
    # Copies of an id that a later copy in the same file replaced before they were loaded:
    # recorded as versions ('superseded', with their payloads), never silently dropped.
    superseded: pa.Table = field(default_factory=_no_superseded)


def prepare_batch(
    batch: ValidatedBatch, *, source: str, batch_id: str, fetched: int
) -> PreparedBatch:
    """Turn a validated batch into Arrow tables (the last version per source id wins)."""
    latest: dict[tuple[str, str], Record] = {}
    for record in batch.records:
        if record.source_id is None:
            raise FatalError(f"{source} batch {batch_id}: a record without id reached load")
        latest[(record.source, record.source_id)] = record
    records = list(latest.values())
    hashes = [_record_hash(r) for r in records]
    table = records_table(records).append_column("content_hash", pa.array(hashes, pa.string()))
    quarantined = batch.quarantined
    q_hashes = [content_hash(q.raw) if q.raw is not None else None for q in quarantined]
    payloads = _payloads_table(
        source,
        hashes + [h for h in q_hashes if h is not None],
        [r.raw if r.raw is not None else b"" for r in records]
        + [q.raw for q in quarantined if q.raw is not None],
    )
    return PreparedBatch(
        source=source,
        batch_id=batch_id,
        fetched=fetched,
        records=table,
        payloads=payloads,
        deletions=_deletions_table(batch.deletions),
        quarantine=_quarantine_table(
            [q.source_id for q in quarantined],
            [q.row_in_batch for q in quarantined],
            [q.failed_expectations for q in quarantined],
            q_hashes,
        ),
        summaries=list(batch.summaries),
    )


# Spelled out rather than taken from an empty `_payloads_table`: building an array from Python
# objects makes pyarrow import pandas (~45 MB), which this module's importers need not.
PAYLOADS_SCHEMA = pa.schema(
    [
        pa.field("content_hash", pa.string()),
        pa.field("source", pa.string()),
        pa.field("payload", pa.binary()),
        pa.field("raw_bytes", pa.int64()),
    ]
)


def _payloads_table(source: str, hashes: list[str], raws: list[bytes]) -> pa.Table:
    return pa.table(
        {
            "content_hash": pa.array(hashes, pa.string()),
            "source": pa.array([source] * len(hashes), pa.string()),
            "payload": pa.array([encode_payload(r) for r in raws], pa.binary()),
            "raw_bytes": pa.array([len(r) for r in raws], pa.int64()),
        },
        schema=PAYLOADS_SCHEMA,
    )


class BatchSource(Protocol):
    """A bulk file's prepared batches, in order, read anew at each call; without their
    payloads (empty tables) when `payloads` is false."""

    def __call__(self, *, payloads: bool = True) -> Iterable[PreparedBatch]: ...


def _deletions_table(deletions: list[Deletion]) -> pa.Table:
    reasons: dict[tuple[str, str], str | None] = {}
    for deletion in deletions:
        reasons[(deletion.source, deletion.source_id)] = deletion.reason
    return pa.table(
        {
            "source": pa.array([k[0] for k in reasons], pa.string()),
            "source_id": pa.array([k[1] for k in reasons], pa.string()),
            "reason": pa.array(list(reasons.values()), pa.string()),
        }
    )


def _quarantine_table(
    source_ids: list[str | None],
    rows: list[int],
    failures: list[list[str]],
    hashes: list[str | None],
) -> pa.Table:
    return pa.table(
        {
            "source_id": pa.array(source_ids, pa.string()),
            "row_in_batch": pa.array(rows, pa.int64()),
            "failed_expectations": pa.array(failures, pa.list_(pa.string())),
            "content_hash": pa.array(hashes, pa.string()),
        }
    )


FILE_ROW = "_row"  # a record's position in its bulk file, while it awaits file-level validation


@dataclass(slots=True)
class PreparedChunk:
    """Consecutive records of a bulk file as Arrow, before the file is validated as a whole:
    every record (with its content hash and its row in the file), their payloads, and the
    chunk's deletions. Small (a thousand records), so workers spool them as they parse."""

    source: str
    batch_id: str
    fetched: int
    rows: pa.Table  # record columns + content_hash + FILE_ROW
    payloads: pa.Table
    deletions: pa.Table


def prepare_chunk(
    records: list[Record],
    deletions: list[Deletion],
    *,
    source: str,
    batch_id: str,
    fetched: int,
    first_row: int,
) -> PreparedChunk:
    """Arrow tables of one chunk; `records[i]` is row `first_row + i` of its file."""
    hashes = [_record_hash(r) for r in records]
    table = (
        records_table(records)
        .append_column("content_hash", pa.array(hashes, pa.string()))
        .append_column(FILE_ROW, pa.array(range(first_row, first_row + len(records)), pa.int64()))
    )
    return PreparedChunk(
        source=source,
        batch_id=batch_id,
        fetched=fetched,
        rows=table,
        payloads=_payloads_table(
            source, hashes, [r.raw if r.raw is not None else b"" for r in records]
        ),
        deletions=_deletions_table(deletions),
    )


def finish_chunk(
    chunk: PreparedChunk,
    *,
    failed: dict[int, list[str]],
    superseded: set[int],
    summaries: list[ValidationSummary],
) -> PreparedBatch:
    """The batch to apply once the whole file is validated: records that failed a critical
    expectation (`failed`, by file row) go to quarantine (`row_in_batch` is then the row in
    the file), and records that a later record of the same id in the file supersedes
    (`superseded`) are recorded as superseded versions, not loaded."""
    rows = chunk.rows.column(FILE_ROW).to_pylist()
    keep = [row not in failed and row not in superseded for row in rows]
    # A superseded copy is never validated (the file's last copy of an id is), so none fails.
    replaced = [row in superseded for row in rows]
    bad = [index for index, row in enumerate(rows) if row in failed]
    source_ids = chunk.rows.column("source_id").to_pylist()
    hashes = chunk.rows.column("content_hash").to_pylist()
    return PreparedBatch(
        source=chunk.source,
        batch_id=chunk.batch_id,
        fetched=chunk.fetched,
        records=_kept(chunk.rows, keep).drop_columns([FILE_ROW]),
        payloads=chunk.payloads,
        deletions=chunk.deletions,
        quarantine=_quarantine_table(
            [source_ids[i] for i in bad],
            [rows[i] for i in bad],  # the record's row in its file
            [failed[rows[i]] for i in bad],
            [hashes[i] for i in bad],
        ),
        summaries=summaries,
        superseded=(
            chunk.rows.filter(pa.array(replaced, pa.bool_()))
            .select(SUPERSEDED_SCHEMA.names)
            .cast(SUPERSEDED_SCHEMA)
            if any(replaced)
            else SUPERSEDED_SCHEMA.empty_table()
        ),
    )


def merge_batches(batches: list[PreparedBatch]) -> PreparedBatch:
    """Consecutive prepared batches of one source as one (named after the first); a later
    batch's record of an id replaces an earlier one's, as loading them in turn would."""
    first = batches[0]
    if len(batches) == 1:
        return first
    records = pa.concat_tables([b.records for b in batches])
    keys = list(
        zip(
            records.column("source").to_pylist(),
            records.column("source_id").to_pylist(),
            strict=True,
        )
    )
    last = {key: index for index, key in enumerate(keys)}
    if len(last) < len(keys):
        records = records.take(sorted(last.values()))
    return PreparedBatch(
        source=first.source,
        batch_id=first.batch_id,
        fetched=sum(b.fetched for b in batches),
        records=records,
        payloads=pa.concat_tables([b.payloads for b in batches]),
        deletions=pa.concat_tables([b.deletions for b in batches]),
        quarantine=pa.concat_tables([b.quarantine for b in batches]),
        summaries=[s for b in batches for s in b.summaries],
        superseded=pa.concat_tables([b.superseded for b in batches]),
    )


@dataclass(frozen=True, slots=True)
class _Selection:
    """Which records of a batch to append (`mask`), and the first_loaded_at of those that
    replace stored ones."""

    mask: list[bool]
    first_loaded: dict[tuple[str, str], dt.datetime]

    def rows(self, prepared: PreparedBatch, run_id: str | None, now: dt.datetime) -> pa.Table:
        return Warehouse._stored_rows(
            _kept(prepared.records, self.mask), self.first_loaded, run_id, now
        )


def _kept(table: pa.Table, keep: list[bool]) -> pa.Table:
    """`table`'s rows where `keep` is true; `table` itself when all are, the usual case, since
    a filter copies every column (whole batches of records, twice per batch of a bulk load)."""
    return table if all(keep) else table.filter(pa.array(keep, pa.bool_()))


class _NotStreamable(Exception):
    """A file whose batches cannot be appended in one statement (see `Warehouse.load_file`)."""


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
    ) -> None:
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise FatalError(
                f"no warehouse at {self.path}: run `biblioduck demo` or a sync first, "
                "or point --db / BIBLIODUCK_DB at an existing file"
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = _open(self.path, read_only, row_group_size)
        self.read_only = read_only
        self.memory_limit = memory_limit
        # DuckDB would otherwise cache up to 80% of RAM; past this it spills to disk. A whole
        # bulk file loads in one transaction, so the cap is what keeps memory flat.
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute("SET preserve_insertion_order = false")
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if not read_only:
            migrate(self.con)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # ---- runs -------------------------------------------------------------------------------

    def start_run(self, source: str, kind: str, parameters: dict[str, Any]) -> str:
        """Record a run as started; `parameters` must hold no secrets (callers pass public ones).

        A run still `running` now was abandoned: one process at a time writes the warehouse,
        and it runs one run at a time, so that run's process ended without finishing it
        (killed, or the machine stopped); what it had not committed was rolled back."""
        self.con.execute(
            "UPDATE runs SET status = 'abandoned', finished_at = ?, error = ? "
            "WHERE status = 'running'",
            [
                _now(),
                "abandoned: its process ended before the run finished (killed?); what it "
                "had not committed was rolled back, and the next run loads it",
            ],
        )
        run_id = f"{source}-{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.con.execute(
            "INSERT INTO runs (run_id, source, kind, parameters, started_at, status) "
            "VALUES (?, ?, ?, ?, ?, 'running')",
            [run_id, source, kind, json.dumps(parameters, default=str), _now()],
        )
        return run_id

    def finish_run(self, run_id: str, *, status: str, error: str | None = None) -> dict[str, Any]:
        self.con.execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = ?, "
            "seconds = epoch(? - started_at) WHERE run_id = ?",
            [status, error, _now(), _now(), run_id],
        )
        return self.run(run_id)

    def run(self, run_id: str) -> dict[str, Any]:
        cursor = self.con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
        if row is None:
            raise KeyError(run_id)
        return dict(zip(names, row, strict=True))

    # ---- sync state -------------------------------------------------------------------------

    def state(self, source: str, scope: str) -> tuple[str | None, dict[str, Any] | None]:
        """(watermark, checkpoint) of one sync scope; (None, None) when never synced."""
        row = self.con.execute(
            "SELECT watermark, checkpoint FROM sync_state WHERE source = ? AND scope = ?",
            [source, scope],
        ).fetchone()
        if row is None:
            return None, None
        return row[0], (json.loads(row[1]) if row[1] is not None else None)

    def _write_state(self, con: duckdb.DuckDBPyConnection, update: StateUpdate) -> None:
        con.execute(
            "INSERT INTO sync_state (source, scope, watermark, checkpoint, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, scope) DO UPDATE SET "
            "watermark = excluded.watermark, checkpoint = excluded.checkpoint, "
            "updated_at = excluded.updated_at",
            [
                update.source,
                update.scope,
                update.watermark,
                json.dumps(update.checkpoint) if update.checkpoint is not None else None,
                _now(),
            ],
        )

    def save_state(self, update: StateUpdate) -> None:
        with self.transaction() as con:
            self._write_state(con, update)

    # ---- the batch load ---------------------------------------------------------------------

    def load_batch(
        self,
        batch: ValidatedBatch,
        *,
        source: str,
        batch_id: str,
        run_id: str | None,
        fetched: int,
        state: StateUpdate | None = None,
    ) -> LoadCounts:
        """Apply one validated batch in one transaction and return what it did."""
        prepared = prepare_batch(batch, source=source, batch_id=batch_id, fetched=fetched)
        with self.transaction() as con:
            return self.apply(con, prepared, run_id=run_id, state=state)

    def apply(
        self,
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        *,
        run_id: str | None,
        state: StateUpdate | None = None,
        file: LedgerEntry | None = None,
    ) -> LoadCounts:
        """Apply a prepared batch inside the caller's open transaction.

        Within a batch the last version of a source id wins; deletions apply after records
        (as in PubMed files, whose DeleteCitation comes last). A stored version newer than the
        incoming one (by `source_version`) is kept and the incoming one counted as stale; so
        is a record of bulk `file` that a later file deleted (see `tombstones`).
        """
        now = _now()
        counts, selection = self._apply_records(con, prepared, run_id, now, file)
        if selection is not None:
            self._append_records(con, selection.rows(prepared, run_id, now))
        if prepared.deletions.num_rows:
            counts.deleted = self._apply_deletions(con, prepared, run_id, now, file)
        self._apply_rest(con, prepared, run_id, now)
        if state is not None:
            self._write_state(con, state)
        self._add_to_run(con, run_id, counts, batches=1)
        return counts

    def _apply_records(
        self,
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        run_id: str | None,
        now: dt.datetime,
        file: LedgerEntry | None = None,
    ) -> tuple[LoadCounts, _Selection | None]:
        """Classify a batch's records and write everything their changes need except the new
        rows themselves: payloads, history, measurements; the old rows of updated records go.
        Returns the counts and which records to append (None when none)."""
        counts = LoadCounts(fetched=prepared.fetched, quarantined=prepared.quarantine.num_rows)
        if not prepared.records.num_rows:
            return counts, None
        actions, first_loaded = self._classify(con, prepared.records, file)
        counts.inserted = actions.count("insert")
        counts.updated = actions.count("update")
        counts.unchanged = actions.count("unchanged")
        counts.stale = actions.count("stale")
        if not (counts.inserted or counts.updated):
            return counts, None
        mask = [a in ("insert", "update") for a in actions]
        changes = pa.array([a for a in actions if a in ("insert", "update")], pa.string())
        self._write_records(
            con,
            prepared,
            _kept(prepared.records, mask),
            changes,
            counts.updated > 0,
            run_id,
            now,
        )
        return counts, _Selection(mask, first_loaded)

    @staticmethod
    def _append_records(
        con: duckdb.DuckDBPyConnection, rows: pa.Table | pa.RecordBatchReader
    ) -> None:
        con.register("_rows", rows)
        try:
            con.execute("INSERT INTO source_records BY NAME SELECT * FROM _rows")
        finally:
            con.unregister("_rows")

    def _apply_rest(
        self,
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        run_id: str | None,
        now: dt.datetime,
    ) -> None:
        """A batch's quarantined rows, superseded copies and validation summaries."""
        if prepared.quarantine.num_rows:
            self._quarantine(con, prepared, run_id, now)
        if prepared.superseded.num_rows:
            self._record_superseded(con, prepared, run_id, now)
        for summary in prepared.summaries:
            con.execute(
                "INSERT INTO validation_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    prepared.source,
                    prepared.batch_id,
                    run_id,
                    summary.suite,
                    summary.rows,
                    summary.failed_rows,
                    summary.success,
                    json.dumps(summary.failures),
                    now,
                ],
            )

    @staticmethod
    def _add_to_run(
        con: duckdb.DuckDBPyConnection, run_id: str | None, counts: LoadCounts, *, batches: int
    ) -> None:
        if run_id is None:
            return
        con.execute(
            "UPDATE runs SET batches = batches + ?, fetched = fetched + ?, "
            "inserted = inserted + ?, updated = updated + ?, unchanged = unchanged + ?, "
            "stale = stale + ?, deleted = deleted + ?, quarantined = quarantined + ? "
            "WHERE run_id = ?",
            [
                batches,
                counts.fetched,
                counts.inserted,
                counts.updated,
                counts.unchanged,
                counts.stale,
                counts.deleted,
                counts.quarantined,
                run_id,
            ],
        )

    @staticmethod
    def _classify(
        con: duckdb.DuckDBPyConnection, records: pa.Table, file: LedgerEntry | None = None
    ) -> tuple[list[str], dict[tuple[str, str], dt.datetime]]:
        """(insert/update/unchanged/stale per record, first_loaded_at of the stored ones).
        Records of bulk `file` that a later file deleted are stale too."""
        keys = records.select(["source", "source_id"])
        con.register("_incoming_keys", keys)
        try:
            stored = {
                (row[0], row[1]): row[2:]
                for row in con.execute(
                    "SELECT s.source, s.source_id, s.content_hash, s.deleted, s.source_version, "
                    "s.first_loaded_at FROM source_records s SEMI JOIN _incoming_keys k "
                    "ON s.source = k.source AND s.source_id = k.source_id"
                ).fetchall()
            }
            buried: set[tuple[str, str]] = set()
            if file is not None and file.file_order is not None:
                buried = {
                    (row[0], row[1])
                    for row in con.execute(
                        "SELECT t.source, t.source_id FROM tombstones t SEMI JOIN _incoming_keys "
                        "k ON t.source = k.source AND t.source_id = k.source_id "
                        "WHERE t.file_order > ?",
                        [file.file_order],
                    ).fetchall()
                }
        finally:
            con.unregister("_incoming_keys")
        actions = []
        for source, source_id, digest, version in zip(
            records.column("source").to_pylist(),
            records.column("source_id").to_pylist(),
            records.column("content_hash").to_pylist(),
            records.column("source_version").to_pylist(),
            strict=True,
        ):
            if (source, source_id) in buried:
                actions.append("stale")  # deleted by a later file: an older file's copy
                continue
            existing = stored.get((source, source_id))
            if existing is None:
                actions.append("insert")
                continue
            stored_hash, deleted, stored_version, _first_loaded = existing
            if stored_hash == digest and not deleted:
                actions.append("unchanged")
            elif stored_version is not None and version is not None and stored_version > version:
                actions.append("stale")
            else:
                actions.append("update")
        return actions, {key: values[3] for key, values in stored.items()}

    @staticmethod
    def _insert_payloads(
        con: duckdb.DuckDBPyConnection,
        payloads: pa.Table,
        wanted: set[str],
        keys: pa.Table,
        now: dt.datetime,
    ) -> None:
        """Store the payloads of `wanted` hashes that the warehouse does not hold yet; `keys`
        (source, source_id) are the records they belong to.

        A payload is stored with the first record version or quarantined row that has it, so
        only those of `keys`, and quarantined hashes, are searched: a lookup by record id
        costs what `_classify`'s does, where one over every stored hash scanned them all
        (0.2 s per 5,000 at 10 M payloads) and the primary key it had needed its whole index
        in memory to insert (~700 MB at 10 M payloads; a full PubMed baseline is 39 M).
        Chosen in Python, so the insert is a plain append: a GROUP BY or join over the
        payload column made DuckDB hold every payload in a hash table."""
        if not wanted:
            return
        con.register("_wanted", pa.table({"content_hash": pa.array(sorted(wanted), pa.string())}))
        con.register("_keys", keys)
        try:
            held = {
                row[0]
                for row in con.execute(
                    "SELECT v.content_hash FROM record_versions v SEMI JOIN _keys k "
                    "ON v.source = k.source AND v.source_id = k.source_id "
                    "WHERE v.content_hash IS NOT NULL "
                    "UNION SELECT q.content_hash FROM quarantine q SEMI JOIN _wanted w "
                    "USING (content_hash)"
                ).fetchall()
            }
        finally:
            con.unregister("_wanted")
            con.unregister("_keys")
        take = []
        for index, digest in enumerate(payloads.column("content_hash").to_pylist()):
            if digest in wanted and digest not in held:
                held.add(digest)  # the first copy of a payload repeated in the batch
                take.append(index)
        if not take:
            return
        new = payloads if len(take) == payloads.num_rows else payloads.take(take)
        # As a reader, not a table: DuckDB keeps what is registered alive until the
        # transaction ends, and a whole file's payloads (~80 MB of recent records) stayed in
        # memory through its load; a reader lets each batch go once it is inserted.
        con.register(
            "_new_payloads", pa.RecordBatchReader.from_batches(new.schema, new.to_batches())
        )
        del new
        try:
            con.execute(
                "INSERT INTO raw_payloads (content_hash, source, encoding, payload, first_seen_at, "
                "raw_bytes) SELECT content_hash, source, ?, payload, ?, raw_bytes "
                "FROM _new_payloads",
                [PAYLOAD_ENCODING, now],
            )
        finally:
            con.unregister("_new_payloads")

    @staticmethod
    def _stored_rows(
        records: pa.Table,
        first_loaded: dict[tuple[str, str], dt.datetime],
        run_id: str | None,
        now: dt.datetime,
    ) -> pa.Table:
        """`source_records` rows of changed records; first_loaded_at survives a replacement."""
        n = records.num_rows
        keys = zip(
            records.column("source").to_pylist(),
            records.column("source_id").to_pylist(),
            strict=True,
        )
        timestamp = pa.timestamp("us", tz="UTC")
        return (
            records.append_column("deleted", pa.array([False] * n, pa.bool_()))
            .append_column("loaded_at", pa.array([now] * n, timestamp))
            .append_column("run_id", pa.array([run_id] * n, pa.string()))
            .append_column(
                "first_loaded_at", pa.array([first_loaded.get(k, now) for k in keys], timestamp)
            )
        )

    @classmethod
    def _write_records(
        cls,
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        records: pa.Table,
        changes: pa.Array,
        replacing: bool,
        run_id: str | None,
        now: dt.datetime,
    ) -> None:
        """Write what changed records need besides their new rows (payloads, history,
        measurements) and remove the rows they replace (`replacing`: some are stored)."""
        changed = pa.table(
            {
                "source": records.column("source"),
                "source_id": records.column("source_id"),
                "change": changes,
                "content_hash": records.column("content_hash"),
                "source_version": records.column("source_version"),
            }
        )
        cls._insert_payloads(
            con,
            prepared.payloads,
            set(records.column("content_hash").to_pylist()),
            records.select(["source", "source_id"]),
            now,
        )
        # Only the columns the statements read: DuckDB keeps what is registered in a
        # transaction alive until it ends, so a whole batch would stay in memory per batch.
        con.register("_batch", records.select(["source", "source_id", "metrics"]))
        con.register("_changes", changed)
        try:
            if replacing:
                con.execute(
                    "DELETE FROM source_records s USING _changes c "
                    "WHERE s.source = c.source AND s.source_id = c.source_id"
                )
            con.execute(
                "INSERT INTO record_versions SELECT source, source_id, change, content_hash, "
                "source_version, NULL, ?, ?, ? FROM _changes",
                [run_id, prepared.batch_id, now],
            )
            # Measurements (citation counts) accumulate: a new value is a new row, never an
            # overwrite, so their history survives every new version of the record.
            con.execute(
                "INSERT INTO measurements "
                "WITH incoming AS (SELECT DISTINCT b.source, b.source_id, m.name, m.provider, "
                "m.value, m.as_of FROM _batch b, unnest(b.metrics) AS t(m)) "
                "SELECT i.*, ?, ? FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM measurements x "
                "WHERE x.source = i.source AND x.source_id = i.source_id AND x.name = i.name "
                "AND x.provider = i.provider AND x.value = i.value "
                "AND x.as_of IS NOT DISTINCT FROM i.as_of)",
                [run_id, now],
            )
        finally:
            for name in ("_batch", "_changes"):
                con.unregister(name)

    @staticmethod
    def _apply_deletions(
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        run_id: str | None,
        now: dt.datetime,
        file: LedgerEntry | None = None,
    ) -> int:
        con.register("_deletions", prepared.deletions)
        try:
            if file is not None and file.file_order is not None:
                con.execute(
                    "INSERT INTO tombstones SELECT source, source_id, ?, ?, reason, ?, ? "
                    "FROM _deletions",
                    [file.file_order, file.name, run_id, now],
                )
            # Most deletions name records the warehouse never had. An UPDATE … FROM with no
            # match still costs DuckDB memory for every row the transaction appended (measured:
            # >250 MB for a 41,576-record file); a lookup first costs milliseconds.
            (matches,) = con.execute(
                "SELECT count(*) FROM source_records s SEMI JOIN _deletions d "
                "ON s.source = d.source AND s.source_id = d.source_id WHERE NOT s.deleted"
            ).fetchone() or (0,)
            if not matches:
                return 0
            applied = con.execute(
                "UPDATE source_records s SET deleted = true, deleted_at = ?, run_id = ? "
                "FROM _deletions d WHERE s.source = d.source AND s.source_id = d.source_id "
                "AND NOT s.deleted RETURNING s.source, s.source_id",
                [now, run_id],
            ).fetchall()
            if applied:
                applied_keys = pa.table(
                    {
                        "source": [k[0] for k in applied],
                        "source_id": [k[1] for k in applied],
                    }
                )
                con.register("_applied", applied_keys)
                try:
                    con.execute(
                        "INSERT INTO record_versions SELECT d.source, d.source_id, 'delete', "
                        "NULL, NULL, d.reason, ?, ?, ? FROM _deletions d SEMI JOIN _applied a "
                        "ON d.source = a.source AND d.source_id = a.source_id",
                        [run_id, prepared.batch_id, now],
                    )
                finally:
                    con.unregister("_applied")
        finally:
            con.unregister("_deletions")
        return len(applied)

    @classmethod
    def _record_superseded(
        cls,
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        run_id: str | None,
        now: dt.datetime,
    ) -> None:
        """Versions a later copy of the same id in the same file replaced before they were
        loaded: kept in the history with their payloads (change 'superseded')."""
        superseded = prepared.superseded
        wanted = {h for h in superseded.column("content_hash").to_pylist() if h}
        cls._insert_payloads(
            con, prepared.payloads, wanted, superseded.select(["source", "source_id"]), now
        )
        con.register("_superseded", superseded)
        try:
            con.execute(
                "INSERT INTO record_versions SELECT s.source, s.source_id, 'superseded', "
                "s.content_hash, s.source_version, NULL, ?, ?, ? FROM _superseded s "
                "WHERE NOT EXISTS (SELECT 1 FROM record_versions v WHERE v.source = s.source "
                "AND v.source_id = s.source_id AND v.content_hash = s.content_hash)",
                [run_id, prepared.batch_id, now],
            )
        finally:
            con.unregister("_superseded")

    @classmethod
    def _quarantine(
        cls,
        con: duckdb.DuckDBPyConnection,
        prepared: PreparedBatch,
        run_id: str | None,
        now: dt.datetime,
    ) -> None:
        wanted = {h for h in prepared.quarantine.column("content_hash").to_pylist() if h}
        ids = prepared.quarantine.column("source_id")
        keys = pa.table(
            {"source": pa.array([prepared.source] * len(ids), pa.string()), "source_id": ids}
        )
        cls._insert_payloads(con, prepared.payloads, wanted, keys, now)
        con.register("_quarantined", prepared.quarantine)
        try:
            # Re-running the same input must not quarantine the same payload twice.
            con.execute(
                "INSERT INTO quarantine SELECT ?, q.source_id, ?, ?, q.row_in_batch, "
                "q.failed_expectations, q.content_hash, ? FROM _quarantined q "
                "WHERE q.content_hash IS NULL OR q.content_hash NOT IN "
                "(SELECT content_hash FROM quarantine WHERE content_hash IS NOT NULL)",
                [prepared.source, prepared.batch_id, run_id, now],
            )
        finally:
            con.unregister("_quarantined")

    # ---- the ledger of bulk files ------------------------------------------------------------

    def ledger(self) -> dict[str, dict[str, Any]]:
        """Every bulk file the warehouse knows, by name."""
        cursor = self.con.execute("SELECT * FROM bulk_files ORDER BY year, number, kind")
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}

    def load_file(
        self,
        entry: LedgerEntry,
        batches: BatchSource,
        *,
        run_id: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> LoadCounts:
        """Apply all batches of one file and mark it loaded, in ONE transaction: a file is
        loaded exactly once, and one interrupted half-way leaves no trace.

        `batches` gives the file's batches in order and is called twice: a first pass applies
        all but the new rows, a second appends every new row of the file in one statement
        streamed from the batches. DuckDB keeps a transaction's appended rows in memory until
        it commits, except whole row groups, which it writes out as a statement fills them:
        opened with small row groups (`row_group_size`, as the bulk flow does) the memory a
        file needs no longer grows with it. The batches it scans stay alive until their row
        group is written, so the second pass reads them without payloads. `progress` gets the
        items applied so far after each batch of the first pass."""
        started = time.perf_counter()
        try:
            try:
                with self.transaction() as con:
                    counts, deletions = self._load_file_streaming(
                        con, entry, batches, run_id, progress
                    )
                    self._finish_file(con, entry, counts, deletions, started, run_id)
            except _NotStreamable:
                # Records after a deletion, or one id twice: apply batch by batch, in order.
                with self.transaction() as con:
                    counts, deletions = LoadCounts(), 0
                    for prepared in batches():
                        counts.add(self.apply(con, prepared, run_id=run_id, file=entry))
                        deletions += prepared.deletions.num_rows
                    self._finish_file(con, entry, counts, deletions, started, run_id)
        except duckdb.OutOfMemoryException as exc:
            raise FatalError(
                f"{entry.name}: DuckDB ran out of its memory limit ({self.memory_limit}) while "
                "loading the file in one transaction; nothing of the file was loaded. Raise "
                "BIBLIODUCK_BULK_MEMORY_LIMIT (80MB loads 41,576 recent PubMed records in one "
                f"file). DuckDB said: {exc}"
            ) from exc
        # The commit (DuckDB writes the WAL and usually checkpoints here) is a large part of a
        # load: measured, about half of it on the e2e benchmark. Count it too.
        self.con.execute(
            "UPDATE bulk_files SET load_seconds = ? WHERE name = ?",
            [time.perf_counter() - started, entry.name],
        )
        return counts

    def _finish_file(
        self,
        con: duckdb.DuckDBPyConnection,
        entry: LedgerEntry,
        counts: LoadCounts,
        deletions: int,
        started: float,
        run_id: str | None,
    ) -> None:
        self._write_ledger(
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
        self,
        con: duckdb.DuckDBPyConnection,
        entry: LedgerEntry,
        batches: BatchSource,
        run_id: str | None,
        progress: Callable[[int], None] | None,
    ) -> tuple[LoadCounts, int]:
        now = _now()
        counts = LoadCounts()
        seen: set[tuple[str, str]] = set()
        # Which of the file's records to append, in file order, and the first_loaded_at of
        # those that replace stored ones.
        appending = _Selection([], {})
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
            batch_counts, selection = self._apply_records(con, prepared, run_id, now, entry)
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
            self._apply_rest(con, prepared, run_id, now)
            counts.add(batch_counts)
            applied += prepared.fetched
            if progress is not None:
                progress(applied)
        if batch_count:
            del prepared  # the last batch would stay alive through the append
        if any(appending.mask):
            self._append_records(con, self._rows_reader(batches, appending, run_id, now))
        deletions = 0
        for prepared in with_deletions:  # after every record, as in the file
            counts.deleted += self._apply_deletions(con, prepared, run_id, now, entry)
            deletions += prepared.deletions.num_rows
        self._add_to_run(con, run_id, counts, batches=batch_count)
        return counts, deletions

    def _rows_reader(
        self,
        batches: BatchSource,
        appending: _Selection,
        run_id: str | None,
        now: dt.datetime,
    ) -> pa.RecordBatchReader:
        """The new rows of the file (`appending`: which records, in file order), its batches
        read again without payloads, one at a time (the reader runs inside DuckDB's INSERT:
        it must not use the connection)."""
        empty = pa.schema([*record_schema(), pa.field("content_hash", pa.string())]).empty_table()
        schema = self._stored_rows(empty, {}, run_id, now).schema

        def rows() -> Iterator[pa.RecordBatch]:
            start = 0
            for prepared in batches(payloads=False):
                end = start + prepared.records.num_rows
                selection = _Selection(appending.mask[start:end], appending.first_loaded)
                start = end
                if any(selection.mask):
                    yield from selection.rows(prepared, run_id, now).cast(schema).to_batches()
            if start != len(appending.mask):
                raise FatalError(
                    f"a file's batches gave {start} records to append from, then "
                    f"{len(appending.mask)} when read again"
                )

        return pa.RecordBatchReader.from_batches(schema, rows())

    def mark_file_failed(self, entry: LedgerEntry, *, run_id: str | None, error: str) -> None:
        """Note a file that could not be loaded (it stays to be loaded by the next run)."""
        with self.transaction() as con:
            self._write_ledger(
                con,
                entry,
                status="failed",
                counts=LoadCounts(),
                deletions=0,
                load_seconds=None,
                run_id=run_id,
                error=error,
            )

    @staticmethod
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
        con.execute(
            "INSERT OR REPLACE INTO bulk_files VALUES "
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
                _now(),
            ],
        )

    # ---- reading ----------------------------------------------------------------------------

    def raw_payload(self, digest: str) -> bytes | None:
        """The original payload stored under a content hash (for replays and quarantine)."""
        row = self.con.execute(
            "SELECT encoding, payload, raw_bytes FROM raw_payloads WHERE content_hash = ? LIMIT 1",
            [digest],
        ).fetchone()
        if row is None:
            return None
        return decode_payload(row[0], row[1], row[2])
