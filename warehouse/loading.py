"""What loading a prepared batch means, inside the caller's open transaction: each record
classified against the stored one (insert, update, unchanged, stale), new rows appended with
their history, payloads, measurements; deletions after records; quarantined rows, superseded
copies and validation summaries kept. Loading the same input again changes nothing (content
hashes)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Protocol

import duckdb
import pyarrow as pa

from schemas.batch import LoadCounts, StateUpdate, ValidationSummary
from warehouse.connection import now as clock
from warehouse.prepare import PAYLOAD_ENCODING, PreparedBatch, kept
from warehouse.runs import add_to_run, write_state


class FilePlace(Protocol):
    """A bulk file as loading needs it (`warehouse.ledger.LedgerEntry` is one): its name, and
    its place in NLM's order (None for a file outside it, as most imports are)."""

    @property
    def name(self) -> str: ...

    @property
    def file_order(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Selection:
    """Which records of a batch to append (`mask`), and the first_loaded_at of those that
    replace stored ones."""

    mask: list[bool]
    first_loaded: dict[tuple[str, str], dt.datetime]

    def rows(self, prepared: PreparedBatch, run_id: str | None, now: dt.datetime) -> pa.Table:
        return stored_rows(kept(prepared.records, self.mask), self.first_loaded, run_id, now)


def apply(
    con: duckdb.DuckDBPyConnection,
    prepared: PreparedBatch,
    *,
    run_id: str | None,
    state: StateUpdate | None = None,
    file: FilePlace | None = None,
) -> LoadCounts:
    """Apply a prepared batch inside the caller's open transaction.

    A batch carries each source id once (validation keeps the last copy of an input and
    sets the earlier ones aside as superseded); deletions apply after records
    (as in PubMed files, whose DeleteCitation comes last). A stored version newer than the
    incoming one (by `source_version`) is kept and the incoming one counted as stale; so
    is a record of bulk `file` that a later file deleted (see `tombstones`).
    """
    now = clock()
    counts, selection = apply_records(con, prepared, run_id, now, file)
    if selection is not None:
        append_records(con, selection.rows(prepared, run_id, now))
    if prepared.deletions.num_rows:
        counts.deleted = apply_deletions(con, prepared, run_id, now, file)
    apply_rest(con, prepared, run_id, now)
    if state is not None:
        write_state(con, state)
    add_to_run(con, run_id, counts, batches=1)
    return counts


def apply_records(
    con: duckdb.DuckDBPyConnection,
    prepared: PreparedBatch,
    run_id: str | None,
    now: dt.datetime,
    file: FilePlace | None = None,
) -> tuple[LoadCounts, Selection | None]:
    """Classify a batch's records and write everything their changes need except the new
    rows themselves: payloads, history, measurements; the old rows of updated records go.
    Returns the counts and which records to append (None when none)."""
    counts = LoadCounts(fetched=prepared.fetched, quarantined=prepared.quarantine.num_rows)
    if not prepared.records.num_rows:
        return counts, None
    actions, first_loaded = _classify(con, prepared.records, file, reparsed=prepared.reparsed)
    counts.inserted = actions.count("insert")
    counts.updated = actions.count("update") + actions.count("reparsed")
    counts.unchanged = actions.count("unchanged")
    counts.stale = actions.count("stale")
    if not (counts.inserted or counts.updated):
        return counts, None
    mask = [a in _WRITTEN for a in actions]
    changes = pa.array([a for a in actions if a in _WRITTEN], pa.string())
    _write_records(
        con,
        prepared,
        kept(prepared.records, mask),
        changes,
        counts.updated > 0,
        run_id,
        now,
    )
    return counts, Selection(mask, first_loaded)


# What a record's classification writes: a new row, and a version with that change.
_WRITTEN = frozenset({"insert", "update", "reparsed"})


def append_records(con: duckdb.DuckDBPyConnection, rows: pa.Table | pa.RecordBatchReader) -> None:
    con.register("_rows", rows)
    try:
        con.execute("INSERT INTO source_records BY NAME SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def apply_rest(
    con: duckdb.DuckDBPyConnection,
    prepared: PreparedBatch,
    run_id: str | None,
    now: dt.datetime,
) -> None:
    """A batch's quarantined rows, superseded copies and validation summaries."""
    if prepared.quarantine.num_rows:
        _quarantine(con, prepared, run_id, now)
    if prepared.superseded.num_rows:
        _record_superseded(con, prepared, run_id, now)
    for summary in prepared.summaries:
        con.execute(
            "INSERT INTO validation_results (source, batch_id, run_id, suite, rows, failed_rows, "
            "success, failures, validated_at, gx_result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                summary.result if _keeps_result(con, prepared.source, run_id, summary) else None,
            ],
        )


