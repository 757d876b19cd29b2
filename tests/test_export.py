"""`biblioduck export` and `query`'s output: Parquet that round-trips with nested values, CSV
and JSON lines with lists and structs as JSON (never Python reprs), --overwrite, and an
analyst's SQL that still cannot write anything."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.importing import run_import
from tests.conftest import BACKENDS, location_in
from tests.flow_helpers import warehouse_rows
from warehouse.export import text_cell
from warehouse.location import lake_location

runner = CliRunner()

FILES = [
    (["pubmed_baseline/pmparser__pubmed26n1334.xml.gz"], "pubmed"),
    (["crossref/habanero__works_cursor_page1.json"], "crossref"),
    (["oaipmh/zenodo__ListRecords_oai_dc_page1.xml"], "oai"),
]
ORDER = " ORDER BY source, source_id"
REPRS = ("datetime.date(", "datetime.datetime(", "['", "{'", "Decimal(", "None")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    """Each backend in turn, for the whole module: its warehouse is built once."""
    return str(request.param)


@pytest.fixture(scope="module")
def db(fixtures_dir, tmp_path_factory, backend) -> Path:
    """A warehouse of 53 real records (never changed by the tests)."""
    path = location_in(tmp_path_factory.mktemp("export"), backend)
    for names, fmt in FILES:
        run_import([str(fixtures_dir / n) for n in names], fmt=fmt, db=str(path), workers=0)
    return path


def warehouse_path(db: Path) -> Path:
    """The file that is the warehouse: a DuckDB file, or a lake's catalog."""
    lake = lake_location(db)
    return Path(lake.catalog) if lake else db


def export(db: Path, *args: str):
    return runner.invoke(app, ["export", "--db", str(db), *args])


def read(sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def types(sql: str, path: Path | None = None) -> list[tuple]:
    described = warehouse_rows(path, f"DESCRIBE {sql}") if path else read(f"DESCRIBE {sql}")
    return [(r[0], r[1]) for r in described]


def test_parquet_round_trips_every_row_and_nested_value(db, tmp_path):
    out = tmp_path / "records.parquet"
    result = export(db, "records", "--to", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 53 rows (51 columns)" in result.output and "as parquet" in result.output
    back = read(f"SELECT * FROM read_parquet('{out}')" + ORDER)
    assert back == warehouse_rows(db, "SELECT * FROM records" + ORDER)
    # The same types, nested ones included (lists of structs of lists…).
    assert types(f"SELECT * FROM read_parquet('{out}')") == types("SELECT * FROM records", db)
    subjects = read(f"SELECT subjects FROM read_parquet('{out}') WHERE source_id = '41603352'")
    assert subjects[0][0][0]["scheme"] and isinstance(subjects[0][0][0]["qualifiers"], list)


def test_partitioned_parquet_is_a_hive_folder_with_every_row(db, tmp_path):
    out = tmp_path / "by_source"
    result = export(db, "records", "--to", str(out), "--partition-by", "source,pub_year")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "source=crossref",
        "source=oai",
        "source=pubmed",
    ]
    back = read(
        f"SELECT * EXCLUDE (source, pub_year) FROM read_parquet('{out}/**/*.parquet', "
        "hive_partitioning = true)" + ORDER
    )
    assert back == warehouse_rows(db, "SELECT * EXCLUDE (source, pub_year) FROM records" + ORDER)
    counts = read(
        f"SELECT source, count(*) FROM read_parquet('{out}/**/*.parquet', "
        "hive_partitioning = true) GROUP BY 1 ORDER BY 1"
    )
    assert counts == warehouse_rows(
        db, "SELECT source, count(*) FROM records GROUP BY 1 ORDER BY 1"
    )


def test_csv_and_jsonl_write_nested_values_as_json(db, tmp_path):
    expected = warehouse_rows(
        db, "SELECT source_id, pub_date, subjects, dates, authors, loaded_at FROM records" + ORDER
    )
    as_csv = tmp_path / "records.csv"
    assert export(db, "records", "--to", str(as_csv)).exit_code == 0  # format from suffix
    as_jsonl = tmp_path / "records.jsonl"
    assert export(db, "records", "--to", str(as_jsonl), "--format", "jsonl").exit_code == 0
    for path in (as_csv, as_jsonl):
        text = path.read_text(encoding="utf-8")
        assert not [r for r in REPRS if r in text], path
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text(encoding="utf-8"))))
    lines = [json.loads(line) for line in as_jsonl.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(lines) == 53
    by_id = {r["source_id"]: r for r in rows}
    by_id_json = {r["source_id"]: r for r in lines}
    for source_id, pub_date, subjects, dates, authors, loaded_at in expected:
        in_csv, in_json = by_id[source_id], by_id_json[source_id]
        assert in_csv["pub_date"] == (pub_date.isoformat() if pub_date else "")
        assert in_json["pub_date"] == (pub_date.isoformat() if pub_date else None)
        for name, value in (("subjects", subjects), ("dates", dates), ("authors", authors)):
            encoded = json.loads(text_cell(value)) if value is not None else None
            assert (json.loads(in_csv[name]) if in_csv[name] else None) == encoded
            assert in_json[name] == encoded
        assert in_json["loaded_at"] == loaded_at.isoformat()
    # A nested date reads as ISO 8601 inside the JSON.
    some = next(json.loads(r["dates"]) for r in rows if r["dates"] not in ("", "[]"))
    assert all(d["date"] is None or len(d["date"]) == 10 for d in some)


def test_an_existing_path_needs_overwrite(db, tmp_path):
    out = tmp_path / "runs.csv"
    assert export(db, "runs", "--to", str(out)).exit_code == 0
    first = out.read_text()
    again = export(db, "--query", "SELECT 1 AS one", "--to", str(out))
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert out.read_text() == first
    replaced = export(db, "--query", "SELECT 1 AS one", "--to", str(out), "--overwrite")
    assert replaced.exit_code == 0 and out.read_text().splitlines() == ["one", "1"]
    # A folder an export wrote is replaced; any other folder is not.
    folder = tmp_path / "parts"
    args = ["records", "--to", str(folder), "--partition-by", "source"]
    assert export(db, *args, "--format", "jsonl").exit_code == 0
    assert export(db, *args, "--format", "jsonl").exit_code == 2
    assert export(db, *args, "--format", "jsonl", "--overwrite").exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "source=crossref",
        "source=oai",
        "source=pubmed",
    ]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    refused = export(db, "records", "--to", str(mine), "--overwrite")
    assert refused.exit_code == 2 and (mine / "notes.txt").read_text() == "keep"
    # The file itself, or the catalog of a lake.
    itself = export(db, "records", "--to", str(warehouse_path(db)), "--overwrite")
    assert itself.exit_code == 2 and "warehouse itself" in itself.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "parts", "runs.csv"]


