"""oai_harvest of the sandbox's Pure-like portal (a live, generated repository on loopback):
interrupted harvests still load every record once, a failed run resumes from its checkpoint,
incremental harvests load only what changed, and deletions leave `records` but keep history."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.oai import oai_harvest
from sandbox.faults import Fault
from sandbox.oaipmh import PURE_PATH, GeneratedRepository, OaiEmulator
from sandbox.oaipmh import build_emulator as build_oai_emulator
from sandbox.server import serve
from schemas.errors import TransientError
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

FAST = 500.0  # requests per second: the loopback portal needs no politeness
ALL_HEADERS = 48  # the seed, 42 generated records, 5 deleted ones
LIVE = 43


@pytest.fixture
def portal(monkeypatch) -> Iterator[tuple[OaiEmulator, GeneratedRepository, str]]:
    fast_http(monkeypatch)
    app, repository = build_oai_emulator(page_size=10)  # no fixtures needed: it is generated
    with serve(app) as base:
        yield app, repository, base + PURE_PATH


def _live_ids(repository: GeneratedRepository, prefix: str = "oai_dc") -> list[str]:
    """The source ids the live items of `repository` have, harvested as `prefix`."""
    return sorted(f"{item.identifier}#{prefix}" for item in repository.items if not item.deleted)


def _ids(path: Path, view: str = "records") -> list[str]:
    rows = warehouse_rows(path, f"SELECT source_id FROM {view} ORDER BY source_id")
    return [source_id for (source_id,) in rows]


def _changes(path: Path) -> list[tuple[str, int, int]]:
    """(change, rows, distinct records) in record_versions."""
    return warehouse_rows(
        path,
        "SELECT change, count(*), count(DISTINCT source_id) FROM record_versions "
        "GROUP BY change ORDER BY change",
    )


def test_expired_token_and_503s_still_load_every_record_once(portal, warehouse_location):
    app, repository, url = portal
    app.faults.at("ListRecords", 2, 5, fault=Fault.http_status(503, retry_after="0"))
    app.faults.at("ListRecords", 4, fault=Fault.expire())
    path = warehouse_location
    result = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    assert [r.fault for r in app.requests if r.fault] == ["status", "expire", "status"]
    assert (result["status"], result["restarts"]) == ("completed", 1)
    # Each header once (the one listed again after the restart is skipped), each record once.
    assert (result["fetched"], result["inserted"], result["unchanged"]) == (ALL_HEADERS, LIVE, 0)
    assert (result["deleted"], result["quarantined"]) == (0, 0)  # never loaded: nothing to delete
    assert _ids(path) == _live_ids(repository)
    assert _changes(path) == [("insert", LIVE, LIVE)]
    assert result["watermark"] == repository.items[-1].datestamp


def test_a_failed_run_resumes_from_its_checkpoint(portal, warehouse_location, monkeypatch):
    app, repository, url = portal
    fast_http(monkeypatch, attempts=2)
    monkeypatch.setenv("BIBLIODUCK_SYNC_GROUP_RECORDS", "1")  # a transaction per page
    # The third page fails on both attempts: the run stops after loading two pages.
    app.faults.at("ListRecords", 3, 4, fault=Fault.http_status(503, retry_after="0"))
    path = warehouse_location
    with pytest.raises(TransientError) as failure:
        oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    assert f"OAI-PMH {url}" in str(failure.value) and "503" in str(failure.value)
    assert warehouse_rows(path, "SELECT status, fetched FROM runs") == [("failed", 20)]
    loaded = _ids(path)
    second_page_end = repository.items[19].datestamp
    ((watermark, checkpoint),) = warehouse_rows(
        path, "SELECT watermark, checkpoint ->> '$.resume_from' FROM sync_state"
    )
    assert (watermark, checkpoint) == (None, second_page_end)

    resumed = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    restart = [r.query for r in app.requests if r.query.get("metadataPrefix")][-1]
    assert restart["from"] == [second_page_end]  # inclusive: the 20th item comes again
    assert resumed["status"] == "completed"
    assert (resumed["fetched"], resumed["inserted"]) == (ALL_HEADERS - 19, LIVE - len(loaded))
    assert _ids(path) == _live_ids(repository)
    assert _changes(path) == [("insert", LIVE, LIVE)]
    assert warehouse_rows(path, "SELECT watermark, checkpoint FROM sync_state") == [
        (repository.items[-1].datestamp, None)
    ]


def test_a_second_harvest_without_changes_loads_nothing(portal, warehouse_location):
    app, _repository, url = portal
    path = warehouse_location
    first = oai_harvest(
        endpoint=url, metadata_prefix="mods", db=str(path), requests_per_second=FAST
    )
    assert (first["fetched"], first["inserted"]) == (ALL_HEADERS, LIVE)
    before = warehouse_rows(path, "SELECT * EXCLUDE (run_id) FROM source_records ORDER BY 2")

    second = oai_harvest(
        endpoint=url, metadata_prefix="mods", db=str(path), requests_per_second=FAST
    )
    # From the watermark, inclusive: only the record at it comes again, and it is unchanged.
    assert second["window"] == [first["watermark"], None]
    assert app.requests[-1].query["from"] == [first["watermark"]]
    assert (second["fetched"], second["unchanged"]) == (1, 1)
    assert (second["inserted"], second["updated"], second["deleted"]) == (0, 0, 0)
    assert second["watermark"] == first["watermark"]
    assert warehouse_rows(path, "SELECT * EXCLUDE (run_id) FROM source_records ORDER BY 2") == (
        before
    )
    assert warehouse_rows(path, "SELECT scope, watermark, checkpoint FROM sync_state") == [
        (f"ListRecords {url} metadataPrefix=mods", first["watermark"], None)
    ]


def test_a_record_deleted_in_the_portal_leaves_records_on_the_next_harvest(
    portal, warehouse_location
):
    _app, repository, url = portal
    path = warehouse_location
    first = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    assert first["inserted"] == LIVE
    live = [item for item in repository.items if not item.deleted]
    removed, changed = live[10], live[3]
    repository.delete(removed.identifier, "2026-11-02T09:30:00Z")
    repository.upsert(dataclasses.replace(changed, datestamp="2026-11-02T08:00:00Z"))
    removed_id = f"{removed.identifier}#oai_dc"

    second = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    # The record at the old watermark (unchanged), the changed one, the deletion.
    assert (second["fetched"], second["unchanged"], second["updated"]) == (3, 1, 1)
    assert (second["inserted"], second["deleted"]) == (0, 1)
    assert second["watermark"] == "2026-11-02T09:30:00Z"
    assert removed_id not in _ids(path)
    assert len(_ids(path)) == LIVE - 1
    assert _ids(path, "deleted_records") == [removed_id]
    assert warehouse_rows(
        path,
        "SELECT change, source_version FROM record_versions "
        f"WHERE source_id = '{removed_id}' ORDER BY changed_at",
    ) == [("insert", removed.datestamp), ("delete", None)]
    # Its last version is still kept, with its payload, for whoever needs the history.
    assert warehouse_rows(
        path,
        "SELECT s.deleted, s.source_version, p.content_hash IS NOT NULL FROM source_records s "
        "LEFT JOIN raw_payloads p USING (content_hash) "
        f"WHERE s.source_id = '{removed_id}'",
    ) == [(True, removed.datestamp, True)]

    # Harvesting again applies the deletion once only.
    third = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    assert (third["fetched"], third["deleted"], third["unchanged"]) == (1, 0, 0)
    assert _changes(path) == [("delete", 1, 1), ("insert", LIVE, LIVE), ("update", 1, 1)]


def test_no_records_match_is_an_empty_harvest(portal, warehouse_location):
    app, _repository, url = portal
    path = warehouse_location
    result = oai_harvest(endpoint=url, since="2030-01-01", db=str(path), requests_per_second=FAST)
    assert (result["status"], result["pages"], result["fetched"]) == ("completed", 0, 0)
    assert result["watermark"] is None
    assert app.requests[-1].query["from"] == ["2030-01-01T00:00:00Z"]
    assert warehouse_rows(path, "SELECT status, fetched, error FROM runs") == [
        ("completed", 0, None)
    ]
    assert warehouse_rows(path, "SELECT count(*) FROM source_records") == [(0,)]


def test_a_named_repository_keeps_its_watermark_when_its_url_changes(
    warehouse_location, monkeypatch
):
    # The demo serves the portal on a new loopback port each time: the name keeps it one scope.
    fast_http(monkeypatch)
    path = warehouse_location
    results = []
    for _ in range(2):
        app, _repository = build_oai_emulator(page_size=25)
        with serve(app) as base:
            results.append(
                oai_harvest(
                    endpoint=base + PURE_PATH,
                    db=str(path),
                    repository="sandbox-pure-portal",
                    requests_per_second=FAST,
                )
            )
    first, second = results
    assert (first["fetched"], first["inserted"]) == (ALL_HEADERS, LIVE)
    assert (second["fetched"], second["unchanged"], second["inserted"]) == (1, 1, 0)
    assert second["window"][0] == first["watermark"]
    assert warehouse_rows(path, "SELECT scope FROM sync_state") == [
        ("ListRecords sandbox-pure-portal metadataPrefix=oai_dc",)
    ]
