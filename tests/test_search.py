"""`biblioduck search` and `index`: BM25 over titles, abstracts and subject terms of real
records (PubMed, Crossref and OAI-PMH fixtures imported into a warehouse), an index rebuilt
only when the records changed, and a search that cannot write."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.importing import run_import
from schemas.errors import FatalError
from tests.flow_helpers import warehouse_rows
from warehouse.export import locked_connection
from warehouse.search import (
    DOCUMENTS,
    FTS_SCHEMA,
    load_fts,
    refresh_search_index,
    search,
    search_sql,
)
from warehouse.store import Warehouse

runner = CliRunner()

PUBMED = [
    "pubmed_baseline/pmparser__pubmed26n1334.xml.gz",  # 30 records of a 2026 baseline file
    "pubmed_efetch/biopython__pubmed1.xml",  # 2 records: 1976 and 1990
]
CROSSREF = [
    "crossref/habanero__works_cursor_page1.json",
    "crossref/habanero__works_cursor_page2.json",
]
OAI = ["oaipmh/zenodo__ListRecords_oai_dc_page1.xml"]


def _import(fixtures_dir: Path, db: Path) -> None:
    for names, fmt in ((PUBMED, "pubmed"), (CROSSREF, "crossref"), (OAI, "oai")):
        run_import([str(fixtures_dir / n) for n in names], fmt=fmt, db=str(db), workers=0)


@pytest.fixture(scope="module")
def indexed(fixtures_dir, tmp_path_factory) -> Path:
    """A warehouse of 75 real records (73 works), its search index built (read by the tests, never
    changed: a test that changes it works on a copy)."""
    db = tmp_path_factory.mktemp("search") / "w.duckdb"
    _import(fixtures_dir, db)  # each load refreshes the index (warehouse.derived)
    with Warehouse(db) as warehouse:
        assert refresh_search_index(warehouse.con)["documents"] == 73
    return db


@pytest.fixture
def copy(indexed, tmp_path) -> Path:
    db = tmp_path / "w.duckdb"
    shutil.copy(indexed, db)
    return db


def ids(result) -> list[str]:
    return [hit.source_id for hit in result.hits]


def test_the_index_holds_every_work(indexed):
    assert warehouse_rows(indexed, f"SELECT count(*) FROM {DOCUMENTS}") == warehouse_rows(
        indexed, "SELECT count(*) FROM works"
    )
    assert warehouse_rows(indexed, "SELECT count(*) FROM records") == [(75,)]
    # Two pairs of Crossref records are one work each (fuzzy: same title, author and date):
    # a Rogue Scholar post and its version (is-version-of), and one OSTI report with two DOIs.
    merged = warehouse_rows(
        indexed,
        f"SELECT sources, source_id FROM {DOCUMENTS} WHERE work_id IN "
        "(SELECT work_id FROM work_members GROUP BY 1 HAVING count(*) > 1) ORDER BY 2",
    )
    assert merged == [(["crossref"], "10.2172/10115553"), (["crossref"], "10.59350/7mtwq-q3661")]


def test_title_words_rank_their_record_first(indexed):
    # "Mast cells promote pathology and susceptibility in tuberculosis."
    assert ids(search(indexed, "mast cells tuberculosis"))[0] == "41603352"
    # "Fine-tuning xylan side chains for enhanced production of high-yield sugars, …"
    assert ids(search(indexed, "xylan side chains", limit=1)) == ["41578406"]
    # Stemming: the plural and the singular find the same record.
    assert ids(search(indexed, "xylans", limit=1)) == ["41578406"]


def test_a_word_only_in_an_abstract_finds_its_record(indexed):
    (where,) = warehouse_rows(
        indexed,
        "SELECT source_id, title ILIKE '%pneumoperitoneum%' FROM records "
        "WHERE abstract ILIKE '%pneumoperitoneum%'",
    )
    assert where == ("41583336", False)  # in one abstract, not in its title
    result = search(indexed, "pneumoperitoneum")
    assert ids(result) == ["41583336"]
    (hit,) = result.hits
    assert "pneumoperitoneum" in hit.snippet.lower()
    assert "**pneumoperitoneum**" in hit.highlighted().lower()
    assert len(hit.snippet) < 250  # a snippet around the word, not the whole abstract


def test_subject_terms_are_searched(indexed):
    # A keyword of one record (Crossref and PubMed keywords, MeSH terms: its subjects), in
    # neither its title nor its abstract.
    assert warehouse_rows(
        indexed,
        "SELECT source_id, concat(title, abstract) ILIKE '%plyometric%' FROM record_subjects "
        "JOIN records USING (source, source_id) WHERE term = 'plyometrics'",
    ) == [("41590957", False)]
    assert ids(search(indexed, "plyometrics")) == ["41590957"]


def test_accents_and_case_are_folded(indexed):
    assert ids(search(indexed, "TUBÉRCULOSÏS", limit=1)) == ["41603352"]


def test_stop_words_alone_find_nothing(indexed):
    assert search(indexed, "the and of").hits == []


def test_source_and_year_filters(indexed):
    everything = search(indexed, "widget", limit=100)
    assert {hit.source for hit in everything.hits} == {"crossref"}
    assert search(indexed, "widget", source="pubmed").hits == []
    in_range = search(indexed, "widget", year_from=2020, year_to=2021, limit=100)
    expected = warehouse_rows(
        indexed,
        "SELECT source_id FROM records WHERE title ILIKE '%widget%' "
        "AND pub_year BETWEEN 2020 AND 2021 ORDER BY 1",
    )
    assert sorted(ids(in_range)) == [row[0] for row in expected]
    assert len(expected) >= 5 and all(2020 <= hit.year <= 2021 for hit in in_range.hits)
    assert ids(search(indexed, "heme flavin", source="pubmed", year_to=1980)) == ["9997"]
    assert search(indexed, "heme flavin", year_from=1977).hits == []
    assert ids(search(indexed, "AIDS correctional", year_from=1990, year_to=1990)) == ["12091962"]
    assert search(indexed, "cancer", source="oai").hits == []
    assert {h.source for h in search(indexed, "cancer", source="pubmed").hits} == {"pubmed"}


def test_scores_are_the_extensions_bm25_weighted(indexed):
    """Without its title weight and coordination, the search's own SQL over the index tables
    gives the scores of the extension's `match_bm25` macro (it reads the extension's tables: a
    new version of them shows here); with them, scores only grow, and order changes."""
    words = "immune cells therapy"
    parameters = {"query": words, "source": None, "year_from": None, "year_to": None}
    with locked_connection(indexed, before_lockdown=load_fts) as con:
        expected = con.execute(
            f"SELECT source_id, score FROM (SELECT *, {FTS_SCHEMA}.match_bm25(doc_id, $query) "
            f"AS score FROM {DOCUMENTS}) WHERE score IS NOT NULL ORDER BY score DESC, "
            "source, source_id",
            {"query": words},
        ).fetchall()
        plain = con.execute(
            search_sql(1, coordination=False), {**parameters, "limit": 100}
        ).fetchall()
        titled = con.execute(
            search_sql(coordination=False), {**parameters, "limit": 100}
        ).fetchall()
    assert len(expected) >= 5
    assert [row[2] for row in plain] == [source_id for source_id, _ in expected]
    assert [row[0] for row in plain] == pytest.approx([score for _, score in expected])
    by_id = dict(expected)
    assert all(row[0] >= by_id[row[2]] - 1e-9 for row in titled)
    assert any(row[0] > by_id[row[2]] + 1e-9 for row in titled)  # some title holds a word


def test_a_second_refresh_changes_nothing_and_a_load_makes_the_index_stale(
    copy, fixtures_dir, monkeypatch
):
    # A load refreshes the index itself (test_a_load_refreshes_the_index_and_works); past
    # BIBLIODUCK_DERIVE_MAX_RECORDS it leaves it, stale, which search says.
    monkeypatch.setenv("BIBLIODUCK_DERIVE_MAX_RECORDS", "0")
    with Warehouse(copy) as warehouse:
        again = refresh_search_index(warehouse.con)
    assert again["rebuilt"] is False and again["documents"] == 73
    assert search(copy, "heme").stale is None
    run_import(
        [str(fixtures_dir / "pubmed_efetch" / "eutils__efetch_29915538.xml")],
        fmt="pubmed",
        db=str(copy),
        workers=0,
    )
    (title,) = warehouse_rows(copy, "SELECT title FROM records WHERE source_id = '29915538'")[0]
    stale = search(copy, title)
    assert stale.stale and "biblioduck index" in stale.stale
    assert "29915538" not in ids(stale)  # the snapshot does not have it yet
    with Warehouse(copy) as warehouse:
        rebuilt = refresh_search_index(warehouse.con)
        assert rebuilt["rebuilt"] is True and rebuilt["documents"] == 74
        assert refresh_search_index(warehouse.con)["rebuilt"] is False
    fresh = search(copy, title)
    assert fresh.stale is None and ids(fresh)[0] == "29915538"


def test_a_load_refreshes_the_index_and_works(copy, fixtures_dir):
    run_import(
        [str(fixtures_dir / "pubmed_efetch" / "eutils__efetch_29915538.xml")],
        fmt="pubmed",
        db=str(copy),
        workers=0,
    )
    (title,) = warehouse_rows(copy, "SELECT title FROM records WHERE source_id = '29915538'")[0]
    fresh = search(copy, title)
    assert fresh.stale is None and ids(fresh)[0] == "29915538"
    assert warehouse_rows(
        copy, "SELECT count(*) FROM work_members WHERE source_id = '29915538'"
    ) == [(1,)]


def test_loading_the_same_files_again_keeps_the_index_fresh(copy, fixtures_dir):
    _import(fixtures_dir, copy)  # all already loaded: nothing changes
    assert search(copy, "heme").stale is None


def test_without_an_index_search_says_how_to_build_one(fixtures_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BIBLIODUCK_DERIVE_MAX_RECORDS", "0")  # the load builds none
    db = tmp_path / "w.duckdb"
    run_import([str(fixtures_dir / PUBMED[1])], fmt="pubmed", db=str(db), workers=0)
    with pytest.raises(FatalError, match="biblioduck index"):
        search(db, "heme")
    result = runner.invoke(app, ["search", "heme", "--db", str(db)])
    assert result.exit_code == 1 and "no search index" in result.output
    built = runner.invoke(app, ["index", "--db", str(db)])
    assert built.exit_code == 0 and "search index rebuilt: 2 works" in built.output
    again = runner.invoke(app, ["index", "--db", str(db)])
    assert "search index up to date: 2 works, nothing changed" in again.output
    forced = runner.invoke(app, ["index", "--force", "--db", str(db)])
    assert "search index rebuilt: 2 works" in forced.output
    assert runner.invoke(app, ["search", "heme", "--db", str(db)]).exit_code == 0


def test_index_of_no_warehouse_creates_none(tmp_path):
    result = runner.invoke(app, ["index", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1 and "no warehouse at" in result.output
    assert list(tmp_path.iterdir()) == []


INJECTIONS = [
    "'); COPY (SELECT 1) TO '{out}'; --",
    "x' UNION SELECT * FROM read_text('/etc/passwd') --",
    "$query; DROP TABLE runs",
]


@pytest.mark.parametrize("words", INJECTIONS)
def test_the_words_are_a_parameter_never_sql(copy, tmp_path, words):
    before = warehouse_rows(copy, "SELECT * FROM runs ORDER BY run_id")
    result = search(copy, words.format(out=tmp_path / "out"))
    assert isinstance(result.hits, list)
    assert warehouse_rows(copy, "SELECT * FROM runs ORDER BY run_id") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]


ATTACKS = [
    "COPY (SELECT 1) TO '{out}'",
    "ATTACH '{out}' AS m",
    "SELECT * FROM read_text('/etc/passwd')",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "DELETE FROM runs",
    f"DROP SCHEMA {FTS_SCHEMA} CASCADE",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_searchs_connection_is_locked_down_as_querys(copy, tmp_path, attack):
    with locked_connection(copy, before_lockdown=load_fts) as con, pytest.raises(duckdb.Error):
        con.execute(attack.format(out=tmp_path / "out"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]


def test_search_command_formats(indexed):
    table = runner.invoke(app, ["search", "pneumoperitoneum", "--db", str(indexed)])
    assert table.exit_code == 0, table.output
    assert "41583336" in table.output and "**pneumoperitoneum**" in table.output.lower()
    as_csv = runner.invoke(
        app, ["search", "pneumoperitoneum", "--format", "csv", "--db", str(indexed)]
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [r["source_id"] for r in rows] == ["41583336"]
    assert list(rows[0]) == [
        "score",
        "work_id",
        "sources",
        "source",
        "source_id",
        "year",
        "journal",
        "title",
        "snippet",
    ]
    assert rows[0]["work_id"].startswith("W") and rows[0]["sources"] == "pubmed"
    assert "**" not in rows[0]["snippet"] and "pneumoperitoneum" in rows[0]["snippet"].lower()
    as_json = runner.invoke(
        app, ["search", "widget", "--format", "json", "--limit", "3", "--db", str(indexed)]
    )
    hits = json.loads(as_json.output)
    assert len(hits) == 3 and all(h["source"] == "crossref" for h in hits)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    none = runner.invoke(app, ["search", "zzzyyyxxx", "--db", str(indexed)])
    assert none.exit_code == 0 and "No work matches" in none.output
    wrong = runner.invoke(
        app, ["search", "x", "--year-from", "2020", "--year-to", "2000", "--db", str(indexed)]
    )
    assert wrong.exit_code == 2


def test_a_stale_index_warns_on_the_command_line(copy, fixtures_dir, monkeypatch):
    monkeypatch.setenv("BIBLIODUCK_DERIVE_MAX_RECORDS", "0")  # the load leaves the index
    run_import(
        [str(fixtures_dir / "pubmed_efetch" / "eutils__efetch_29915538.xml")],
        fmt="pubmed",
        db=str(copy),
        workers=0,
    )
    result = runner.invoke(app, ["search", "heme", "--db", str(copy)])
    assert result.exit_code == 0
    assert "warning: the search index was built" in result.output
    assert "biblioduck index" in result.output


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_the_demo_is_indexed_and_its_seed_ranks_first(tmp_path):
    db = tmp_path / "demo.duckdb"
    demo = runner.invoke(app, ["demo", "--db", str(db)])
    assert demo.exit_code == 0, demo.output
    assert "search index up to date: 528 works" in demo.output  # the syncs refreshed it
    seed = "Interleukins in Cancer Therapy: Rationale and Current Status"
    result = search(db, "interleukin cancer therapy")
    assert result.stale is None and result.hits[0].title == seed
    # Words of its abstract only ("intercellular hormones"), not of its title or subjects.
    assert search(db, "intercellular hormones").hits[0].title == seed
    # A paper PubMed and Crossref both hold (one DOI) is one hit: its work, not two records.
    hits = search(db, "Bacteroides fragilis hospital readmission").hits
    assert hits[0].title == "Role of Bacteroides fragilis in hospital readmission."
    assert hits[0].sources == ["crossref", "pubmed"] and hits[0].work_id == "W1a4e82defc563e8c"
    assert [h.title for h in hits].count(hits[0].title) == 1
    in_crossref = search(db, "Bacteroides fragilis readmission", source="crossref").hits
    assert in_crossref[0].work_id == hits[0].work_id
    again = runner.invoke(app, ["demo", "--db", str(db)])
    assert "search index up to date: 528 works" in again.output


def test_every_new_command_has_help():
    for command in ("search", "index", "export"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "--db" in result.output
