"""Opening a warehouse (a DuckDB file or a DuckLake), and the transaction every write happens
in."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from schemas.errors import FatalError, UsageError, WarehouseBusyError
from warehouse.extensions import load_extensions
from warehouse.location import DATA_PATH_VARIABLE, LakeLocation, lake_location
from warehouse.object_store import is_remote, reach_object_store


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_connection(
    path: Path, read_only: bool, row_group_size: int | None, *, as_of: str | None = None
) -> duckdb.DuckDBPyConnection:
    lake = lake_location(path)
    if lake is not None:
        return open_lake(lake, read_only, as_of=as_of)
    if as_of is not None:
        raise UsageError(
            f"--as-of reads an earlier snapshot of a DuckLake warehouse; {path} is a DuckDB "
            "file, which keeps none (see README: A DuckLake warehouse)"
        )
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


def snapshot_option(con: duckdb.DuckDBPyConnection, lake: LakeLocation, as_of: str) -> str:
    """The ATTACH option that opens `lake` at `as_of`: a snapshot number, an ISO time, or a
    run id (the snapshot the run ended at, read from the lake as it is now)."""
    text = as_of.strip()
    if text.isdigit():
        return f"SNAPSHOT_VERSION {int(text)}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return f"SNAPSHOT_TIME '{moment.isoformat()}'"
    target = lake.attach_target.replace("'", "''")
    con.execute(f"ATTACH '{target}' AS as_of_lookup (READ_ONLY)")
    try:
        row = con.execute(
            "SELECT snapshot_id FROM as_of_lookup.runs WHERE run_id = ?", [text]
        ).fetchone()
    finally:
        con.execute("DETACH as_of_lookup")
    if row is None or row[0] is None:
        raise UsageError(
            f"--as-of {as_of!r} is no snapshot number, ISO time or finished run of this lake"
        )
    return f"SNAPSHOT_VERSION {int(row[0])}"


def open_lake(
    lake: LakeLocation, read_only: bool, *, as_of: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the lake (attached as `warehouse`, as a file is).
    Readers attach it read-only and read its last committed snapshot; a writer's commits never
    wait for them."""
    con = duckdb.connect()
    try:
        # As for a file opened with a row-group size (`open_connection`): an in-memory
        # connection spills to `.tmp` in the current folder, shared by every process started
        # there. Measured on a lake too: a bulk load failed reading its spilled blocks back
        # ("Could not read enough bytes from file .tmp/duckdb_temp_storage_S160K-0.tmp") while
        # other processes ran in the same folder. A folder of this connection's own: DuckDB
        # makes it when it first spills and removes it when the connection closes.
        spill = f"biblioduck-spill-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        con.execute("SET temp_directory = ?", [str(Path(tempfile.gettempdir()) / spill)])
        # Parquet is built into the duckdb wheel (statically linked): only the catalog's
        # extension and the lake's own are loaded.
        load_extensions(con, lake.catalog_kind, "ducklake")
        # Data in object storage needs httpfs and the S3 secret before anything is read (an
        # `--as-of` run id is looked up in the lake). A PostgreSQL catalog opened without a
        # data path is an existing lake whose data is most likely there: it costs ~0.04 s.
        reached = is_remote(lake.data_path) or (
            lake.data_path is None and lake.catalog_kind != "sqlite"
        )
        if reached:
            reach_object_store(con)
        options = []
        if lake.data_path:
            options.append("DATA_PATH '" + lake.data_path.replace("'", "''") + "'")
        if read_only:
            options.append("READ_ONLY")
        if as_of is not None:
            options.append(snapshot_option(con, lake, as_of))
        else:
            lake.prepare()
        target = lake.attach_target.replace("'", "''")
        listed = f" ({', '.join(options)})" if options else ""
        con.execute(f"ATTACH '{target}' AS warehouse{listed}")
        con.execute("USE warehouse")
        if not reached and is_remote(_data_path(con)):
            reach_object_store(con)
        return con
    except duckdb.Error as exc:
        con.close()
        if "data_path is not set" in str(exc):
            raise UsageError(
                f"{lake} holds no lake yet: set {DATA_PATH_VARIABLE} to where its data goes "
                "(a folder, or s3://bucket/prefix/) for the run that creates it"
            ) from None
        raise FatalError(f"cannot open the lake {lake}: {exc}") from exc
    except FatalError:  # UsageError too; raised by our own checks, already saying why
        con.close()
        raise


def _data_path(con: duckdb.DuckDBPyConnection) -> str | None:
    """Where the attached lake keeps its data files (written in its catalog at creation)."""
    row = con.execute("SELECT data_path FROM ducklake_settings('warehouse')").fetchone()
    return None if row is None else str(row[0])
