"""`biblioduck sync pubmed|crossref|oai` from the command line, against the emulators."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.corpus import demo_corpus
from sandbox.crossref import CrossrefEmulator
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.oaipmh import PURE_PATH, build_emulator
from sandbox.server import serve
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_sync_pubmed_prints_counts_and_is_incremental(warehouse_location, monkeypatch):
    fast_http(monkeypatch)
    db = warehouse_location
    with serve(EutilsEmulator(demo_corpus(), rate_limits=None)) as url:
        monkeypatch.setenv("BIBLIODUCK_EUTILS_URL", url)
        first = invoke("sync", "pubmed", "--query", "all[sb]", "--db", str(db))
        second = invoke("sync", "pubmed", "--query", "all[sb]", "--db", str(db))
    assert first.exit_code == 0, first.output
    assert "PubMed sync 'all[sb]'" in first.output and "│ inserted    │   400 │" in first.output
    assert second.exit_code == 0 and "│ inserted    │     0 │" in second.output
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(400,)]


def test_sync_crossref_with_a_filter_and_a_malformed_filter(warehouse_location, monkeypatch):
    fast_http(monkeypatch)
    db = warehouse_location
    with serve(CrossrefEmulator(crossref_demo_corpus())) as url:
        monkeypatch.setenv("BIBLIODUCK_CROSSREF_URL", url)
        bad = invoke("sync", "crossref", "--filter", "type", "--db", str(db))
        good = invoke("sync", "crossref", "--filter", "type:journal-article", "--db", str(db))
    assert bad.exit_code == 2 and "--filter takes NAME:VALUE" in bad.output
    assert good.exit_code == 0, good.output
    loaded = warehouse_rows(
        db, "SELECT count(*), count(DISTINCT publication_types[1]) FROM records"
    )
    assert loaded[0][0] > 0 and loaded[0][1] == 1


def test_sync_oai_harvests_the_portal_and_names_a_broken_endpoint(warehouse_location, monkeypatch):
    fast_http(monkeypatch)
    db = warehouse_location
    app_, _portal = build_emulator()
    with serve(app_) as url:
        ok = invoke("sync", "oai", url + PURE_PATH, "--prefix", "mods", "--db", str(db))
        broken = invoke("sync", "oai", url + "/wrong-endpoint/html", "--db", str(db))
    assert ok.exit_code == 0, ok.output
    assert warehouse_rows(db, "SELECT count(*) FROM records WHERE source = 'oai'") == [(43,)]
    assert broken.exit_code == 1 and "MalformedPayloadError" in broken.output
