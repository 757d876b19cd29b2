"""Export a table, a view or an analyst's query to Parquet, CSV or JSON lines, and the one
encoding of values as text that `export` and `query --format csv|json` share.

Why the analyst's SQL cannot write: it runs on a connection opened read-only and locked down
exactly as `biblioduck query`'s (`warehouse.status.LOCKED_DOWN`: no external access, so no
COPY, ATTACH, EXPORT or file functions; no extension loading; configuration locked). That
connection only hands rows back: Arrow record batches for Parquet, Python values for CSV and
JSON lines. The file is written by this module's own code (pyarrow, Python's csv and json), to
a temporary path beside `--to` that is then renamed into place: the one path written is the
one the user named on the command line, never a path found in the SQL.

Encoding: Parquet keeps every type, nested ones included. CSV and JSON lines encode lists and
structs as JSON (never Python reprs), dates and times as ISO 8601, blobs as base64; in CSV a
NULL is an empty field and a boolean is `true`/`false`.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import math
import os
import shutil
import time
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import duckdb

from schemas.errors import FatalError, UsageError
from warehouse.location import lake_location
from warehouse.sql_gate import RefusedSql, check_read_only_sql
from warehouse.status import QUERY_MEMORY_LIMIT, lock_down
from warehouse.store import Warehouse

FORMATS = ("parquet", "csv", "jsonl")
BATCH_ROWS = 10_000
# What a partitioned export names a NULL partition value (as pyarrow and Hive do).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# CSV/JSON lines files a partitioned export keeps open at once (more are closed and reopened).
OPEN_FILES = 128


# -- values as text ------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A value DuckDB (or Arrow) handed to Python, as what JSON can hold: lists and structs
    stay nested; dates, times and timestamps become ISO 8601 text; blobs base64."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (uuid.UUID, dt.timedelta)):
        return str(value)
    return str(value)


def _json_default(value: Any) -> Any:
    """For `json.dumps`: what it cannot encode itself, as `json_value` does."""
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return json_value(value)


def json_text(value: Any) -> str:
    """`value` as compact JSON text (as `json_value` encodes it)."""
    try:  # the C encoder walks lists and dicts itself: 3 times as fast
        return json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            default=_json_default,
            allow_nan=False,
        )
    except (TypeError, ValueError):  # a non-finite float, a key that is not text
        return json.dumps(json_value(value), ensure_ascii=False, separators=(",", ":"))


def text_cell(value: Any) -> str:
    """`value` as one CSV field (NULL: empty) or table cell: scalars as they read, dates ISO,
    lists and structs as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json_text(value)
    encoded = json_value(value)
    return encoded if isinstance(encoded, str) else json.dumps(encoded)


