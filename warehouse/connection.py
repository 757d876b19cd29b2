"""Opening a warehouse file, and the transaction every write happens in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from schemas.errors import FatalError, WarehouseBusyError


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_connection(
    path: Path, read_only: bool, row_group_size: int | None
) -> duckdb.DuckDBPyConnection:
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


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """`con` inside one transaction: committed when the block ends, rolled back if it raises."""
    con.execute("BEGIN")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
