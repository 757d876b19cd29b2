"""What an analyst's SQL may be: one SELECT that reads the warehouse's tables and views, and
nothing else. Checked on DuckDB's own parse tree (`json_serialize_sql`) before it runs, for
`biblioduck query` and `export --query`, on top of the read-only, locked-down connection.

Why a gate as well as the lockdown: the lockdown (`enable_external_access = false`) stops
DuckDB's own file system, and that is enough for a DuckDB file. A DuckLake reader needs more:
its catalog is read through the `sqlite` (or `postgres`) extension, whose `sqlite_scan`
opens any SQLite file on the machine through SQLite's own I/O, past the lockdown (measured with
duckdb 1.5.5: a secret row of an unrelated file was returned); and its Parquet files must stay
readable after the lockdown (`allowed_directories`), which also lets `COPY … TO` write there.
DuckDB has no setting to disable one function, so the statement itself is checked:
- exactly one statement, and a SELECT (DESCRIBE, SHOW and SUMMARIZE parse as one); COPY,
  ATTACH, PRAGMA, SET, CALL, INSTALL, LOAD, EXPORT and every write are refused;
- every table function it calls is on `ALLOWED_TABLE_FUNCTIONS` (so no `read_text`,
  `read_parquet`, `sqlite_scan`, `postgres_query`, `query('…')` that runs SQL from a string);
- every table it names is a table or view of the connection or a CTE of the statement: never a
  file path, which DuckDB would otherwise read ("replacement scans": `FROM 'x.parquet'`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from schemas.errors import FatalError

# Table functions that compute rows, or read the catalog and the lake's history, and touch no
# file of their choosing.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "unnest",
        "range",
        "generate_series",
        "json_each",
        "json_tree",
        "pragma_table_info",
        "pragma_storage_info",
        "ducklake_snapshots",
        "ducklake_table_info",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
        "snapshots",
    }
)
# Catalog functions are read-only views of the database's own metadata.
ALLOWED_PREFIXES = ("duckdb_",)
# What `SHOW TABLES`, `SHOW ALL TABLES` and `SHOW DATABASES` list (the catalog, no file).
_SHOW_LISTS = frozenset({"tables", "databases", "__show_tables_expanded"})


class RefusedSql(FatalError):
    """SQL that reads or does more than the warehouse's tables and views allow."""


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT lower(table_name) FROM duckdb_tables() "
        "UNION SELECT lower(view_name) FROM duckdb_views()"
    ).fetchall()
    return {name for (name,) in rows}


def check_read_only_sql(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise `RefusedSql`, saying why, unless `sql` is one SELECT over known relations that
    calls only allowed table functions."""
    (serialized,) = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone() or ("{}",)
    tree = json.loads(serialized)
    if tree.get("error"):
        if tree.get("error_type") == "parser":
            return  # the same parser refuses it when it runs, with DuckDB's own message
        raise RefusedSql("only a SELECT (or DESCRIBE, SHOW, SUMMARIZE) reads the warehouse")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise RefusedSql(f"one statement at a time (got {len(statements)})")
    nodes = list(_nodes(statements[0]))
    ctes = {
        str(entry.get("key", "")).lower()
        for node in nodes
        if isinstance(node.get("cte_map"), dict)
        for entry in node["cte_map"].get("map", [])
    }
    known: set[str] | None = None
    for node in nodes:
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = str(function.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS and not name.startswith(ALLOWED_PREFIXES):
                raise RefusedSql(
                    f"the table function {name}() reads or runs more than the warehouse"
                )
        elif kind in ("BASE_TABLE", "SHOW_REF") and node.get("table_name"):
            name = str(node["table_name"]).lower()
            if kind == "SHOW_REF":  # SHOW TABLES / DATABASES name what they list, quoted
                name = name.strip('"')
                if name in _SHOW_LISTS:
                    continue
            if name in ctes and "/" not in name and "." not in name:
                continue
            if known is None:
                known = _relations(con)
            if name not in known:
                raise RefusedSql(
                    f"{node['table_name']!r} is not a table or view of the warehouse "
                    "(files are not read)"
                )
