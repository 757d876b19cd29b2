"""Upkeep of a DuckLake warehouse: every batch a load commits writes its own small Parquet
files (and a snapshot), so a lake fed by nightly syncs grows thousands of small files and
snapshots. Weekly (`lake-maintenance` deployment, `biblioduck lake-maintenance`):
1. flush rows DuckLake kept inlined in the catalog (small commits) into Parquet;
2. merge adjacent small files of each table into larger ones (the same rows, fewer files);
3. expire snapshots older than `keep_days` (time travel, `query --as-of`, reaches back that far);
4. delete the files no remaining snapshot reads.
Each step is DuckLake's own function; this module runs them in order and measures them. A
DuckDB file warehouse needs none of it (DuckDB reuses its blocks in place).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

from warehouse.ddl import on_lake

DEFAULT_KEEP_DAYS = 30


def _on_disk(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Parquet files under a local data path (all snapshots'), and their bytes."""
    row = con.execute("SELECT data_path FROM ducklake_settings(current_database())").fetchone()
    path = str(row[0]) if row and row[0] else ""
    if not path or "://" in path:
        return (-1, -1)
    found = list(Path(path).rglob("*.parquet"))
    return len(found), sum(p.stat().st_size for p in found)


def _snapshots(con: duckdb.DuckDBPyConnection) -> int:
    (count,) = con.execute(
        "SELECT count(*) FROM ducklake_snapshots(current_database())"
    ).fetchone() or (0,)
    return int(count)


def maintain_lake(
    con: duckdb.DuckDBPyConnection, *, keep_days: int = DEFAULT_KEEP_DAYS
) -> dict[str, Any]:
    """Compact the lake `con` writes to and expire its old snapshots; what each step did.
    On a DuckDB file, nothing (`{"lake": False}`)."""
    if not on_lake(con):
        return {"lake": False}
    if keep_days < 0:
        raise ValueError("keep_days must be 0 or more")
    files_before, snapshots_before = _on_disk(con), _snapshots(con)
    seconds: dict[str, float] = {}
    steps = [
        ("flush", "CALL ducklake_flush_inlined_data(current_database())"),
        ("merge", "CALL ducklake_merge_adjacent_files(current_database())"),
        (
            "expire",
            "CALL ducklake_expire_snapshots(current_database(), "
            f"older_than => now() - INTERVAL {int(keep_days)} DAY)",
        ),
        ("cleanup", "CALL ducklake_cleanup_old_files(current_database(), cleanup_all => true)"),
    ]
    for name, sql in steps:
        started = time.perf_counter()
        con.execute(sql).fetchall()
        seconds[name] = round(time.perf_counter() - started, 3)
    files_after, snapshots_after = _on_disk(con), _snapshots(con)
    return {
        "lake": True,
        "keep_days": keep_days,
        "files_before": files_before[0],
        "bytes_before": files_before[1],
        "files_after": files_after[0],
        "bytes_after": files_after[1],
        "snapshots_before": snapshots_before,
        "snapshots_after": snapshots_after,
        "seconds": seconds,
    }
