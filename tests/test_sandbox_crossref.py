"""The Crossref emulator answers like the recorded API (status codes, headers, envelope shapes,
error bodies byte for byte), filters by the documented dates, and its demo corpus is
deterministic and overlaps the PubMed demo corpus by DOI."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.crossref import parse_work
from sandbox.corpus import DEMO_FIRST_DAY, DEMO_LAST_DAY, demo_corpus
from sandbox.crossref import CrossrefEmulator
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.faults import Fault, FaultPlan
from sandbox.server import serve
from tests.test_crossref_parse_fixtures import load_cassette

RATE_HEADERS = ("x-concurrency-limit", "x-rate-limit-interval", "x-rate-limit-limit", "x-api-pool")


@pytest.fixture(scope="module")
def crossref_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "crossref"


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return crossref_demo_corpus()


def get(url: str, **params: str) -> requests.Response:
    return requests.get(url, params=params, timeout=10)


# --- like the recordings ---------------------------------------------------------------------


def test_cursor_paging_like_the_recorded_harvest(crossref_dir: Path) -> None:
    recorded = load_cassette(crossref_dir / "habanero__cassette_cursor_max.yaml")[:3]
    works = {
        item["DOI"]: item
        for interaction in recorded
        for item in json.loads(interaction["body"])["message"]["items"]
    }
    emulator = CrossrefEmulator(works.values(), rate_limit=(5, "1s"), concurrency_limit=1)
    answers = []
    with serve(emulator) as base:
        cursor = "*"
        for _ in recorded:
            answer = get(f"{base}/works", query="widget", cursor=cursor)
            answers.append(answer)
            cursor = answer.json()["message"]["next-cursor"]
    for answer, interaction in zip(answers, recorded, strict=True):
        assert answer.status_code == interaction["status"] == 200
        assert answer.headers["content-type"] == interaction["headers"]["content-type"]
        assert answer.headers["content-encoding"] == interaction["headers"]["content-encoding"]
        for name in RATE_HEADERS:
            assert answer.headers[name] == interaction["headers"][name], name
        ours, theirs = answer.json(), json.loads(interaction["body"])
        assert list(ours) == list(theirs)
        assert list(ours["message"]) == list(theirs["message"])
        assert (ours["status"], ours["message-type"], ours["message-version"]) == (
            theirs["status"],
            theirs["message-type"],
            theirs["message-version"],
        )
        assert ours["message"]["items-per-page"] == theirs["message"]["items-per-page"] == 20
        assert ours["message"]["query"] == theirs["message"]["query"]
        assert len(ours["message"]["items"]) == 20
    # Like the real scroll: the same token on every page of one cursor.
    assert len({a.json()["message"]["next-cursor"] for a in answers}) == 1
    assert len({json.loads(i["body"])["message"]["next-cursor"] for i in recorded}) == 1
    seen = [item["DOI"] for a in answers for item in a.json()["message"]["items"]]
    assert sorted(seen) == sorted(works)


def test_error_bodies_are_the_recorded_ones(crossref_dir: Path) -> None:
    emulator = CrossrefEmulator(
        [{"DOI": "10.1371/journal.pone.0033693", "type": "journal-article"}]
    )
    with serve(emulator) as base:
        bad_cursor = get(f"{base}/works", query="widget", cursor="thing")
        field_query = get(f"{base}/works/10.1371/journal.pone.0033693", **{"query.author": "carl"})
        unknown = get(f"{base}/works/10.1371/notarealdoi")
    assert bad_cursor.status_code == 404
    assert (
        bad_cursor.content
        == (crossref_dir / "habanero__error_404_cursor_invalid.json").read_bytes()
    )
    assert field_query.status_code == 400
    assert (
        field_query.content
        == (crossref_dir / "habanero__error_400_parameter_not_allowed.json").read_bytes()
    )
    recorded_404 = load_cassette(crossref_dir / "habanero__cassette_works_mixed_404.yaml")[1]
    assert unknown.status_code == recorded_404["status"] == 404
    assert unknown.headers["content-type"] == recorded_404["headers"]["content-type"]
    assert unknown.content == recorded_404["body"] == b"Resource not found."


def test_single_work_envelope_like_the_recording(crossref_dir: Path) -> None:
    recorded = load_cassette(crossref_dir / "habanero__cassette_works_many_ids.yaml")[2]
    work = json.loads(recorded["body"])["message"]
    emulator = CrossrefEmulator([work], rate_limit=(10, "1s"), concurrency_limit=3)
    with serve(emulator) as base:
        answer = requests.get(
            f"{base}/works/10.1038/srep16696",
            headers={"User-Agent": "x (mailto:a@b.org)"},
            timeout=10,
        )
    assert answer.status_code == 200
    assert answer.json() == json.loads(recorded["body"])
    for name in RATE_HEADERS:  # the recording was made in the polite pool
        assert answer.headers[name] == recorded["headers"][name], name


def test_pool_follows_the_mailto(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(corpus[:1])
    with serve(emulator) as base:
        assert get(f"{base}/works").headers["x-api-pool"] == "public"
        assert get(f"{base}/works", mailto="a@b.org").headers["x-api-pool"] == "polite"


# --- filters, paging, faults -----------------------------------------------------------------


def dois(answer: requests.Response) -> set[str]:
    return {item["DOI"] for item in answer.json()["message"]["items"]}


def day(work: dict[str, Any], field: str) -> dt.date:
    return dt.date.fromisoformat(work[field]["date-time"][:10])


def test_date_filters_are_inclusive_days_on_the_documented_fields(
    corpus: list[dict[str, Any]],
) -> None:
    emulator = CrossrefEmulator(corpus)
    with serve(emulator) as base:
        updated = get(
            f"{base}/works",
            filter="from-update-date:2025-03-03,until-update-date:2025-03-03",
            rows="1000",
        )
        indexed = get(f"{base}/works", filter="from-index-date:2026-06", rows="1000")
        published = get(
            f"{base}/works", filter="until-pub-date:2019,type:book-chapter", rows="1000"
        )
    assert dois(updated) == {w["DOI"] for w in corpus if day(w, "deposited") == dt.date(2025, 3, 3)}
    assert len(dois(updated)) == 13
    assert dois(indexed) == {w["DOI"] for w in corpus if day(w, "indexed") >= dt.date(2026, 6, 1)}
    assert dois(published) == {
        w["DOI"]
        for w in corpus
        if w["type"] == "book-chapter" and w["issued"]["date-parts"][0][0] <= 2019
    }
    assert updated.json()["message"]["total-results"] == 13


def test_sorting_offsets_and_validation(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(corpus)
    with serve(emulator) as base:
        first = get(f"{base}/works", sort="deposited", order="asc", rows="100")
        rest = get(f"{base}/works", sort="deposited", order="asc", rows="100", offset="100")
        too_many = get(f"{base}/works", rows="1001")
        bad_filter = get(f"{base}/works", filter="has-abstract:true")
        bad_sort = get(f"{base}/works", sort="colour")
    items = first.json()["message"]["items"] + rest.json()["message"]["items"]
    stamps = [item["deposited"]["date-time"] for item in items]
    assert stamps == sorted(stamps) and len(items) == 150
    assert rest.json()["message"]["query"]["start-index"] == 100
    assert "next-cursor" not in first.json()["message"]
    assert (too_many.status_code, too_many.json()["message"][0]["type"]) == (
        400,
        "integer-not-valid",
    )
    assert (bad_filter.status_code, bad_filter.json()["message"][0]["type"]) == (
        400,
        "filter-not-available",
    )
    assert (bad_sort.status_code, bad_sort.json()["message"][0]["type"]) == (
        400,
        "sort-field-not-valid",
    )


def test_faults_cursor_expiry_and_request_log(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(
        corpus,
        faults=FaultPlan().at("works", 2, fault=Fault.http_status(429, retry_after="7")),
        cursor_max_uses=1,
    )
    with serve(emulator) as base:
        start = get(f"{base}/works", cursor="*", rows="10")
        token = start.json()["message"]["next-cursor"]
        throttled = get(f"{base}/works", cursor=token, rows="10")
        second = get(f"{base}/works", cursor=token, rows="10")
        expired = get(f"{base}/works", cursor=token, rows="10")
        fresh = get(f"{base}/works", cursor="*", rows="10")
        emulator.expire_cursors()
        killed = get(f"{base}/works", cursor=fresh.json()["message"]["next-cursor"], rows="10")
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "7")
    assert second.status_code == 200
    assert dois(second).isdisjoint(dois(start))  # the 429 did not advance the cursor
    assert expired.status_code == killed.status_code == 404
    assert expired.json()["message"][0] == {
        "type": "cursor-invalid",
        "value": token,
        "message": "Cursor specified but it is invalid",
    }
    assert [r.status for r in emulator.requests] == [200, 429, 200, 404, 200, 404]
    assert emulator.requests[1].params == {"cursor": [token], "rows": ["10"]}


# --- the demo corpus -------------------------------------------------------------------------


def test_demo_corpus_is_deterministic_and_varied(corpus: list[dict[str, Any]]) -> None:
    assert crossref_demo_corpus() == corpus
    assert len(corpus) == 150
    assert len({w["DOI"].lower() for w in corpus}) == 150
    records = [parse_work(w) for w in corpus]
    assert all(r.source_id is not None for r in records)
    assert {r.publication_types[0] for r in records} == {
        "journal-article",
        "book-chapter",
        "proceedings-article",
        "dataset",
        "posted-content",
    }
    assert max(len(r.authors) for r in records) == 1200
    assert "10.1002/(sici)1097-4636(199706)35:4<477::aid-jbm8>3.0.co;2-d" in {
        r.doi for r in records
    }
    assert {r.pub_date_precision for r in records} >= {"year", "month", "day", None}
    relations = {link.relation for r in records for link in r.links}
    assert relations == {
        "correction",
        "has-correction",
        "retraction",
        "has-retraction",
        "erratum",
        "has-erratum",
        "is-preprint-of",
    }
    for work in corpus:
        created, deposited, indexed = (
            work[f]["date-time"] for f in ("created", "deposited", "indexed")
        )
        assert created <= deposited <= indexed
        assert day(work, "created") >= DEMO_FIRST_DAY
        assert day(work, "indexed") <= DEMO_LAST_DAY


def test_demo_corpus_shares_dois_with_the_pubmed_demo(corpus: list[dict[str, Any]]) -> None:
    pubmed = {
        match.group(1).decode()
        for record in demo_corpus()
        if (match := re.search(rb'<ArticleId IdType="doi">([^<]+)</ArticleId>', record.xml))
    }
    shared = {w["DOI"].lower() for w in corpus} & pubmed
    assert len(shared) == 50
    first = parse_work(corpus[0])
    assert first.doi == "10.1186/s12889.2024.27251"
    assert first.title == "Role of Candida auris in depressive symptoms."
    assert first.title_markup == "Role of <i>Candida auris</i> in depressive symptoms."
    assert first.journal == "BMC public health"
    assert first.authors[0].orcid == "0000-0002-9904-1341"