def json_row(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {name: json_value(value) for name, value in zip(columns, row, strict=True)}


# -- the locked connection -------------------------------------------------------------------


@contextmanager
def locked_connection(
    db: Path, *, before_lockdown: Callable[[duckdb.DuckDBPyConnection], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened read-only and locked down as `biblioduck query`'s connection is.
    `before_lockdown` runs our own setup first (search loads the fts extension from its file:
    once locked, nothing can be loaded)."""
    with Warehouse(db, read_only=True, memory_limit=QUERY_MEMORY_LIMIT) as warehouse:
        if before_lockdown is not None:
            before_lockdown(warehouse.con)
        lock_down(warehouse.con)
        yield warehouse.con


def _relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' UNION SELECT view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND schema_name = 'main' "
            "AND NOT internal ORDER BY 1"
        ).fetchall()
    ]


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
    try:
        check_read_only_sql(con, sql)
    except RefusedSql as exc:
        raise FatalError(
            f"export refused: {exc}. The SQL of `export --query` only reads the warehouse: "
            "it cannot write, attach or read other files (export writes --to itself)"
        ) from None
    try:
        cursor = con.execute(sql)
    except duckdb.PermissionException as exc:
        raise FatalError(
            f"export refused: {exc}. The SQL of `export --query` only reads the warehouse: "
            "it cannot write, attach or read other files (export writes --to itself)"
        ) from None
    except duckdb.Error as exc:
        raise FatalError(f"export query failed: {exc}") from None
    if cursor.description is None:
        raise UsageError("export: the SQL returns no rows to export (give a SELECT)")
    return cursor


# -- writing ---------------------------------------------------------------------------------


def _partition_dir(names: Sequence[str], values: Sequence[Any]) -> Path:
    parts = []
    for name, value in zip(names, values, strict=True):
        text = NULL_PARTITION if value is None else text_cell(value)
        parts.append(f"{name}={urllib.parse.quote(text, safe='')}")
    return Path(*parts)


class _TextFiles:
    """The CSV or JSON lines files of one export: one file, or one per partition."""

    def __init__(self, root: Path, fmt: str, columns: list[str], partition_by: list[str]):
        self.root, self.fmt, self.columns = root, fmt, columns
        self.partition_at = [columns.index(c) for c in partition_by]
        self.partition_by = partition_by
        self.kept = [i for i in range(len(columns)) if i not in self.partition_at]
        self.open: OrderedDict[Path, tuple[IO[str], Any]] = OrderedDict()
        self.files = 0

    def _file(self, path: Path) -> tuple[IO[str], Any]:
        if path in self.open:
            self.open.move_to_end(path)
            return self.open[path]
        if len(self.open) >= OPEN_FILES:
            _, (closing, _) = self.open.popitem(last=False)
            closing.close()
        new = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a", encoding="utf-8", newline="")
        writer = csv.writer(handle) if self.fmt == "csv" else None
        if new:
            self.files += 1
            if writer is not None:
                writer.writerow([self.columns[i] for i in self.kept])
        self.open[path] = (handle, writer)
        return handle, writer

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            if self.partition_at:
                folder = self.root / _partition_dir(
                    self.partition_by, [row[i] for i in self.partition_at]
                )
                path = folder / f"data.{self.fmt}"
            else:
                path = self.root
            handle, writer = self._file(path)
            if writer is not None:
                writer.writerow([text_cell(row[i]) for i in self.kept])
            else:
                handle.write(json_text({self.columns[i]: row[i] for i in self.kept}) + "\n")

    def close(self) -> None:
        for handle, _ in self.open.values():
            handle.close()
        self.open.clear()


def _write_text(
    cursor: duckdb.DuckDBPyConnection,
    target: Path,
    fmt: str,
    partition_by: list[str],
    progress: Callable[[int], None],
) -> tuple[int, int]:
    columns = [d[0] for d in cursor.description or []]
    if partition_by:
        target.mkdir()
    files = _TextFiles(target, fmt, columns, partition_by)
    rows = 0
    try:
        if not partition_by:
            files._file(target)  # an empty result still gives a file (with its CSV header)
        while batch := cursor.fetchmany(BATCH_ROWS):
            files.write(batch)
            rows += len(batch)
            progress(rows)
    finally:
        files.close()
    return rows, files.files


def _write_parquet(
    cursor: duckdb.DuckDBPyConnection,
    target: Path,
    partition_by: list[str],
    progress: Callable[[int], None],
) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    reader = cursor.fetch_record_batch(BATCH_ROWS)
    rows = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in reader:
            yield batch
            rows += batch.num_rows
            progress(rows)

    if not partition_by:
        with pq.ParquetWriter(target, reader.schema, compression="zstd") as writer:
            for batch in counted():
                writer.write_batch(batch)
        return rows, 1
    files: list[str] = []
    ds.write_dataset(
        pa.RecordBatchReader.from_batches(reader.schema, counted()),
        target,
        format="parquet",
        partitioning=partition_by,
        partitioning_flavor="hive",
        basename_template="data-{i}.parquet",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        max_partitions=100_000,
        existing_data_behavior="error",
        file_visitor=lambda written: files.append(written.path),
    )
    return rows, len(files)


def _looks_exported(path: Path) -> bool:
    """Whether a folder holds nothing but what an export writes (partition folders of data
    files): only such a folder is replaced by `--overwrite`."""
    return all(
        (p.is_dir() and "=" in p.name)
        or (p.is_file() and p.suffix in (".parquet", ".csv", ".jsonl"))
        for p in path.rglob("*")
    )


def _protected(db: Path) -> list[Path]:
    """The files and folders that are the warehouse: a DuckDB file and its WAL, or a lake's
    catalog file and data folder (a PostgreSQL catalog is no file)."""
    lake = lake_location(db)
    if lake is None:
        return [db.resolve(), Path(f"{db.resolve()}.wal")]
    places = [Path(lake.catalog).resolve()] if lake.catalog_kind == "sqlite" else []
    if lake.catalog_kind == "sqlite" and lake.data_path is None:
        places.append((Path(lake.catalog).parent / "data").resolve())
    if lake.data_path and "://" not in lake.data_path:
        places.append(Path(lake.data_path).resolve())
    return places


def _check_target(target: Path, db: Path, overwrite: bool) -> None:
    resolved = target.resolve()
    for place in _protected(db):
        if resolved == place or place.is_relative_to(resolved) or resolved.is_relative_to(place):
            raise UsageError(f"export: --to {target} would overwrite the warehouse itself")
    if not (target.exists() or target.is_symlink()):
        return
    if not overwrite:
        raise UsageError(f"export: {target} exists; give --overwrite to replace it")
    if target.is_dir() and not _looks_exported(target):
        raise UsageError(
            f"export: {target} is a folder holding other files than an export's; "
            "--overwrite only replaces a file or a folder an export wrote"
        )


def _replace(written: Path, target: Path) -> None:
    """Put the finished export in place of whatever `target` was."""
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        written.rename(target)
        shutil.rmtree(old)
    else:
        os.replace(written, target)


def export(
    db: Path,
    target: Path,
    *,
    fmt: str,
    relation: str | None = None,
    sql: str | None = None,
    partition_by: Sequence[str] = (),
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write `relation` (a table or view) or the result of `sql` to `target` as `fmt`.
    With `partition_by`, `target` is a folder of `col=value/` folders (Hive style)."""
    if fmt not in FORMATS:
        raise UsageError(f"export: --format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if (relation is None) == (sql is None):
        raise UsageError("export: name a table or view, or give --query SQL (one of the two)")
    if sql is not None and not sql.strip():
        raise UsageError("export: --query is empty")
    partitions = list(partition_by)
    if len(set(partitions)) != len(partitions):
        raise UsageError("export: a --partition-by column is named twice")
    _check_target(target, db, overwrite)
    started = time.perf_counter()
    with locked_connection(db) as con:
        if relation is not None:
            known = _relations(con)
            if relation not in known:
                raise UsageError(
                    f"export: no table or view {relation!r} in the warehouse; "
                    f"known: {', '.join(known)}"
                )
            sql = 'SELECT * FROM "' + relation.replace('"', '""') + '"'
        assert sql is not None
        cursor = _run(con, sql)
        columns = [d[0] for d in cursor.description or []]
        types = {d[0]: str(d[1]) for d in cursor.description or []}
        for name in partitions:
            if name not in columns:
                raise UsageError(
                    f"export: --partition-by {name}: no such column (columns: {', '.join(columns)})"
                )
            if any(mark in types[name] for mark in ("[]", "STRUCT", "MAP", "UNION")):
                raise UsageError(f"export: cannot partition by {name}, a {types[name]}")
        if partitions and len(partitions) == len(columns):
            raise UsageError("export: partitioning by every column leaves nothing to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        written = target.with_name(f".{target.name}.partial-{os.getpid()}")
        if written.is_dir():
            shutil.rmtree(written)
        else:
            written.unlink(missing_ok=True)
        report = progress or (lambda rows: None)
        try:
            if fmt == "parquet":
                rows, files = _write_parquet(cursor, written, partitions, report)
            else:
                rows, files = _write_text(cursor, written, fmt, partitions, report)
        except BaseException as exc:
            if written.is_dir():
                shutil.rmtree(written, ignore_errors=True)
            else:
                written.unlink(missing_ok=True)
            if isinstance(exc, duckdb.Error):
                raise FatalError(f"export query failed: {exc}") from None
            raise
    _replace(written, target)
    size = (
        sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        if target.is_dir()
        else target.stat().st_size
    )
    return {
        "rows": rows,
        "files": files,
        "columns": len(columns) - len(partitions),
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 3),
        "path": str(target),
        "format": fmt,
    }
