"""`biblioduck query` only reads the warehouse: nothing typed into it writes, attaches, detaches,
reads or writes other files, installs or loads extensions, or changes its own settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.flow_helpers import warehouse_rows
from warehouse.store import Warehouse

runner = CliRunner()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    db = tmp_path / "w.duckdb"
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
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_fails_clearly_and_changes_nothing(warehouse, tmp_path, attack):
    before = warehouse_rows(warehouse, "SELECT * FROM runs")
    sql = attack.format(db=warehouse, other=tmp_path / "other.duckdb", out=tmp_path / "out")
    result = runner.invoke(app, ["query", "--db", str(warehouse), sql])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output
    assert warehouse_rows(warehouse, "SELECT * FROM runs") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]


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
