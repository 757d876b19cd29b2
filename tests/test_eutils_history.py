"""A WebEnv that NCBI loses mid-iteration is replaced by a new search, and paging goes on from
the same position; a history that keeps getting lost ends in a TransientError."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from lxml import etree

from connectors.http import PoliteSession
from connectors.pubmed.client import EutilsClient, QuerySlice
from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.faults import Fault
from sandbox.server import serve
from schemas.errors import TransientError

ALL_2024 = QuerySlice("all[sb]", dt.date(2024, 1, 1), dt.date(2024, 12, 31), "edat", 0)


@pytest.fixture
def emulator() -> EutilsEmulator:
    return EutilsEmulator(demo_corpus(), rate_limits=None)


@pytest.fixture
def client(emulator: EutilsEmulator) -> Iterator[EutilsClient]:
    with serve(emulator) as base:
        session = PoliteSession(source="PubMed", requests_per_second=1000, backoff_base=0.001)
        yield EutilsClient(
            f"{base}/entrez/eutils/",
            tool="biblioduck-tests",
            email="dev@example.org",
            session=session,
            batch_size=40,
        )
        session.close()


def _pmids(body: bytes) -> list[int]:
    return [int(t) for t in etree.fromstring(body).xpath("//MedlineCitation/PMID/text()")]


def _expected(emulator: EutilsEmulator) -> list[int]:
    records = demo_corpus()
    wanted = [
        r.pmid for r in records if dt.date(2024, 1, 1) <= r.entrez_date <= dt.date(2024, 12, 31)
    ]
    return sorted(wanted, reverse=True)


def test_expired_webenv_mid_iteration_is_recovered(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    emulator.faults.at("efetch", 2, fault=Fault.expire())
    pages = list(client.iter_pages(ALL_2024))
    fetched = [pmid for page in pages for pmid in _pmids(page.body)]
    assert fetched == _expected(emulator)
    assert [page.retstart for page in pages] == list(range(0, len(fetched), 40))

    efetches = [r for r in emulator.requests if r.endpoint == "efetch"]
    esearches = [r for r in emulator.requests if r.endpoint == "esearch"]
    assert len(esearches) == 2
    # The failed efetch and its replay ask for the same position, under different WebEnvs.
    assert efetches[1].param("retstart") == efetches[2].param("retstart") == "40"
    assert efetches[1].param("WebEnv") != efetches[2].param("WebEnv")


def test_history_lost_between_pages_of_a_paused_iteration(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    pages = client.iter_pages(ALL_2024)
    first = next(pages)
    assert emulator.expire_webenvs() == 1  # as if the consumer had paused for hours
    rest = list(pages)
    fetched = [pmid for page in [first, *rest] for pmid in _pmids(page.body)]
    assert fetched == _expected(emulator)


def test_a_history_that_keeps_getting_lost_is_a_transient_error(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    emulator.faults.at("efetch", 1, 2, 3, 4, 5, fault=Fault.expire())
    with pytest.raises(TransientError) as caught:
        list(client.iter_pages(ALL_2024))
    message = str(caught.value)
    assert "retstart=0" in message
    assert "lost its search history 4 times in a row" in message
    assert "Unable to obtain query #1" in message
