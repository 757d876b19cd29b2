"""A cursor harvest through the Crossref emulator: expiring cursors and injected 429/503 lose no
work; the only duplicates are works of the day a new cursor restarts from; checkpoints resume."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.crossref import (
    Checkpoint,
    CrossrefApiError,
    CrossrefClient,
    CursorRestartError,
    WorkPage,
    iter_crossref_records,
)
from connectors.http import PoliteSession
from sandbox.crossref import CrossrefEmulator, ManualClock
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.faults import Fault, FaultPlan
from sandbox.server import serve

MAILTO = "dev@example.org"


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return crossref_demo_corpus()


def session() -> PoliteSession:
    return PoliteSession(
        source="Crossref",
        requests_per_second=1000,
        backoff_base=0.01,
        backoff_cap=5,
        rng=random.Random(7),
    )


def day_of(work: dict[str, Any], field: str = "deposited") -> dt.date:
    return dt.date.fromisoformat(work[field]["date-time"][:10])


def dois_of(pages: list[WorkPage]) -> list[str]:
    return [r.doi for p in pages for r in iter_crossref_records(p.body, origin=p.origin) if r.doi]


def harvest(emulator: CrossrefEmulator, **kwargs: Any) -> list[WorkPage]:
    with serve(emulator) as base:
        client = CrossrefClient(session(), base_url=base, mailto=MAILTO)
        return list(client.iter_work_pages(**kwargs))


def test_expiring_cursors_and_throttling_lose_no_work(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(
        corpus,
        faults=FaultPlan()
        .at("works", 2, 5, fault=Fault.http_status(429, retry_after="0"))
        .at("works", 9, fault=Fault.http_status(503, retry_after="0")),
        cursor_max_uses=2,
        rate_limit=(200, "1s"),
    )
    pages = harvest(emulator, filters={"from-update-date": "2024-01-01"}, rows=20)

    seen = Counter(dois_of(pages))
    assert set(seen) == {w["DOI"].lower() for w in corpus}
    assert len(seen) == 150
    # Restarts happen where `restarts` grows; each restarts from the previous checkpoint's day.
    restart_days = {
        pages[i - 1].checkpoint.resume_from
        for i in range(1, len(pages))
        if pages[i].restarts > pages[i - 1].restarts
    }
    assert len(restart_days) == pages[-1].restarts >= 2
    by_doi = {w["DOI"].lower(): w for w in corpus}
    duplicated = {doi for doi, count in seen.items() if count > 1}
    assert duplicated, "a restart re-reads its day"
    assert {day_of(by_doi[doi]) for doi in duplicated} <= restart_days
    assert max(seen.values()) == 2

    statuses = Counter(r.status for r in emulator.requests)
    # One 200 per page (the last cursor ends at total-results: no empty page asked for);
    # one 404 (cursor-invalid) per restart.
    assert statuses == {200: len(pages), 429: 2, 503: 1, 404: pages[-1].restarts}
    for faulted in (r for r in emulator.requests if r.status in (429, 503)):
        retry = emulator.requests[faulted.number]  # the next request is the same request again
        assert (retry.path, retry.params) == (faulted.path, faulted.params)

    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    resumes = [p.checkpoint.resume_from for p in pages]
    assert None not in resumes
    assert resumes == sorted(r for r in resumes if r is not None)
    assert pages[-1].checkpoint == Checkpoint(
        "deposited",
        max(day_of(w) for w in corpus),
        max(w["deposited"]["date-time"] for w in corpus),
    )


def test_cursor_dying_of_idleness_on_the_test_clock(corpus: list[dict[str, Any]]) -> None:
    clock = ManualClock()
    emulator = CrossrefEmulator(corpus, cursor_ttl=300, rate_limit=(500, "1s"), clock=clock)
    pages: list[WorkPage] = []
    with serve(emulator) as base:
        client = CrossrefClient(session(), base_url=base, mailto=MAILTO)
        for page in client.iter_work_pages(rows=30):
            pages.append(page)
            if page.number == 2:
                clock.advance(301)  # the loader was slow: the cursor is gone
    assert [p.restarts for p in pages][:4] == [0, 0, 1, 1]
    assert set(dois_of(pages)) == {w["DOI"].lower() for w in corpus}
    restarted = emulator.requests[3]
    assert restarted.params["cursor"] == ["*"]
    assert restarted.params["filter"] == [
        f"from-update-date:{pages[1].checkpoint.resume_from.isoformat()}"  # type: ignore[union-attr]
    ]


def test_a_cursor_that_dies_after_every_page_still_completes(
    corpus: list[dict[str, Any]],
) -> None:
    emulator = CrossrefEmulator(corpus, cursor_max_uses=0, rate_limit=(500, "1s"))
    pages = harvest(emulator, rows=40)
    assert set(dois_of(pages)) == {w["DOI"].lower() for w in corpus}
    assert all(r.params["cursor"] == ["*"] for r in emulator.requests if r.status == 200)


def test_no_progress_past_one_day_fails_with_advice(corpus: list[dict[str, Any]]) -> None:
    moment = dt.datetime(2025, 3, 3, 10, tzinfo=dt.UTC)
    same_day = [
        {
            **w,
            "deposited": {
                "date-parts": [[2025, 3, 3]],
                "date-time": f"2025-03-03T10:00:{n:02d}Z",
                "timestamp": int(moment.timestamp() * 1000) + n * 1000,
            },
        }
        for n, w in enumerate(corpus[:30])
    ]
    emulator = CrossrefEmulator(same_day, cursor_max_uses=0, rate_limit=(500, "1s"))
    with serve(emulator) as base:
        client = CrossrefClient(session(), base_url=base, mailto=MAILTO, max_restarts=2)
        pages = client.iter_work_pages(rows=10)
        with pytest.raises(CursorRestartError) as caught:
            list(pages)
    assert "the cursor expired 3 times in a row without getting past 2025-03-03" in str(
        caught.value
    )
    assert "narrow the filters (type, prefix, member) or retry later" in str(caught.value)


def test_resume_from_a_stored_checkpoint(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(corpus, rate_limit=(500, "1s"))
    first = harvest(emulator, filters={"from-update-date": "2024-01-01"}, rows=50)
    state = first[1].checkpoint.to_state()
    resume = Checkpoint.from_state(state)
    assert resume == first[1].checkpoint
    assert state == {
        "date_field": "deposited",
        "resume_from": resume.resume_from.isoformat(),  # type: ignore[union-attr]
        "max_seen": resume.max_seen,
    }

    later = CrossrefEmulator(corpus, rate_limit=(500, "1s"))
    pages = harvest(later, filters={"from-update-date": "2024-01-01"}, rows=50, resume=resume)
    assert later.requests[0].params["filter"] == [
        f"from-update-date:{resume.resume_from.isoformat()}"  # type: ignore[union-attr]
    ]
    assert set(dois_of(pages)) == {
        w["DOI"].lower()
        for w in corpus
        if day_of(w) >= resume.resume_from  # type: ignore[operator]
    }


def test_out_of_order_answers_freeze_the_watermark(
    corpus: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    emulator = CrossrefEmulator(corpus, rate_limit=(500, "1s"))

    def ignores_sort(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        query = environ.get("QUERY_STRING", "")
        environ["QUERY_STRING"] = "&".join(p for p in query.split("&") if not p.startswith("sort="))
        return iter(emulator(environ, start_response))

    with caplog.at_level(logging.WARNING), serve(ignores_sort) as base:
        client = CrossrefClient(session(), base_url=base, mailto=MAILTO)
        pages = list(client.iter_work_pages(filters={"from-update-date": "2024-01-01"}, rows=30))
    assert set(dois_of(pages)) == {w["DOI"].lower() for w in corpus}
    # Crossref order broke on the first or second page: from then on nothing is claimed.
    assert {p.checkpoint.resume_from for p in pages[1:]} <= {
        dt.date(2024, 1, 1),
        pages[0].checkpoint.resume_from,
    }
    assert any("out of deposited order" in message for message in caplog.messages)


def test_request_shape_polite_pool_and_index_date_harvests(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(corpus, rate_limit=(500, "1s"))
    pages = harvest(
        emulator,
        filters={"from-index-date": dt.date(2025, 1, 1), "type": ["journal-article", "dataset"]},
        query="practice",
        rows=10,
    )
    first = emulator.requests[0]
    assert first.params == {
        "filter": ["from-index-date:2025-01-01,type:journal-article,type:dataset"],
        "query": ["practice"],
        "sort": ["indexed"],
        "order": ["asc"],
        "rows": ["10"],
        "cursor": ["*"],
        "mailto": [MAILTO],
    }
    assert first.user_agent is not None and first.user_agent.endswith(f"(mailto:{MAILTO})")
    # The cursor token holds "+" and "/": it must arrive intact (percent-encoded on the way).
    assert emulator.requests[1].params["cursor"][0].startswith("+/+/")
    expected = {
        w["DOI"].lower()
        for w in corpus
        if day_of(w, "indexed") >= dt.date(2025, 1, 1)
        and w["type"] in ("journal-article", "dataset")
        and "practice" in w["title"][0]
    }
    assert set(dois_of(pages)) == expected
    assert len(pages) > 2
    assert pages[-1].checkpoint.date_field == "indexed"


def test_crossref_refusals_and_bad_arguments(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(corpus, rate_limit=(500, "1s"))
    with serve(emulator) as base:
        client = CrossrefClient(session(), base_url=base, mailto=MAILTO)
        with pytest.raises(CrossrefApiError) as caught:
            list(client.iter_work_pages(filters={"has-abstract": "true"}))
        assert caught.value.status == 400
        assert caught.value.message_type == "validation-failure"
        assert [p.type for p in caught.value.problems] == ["filter-not-available"]
        assert "Crossref refused the request (HTTP 400): validation-failure" in str(caught.value)
        with pytest.raises(ValueError, match="unknown Crossref /works filter"):
            list(client.iter_work_pages(filters={"from-update": "2024-01-01"}))
        with pytest.raises(ValueError, match="rows must be between 1 and 1000"):
            list(client.iter_work_pages(rows=1001))
        with pytest.raises(ValueError, match="either update-date or index-date"):
            list(
                client.iter_work_pages(
                    filters={"from-update-date": "2024-01-01", "until-index-date": "2025-01-01"}
                )
            )
