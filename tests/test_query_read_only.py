"""`biblioduck query` only reads the warehouse: nothing typed into it writes, attaches, detaches,
reads or writes other files, installs or loads extensions, or changes its own settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.flow_helpers import files_under, warehouse_rows
from warehouse.store import Warehouse

runner = CliRunner()


@pytest.fixture
def warehouse(warehouse_location: Path) -> Path:
    db = warehouse_location
    with Warehouse(db) as opened:
        opened.start_run("pubmed", "import", {})
    return db


ATTACKS = [
    # The bypass found by a session: attach another file writable, switch to it, detach the
    # warehouse, attach it again writable, delete.
    "ATTACH '{other}' AS m (READ_ONLY false); USE m; DETACH w; "
    "ATTACH '{db}' AS w2 (READ_ONLY false); DELETE FROM w2.runs",
    "ATTACH '{other}' AS m",
    "COPY (SELECT * FROM runs) TO '{out}'",
    "EXPORT DATABASE '{out}'",
    "INSTALL httpfs",
    "LOAD fts",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "SET enable_external_access = true",
    "SET lock_configuration = false; COPY (SELECT 1) TO '{out}'",
    "DELETE FROM runs",
    "DROP TABLE runs",
    "CREATE TABLE x AS SELECT 1",
    "UPDATE runs SET status = 'x'",
    # Past the lockdown on a lake (measured): the sqlite extension reads any SQLite file, and
    # the lake's data folder must stay readable, so writable; `query('…')` runs SQL from a
    # string; a path in FROM is read as a file; `..` escapes an allowed folder on read.
    "SELECT * FROM sqlite_scan('{other_sqlite}', 'secret')",
    "SELECT * FROM sqlite_query('{other_sqlite}', 'SELECT * FROM secret')",
    "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",
    "SELECT * FROM '{out}.csv'",
    "SUMMARIZE '{out}.csv'",
    "SELECT * FROM read_blob('{data}/../catalog.sqlite')",
    "COPY (SELECT 1) TO '{data}/x.csv'",
    "SELECT * FROM read_parquet('{data}/**/*.parquet')",
    "SELECT 1; SELECT 2",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_fails_clearly_and_changes_nothing(warehouse, tmp_path, attack):
    secret = tmp_path / "other.sqlite"
    with sqlite3.connect(secret) as other:
        other.execute("CREATE TABLE secret (word TEXT)")
        other.execute("INSERT INTO secret VALUES ('s3cret')")
    (tmp_path / "out.csv").write_text("word\ns3cret\n")
    before = warehouse_rows(warehouse, "SELECT * FROM runs")
    files = files_under(tmp_path)
    sql = attack.format(
        db=warehouse,
        other=tmp_path / "other.duckdb",
        other_sqlite=secret,
        out=tmp_path / "out",
        data=tmp_path / "w" / "data",
    )
    result = runner.invoke(app, ["query", "--db", str(warehouse), sql])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "s3cret" not in result.output
    assert warehouse_rows(warehouse, "SELECT * FROM runs") == before
    assert files_under(tmp_path) == files


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT kind FROM runs",
        "SELECT * FROM main.runs",
        "WITH r AS (SELECT kind FROM runs) SELECT * FROM r",
        "SELECT x FROM unnest([1, 2]) AS t(x)",
        "SELECT * FROM range(2)",
        "SELECT count(*) FROM duckdb_tables()",
        "DESCRIBE runs",
        "SUMMARIZE runs",
        "SHOW TABLES",
    ],
)
def test_what_analysts_read_passes_the_gate(warehouse, sql):
    result = runner.invoke(app, ["query", "--db", str(warehouse), "--format", "csv", sql])
    assert result.exit_code == 0, result.output


def test_reading_works_and_refusals_say_what_query_is_for(warehouse):
    read = runner.invoke(
        app, ["query", "--db", str(warehouse), "--format", "csv", "SELECT kind FROM runs"]
    )
    assert read.exit_code == 0 and read.output.splitlines() == ["kind", "import"]
    refused = runner.invoke(app, ["query", "--db", str(warehouse), "COPY runs TO 'x.csv'"])
    assert "query refused" in refused.output and "only reads the warehouse" in refused.output


def test_no_sql_is_a_usage_error(warehouse):
    result = runner.invoke(app, ["query", "--db", str(warehouse), "  "])
    assert result.exit_code == 2
    assert result.output.strip() == "error: query: no SQL given"


def test_sql_comes_from_standard_input_or_after_a_double_dash(warehouse):
    piped = runner.invoke(
        app,
        ["query", "--db", str(warehouse), "--format", "csv", "-"],
        input="-- runs\nSELECT kind FROM runs",
    )
    assert piped.exit_code == 0 and piped.output.splitlines() == ["kind", "import"]
    dashed = runner.invoke(
        app, ["query", "--db", str(warehouse), "--format", "csv", "--", "-- runs\nSELECT 1 AS one"]
    )
    assert dashed.exit_code == 0 and dashed.output.splitlines() == ["one", "1"]