ATTACKS = [
    "COPY (SELECT 1) TO '{out}'",
    "SELECT 1; COPY (SELECT 1) TO '{out}'",
    "ATTACH '{out}' AS m (READ_ONLY false)",
    "EXPORT DATABASE '{out}'",
    "SELECT * FROM read_text('/etc/passwd')",
    "SET lock_configuration = false; COPY (SELECT 1) TO '{out}'",
    "INSTALL httpfs",
    "DELETE FROM runs",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_exported_sql_cannot_write_or_read_other_files(db, tmp_path, attack):
    before = warehouse_rows(db, "SELECT * FROM runs ORDER BY run_id")
    sql = attack.format(out=tmp_path / "elsewhere")
    result = export(db, "--query", sql, "--to", str(tmp_path / "out.parquet"))
    assert result.exit_code == 1, result.output
    assert "error:" in result.output
    assert list(tmp_path.iterdir()) == []  # neither the file the SQL named nor --to
    assert warehouse_rows(db, "SELECT * FROM runs ORDER BY run_id") == before


def test_usage_errors(db, tmp_path):
    out = str(tmp_path / "x.parquet")
    assert export(db, "no_such_view", "--to", out).exit_code == 2
    assert export(db, "--to", out).exit_code == 2  # neither a table nor --query
    assert export(db, "records", "--query", "SELECT 1", "--to", out).exit_code == 2
    assert export(db, "records").exit_code == 2  # no --to
    assert export(db, "records", "--to", out, "--partition-by", "nope").exit_code == 2
    assert export(db, "records", "--to", out, "--partition-by", "subjects").exit_code == 2
    assert export(db, "records", "--to", out, "--format", "xlsx").exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_query_csv_and_json_use_the_same_encoding(db):
    sql = (
        "SELECT source_id, pub_date, subjects, dates, loaded_at, true AS yes, NULL AS nothing "
        "FROM records WHERE source = 'pubmed'" + ORDER + " LIMIT 3"
    )
    expected = warehouse_rows(db, sql)
    as_csv = runner.invoke(app, ["query", "--format", "csv", "--db", str(db), sql])
    assert as_csv.exit_code == 0, as_csv.output
    assert not [r for r in REPRS if r in as_csv.output]
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert rows[0] == ["source_id", "pub_date", "subjects", "dates", "loaded_at", "yes", "nothing"]
    assert rows[1:] == [[text_cell(v) for v in row] for row in expected]
    assert rows[1][5:] == ["true", ""]
    as_json = runner.invoke(app, ["query", "--format", "json", "--db", str(db), sql])
    parsed = json.loads(as_json.output)
    assert [p["source_id"] for p in parsed] == [r[0] for r in expected]
    assert parsed[0]["subjects"] == json.loads(text_cell(expected[0][2]))
    assert parsed[0]["pub_date"] == expected[0][1].isoformat() and parsed[0]["yes"] is True
    limited = runner.invoke(
        app, ["query", "--format", "json", "--limit", "2", "--db", str(db), sql]
    )
    assert len(json.loads(limited.stdout)) == 2


def test_query_table_caps_rows_and_columns_and_says_so(db):
    result = runner.invoke(app, ["query", "--db", str(db), "SELECT * FROM records" + ORDER])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "more rows not shown" in out and "more columns not shown" in out
    assert "datetime" not in out and "{'" not in out
    few = runner.invoke(
        app,
        ["query", "--limit", "5", "--db", str(db), "SELECT source_id, dates FROM records" + ORDER],
    )
    assert "48 more rows not shown" in few.output and "columns not shown" not in few.output
    assert '"kind":' in few.output  # structs as JSON
