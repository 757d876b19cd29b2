"""Harvests that are interrupted — expired resumption tokens, 503 with Retry-After, resets,
truncated bodies, a run that dies half-way — still deliver every record exactly once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.http import PoliteSession, TransientHttpError
from connectors.oaipmh.client import OaiClient, OaiPage
from connectors.oaipmh.errors import BadResumptionToken
from sandbox.faults import Fault, FaultPlan
from sandbox.oaipmh import (
    PURE_PATH,
    ZENODO_PATH,
    GeneratedRepository,
    OaiEmulator,
    pure_repository,
    zenodo_replay,
)
from sandbox.server import serve
from schemas.errors import MalformedPayloadError
from schemas.record import Deletion, Record

ALL_ITEMS = 48  # the seed, 42 generated records, 5 deleted


def _client(url: str, *, max_attempts: int = 5, **options: object) -> OaiClient:
    session = PoliteSession(
        source="resilience",
        requests_per_second=500,
        max_attempts=max_attempts,
        backoff_base=0.01,
        backoff_cap=5,
        rng=random.Random(11),
    )
    return OaiClient(url, session=session, **options)  # type: ignore[arg-type]


@pytest.fixture
def portal() -> Iterator[tuple[OaiEmulator, GeneratedRepository, str]]:
    repository = pure_repository(page_size=10)
    app = OaiEmulator({PURE_PATH: repository})
    with serve(app) as base:
        yield app, repository, base + PURE_PATH


def _keys(items: list[Record | Deletion], prefix: str = "oai_dc") -> list[str]:
    """The OAI identifiers of `items`, each of which must be a record of format `prefix`."""
    keys = [item.source_id for item in items if item.source_id is not None]
    assert all(key.endswith(f"#{prefix}") for key in keys)
    return [key.removesuffix(f"#{prefix}") for key in keys]


def test_expired_tokens_and_503s_every_record_once(
    portal: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    app, repository, url = portal
    expected = [item.identifier for item in repository.items]
    app.faults.at("ListRecords", 2, 5, fault=Fault.http_status(503, retry_after="0"))
    app.faults.at("ListRecords", 4, fault=Fault.expire())
    pages = list(_client(url).list_record_pages("oai_dc"))
    items = [item for page in pages for item in page.records()]
    assert _keys(items) == expected  # every one, once, in list order
    assert len(items) == ALL_ITEMS
    restarted = [page for page in pages if page.restarts]
    assert restarted and restarted[0].restarts == 1
    # The restart asked again from the watermark (the last datestamp seen, inclusive) and
    # skipped the record listed at it a second time.
    restart_request = next(r for r in app.requests if r.fault is None and "from" in r.query)
    watermark = pages[restarted[0].number - 2].resume_from
    assert restart_request.query["from"] == [watermark]
    assert len(restarted[0].repeated) == 1
    assert [r.status for r in app.requests if r.fault == "status"] == [503, 503]


def test_every_token_expiring_still_completes(
    portal: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    app, repository, url = portal
    app.faults.next("ListRecords", Fault.expire(), times=200)
    pages = list(_client(url).list_record_pages("mods"))
    items = [item for page in pages for item in page.records()]
    assert _keys(items, "mods") == [item.identifier for item in repository.items]
    # Listed in datestamp order, each restart begins at the watermark (one record seen again)
    # and brings nine new ones: 10 + 9 + 9 + 9 + 9 + 2.
    assert [len(page.new_headers) for page in pages] == [10, 9, 9, 9, 9, 2]
    assert [len(page.repeated) for page in pages] == [0, 1, 1, 1, 1, 1]
    assert pages[-1].restarts == 5
    token_requests = [r for r in app.requests if "resumptionToken" in r.query]
    assert len(token_requests) == 5 and {r.fault for r in token_requests} == {"expire"}


def test_retry_after_is_honoured(portal: tuple[OaiEmulator, GeneratedRepository, str]) -> None:
    app, _repository, url = portal
    app.faults.at("ListRecords", 2, fault=Fault.http_status(503, retry_after="1"))
    assert len(list(_client(url).list_records("oai_dc"))) == ALL_ITEMS
    refused, retried = app.requests[1], app.requests[2]
    assert (refused.status, retried.status) == (503, 200)
    assert retried.query == refused.query  # the same page asked again, same token
    assert retried.arrived - refused.arrived >= 1.0


@pytest.mark.parametrize(
    "fault", [Fault.reset_mid_body(), Fault.short_body()], ids=["reset", "short"]
)
def test_broken_transfers_are_retried(
    portal: tuple[OaiEmulator, GeneratedRepository, str], fault: Fault
) -> None:
    app, repository, url = portal
    app.faults.at("ListRecords", 3, fault=fault)
    items = list(_client(url).list_records("oai_dc"))
    assert _keys(items) == [item.identifier for item in repository.items]


def test_truncated_xml_is_malformed_not_short(
    portal: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    app, _repository, url = portal
    app.faults.at("ListRecords", 2, fault=Fault.truncated())
    pages = _client(url).list_record_pages("oai_dc")
    assert len(next(pages).headers) == 10
    with pytest.raises(MalformedPayloadError, match=r"not well-formed XML at line \d+, column \d+"):
        next(pages)


def test_a_run_that_dies_resumes_from_its_checkpoint(
    portal: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    app, repository, url = portal
    app.faults.at("ListRecords", 3, 4, fault=Fault.http_status(503, retry_after="0"))
    first_run: list[Record | Deletion] = []
    checkpoint: str | None = None
    with pytest.raises(TransientHttpError):
        for page in _client(url, max_attempts=2).list_record_pages("oai_dc"):
            first_run.extend(page.records())
            checkpoint = page.resume_from  # what a flow stores after loading the page
    assert len(first_run) == 20 and checkpoint is not None
    second_run = list(_client(url).list_records("oai_dc", from_=checkpoint))
    everything = [item.identifier for item in repository.items]
    assert sorted(set(_keys(first_run)) | set(_keys(second_run))) == sorted(everything)
    # What both runs delivered is exactly what sits at the checkpoint (inclusive `from`):
    # the warehouse sees the same identifier + datestamp again and changes nothing.
    overlap = set(_keys(first_run)) & set(_keys(second_run))
    at_checkpoint = {i.identifier for i in repository.items if i.datestamp == checkpoint}
    assert overlap == at_checkpoint and len(overlap) == 1


def test_zenodo_restarts_from_the_beginning(fixtures_dir: Path) -> None:
    """Zenodo lists out of datestamp order: the only safe restart is the harvest's start."""
    faults = FaultPlan().at("ListRecords", 2, fault=Fault.expire())
    app = OaiEmulator({ZENODO_PATH: zenodo_replay(fixtures_dir)}, faults=faults)
    with serve(app) as base:
        pages = list(_client(base + ZENODO_PATH).list_record_pages("oai_dc"))
    items = [item for page in pages for item in page.records()]
    assert len(items) == 9 and len(set(_keys(items))) == 9
    assert [(page.number, len(page.new_headers), page.restarts) for page in pages] == [
        (1, 3, 0),
        (2, 0, 1),  # page 1 again: all three already yielded
        (3, 3, 1),
        (4, 3, 1),
    ]
    assert "from" not in app.requests[-3].query


def test_fruitless_restarts_give_up(fixtures_dir: Path) -> None:
    replay = zenodo_replay(fixtures_dir)
    app = OaiEmulator({ZENODO_PATH: replay})
    app.faults.next("ListRecords", Fault.expire(), times=50)
    with serve(app) as base:
        client = _client(base + ZENODO_PATH, max_restarts=2)
        seen: list[OaiPage] = []
        with pytest.raises(BadResumptionToken) as gave_up:
            for page in client.list_record_pages("oai_dc"):
                seen.append(page)
    assert [len(page.new_headers) for page in seen] == [3, 0, 0]
    assert gave_up.value.resume_from is None
