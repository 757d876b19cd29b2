"""Helpers shared by the flow tests: run a sync against an emulator, read a warehouse back."""

from __future__ import annotations

from pathlib import Path

import duckdb

# Everything a record row says, minus what depends on when or by which run it was loaded.
COMPARABLE = (
    "SELECT * EXCLUDE (loaded_at, first_loaded_at, run_id, deleted_at) "
    "FROM source_records ORDER BY source, source_id"
)


def warehouse_rows(path: Path, sql: str = COMPARABLE) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def fast_http(monkeypatch, *, attempts: int = 6, batch_size: int = 100) -> None:
    """Tiny backoffs (the emulator's Retry-After still applies) and small efetch pages."""
    monkeypatch.setenv("BIBLIODUCK_HTTP_BACKOFF_BASE", "0.01")
    monkeypatch.setenv("BIBLIODUCK_HTTP_MAX_ATTEMPTS", str(attempts))
    monkeypatch.setenv("BIBLIODUCK_EUTILS_BATCH_SIZE", str(batch_size))
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
