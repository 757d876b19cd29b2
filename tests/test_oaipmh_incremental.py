"""Incremental harvests: from the last datestamp seen (inclusive), from/until at the
repository's granularity, sets; what changed since the watermark and nothing else."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.http import PoliteSession
from connectors.oaipmh.client import OaiClient, format_datestamp
from sandbox.oaipmh import (
    DSPACE_PATH,
    PURE_PATH,
    GeneratedRepository,
    OaiEmulator,
    OaiItem,
    dspace_replay,
    pure_repository,
)
from sandbox.pure_corpus import FORMATS, pure_items
from sandbox.server import serve
from schemas.record import Deletion, Record


def _client(url: str, **options: object) -> OaiClient:
    session = PoliteSession(
        source="incremental", requests_per_second=500, backoff_base=0.01, rng=random.Random(2)
    )
    return OaiClient(url, session=session, **options)  # type: ignore[arg-type]


@pytest.fixture
def portal() -> Iterator[tuple[OaiEmulator, GeneratedRepository, str]]:
    repository = pure_repository(page_size=7)
    app = OaiEmulator({PURE_PATH: repository})
    with serve(app) as base:
        yield app, repository, base + PURE_PATH


def test_second_harvest_brings_only_the_changes(
    portal: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    app, repository, url = portal
    pages = list(_client(url).list_record_pages("mods"))
    watermark = pages[-1].resume_from
    assert watermark == max(item.datestamp for item in repository.items)
    assert watermark == pages[-1].max_datestamp

    # Nothing changed: only what sits at the watermark comes again (inclusive `from`).
    again = list(_client(url).list_records("mods", from_=watermark))
    assert [item.source_id for item in again] == [f"{repository.items[-1].identifier}#mods"]

    live = [item for item in repository.items if not item.deleted]
    changed, removed = live[3], live[10]
    repository.upsert(dataclasses.replace(changed, datestamp="2026-11-02T08:00:00Z"))
    repository.delete(removed.identifier, "2026-11-02T09:30:00Z")
    added = dataclasses.replace(
        live[5],
        identifier="oai:pure.sandbox.example:publications/new",
        datestamp="2026-11-03T10:00:00Z",
    )
    repository.upsert(added)

    client = _client(url)
    items = list(client.list_records("mods", from_=watermark))
    assert [(type(i).__name__, i.source_id) for i in items] == [
        ("Record", f"{repository.items[-4].identifier}#mods"),  # the one at the old watermark
        ("Record", f"{changed.identifier}#mods"),
        ("Deletion", f"{removed.identifier}#mods"),  # the deletion of this format's record
        ("Record", f"{added.identifier}#mods"),
    ]
    assert items[1].source_version == "2026-11-02T08:00:00Z"  # type: ignore[union-attr]
    assert isinstance(items[2], Deletion)
    assert app.requests[-1].query == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["mods"],
        "from": [watermark],
    }


def test_from_until_window_and_sets(portal: tuple[OaiEmulator, GeneratedRepository, str]) -> None:
    app, repository, url = portal
    client = _client(url)
    start, end = dt.date(2025, 1, 1), dt.date(2025, 6, 30)
    headers = list(client.list_identifiers("oai_dc", from_=start, until=end))
    expected = [
        i.identifier
        for i in repository.items
        if "2025-01-01T00:00:00Z" <= i.datestamp <= "2025-06-30T23:59:59Z"
    ]
    assert [h.identifier for h in headers] == expected and expected
    # Seconds granularity (from Identify): the days become their first and last second.
    window = next(r for r in app.requests if "until" in r.query)
    assert window.query["from"] == ["2025-01-01T00:00:00Z"]
    assert window.query["until"] == ["2025-06-30T23:59:59Z"]

    with_files = list(client.list_records("oai_dc", set_="publications:withFiles"))
    expected_files = [
        f"{i.identifier}#oai_dc"
        for i in repository.items
        if "publications:withFiles" in i.set_specs
    ]
    assert [r.source_id for r in with_files] == expected_files and expected_files
    assert all(isinstance(r, Record) and r.license for r in with_files)
    year = list(client.list_identifiers("oai_dc", set_="publications:year1994"))
    assert [h.identifier for h in year] == [
        i.identifier for i in repository.items if "publications:year1994" in i.set_specs
    ]


def test_day_granularity_repository() -> None:
    identity = pure_repository().identity
    repository = GeneratedRepository(
        [dataclasses.replace(i, datestamp=i.datestamp[:10]) for i in pure_items()],
        identity=dataclasses.replace(identity, granularity="YYYY-MM-DD"),
        formats=FORMATS,
        page_size=50,
    )
    app = OaiEmulator({PURE_PATH: repository})
    with serve(app) as base:
        client = _client(base + PURE_PATH)
        moment = dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.UTC)
        items = list(client.list_records("oai_dc", from_=moment, until="2025-03-14T23:00:00Z"))
    assert app.requests[-1].query["from"] == ["2025-03-14"]
    assert app.requests[-1].query["until"] == ["2025-03-14"]
    assert [i.source_id for i in items] == [
        f"{i.identifier}#oai_dc" for i in repository.items if i.datestamp == "2025-03-14"
    ]


def test_dspace_incremental_from_a_date(fixtures_dir: Path) -> None:
    app = OaiEmulator({DSPACE_PATH: dspace_replay(fixtures_dir)})
    with serve(app) as base:
        client = _client(base + DSPACE_PATH)
        pages = list(client.list_record_pages("oai_dc", from_=dt.date(2003, 4, 10)))
        headers = list(client.list_identifiers("oai_dc", from_="2003-04-10"))
    assert [r.query for r in app.requests][:2] == [
        {"verb": ["Identify"]},
        {"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"], "from": ["2003-04-10T00:00:00Z"]},
    ]
    (page,) = pages
    assert page.complete and len(page.records()) == 16
    # DSpace lists in datestamp order: the checkpoint is the last datestamp.
    assert page.resume_from == "2003-04-29T15:57:01Z"
    assert [f"{h.identifier}#oai_dc" for h in headers] == [r.source_id for r in page.records()]
    assert all(h.set_specs for h in headers)


def test_deleted_items_keep_their_header() -> None:
    repository = pure_repository()
    deleted = [i for i in repository.items if i.deleted]
    assert len(deleted) == 5
    assert all(isinstance(i, OaiItem) and i.metadata == {} and i.set_specs for i in deleted)


@pytest.mark.parametrize(
    ("value", "seconds", "end_of_day", "expected"),
    [
        (dt.date(2024, 2, 29), True, False, "2024-02-29T00:00:00Z"),
        (dt.date(2024, 2, 29), True, True, "2024-02-29T23:59:59Z"),
        (dt.date(2024, 2, 29), False, True, "2024-02-29"),
        (dt.datetime(2024, 2, 29, 23, 30, 5, 999), True, False, "2024-02-29T23:30:05Z"),
        (
            dt.datetime(2024, 3, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            True,
            False,
            "2024-02-29T23:00:00Z",
        ),
        (dt.datetime(2024, 2, 29, 23, 30), False, False, "2024-02-29"),
        ("2023-10-12T14:26:07Z", True, False, "2023-10-12T14:26:07Z"),
        ("2023-10-12T14:26:07Z", False, False, "2023-10-12"),
        ("2023-10-12", True, True, "2023-10-12T23:59:59Z"),
    ],
)
def test_format_datestamp(
    value: dt.date | str, seconds: bool, end_of_day: bool, expected: str
) -> None:
    assert format_datestamp(value, seconds=seconds, end_of_day=end_of_day) == expected


def test_format_datestamp_refuses_other_text() -> None:
    with pytest.raises(ValueError, match="not an OAI-PMH datestamp"):
        format_datestamp("12/10/2023", seconds=True)
