"""Runs (the `runs` table: one row per flow run, with its counters) and sync state (where a
sync stands: `sync_state`, written in the transaction of the batch it describes)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import duckdb

from schemas.batch import LoadCounts, StateUpdate
from warehouse import drift
from warehouse.connection import now
from warehouse.ddl import on_lake

ABANDONED = (
    "abandoned: its process ended before the run finished (killed?); what it "
    "had not committed was rolled back, and the next run loads it"
)


def start_run(
    con: duckdb.DuckDBPyConnection, source: str, kind: str, parameters: dict[str, Any]
) -> str:
    """Record a run as started; `parameters` must hold no secrets (callers pass public ones).

    A run still `running` now was abandoned: one process at a time writes the warehouse,
    and it runs one run at a time, so that run's process ended without finishing it
    (killed, or the machine stopped); what it had not committed was rolled back."""
    con.execute(
        "UPDATE runs SET status = 'abandoned', finished_at = ?, error = ? WHERE status = 'running'",
        [now(), ABANDONED],
    )
    run_id = f"{source}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    con.execute(
        "INSERT INTO runs (run_id, source, kind, parameters, started_at, status) "
        "VALUES (?, ?, ?, ?, ?, 'running')",
        [run_id, source, kind, json.dumps(parameters, default=str), now()],
    )
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, *, status: str, error: str | None = None
) -> dict[str, Any]:
    """Finish a run's row and add up its drift (`warehouse.drift`): the row returned also
    lists, under `drift.FIRST_SEEN`, the names no earlier run saw, for the flow to warn of
    (a bulk run finishes in the writer process, whose log nobody reads)."""
    first_seen = drift.settle_run(con, run_id)
    # On a lake, the run notes the snapshot its loads ended at: `query --as-of RUN_ID` reads
    # the warehouse as that run left it.
    snapshot = (
        "(SELECT max(snapshot_id) FROM ducklake_snapshots(current_database()))"
        if on_lake(con)
        else "NULL"
    )
    con.execute(
        "UPDATE runs SET status = ?, error = ?, finished_at = ?, "
        f"seconds = epoch(? - started_at), snapshot_id = {snapshot} WHERE run_id = ?",
        [status, error, now(), now(), run_id],
    )
    finished = run(con, run_id)
    finished[drift.FIRST_SEEN] = [(new.source, new.name, new.records) for new in first_seen]
    return finished


def run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    cursor = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    if row is None:
        raise KeyError(run_id)
    return dict(zip(names, row, strict=True))


def add_to_run(
    con: duckdb.DuckDBPyConnection, run_id: str | None, counts: LoadCounts, *, batches: int
) -> None:
    """Add a load's counts to its run's counters (in the load's transaction)."""
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


def state(
    con: duckdb.DuckDBPyConnection, source: str, scope: str
) -> tuple[str | None, dict[str, Any] | None]:
    """(watermark, checkpoint) of one sync scope; (None, None) when never synced."""
    row = con.execute(
        "SELECT watermark, checkpoint FROM sync_state WHERE source = ? AND scope = ?",
        [source, scope],
    ).fetchone()
    if row is None:
        return None, None
    return row[0], (json.loads(row[1]) if row[1] is not None else None)


def write_state(con: duckdb.DuckDBPyConnection, update: StateUpdate) -> None:
    # Delete and insert, not an upsert: a DuckLake has no keys to conflict on. The caller's
    # transaction (the batch's) makes the pair one change.
    con.execute(
        "DELETE FROM sync_state WHERE source = ? AND scope = ?", [update.source, update.scope]
    )
    con.execute(
        "INSERT INTO sync_state (source, scope, watermark, checkpoint, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            update.source,
            update.scope,
            update.watermark,
            json.dumps(update.checkpoint) if update.checkpoint is not None else None,
            now(),
        ],
    )