# GX results kept per run, source and suite at most (~10 KB each).
KEPT_RESULTS_PER_RUN = 100


def _keeps_result(
    con: duckdb.DuckDBPyConnection, source: str, run_id: str | None, summary: ValidationSummary
) -> bool:
    """Whether to keep GX's result of `summary` for the Data Docs (expectations.data_docs):
    when an expectation failed or warned, while the run keeps fewer than `KEPT_RESULTS_PER_RUN`
    of that source and suite; when all passed, only if it keeps none yet. A run of 1,000
    batches keeps at most a few hundred results, however many fail."""
    if summary.result is None:
        return False
    if run_id is None:
        return bool(summary.failures)
    stored = con.execute(
        "SELECT count(*) FROM validation_results "
        "WHERE run_id = ? AND source = ? AND suite = ? AND gx_result IS NOT NULL",
        [run_id, source, summary.suite],
    ).fetchone()
    so_far = stored[0] if stored else 0
    return so_far < KEPT_RESULTS_PER_RUN if summary.failures else so_far == 0


def _classify(
    con: duckdb.DuckDBPyConnection,
    records: pa.Table,
    file: FilePlace | None = None,
    *,
    reparsed: bool = False,
) -> tuple[list[str], dict[tuple[str, str], dt.datetime]]:
    """(insert/update/unchanged/stale per record, first_loaded_at of the stored ones).
    Records of bulk `file` that a later file deleted are stale too. In a `reparsed` batch a
    record whose payload is stored unchanged is 'reparsed' (its row is rewritten), not
    'unchanged'."""
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
            actions.append("reparsed" if reparsed else "unchanged")
        elif stored_version is not None and version is not None and stored_version > version:
            actions.append("stale")
        else:
            actions.append("update")
    return actions, {key: values[3] for key, values in stored.items()}


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
    con.register("_new_payloads", pa.RecordBatchReader.from_batches(new.schema, new.to_batches()))
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


def stored_rows(
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


def _write_records(
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
    _insert_payloads(
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


def apply_deletions(
    con: duckdb.DuckDBPyConnection,
    prepared: PreparedBatch,
    run_id: str | None,
    now: dt.datetime,
    file: FilePlace | None = None,
) -> int:
    con.register("_deletions", prepared.deletions)
    try:
        if file is not None and file.file_order is not None:
            con.execute(
                "INSERT INTO tombstones SELECT source, source_id, ?, ?, reason, ?, ? "
                "FROM _deletions",
                [file.file_order, file.name, run_id, now],
            )
        # The keys first, then the update (not UPDATE … RETURNING, which a DuckLake does not
        # support): the same rows, inside the batch's transaction. Most deletions name records
        # the warehouse never had, and an UPDATE … FROM with no match still costs DuckDB
        # memory for every row the transaction appended (measured: >250 MB for a
        # 41,576-record file): with no key found, no update.
        applied = con.execute(
            "SELECT s.source, s.source_id FROM source_records s SEMI JOIN _deletions d "
            "ON s.source = d.source AND s.source_id = d.source_id WHERE NOT s.deleted"
        ).fetchall()
        if not applied:
            return 0
        con.execute(
            "UPDATE source_records s SET deleted = true, deleted_at = ?, run_id = ? "
            "FROM _deletions d WHERE s.source = d.source AND s.source_id = d.source_id "
            "AND NOT s.deleted",
            [now, run_id],
        )
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


def _record_superseded(
    con: duckdb.DuckDBPyConnection,
    prepared: PreparedBatch,
    run_id: str | None,
    now: dt.datetime,
) -> None:
    """Versions a later copy of the same id in the same file replaced before they were
    loaded: kept in the history with their payloads (change 'superseded')."""
    superseded = prepared.superseded
    wanted = {h for h in superseded.column("content_hash").to_pylist() if h}
    _insert_payloads(
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


def _quarantine(
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
    _insert_payloads(con, prepared.payloads, wanted, keys, now)
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
