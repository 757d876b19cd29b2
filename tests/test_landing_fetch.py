"""Fetching landing pages over real HTTP on loopback, through the emulated DOI resolver and
publisher (`sandbox.landing`): the recorded Zenodo 301 → 200, per-host spacing, robots.txt,
redirect loops, 403, 429 with Retry-After, size cap, non-HTML answers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.http import FatalHttpError, TransientHttpError
from connectors.landing.client import (
    LandingClient,
    NotAPageError,
    RedirectLoopError,
    RobotsDisallowedError,
    landing_session,
)
from connectors.landing.harvest import LandingHarvest, read_doi_file
from connectors.landing.parse import NoRecord, parse_landing_page
from sandbox.faults import Fault
from sandbox.landing import LandingEmulator
from schemas.errors import UsageError
from schemas.record import Record


@pytest.fixture
def emulator(fixtures_dir: Path) -> Iterator[LandingEmulator]:
    emulator = LandingEmulator(fixtures_dir / "landing_html")
    with emulator.serving():
        yield emulator


def _client(emulator: LandingEmulator, *, per_second: float = 50.0) -> LandingClient:
    session = landing_session(requests_per_second=per_second, max_attempts=3, backoff_base=0.01)
    return LandingClient(session, resolver=emulator.resolver_url)


def _paths(emulator: LandingEmulator) -> list[tuple[str, str, int]]:
    return [(r.key, r.path, r.status) for r in emulator.requests]


def test_zenodo_cassette_301_then_200_keeps_the_final_url(emulator: LandingEmulator) -> None:
    page = _client(emulator).fetch_doi("https://doi.org/10.5281/ZENODO.1196821")
    base = emulator.publisher_url
    assert page.doi == "10.5281/zenodo.1196821"
    assert page.url == f"{base}/zenodo.org/records/1196821"
    assert page.chain == (
        f"{emulator.resolver_url}/10.5281/zenodo.1196821",
        f"{base}/www.zenodo.org/records/1196821",
        f"{base}/zenodo.org/records/1196821",
    )
    # robots.txt once for the publisher's host, before its first page; the resolver is not
    # asked for one.
    assert _paths(emulator) == [
        ("resolver", "/10.5281/zenodo.1196821", 302),
        ("robots", "/robots.txt", 200),
        ("page", "/www.zenodo.org/records/1196821", 301),
        ("page", "/zenodo.org/records/1196821", 200),
    ]
    record = parse_landing_page(
        page.body, url=page.url, expected_doi=page.doi, content_type=page.content_type
    )
    assert isinstance(record, Record)
    assert record.source_id == "10.5281/zenodo.1196821"
    assert record.unreadable is None
    assert record.title is not None and record.title.startswith("PsPM-SC4B: SCR, ECG, EMG")
    assert record.identifiers[-1].value == f"{base}/zenodo.org/records/1196821"
    assert record.endpoint == f"{base}/zenodo.org/records/1196821"


def test_pages_of_one_host_are_spaced(emulator: LandingEmulator) -> None:
    client = _client(emulator, per_second=5.0)
    for doi in (
        "10.1371/journal.pone.0213978",
        "10.5210/fm.v25i10.10274",
        "10.1038/d41586-020-02610-z",
    ):
        client.fetch_doi(doi)
    publisher = [r.arrived for r in emulator.requests if r.key in ("page", "robots")]
    assert len(publisher) == 4  # robots.txt once, then three pages
    gaps = [later - earlier for earlier, later in itertools.pairwise(publisher)]
    # 5 requests/s to one host: starts 0.2 s apart. Arrivals jitter by a connection set-up
    # on a busy machine, so each gap has slack, and the whole span none to speak of.
    assert min(gaps) >= 0.1
    assert publisher[-1] - publisher[0] >= 0.58


def test_robots_txt_disallow_is_never_fetched(emulator: LandingEmulator) -> None:
    with pytest.raises(
        RobotsDisallowedError, match=r"DOI 10\.9999/private: .*robots\.txt disallows"
    ):
        _client(emulator).fetch_doi("10.9999/private")
    assert "/private/page" not in [r.path for r in emulator.requests]


def test_robots_txt_server_error_disallows_and_404_allows(emulator: LandingEmulator) -> None:
    emulator.faults.next("robots", Fault.http_status(500), times=None)
    with pytest.raises(RobotsDisallowedError):
        _client(emulator).fetch_doi("10.1371/journal.pone.0213978")
    assert "/pages/sandcrawler__plos_one_article.html" not in [r.path for r in emulator.requests]


def test_robots_txt_missing_allows(emulator: LandingEmulator) -> None:
    emulator.faults.next("robots", Fault.http_status(404))
    page = _client(emulator).fetch_doi("10.9999/private")  # no robots.txt: nothing disallowed
    assert page.url.endswith("/private/page")


def test_robots_txt_rules_for_our_agent_and_its_crawl_delay(emulator: LandingEmulator) -> None:
    emulator.robots_txt = (
        "User-agent: biblioduck\nDisallow: /pages/sandcrawler__nature*\nCrawl-delay: 0.5\n\n"
        "User-agent: *\nDisallow: /\n"
    )
    client = _client(emulator)  # 50 requests/s: the crawl delay is what spaces the pages
    client.fetch_doi("10.1371/journal.pone.0213978")
    client.fetch_doi("10.5210/fm.v25i10.10274")
    with pytest.raises(RobotsDisallowedError):
        client.fetch_doi("10.1038/d41586-020-02610-z")
    pages = [r for r in emulator.requests if r.key == "page"]
    assert [r.path for r in pages] == [
        "/pages/sandcrawler__plos_one_article.html",
        "/pages/sandcrawler__first_monday_ojs3_landing.html",
    ]
    assert pages[1].arrived - pages[0].arrived >= 0.45


def test_redirect_loop_names_the_doi(emulator: LandingEmulator) -> None:
    with pytest.raises(RedirectLoopError, match=r"DOI 10\.9999/loop: redirect loop: ") as caught:
        _client(emulator).fetch_doi("10.9999/loop")
    assert str(caught.value).count("/loop/a") == 2
    assert caught.value.kind == "redirect_loop"


def test_redirect_chain_is_bounded(emulator: LandingEmulator) -> None:
    client = LandingClient(
        landing_session(requests_per_second=50.0), resolver=emulator.resolver_url, max_redirects=4
    )
    with pytest.raises(RedirectLoopError, match=r"DOI 10\.9999/chain: more than 4 redirects"):
        client.fetch_doi("10.9999/chain")
    assert [r.path for r in emulator.requests if r.key == "page"] == [
        "/chain/1",
        "/chain/2",
        "/chain/3",
        "/chain/4",
    ]


def test_403_is_refused_at_once(emulator: LandingEmulator) -> None:
    with pytest.raises(FatalHttpError, match="HTTP 403") as caught:
        _client(emulator).fetch_doi("10.9999/forbidden")
    assert caught.value.status == 403
    assert [r.path for r in emulator.requests if r.key == "page"] == ["/forbidden"]


def test_429_waits_for_retry_after(emulator: LandingEmulator) -> None:
    emulator.faults.next("page", Fault.rate_limited(retry_after="1"))
    page = _client(emulator).fetch_doi("10.1371/journal.pone.0213978")
    assert page.url.endswith("/pages/sandcrawler__plos_one_article.html")
    tries = [r for r in emulator.requests if r.key == "page"]
    assert [r.status for r in tries] == [429, 200]
    assert tries[1].arrived - tries[0].arrived >= 1.0


def test_a_page_past_the_size_cap_is_refused(emulator: LandingEmulator) -> None:
    with pytest.raises(FatalHttpError, match="larger than the 10485760-byte cap"):
        _client(emulator).fetch_doi("10.9999/huge")


def test_a_pdf_is_not_a_page(emulator: LandingEmulator) -> None:
    with pytest.raises(NotAPageError, match=r"paper\.pdf is application/pdf, not an HTML page"):
        _client(emulator).fetch_doi("10.9999/pdf")


def test_html_without_metadata_is_no_record(emulator: LandingEmulator) -> None:
    page = _client(emulator).fetch_doi("10.9999/bare")
    assert parse_landing_page(page.body, url=page.url, expected_doi=page.doi) == NoRecord(
        page.url, "no citation_*, EPrints, bepress, PRISM, JSON-LD or Dublin Core"
    )


def test_a_doi_resolving_to_another_records_page_is_flagged(emulator: LandingEmulator) -> None:
    page = _client(emulator).fetch_doi("10.9999/moved")
    record = parse_landing_page(page.body, url=page.url, expected_doi=page.doi)
    assert isinstance(record, Record)
    assert (record.source_id, record.doi) == ("10.9999/moved", "10.1371/journal.pone.0213978")
    assert record.unreadable is not None
    assert record.unreadable.startswith(
        "landing page of another record: fetched for DOI 10.9999/moved"
    )


def test_unknown_doi_is_404(emulator: LandingEmulator) -> None:
    with pytest.raises(FatalHttpError, match="HTTP 404") as caught:
        _client(emulator).fetch_doi("10.9999/unregistered")
    assert caught.value.status == 404


def test_the_resolver_comes_from_the_environment(
    emulator: LandingEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIBLIODUCK_DOI_RESOLVER", emulator.resolver_url + "/")
    client = LandingClient(landing_session(requests_per_second=50.0))
    assert client.resolver == emulator.resolver_url
    assert client.fetch_doi("10.1038/d41586-020-02610-z").url.endswith("nature_article.html")


def test_fetch_by_url(emulator: LandingEmulator) -> None:
    url = f"{emulator.publisher_url}/www.zenodo.org/records/1196821"
    page = _client(emulator).fetch_url(url)
    assert page.doi is None
    assert page.url == f"{emulator.publisher_url}/zenodo.org/records/1196821"


# --- the enrichment harvest over a DOI list -------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    landing_doi_resolver: str | None
    landing_requests_per_second: float = 50.0
    landing_max_page_bytes: int = 10 << 20
    http_max_attempts: int = 2
    http_backoff_base: float = 0.01


DOI_LIST = [
    "10.1371/journal.pone.0213978",
    "https://doi.org/10.5281/zenodo.1196821",
    "10.9999/bare",
    "10.9999/forbidden",
    "10.9999/pdf",
    "10.9999/loop",
    "10.9999/private",
    "10.9999/moved",
    "10.1371/JOURNAL.PONE.0213978",  # the first again: once
]


def test_harvest_counts_every_outcome_and_checkpoints_each_doi(emulator: LandingEmulator) -> None:
    harvest = LandingHarvest(_Settings(emulator.resolver_url), dois=DOI_LIST, label="test.txt")
    assert len(harvest.dois) == 8
    window = harvest.plan(None, None)
    pages = list(harvest.pages(window, "run1"))
    assert [p.checkpoint["next"] for p in pages] == list(range(1, 9))
    assert [p.records for p in pages] == [1, 1, 0, 0, 0, 0, 0, 1]
    items = [item for p in pages for item in p.payload.items()]
    assert [(r.source_id, r.unreadable is None) for r in items if isinstance(r, Record)] == [
        ("10.1371/journal.pone.0213978", True),
        ("10.5281/zenodo.1196821", True),
        ("10.9999/moved", False),  # the PLOS page again: quarantined, never loaded
    ]
    assert harvest.outcomes == {
        "record": 2,
        "no_record": 1,
        "http_403": 1,
        "not_a_page": 1,
        "redirect_loop": 1,
        "robots": 1,
        "mismatch": 1,
    }
    assert harvest.summary_rows(window, None)["DOIs"] == "test.txt (8 DOIs)"


def test_harvest_resumes_at_the_checkpointed_doi(emulator: LandingEmulator) -> None:
    harvest = LandingHarvest(_Settings(emulator.resolver_url), dois=DOI_LIST)
    window = harvest.plan(None, {"list": harvest.digest, "next": 7})
    assert window.resume == 7
    assert [p.batch_id for p in harvest.pages(window, "r")] == ["landing:r:7"]
    # A checkpoint of another list does not apply: start at the beginning.
    assert harvest.plan(None, {"list": "0000", "next": 7}).resume == 0


def test_harvest_stops_on_transient_failures(emulator: LandingEmulator) -> None:
    emulator.faults.next("page", Fault.http_status(503), times=None)
    harvest = LandingHarvest(_Settings(emulator.resolver_url), dois=DOI_LIST)
    with pytest.raises(TransientHttpError, match="HTTP 503"):
        list(harvest.pages(harvest.plan(None, None), "r"))


def test_read_doi_file(tmp_path: Path) -> None:
    listed = tmp_path / "dois.txt"
    listed.write_text("# enrich these\n10.1/A\n\ndoi:10.1/a\nhttps://doi.org/10.2/b  # PLOS\n")
    assert read_doi_file(listed) == ["10.1/a", "10.2/b"]
    listed.write_text("10.1/a\nnot a doi\n")
    with pytest.raises(UsageError, match=r"line 2: 'not a doi'"):
        read_doi_file(listed)
