"""Read-only views of the warehouse for people: status per source and ad-hoc queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from schemas.errors import FatalError, UsageError
from warehouse.drift import drift_rows
from warehouse.sql_gate import RefusedSql, check_read_only_sql
from warehouse.store import Warehouse

# Set on an analyst's connection before their SQL runs, the last one locking the others: no
# file, other database or extension is reachable (ATTACH, COPY … TO, read_text('/etc/passwd'),
# INSTALL and LOAD all fail), nothing spills to disk, and the warehouse is opened read-only.
LOCKED_DOWN = (
    "SET temp_directory = ''",  # first: without external access it cannot be changed
    "SET enable_external_access = false",
    "SET allow_community_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Lock a read-only warehouse connection down (`LOCKED_DOWN`). A lake's Parquet files are
    read as its snapshots need them, after the lockdown: its data path stays readable (and
    `warehouse.sql_gate` keeps analysts' SQL to SELECTs of its tables, so nothing writes
    there)."""
    lakes = con.execute(
        "SELECT database_name FROM duckdb_databases() WHERE type = 'ducklake'"
    ).fetchall()
    paths = []
    for (lake,) in lakes:  # the warehouse, even when a search made its index file the default
        row = con.execute("SELECT data_path FROM ducklake_settings(?)", [lake]).fetchone()
        if row and row[0]:
            paths.append("'" + str(row[0]).replace("'", "''") + "'")
    if paths:
        con.execute(f"SET allowed_directories = [{', '.join(paths)}]")
    for statement in LOCKED_DOWN:
        con.execute(statement)


# Without spilling to disk, a query has this much memory (the machine has 24 GB).
QUERY_MEMORY_LIMIT = "4GB"


class AnalystReads:
    """A connection that can only read the warehouse, for one analyst's statements (see
    `analyst_reads`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def __call__(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The columns and rows of one SELECT, checked (`warehouse.sql_gate`) before it runs."""
        if not sql.strip():
            raise UsageError("query: no SQL given")
        try:
            check_read_only_sql(self._con, sql)
        except RefusedSql as exc:
            raise FatalError(
                f"query refused: {exc}. `query` only reads the warehouse: it cannot write, "
                "attach or read other files, or install or load extensions"
            ) from None
        try:
            cursor = self._con.execute(sql)
        except duckdb.PermissionException as exc:
            raise FatalError(
                f"query refused: {exc}. `query` only reads the warehouse: it cannot write, "
                "attach or read other files, or install or load extensions"
            ) from None
        except duckdb.Error as exc:
            raise FatalError(f"query failed: {exc}") from None
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()


@contextmanager
def analyst_reads(db: Path, *, as_of: str | None = None) -> Iterator[AnalystReads]:
    """One locked-down read-only connection for several statements (the report's charts):
    opening a lake costs ~0.4 s of extension loading, paid once."""
    with Warehouse(db, read_only=True, memory_limit=QUERY_MEMORY_LIMIT, as_of=as_of) as warehouse:
        lock_down(warehouse.con)
        yield AnalystReads(warehouse.con)


def read_only_query(
    db: Path, sql: str, *, as_of: str | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run an analyst's SQL on a connection that can only read the warehouse: it cannot write,
    attach or detach databases, read or write other files, or install or load extensions."""
    if not sql.strip():
        raise UsageError("query: no SQL given")
    with analyst_reads(db, as_of=as_of) as read:
        return read(sql)


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def warehouse_status(db: Path) -> dict[str, Any]:
    """Per source: current and deleted records, quarantine size, last run; sync state; runs;
    drift (`warehouse.drift.DRIFT_SQL`: each unknown name, when first seen, its last count)."""
    with Warehouse(db, read_only=True) as warehouse:
        con = warehouse.con
        sources = _dicts(
            con.execute("""
            WITH counts AS (
                SELECT source, count(*) FILTER (WHERE NOT deleted) AS records,
                       count(*) FILTER (WHERE deleted) AS deleted
                FROM source_records GROUP BY source),
            quarantined AS (SELECT source, count(*) AS quarantined FROM quarantine GROUP BY source),
            last_runs AS (
                SELECT source, arg_max(run_id, started_at) AS last_run,
                       arg_max(status, started_at) AS last_status
                FROM runs GROUP BY source),
            names AS (SELECT source FROM counts UNION SELECT source FROM last_runs
                      UNION SELECT source FROM quarantined)
            SELECT n.source, coalesce(c.records, 0) AS records, coalesce(c.deleted, 0) AS deleted,
                   coalesce(q.quarantined, 0) AS quarantined, r.last_run, r.last_status
            FROM names n LEFT JOIN counts c USING (source) LEFT JOIN quarantined q USING (source)
            LEFT JOIN last_runs r USING (source) ORDER BY n.source""")
        )
        state = [
            {
                "source": row["source"],
                "scope": row["scope"],
                "watermark": row["watermark"],
                "in_progress": bool(row["checkpoint"] and json.loads(row["checkpoint"])),
            }
            for row in _dicts(
                con.execute(
                    "SELECT source, scope, watermark, checkpoint FROM sync_state ORDER BY 1, 2"
                )
            )
        ]
        runs = _dicts(
            con.execute(
                "SELECT run_id, source, kind, status, fetched, inserted, updated, unchanged, "
                "deleted, quarantined, seconds, error FROM runs ORDER BY started_at DESC LIMIT 10"
            )
        )
        files = _dicts(con.execute("SELECT * FROM bulk_files ORDER BY year, number, kind"))
        drift = drift_rows(con)
    return {"sources": sources, "state": state, "runs": runs, "files": files, "drift": drift}
