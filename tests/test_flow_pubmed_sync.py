"""The pubmed_sync flow end to end: emulator over loopback → parse → validate → warehouse (a
DuckDB file and a lake)."""

from __future__ import annotations

import pytest

from flows.pubmed import pubmed_sync
from sandbox.corpus import demo_corpus, synthetic_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.faults import Fault
from sandbox.server import serve
from schemas.errors import TransientError
from tests.conftest import BACKENDS, location_in
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

QUERY = "all[sb]"


@pytest.fixture(scope="module")
def corpus():
    return demo_corpus()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    """Each backend in turn, for the whole module: its reference warehouse is built once."""
    return str(request.param)


@pytest.fixture(scope="module")
def clean_sync(corpus, tmp_path_factory, backend):
    """The warehouse a fault-free sync of the demo corpus produces (the reference)."""
    path = location_in(tmp_path_factory.mktemp("clean"), backend, "clean")
    with pytest.MonkeyPatch.context() as mp:
        fast_http(mp)
        with serve(EutilsEmulator(corpus, rate_limits=None)) as url:
            result = pubmed_sync(query=QUERY, db=str(path), eutils_url=url)
    return path, result


def test_clean_sync_loads_the_corpus_and_a_second_sync_loads_nothing(
    clean_sync, corpus, monkeypatch
):
    path, result = clean_sync
    assert (result["status"], result["fetched"], result["inserted"]) == ("completed", 400, 400)
    assert warehouse_rows(path, "SELECT count(*), count(DISTINCT pmid) FROM records") == [
        (400, 400)
    ]
    before = warehouse_rows(path)
    fast_http(monkeypatch)
    with serve(EutilsEmulator(corpus, rate_limits=None)) as url:
        again = pubmed_sync(query=QUERY, db=str(path), eutils_url=url)
    assert (again["fetched"], again["inserted"], again["updated"]) == (0, 0, 0)
    assert again["window"][0] == result["watermark"]
    assert warehouse_rows(path) == before
    # A re-sync of the whole window (a backfill) finds every record unchanged.
    with serve(EutilsEmulator(corpus, rate_limits=None)) as url:
        backfill = pubmed_sync(query=QUERY, since="2024-01-01", db=str(path), eutils_url=url)
    assert (backfill["fetched"], backfill["unchanged"], backfill["inserted"]) == (400, 400, 0)
    assert warehouse_rows(path) == before


def test_faults_end_in_the_same_warehouse_as_a_clean_sync(
    clean_sync, corpus, warehouse_location, monkeypatch
):
    reference, _ = clean_sync
    fast_http(monkeypatch)
    emulator = EutilsEmulator(corpus, rate_limits=None)
    emulator.faults.at("efetch", 1, fault=Fault.rate_limited(retry_after="1"))
    emulator.faults.at("efetch", 2, fault=Fault.http_status(500))
    emulator.faults.at("efetch", 4, fault=Fault.http_status(503, retry_after="0"))
    emulator.faults.at("efetch", 6, fault=Fault.reset_mid_body())
    emulator.faults.at("efetch", 8, fault=Fault.short_body())
    emulator.faults.at("efetch", 9, fault=Fault.truncated())
    emulator.faults.at("esearch", 2, fault=Fault.http_status(502))
    path = warehouse_location
    with serve(emulator) as url:
        result = pubmed_sync(query=QUERY, db=str(path), eutils_url=url)
    assert result["inserted"] == 400
    assert sum(1 for r in emulator.requests if r.fault) == 7  # every planned fault was served
    assert warehouse_rows(path) == warehouse_rows(reference)


def test_retries_running_out_fail_clearly_and_a_rerun_completes(
    clean_sync, corpus, warehouse_location, monkeypatch
):
    reference, _ = clean_sync
    fast_http(monkeypatch, attempts=2)
    monkeypatch.setenv("BIBLIODUCK_SYNC_GROUP_RECORDS", "100")  # a transaction per page
    emulator = EutilsEmulator(corpus, rate_limits=None)
    # The third page fails on both attempts: the run stops after loading two pages.
    emulator.faults.at("efetch", 3, 4, fault=Fault.http_status(503, retry_after="0"))
    path = warehouse_location
    with serve(emulator) as url:
        with pytest.raises(TransientError) as failure:
            pubmed_sync(query=QUERY, db=str(path), eutils_url=url)
        message = str(failure.value)
        assert "PubMed E-utilities" in message and "503" in message
        assert warehouse_rows(path, "SELECT status, fetched FROM runs") == [("failed", 200)]
        assert warehouse_rows(path, "SELECT count(*) FROM records") == [(200,)]
        resumed = pubmed_sync(query=QUERY, db=str(path), eutils_url=url)
    assert resumed["status"] == "completed"
    assert resumed["inserted"] == 200
    assert warehouse_rows(path) == warehouse_rows(reference)
    assert warehouse_rows(path, "SELECT count(*) FROM record_versions") == [(400,)]


def test_a_query_over_the_paging_window_loads_every_record_exactly_once(
    warehouse_location, monkeypatch
):
    fast_http(monkeypatch, batch_size=2000)
    corpus = synthetic_corpus(12_000)
    emulator = EutilsEmulator(corpus, rate_limits=None)
    path = warehouse_location
    with serve(emulator) as url:
        result = pubmed_sync(query=QUERY, until="2025-12-31", db=str(path), eutils_url=url)
    assert (result["fetched"], result["inserted"], result["quarantined"]) == (12_000, 12_000, 0)
    expected = sorted(str(r.pmid) for r in corpus)
    assert [
        pmid for (pmid,) in warehouse_rows(path, "SELECT pmid FROM records ORDER BY pmid")
    ] == expected
    windows = [
        int(r.param("retstart") or 0) + int(r.param("retmax") or 0)
        for r in emulator.requests
        if r.endpoint == "efetch"
    ]
    assert max(windows) <= 9_999
