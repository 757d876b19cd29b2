"""Empty results are legal everywhere (search, plan, pages), and fetching by PMID list goes in
POSTed batches in the order asked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from lxml import etree

from connectors.http import PoliteSession
from connectors.pubmed.client import EutilsClient, QuerySlice, SearchResult
from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve

CORPUS = demo_corpus()


@pytest.fixture
def emulator() -> EutilsEmulator:
    return EutilsEmulator(CORPUS, rate_limits=None)


@pytest.fixture
def client(emulator: EutilsEmulator) -> Iterator[EutilsClient]:
    with serve(emulator) as base:
        session = PoliteSession(source="PubMed", requests_per_second=1000, backoff_base=0.001)
        yield EutilsClient(
            f"{base}/entrez/eutils/",
            tool="biblioduck-tests",
            email="dev@example.org",
            session=session,
            batch_size=3,
        )
        session.close()


def test_zero_hits(client: EutilsClient) -> None:
    result = client.search("abcXYZ", mindate=dt.date(2024, 1, 1), maxdate=dt.date(2024, 1, 31))
    assert result.count == 0 and result.ids == ()
    assert (
        client.plan_slices("abcXYZ", mindate=dt.date(2024, 1, 1), maxdate=dt.date(2026, 1, 1)) == []
    )
    empty = QuerySlice("abcXYZ", dt.date(2024, 1, 1), dt.date(2024, 1, 31), "mdat", 0)
    assert list(client.iter_pages(empty)) == []


def test_search_returns_ids_newest_first(client: EutilsClient) -> None:
    result = client.search("all[sb]", retmax=5, usehistory=False)
    newest = sorted((record.pmid for record in CORPUS), reverse=True)[:5]
    assert result == SearchResult(count=len(CORPUS), webenv=None, query_key=None, ids=tuple(newest))


def test_fetch_by_ids_in_batches_keeps_the_order(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    wanted = [CORPUS[10].pmid, CORPUS[3].pmid, CORPUS[250].pmid, CORPUS[7].pmid, 1]
    pages = list(client.fetch_by_ids(wanted))
    assert [(page.retstart, page.count, page.total) for page in pages] == [(0, 3, 5), (3, 2, 5)]
    assert len({page.slice_key for page in pages}) == 1
    got = [
        int(pmid)
        for page in pages
        for pmid in etree.fromstring(page.body).xpath("//MedlineCitation/PMID/text()")
    ]
    assert got == wanted[:4]  # PMID 1 is not in the corpus: efetch leaves it out
    forms = [r.form for r in emulator.requests]
    assert [form["id"] for form in forms] == [
        [",".join(map(str, wanted[:3]))],
        [",".join(map(str, wanted[3:]))],
    ]


def test_fetch_by_ids_rejects_what_is_not_a_pmid(client: EutilsClient) -> None:
    with pytest.raises(ValueError, match="not a PMID"):
        list(client.fetch_by_ids([123, "12a"]))
