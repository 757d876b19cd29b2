"""The publisher sources from the command line (issue 20, part 4): `sync landing --doi-file`
and `--from-works` against the emulated resolver and publisher, `import --format html|pure|jats`
of real recorded pages and articles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.landing import LandingEmulator
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_sync_landing_from_a_doi_file_then_from_works(fixtures_dir: Path, tmp_path, monkeypatch):
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_LANDING_REQUESTS_PER_SECOND", "50")
    db = tmp_path / "w.duckdb"
    dois = tmp_path / "dois.txt"
    dois.write_text(
        "# two pages with citation_* tags, one without metadata\n"
        "10.1371/journal.pone.0213978\nhttps://doi.org/10.5210/fm.v25i10.10274\n10.9999/bare\n"
    )
    emulator = LandingEmulator(fixtures_dir / "landing_html")
    with emulator.serving():
        monkeypatch.setenv("BIBLIODUCK_DOI_RESOLVER", emulator.resolver_url)
        first = invoke("sync", "landing", "--doi-file", str(dois), "--db", str(db))
        again = invoke("sync", "landing", "--doi-file", str(dois), "--db", str(db))
        # Every work with a DOI has its landing record now: nothing left to enrich.
        enrich = invoke("sync", "landing", "--from-works", "--db", str(db))
        neither = invoke("sync", "landing", "--db", str(db))
    assert first.exit_code == 0, first.output
    assert "│ inserted    │     2 │" in first.output and "no_record: 1" in first.output
    assert again.exit_code == 0 and "│ inserted    │     0 │" in again.output
    assert enrich.exit_code == 0, enrich.output
    assert neither.exit_code == 2 and "--doi-file FILE or --from-works" in neither.output
    assert warehouse_rows(
        db, "SELECT source_id, pub_date, volume, issue FROM records ORDER BY source_id"
    ) == [
        ("10.1371/journal.pone.0213978", dt.date(2019, 4, 22), "14", "4"),
        ("10.5210/fm.v25i10.10274", dt.date(2020, 9, 10), None, None),
    ]


def test_import_saved_pages_and_jats_articles(fixtures_dir: Path, tmp_path):
    db = tmp_path / "w.duckdb"
    html = invoke(
        "import",
        str(fixtures_dir / "landing_html" / "sandcrawler__plos_one_article.html"),
        "--format",
        "html",
        "--db",
        str(db),
    )
    pure = invoke(
        "import",
        str(fixtures_dir / "landing_html" / "pure_portal_bath_publications_listing.html"),
        "--format",
        "pure",
        "--db",
        str(db),
    )
    jats = invoke("import", str(fixtures_dir / "jats"), "--format", "jats", "--db", str(db))
    assert html.exit_code == 0, html.output
    assert pure.exit_code == 0, pure.output
    assert jats.exit_code == 0, jats.output
    assert warehouse_rows(
        db, "SELECT source, count(*) FROM records GROUP BY source ORDER BY source"
    ) == [("jats", 6), ("landing", 1), ("pure", 50)]
    # The run rows name the records' source (a saved landing page is a `landing` record).
    assert warehouse_rows(db, "SELECT DISTINCT source FROM runs ORDER BY source") == [
        ("jats",),
        ("landing",),
        ("pure",),
    ]
