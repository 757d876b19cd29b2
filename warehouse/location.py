"""Where a warehouse is: a DuckDB file (a path), or a DuckLake (`ducklake:<catalog>`: a
catalog database that holds the tables' metadata and snapshots, and a data path that holds
their rows as Parquet files).

`--db` / `BIBLIODUCK_DB` take either. A lake location is
- `ducklake:sqlite:PATH` — an SQLite catalog file; its data beside it in `PATH`'s folder
  `data/` unless `BIBLIODUCK_LAKE_DATA_PATH` says where;
- `ducklake:postgres:CONNINFO` — a PostgreSQL catalog (`dbname=lake host=…`, libpq keywords);
  `BIBLIODUCK_LAKE_DATA_PATH` (a folder, or an `s3://` bucket prefix) is then required to
  create it (docs/scaling.md; S3 keys from the AWS_* variables: `warehouse.object_store`).
The data path is written into the catalog when the lake is created; later opens read it there
(and refuse a `BIBLIODUCK_LAKE_DATA_PATH` that differs from it).

A location travels as text (a Prefect parameter, a log line), so it must hold no secret: a
PostgreSQL password goes in `PGPASSWORD` or `~/.pgpass`, never in the location, and a location
that carries one is refused without repeating it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import UsageError

LAKE_PREFIX = "ducklake:"
DATA_PATH_VARIABLE = "BIBLIODUCK_LAKE_DATA_PATH"
_CATALOGS = ("sqlite", "postgres")
_PASSWORD = re.compile(r"(^|\s)password\s*=|://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LakeLocation:
    """A DuckLake: its catalog (`sqlite:PATH` or `postgres:CONNINFO`) and data path."""

    catalog_kind: str  # sqlite, postgres
    catalog: str  # the path or the connection string, without the kind
    data_path: str | None

    @property
    def attach_target(self) -> str:
        return f"{LAKE_PREFIX}{self.catalog_kind}:{self.catalog}"

    def exists(self) -> bool:
        """Whether there is a lake to read (a PostgreSQL catalog is known only by attaching)."""
        return self.catalog_kind != "sqlite" or Path(self.catalog).is_file()

    def prepare(self) -> None:
        """Make the folders a new SQLite-catalog lake writes into."""
        if self.catalog_kind == "sqlite":
            Path(self.catalog).parent.mkdir(parents=True, exist_ok=True)
        if self.data_path and "://" not in self.data_path:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)

    def __str__(self) -> str:
        return self.attach_target


def lake_location(db: str | Path) -> LakeLocation | None:
    """The lake `db` names, or None when it is a DuckDB file's path."""
    text = str(db)
    if not text.startswith(LAKE_PREFIX):
        return None
    kind, _, catalog = text[len(LAKE_PREFIX) :].partition(":")
    if kind not in _CATALOGS or not catalog.strip():
        raise UsageError(
            f"a DuckLake location is ducklake:sqlite:PATH or ducklake:postgres:CONNINFO, "
            f"not {LAKE_PREFIX}{kind}:…"
        )
    if _PASSWORD.search(catalog):
        raise UsageError(
            "the DuckLake location carries a password: it would show in logs and run "
            "parameters; put it in PGPASSWORD or ~/.pgpass and leave it out of --db"
        )
    data_path = os.environ.get(DATA_PATH_VARIABLE) or None
    if kind == "sqlite":
        catalog = str(Path(catalog))
        # A new lake's data goes beside its catalog; an existing one's catalog knows where
        # (given again, a different path is an error: DuckLake will not silently move it).
        if data_path is None and not Path(catalog).is_file():
            data_path = str(Path(catalog).parent / "data") + os.sep
    return LakeLocation(kind, catalog, data_path)


def is_lake(db: str | Path) -> bool:
    return str(db).startswith(LAKE_PREFIX)


def warehouse_exists(db: str | Path) -> bool:
    """Whether a warehouse is at `db` (a file, or a lake's catalog)."""
    lake = lake_location(db)
    return lake.exists() if lake is not None else Path(db).exists()


def warehouse_folder(db: str | Path) -> Path:
    """The folder a warehouse's companions go in (the report, the validation docs): a file's
    folder, an SQLite-catalog lake's catalog folder, `data/` for a PostgreSQL catalog."""
    lake = lake_location(db)
    if lake is None:
        return Path(db).parent
    if lake.catalog_kind == "sqlite":
        return Path(lake.catalog).parent
    return Path("data")
