"""A query over PubMed's 9,999-hit paging window is split into date slices and, within one
overfull day, into complementary term slices; paging every slice returns every PMID once."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator

import pytest
from lxml import etree
from pydantic import SecretStr

from connectors.http import PoliteSession
from connectors.pubmed.client import SEARCH_WINDOW, EutilsClient, QuerySlice
from sandbox.corpus import CorpusRecord, synthetic_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from schemas.errors import FatalError

API_KEY = "5ec7e7a91c0ffee5ec7e7a91c0ffee5ec7e7"
DAY = dt.date(2025, 6, 2)


@pytest.fixture(scope="module")
def corpus() -> list[CorpusRecord]:
    return synthetic_corpus(12_000, day=DAY)


@pytest.fixture
def emulator(corpus: list[CorpusRecord]) -> EutilsEmulator:
    return EutilsEmulator(corpus, rate_limits=None)


@pytest.fixture
def client(emulator: EutilsEmulator) -> Iterator[EutilsClient]:
    with serve(emulator) as base:
        session = PoliteSession(
            source="PubMed E-utilities", requests_per_second=1000, backoff_base=0.001
        )
        yield EutilsClient(
            f"{base}/entrez/eutils/",
            tool="biblioduck-tests",
            email="dev@example.org",
            api_key=SecretStr(API_KEY),
            session=session,
        )
        session.close()


def _pmids(body: bytes) -> list[int]:
    root = etree.fromstring(body)
    assert root.tag == "PubmedArticleSet"
    return [int(text) for text in root.xpath("PubmedArticle/MedlineCitation/PMID/text()")]


def test_slices_cover_the_query_once_and_each_fits_the_window(
    client: EutilsClient, emulator: EutilsEmulator, corpus: list[CorpusRecord]
) -> None:
    slices = client.plan_slices(
        "all[sb]", mindate=dt.date(2025, 5, 1), maxdate=dt.date(2025, 6, 30), datetype="mdat"
    )
    assert all(0 < piece.count <= SEARCH_WINDOW for piece in slices)
    assert sum(piece.count for piece in slices) == 12_000
    # The overfull day was split by term; the other days by date only.
    day_slices = [piece for piece in slices if piece.mindate == piece.maxdate == DAY]
    assert [piece.term for piece in day_slices] == [
        "(all[sb]) AND hasabstract",
        "(all[sb]) NOT hasabstract",
    ]
    assert any(piece.mindate < piece.maxdate for piece in slices)
    assert len({piece.key for piece in slices}) == len(slices)

    seen: Counter[int] = Counter()
    for piece in slices:
        for page in client.iter_pages(piece):
            assert page.slice_key == piece.key
            assert page.count <= client.batch_size
            seen.update(_pmids(page.body))
    assert set(seen) == {record.pmid for record in corpus}
    assert max(seen.values()) == 1

    # Every request was a POST whose form carried the identity; the key never went in a URL.
    requests = emulator.requests
    assert {request.method for request in requests} == {"POST"}
    assert all(request.query == {} for request in requests)
    assert all(request.form["api_key"] == [API_KEY] for request in requests)
    assert all(request.form["tool"] == ["biblioduck-tests"] for request in requests)
    assert all(request.form["email"] == ["dev@example.org"] for request in requests)


def test_a_day_split_goes_as_deep_as_needed(
    client: EutilsClient, corpus: list[CorpusRecord]
) -> None:
    # A filter that cannot divide the day enough comes first: the split must recurse.
    client.split_terms = ("review[pt]", "hasabstract")
    slices = client.plan_slices("all[sb]", mindate=DAY, maxdate=DAY, datetype="edat")
    on_the_day = sum(1 for record in corpus if record.entrez_date == DAY)
    assert on_the_day > SEARCH_WINDOW
    assert sum(piece.count for piece in slices) == on_the_day
    terms = [piece.term for piece in slices]
    assert "(all[sb]) AND review[pt]" in terms
    assert "(all[sb]) NOT review[pt] AND hasabstract" in terms
    assert "(all[sb]) NOT review[pt] NOT hasabstract" in terms


def test_a_day_that_cannot_be_split_enough_is_a_fatal_error(client: EutilsClient) -> None:
    client.split_terms = ("review[pt]",)
    with pytest.raises(FatalError) as caught:
        client.plan_slices("all[sb]", mindate=DAY, maxdate=DAY, datetype="mdat")
    message = str(caught.value)
    assert "'all[sb]'" in message and "2025/06/02" in message
    assert "Add split_terms" in message


def test_resuming_from_a_checkpoint_fetches_only_the_rest(client: EutilsClient) -> None:
    piece = QuerySlice("all[sb]", dt.date(2025, 6, 3), dt.date(2025, 6, 8), "mdat", 0)
    pages = list(client.iter_pages(piece))
    resumed = list(client.iter_pages(piece, start=pages[0].next_retstart))
    assert [page.retstart for page in resumed] == [page.retstart for page in pages[1:]]
    assert [_pmids(page.body) for page in resumed] == [_pmids(page.body) for page in pages[1:]]
