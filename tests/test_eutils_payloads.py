"""Bodies that are not what E-utilities should send: truncated XML with a matching
Content-Length and JSON rate-limit notes are retried; HTML pages and foreign documents are
MalformedPayloadError; transport faults under the client are retried by the session."""

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
from schemas.errors import FatalError, MalformedPayloadError, TransientError

SLICE = QuerySlice("all[sb]", dt.date(2025, 1, 1), dt.date(2025, 3, 31), "edat", 0)


@pytest.fixture
def emulator() -> EutilsEmulator:
    return EutilsEmulator(demo_corpus(), rate_limits=None)


@pytest.fixture
def client(emulator: EutilsEmulator) -> Iterator[EutilsClient]:
    with serve(emulator) as base:
        session = PoliteSession(
            source="PubMed E-utilities",
            requests_per_second=1000,
            backoff_base=0.001,
            max_attempts=3,
        )
        yield EutilsClient(
            f"{base}/entrez/eutils/",
            tool="biblioduck-tests",
            email="dev@example.org",
            session=session,
        )
        session.close()


def _count(pages: list[bytes]) -> int:
    return sum(len(etree.fromstring(body).findall("PubmedArticle")) for body in pages)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.truncated(),
        Fault.short_body(),
        Fault.reset_mid_body(),
        Fault.http_status(503, retry_after="0"),
        Fault.http_status(500),
        Fault.rate_limited(retry_after="0"),
        Fault.answer(200, b'{"error":"API rate limit exceeded"}', content_type="application/json"),
    ],
    ids=lambda fault: fault.kind + str(fault.status),
)
def test_transient_faults_on_efetch_are_retried(
    client: EutilsClient, emulator: EutilsEmulator, fault: Fault
) -> None:
    emulator.faults.next("efetch", fault)
    pages = [page.body for page in client.iter_pages(SLICE)]
    expected = client.search(
        "all[sb]", mindate=SLICE.mindate, maxdate=SLICE.maxdate, datetype="edat"
    )
    assert _count(pages) == expected.count
    efetches = [r for r in emulator.requests if r.endpoint == "efetch"]
    assert [r.fault for r in efetches] == [fault.kind, None]


def test_an_html_page_instead_of_articles_is_malformed(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    page = b"<!DOCTYPE html><html><body><h1>NCBI is down for maintenance</h1></body></html>"
    emulator.faults.next("efetch", Fault.answer(200, page))
    with pytest.raises(MalformedPayloadError) as caught:
        list(client.iter_pages(SLICE))
    assert "expected a PubmedArticleSet, got an HTML page" in str(caught.value)
    assert "NCBI is down for maintenance" in str(caught.value)
    assert len([r for r in emulator.requests if r.endpoint == "efetch"]) == 1


def test_a_foreign_xml_document_is_malformed(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    emulator.faults.next("efetch", Fault.answer(200, b"<?xml version='1.0'?><pmc-articleset/>"))
    with pytest.raises(MalformedPayloadError, match="got <pmc-articleset>"):
        list(client.iter_pages(SLICE))


def test_an_in_band_backend_error_is_retried_then_reported(
    client: EutilsClient, emulator: EutilsEmulator
) -> None:
    error = (
        b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>Search Backend '
        b"failed: timeout</ERROR>\n</eFetchResult>\n"
    )
    emulator.faults.next("efetch", Fault.answer(200, error, content_type="text/xml"), times=3)
    with pytest.raises(TransientError) as caught:
        list(client.iter_pages(SLICE))
    assert "failed after 3 attempt(s): efetch answered with an error: Search Backend failed" in str(
        caught.value
    )


def test_a_refused_search_is_fatal(client: EutilsClient) -> None:
    with pytest.raises(FatalError, match="HTTP 400"):
        client.search("all[sb] AND (unbalanced")
