"""`sync pure-portal`: the sandbox's Pure-like portal served as HTML over real loopback HTTP,
synced into a real DuckDB by the one sync runner: every listed output loads from its own page,
a second run changes nothing, an interrupted run resumes at the page after the last loaded,
and the seed loaded from its page is one work with its OAI MODS record. Then the portal's
faults: robots.txt (a disallowed listing page is one clear error, a disallowed output page
loads as listed), its Crawl-delay, 429 with Retry-After, 503 past the retries, a page past the
size cap; each failed run resumes and the outputs load exactly once."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from connectors.http import FatalHttpError, TransientHttpError
from connectors.oaipmh.harvest import OaiHarvest
from connectors.pure.harvest import PurePortalHarvest
from connectors.robots import RobotsDisallowedError
from flows.pure import pure_portal_sync
from flows.settings import load_settings
from flows.sync import run_sync
from sandbox.faults import Fault
from sandbox.oaipmh import PURE_PATH, OaiEmulator, pure_repository
from sandbox.pure_corpus import SEED_OUTPUT
from sandbox.pure_pages import PortalPages
from sandbox.server import serve
from schemas.errors import FatalError
from warehouse.store import Warehouse

PORTAL = "/portal"


class _Breaking:
    """The portal, refusing (403) listing page `page` while `broken` is set."""

    def __init__(self, pages: PortalPages, page: int) -> None:
        self.pages, self.page, self.broken = pages, page, False

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.broken and environ.get("QUERY_STRING") == f"page={self.page}":
            return Response("Forbidden", status=403)(environ, start_response)
        return self.pages(environ, start_response)


@pytest.fixture()
def site() -> Iterator[tuple[str, PortalPages, _Breaking]]:
    pages = PortalPages(page_size=10)
    breaking = _Breaking(pages, 3)
    oai = OaiEmulator({PURE_PATH: pure_repository(page_size=50)})
    app = DispatcherMiddleware(oai, {PORTAL: breaking})
    with serve(app) as base:
        yield base, pages, breaking


def _settings(tmp_path: Path) -> Any:
    return load_settings(db=str(tmp_path / "w.duckdb"), http_backoff_base=0.01, http_max_attempts=2)


def _harvest(settings: Any, base: str, **options: Any) -> PurePortalHarvest:
    return PurePortalHarvest(settings, portal=base + PORTAL, requests_per_second=500.0, **options)


def test_portal_sync_loads_every_output_from_its_page(tmp_path, site) -> None:
    base, pages, _breaking = site
    settings = _settings(tmp_path)
    result = run_sync(_harvest(settings, base), settings)
    assert (result["status"], result["fetched"], result["inserted"]) == ("completed", 43, 43)
    assert (result["quarantined"], result["pages"], result["last_page"]) == (0, 5, 4)
    assert result["watermark"] == dt.datetime.now(dt.UTC).date().isoformat()
    # 5 listing pages and 43 output pages, each fetched once.
    assert len(pages.requests) == 48
    with Warehouse(settings.db) as warehouse:
        row = warehouse.con.execute(
            "SELECT title, list_transform(authors, a -> a.name), output_type, peer_reviewed, "
            "list_transform(metrics, m -> [m.name, m.value::VARCHAR, m.provider, "
            "m.as_of::VARCHAR]), language, pages, page_count, journal, issue, "
            "publication_state, pub_date, pub_date_precision, "
            "list_transform(subjects, s -> [s.scheme, s.term, s.code]), abstract "
            "FROM records WHERE source = 'pure' AND source_id = ?",
            [SEED_OUTPUT.portal_url],
        ).fetchone()
        assert warehouse.state("pure", f"Pure portal {base}{PORTAL}/en/publications/") == (
            result["watermark"],
            None,
        )
    assert row is not None
    assert row[:-1] == (
        "Interleukins in Cancer Therapy: Rationale and Current Status",
        [
            "Leslie Oleksowicz",
            "Joseph Sparano",
            "Kevin O’Boyle",
            "Usha Venkatraj",
            "Peter H. Wiernik",
            "Janice P. Dutcher",
        ],
        ["Contribution to journal", "Review article"],
        True,
        [["citations", "4", "scopus", result["watermark"]]],  # dated the day it was fetched
        "English (US)",
        "271-281",
        11,
        "Clinical Immunotherapeutics",
        "4",
        "Published",
        dt.date(1994, 4, 1),
        "month",
        [
            ["asjc", "Immunology and Allergy", "2723"],
            ["asjc", "Pharmacology (medical)", "2736"],
        ],
    )
    assert row[-1] == SEED_OUTPUT.abstract

    again = run_sync(_harvest(settings, base), settings)
    assert (again["fetched"], again["inserted"], again["updated"], again["unchanged"]) == (
        43,
        0,
        0,
        43,
    )


def test_an_interrupted_sync_resumes_after_the_last_page_loaded(tmp_path, site) -> None:
    base, pages, breaking = site
    settings = load_settings(
        db=str(tmp_path / "w.duckdb"),
        http_backoff_base=0.01,
        http_max_attempts=2,
        sync_group_records=10,
    )
    breaking.broken = True
    with pytest.raises(FatalError, match="403"):
        run_sync(_harvest(settings, base), settings)
    scope = f"Pure portal {base}{PORTAL}/en/publications/"
    with Warehouse(settings.db) as warehouse:
        state = warehouse.state("pure", scope)
        loaded = warehouse.con.execute("SELECT count(*) FROM records WHERE source = 'pure'")
        assert loaded.fetchone() == (30,)
    assert state[0] is None
    assert state[1] is not None and (state[1]["next_page"], state[1]["unfinished"]) == (3, True)

    breaking.broken = False
    before = len(pages.requests)
    result = run_sync(_harvest(settings, base), settings)
    assert (result["status"], result["fetched"], result["inserted"]) == ("completed", 13, 13)
    assert pages.requests[before].endswith("?page=3")  # resumed, not restarted
    assert len(pages.requests) - before == 2 + 13


def test_since_a_year_stops_at_older_pages(tmp_path, site) -> None:
    base, pages, _breaking = site
    settings = _settings(tmp_path)
    # The flow's own body (`biblioduck sync pure-portal URL --since 2024 --listing-only`).
    result = pure_portal_sync.fn(
        base + PORTAL,
        since="2024",
        fetch_pages=False,
        db=str(settings.db),
        requests_per_second=500.0,
    )
    listing_requests = [r for r in pages.requests if "?page=" in r]
    assert result["status"] == "completed"
    # Newest first: page 0 (2026 down to 2022) already reaches before 2024; no more is read.
    assert (len(listing_requests), result["pages"], result["fetched"]) == (1, 1, 10)
    with Warehouse(settings.db) as warehouse:
        years = warehouse.con.execute(
            "SELECT min(pub_year), max(pub_year), count(*) FROM records WHERE source = 'pure'"
        ).fetchone()
    assert years == (2022, 2026, 10)


def test_the_seed_from_its_page_and_from_oai_mods_is_one_work(tmp_path, site) -> None:
    base, _pages, _breaking = site
    settings = load_settings(
        db=str(tmp_path / "w.duckdb"), http_backoff_base=0.01, oai_requests_per_second=500.0
    )
    mods = run_sync(
        OaiHarvest(settings, endpoint=base + PURE_PATH, metadata_prefix="mods"), settings
    )
    pure = run_sync(_harvest(settings, base), settings)
    assert (mods["inserted"], pure["inserted"]) == (43, 43)
    with Warehouse(settings.db) as warehouse:
        members = warehouse.con.execute(
            "SELECT source, matched_on FROM work_members WHERE work_id = ("
            "  SELECT work_id FROM work_members WHERE source = 'pure' AND source_id = ?)"
            " ORDER BY source",
            [SEED_OUTPUT.portal_url],
        ).fetchall()
        # Every output is one work of its two records (its page, its MODS), none of another.
        works = warehouse.con.execute(
            "SELECT count(*), count(DISTINCT source), count(DISTINCT r.title) "
            "FROM work_members m JOIN records r USING (source, source_id) GROUP BY work_id"
        ).fetchall()
    assert sorted(set(works)) == [(2, 2, 1)] and len(works) == 43
    assert [source for source, _matched in members] == ["oai", "pure"]
    assert members[1][1].startswith("fuzzy:title+author")


# --- the portal's faults: robots.txt, 429, 503, an over-size page ------------------------------


@pytest.fixture()
def portal() -> Iterator[tuple[str, PortalPages]]:
    """The portal alone at the root of its host, where its robots.txt is."""
    pages = PortalPages(page_size=10)
    with serve(pages) as base:
        yield base, pages


def _grouped_settings(tmp_path: Path) -> Any:
    # One listing page (10 outputs) per loaded group: a failed run keeps the pages before it.
    return load_settings(
        db=str(tmp_path / "w.duckdb"),
        http_backoff_base=0.01,
        http_max_attempts=2,
        sync_group_records=10,
    )


def _pure_records(settings: Any) -> int:
    with Warehouse(settings.db) as warehouse:
        row = warehouse.con.execute("SELECT count(*) FROM records WHERE source = 'pure'")
        counted = row.fetchone()
    assert counted is not None
    return int(counted[0])


def _fetched_once(pages: PortalPages) -> None:
    """Every output page was answered 200 exactly once over the runs."""
    answered = Counter(r.path for r in pages.recorded if r.key == "output" and r.status == 200)
    assert len(answered) == 43 and set(answered.values()) == {1}


def _listing_statuses(pages: PortalPages) -> list[tuple[str, int]]:
    return [(r.query_string, r.status) for r in pages.recorded if r.key == "listing"]


def test_robots_disallowing_the_listing_stops_with_one_clear_error(tmp_path, portal) -> None:
    base, pages = portal
    settings = _grouped_settings(tmp_path)
    pages.robots_txt = "User-agent: *\nDisallow: /en/publications/?page=\n"
    listing = f"{base}/en/publications/"
    with pytest.raises(RobotsDisallowedError) as refused:
        run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert str(refused.value).startswith(
        f"Pure portal {listing}: {base}/robots.txt disallows the listing page {listing}?page=0; "
        "the sync stops here."
    )
    assert refused.value.url == f"{listing}?page=0"
    assert [r.key for r in pages.recorded] == ["robots"]  # nothing else asked
    assert _pure_records(settings) == 0


def test_a_listing_page_disallowed_midway_fails_then_resumes_once_allowed(tmp_path, portal) -> None:
    base, pages = portal
    settings = _grouped_settings(tmp_path)
    pages.robots_txt = "User-agent: *\nDisallow: /en/publications/?page=2$\n"
    with pytest.raises(RobotsDisallowedError, match=r"disallows the listing page .*\?page=2;"):
        run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert _pure_records(settings) == 20
    assert _listing_statuses(pages) == [("page=0", 200), ("page=1", 200)]

    pages.robots_txt = "User-agent: *\nDisallow:\n"
    result = run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert (result["status"], result["inserted"], result["pages"]) == ("completed", 23, 3)
    assert _pure_records(settings) == 43
    assert _listing_statuses(pages) == [(f"page={n}", 200) for n in range(5)]
    assert [r.key for r in pages.recorded].count("robots") == 2  # once per run
    _fetched_once(pages)


def test_an_output_page_disallowed_loads_as_listed_and_is_counted(tmp_path, portal) -> None:
    base, pages = portal
    settings = _settings(tmp_path)
    seed_page = pages.url_of(SEED_OUTPUT)
    pages.robots_txt = f"User-agent: biblioduck\nDisallow: {seed_page}$\n"
    harvest = PurePortalHarvest(settings, portal=base, requests_per_second=500.0)
    result = run_sync(harvest, settings)
    assert (result["status"], result["inserted"], result["robots_disallowed"]) == (
        "completed",
        43,
        1,
    )
    assert seed_page not in [r.path for r in pages.recorded]
    assert harvest.summary_rows(harvest.plan(None, None), None)["output pages"] == (
        "fetched (1 disallowed by robots.txt, loaded as listed)"
    )
    with Warehouse(settings.db) as warehouse:
        seed = warehouse.con.execute(
            "SELECT source_id, title, abstract, pub_year FROM records "
            "WHERE source = 'pure' AND title LIKE 'Interleukins in Cancer Therapy%'"
        ).fetchall()
    # From the listing: its link (on the emulator's host) is its id, and it has no abstract.
    assert seed == [
        (
            f"{base}{seed_page}",
            "Interleukins in Cancer Therapy: Rationale and Current Status",
            None,
            1994,
        )
    ]


def test_crawl_delay_spaces_the_portals_requests(tmp_path, portal) -> None:
    base, pages = portal
    settings = _settings(tmp_path)
    pages.robots_txt = "User-agent: *\nCrawl-delay: 0.3\n"
    harvest = PurePortalHarvest(settings, portal=base, fetch_pages=False, requests_per_second=500.0)
    result = run_sync(harvest, settings)
    assert (result["status"], result["inserted"], result["pages"]) == ("completed", 43, 5)
    arrivals = [r.arrived for r in pages.recorded if r.key == "listing"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # 500 requests/s asked; the portal's 0.3 s is what spaces them (a little slack for jitter).
    assert len(gaps) == 4 and min(gaps) >= 0.25


def test_429_waits_for_retry_after_and_the_run_finishes_once(tmp_path, portal) -> None:
    base, pages = portal
    settings = _grouped_settings(tmp_path)
    pages.faults.at("listing", 3, fault=Fault.rate_limited(retry_after="1"))
    result = run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert (result["status"], result["inserted"]) == ("completed", 43)
    assert _listing_statuses(pages) == [
        ("page=0", 200),
        ("page=1", 200),
        ("page=2", 429),
        ("page=2", 200),
        ("page=3", 200),
        ("page=4", 200),
    ]
    tries = [r.arrived for r in pages.recorded if r.query_string == "page=2"]
    assert tries[1] - tries[0] >= 1.0
    _fetched_once(pages)


def test_503_past_the_retries_fails_then_the_next_run_resumes(tmp_path, portal) -> None:
    base, pages = portal
    settings = _grouped_settings(tmp_path)
    pages.faults.at("output", 5, fault=Fault.http_status(503))  # once: retried, recovered
    pages.faults.at("listing", 3, 4, fault=Fault.http_status(503))  # both attempts of page 2
    with pytest.raises(TransientHttpError, match=r"\?page=2 failed after 2 attempt\(s\): HTTP 503"):
        run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert _pure_records(settings) == 20

    result = run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert (result["status"], result["inserted"], result["pages"]) == ("completed", 23, 3)
    assert _pure_records(settings) == 43
    assert _listing_statuses(pages) == [
        ("page=0", 200),
        ("page=1", 200),
        ("page=2", 503),
        ("page=2", 503),
        ("page=2", 200),
        ("page=3", 200),
        ("page=4", 200),
    ]
    assert [r.status for r in pages.recorded if r.key == "output"][4:6] == [503, 200]
    _fetched_once(pages)


def test_a_page_past_the_size_cap_fails_then_the_next_run_resumes(tmp_path, portal) -> None:
    base, pages = portal
    settings = _grouped_settings(tmp_path)
    pages.faults.at("listing", 2, fault=pages.huge_page())
    with pytest.raises(FatalHttpError, match=r"\?page=1: the response is larger than the 10485760"):
        run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert _pure_records(settings) == 10

    result = run_sync(PurePortalHarvest(settings, portal=base, requests_per_second=500.0), settings)
    assert (result["status"], result["inserted"], result["pages"]) == ("completed", 33, 4)
    assert _pure_records(settings) == 43
    _fetched_once(pages)
