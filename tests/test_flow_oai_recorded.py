"""oai_harvest over recorded real repositories (loopback replay → parse → validate → DuckDB):
Zenodo's resumption-token chain with its deleted record, DSpace's 2003 ListRecords, and what is
not OAI-PMH (the broken files, an HTML page) failing loudly with nothing loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import pipeline
from flows.oai import oai_harvest
from sandbox.oaipmh import (
    BROKEN_BOGUS_PATH,
    BROKEN_ENTITY_PATH,
    DSPACE_PATH,
    HTML_PATH,
    ZENODO_PATH,
    OaiEmulator,
    build_emulator,
)
from sandbox.server import serve
from schemas.errors import MalformedPayloadError
from schemas.record import Record
from tests.conftest import location_in
from tests.flow_helpers import fast_http, warehouse_rows
from warehouse.store import Warehouse

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

FAST = 500.0  # requests per second: the loopback replay needs no politeness
ZENODO_DELETED = "oai:zenodo.org:8433364#oai_dc"  # the deleted header on page 2 of the chain
ZENODO_RECORDS = [
    "oai:zenodo.org:20565714#oai_dc",
    "oai:zenodo.org:20589672#oai_dc",
    "oai:zenodo.org:20590449#oai_dc",
    "oai:zenodo.org:8321258#oai_dc",
    "oai:zenodo.org:8333281#oai_dc",
    "oai:zenodo.org:8433301#oai_dc",
    "oai:zenodo.org:8435639#oai_dc",
    "oai:zenodo.org:8435696#oai_dc",
]


@pytest.fixture(scope="module")
def server(fixtures_dir: Path) -> Iterator[tuple[OaiEmulator, str]]:
    app, _portal = build_emulator(fixtures_dir)
    with serve(app) as base:
        yield app, base


def _ids(path: Path, view: str) -> list[str]:
    rows = warehouse_rows(path, f"SELECT source_id FROM {view} ORDER BY source_id")
    return [source_id for (source_id,) in rows]


def test_zenodo_token_chain_and_its_deleted_record(server, tmp_path, backend, monkeypatch):
    app, base = server
    fast_http(monkeypatch)
    url = base + ZENODO_PATH
    path = location_in(tmp_path, backend, "zenodo")
    before = len(app.requests_to(ZENODO_PATH))
    result = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST)
    # Three pages by the real tokens: 8 records and 1 deleted header.
    assert len(app.requests_to(ZENODO_PATH)) - before == 3
    assert (result["status"], result["pages"], result["fetched"]) == ("completed", 3, 9)
    assert (result["inserted"], result["quarantined"]) == (8, 0)
    assert _ids(path, "records") == ZENODO_RECORDS
    assert warehouse_rows(path, "SELECT DISTINCT source, endpoint FROM source_records") == [
        ("oai", url)
    ]
    # The deleted record was never loaded (it comes deleted on the first harvest): the deletion
    # applies to nothing, and nothing of it is stored.
    assert result["deleted"] == 0
    assert warehouse_rows(
        path, f"SELECT count(*) FROM source_records WHERE source_id = '{ZENODO_DELETED}'"
    ) == [(0,)]
    assert warehouse_rows(path, "SELECT change, count(*) FROM record_versions GROUP BY 1") == [
        ("insert", 8)
    ]
    # Zenodo does not list in datestamp order: the watermark is the latest datestamp seen.
    assert result["watermark"] == "2026-06-08T08:46:03Z"
    assert warehouse_rows(path, "SELECT watermark, checkpoint FROM sync_state") == [
        ("2026-06-08T08:46:03Z", None)
    ]

    # Had an earlier harvest loaded that record, the same chain removes it from `records`.
    earlier = location_in(tmp_path, backend, "zenodo-earlier")
    with Warehouse(earlier) as warehouse:
        stored = Record(
            source="oai",
            source_id=ZENODO_DELETED,
            source_version="2023-10-11T09:00:00Z",
            endpoint=url,
            title="A record Zenodo deleted later",
            raw=b"<record>an earlier harvest</record>",
        )
        pipeline.process_items(warehouse, [stored], source="oai", batch_id="earlier", run_id=None)
    again = oai_harvest(endpoint=url, db=str(earlier), requests_per_second=FAST)
    assert (again["fetched"], again["inserted"], again["deleted"]) == (9, 8, 1)
    assert _ids(earlier, "records") == ZENODO_RECORDS
    assert _ids(earlier, "deleted_records") == [ZENODO_DELETED]
    assert warehouse_rows(
        earlier,
        "SELECT change, reason FROM record_versions "
        f"WHERE source_id = '{ZENODO_DELETED}' ORDER BY changed_at, change DESC",
    ) == [
        ("insert", None),
        ("delete", f"OAI-PMH deleted record (datestamp 2023-10-12T03:01:25Z, oai_dc) at {url}"),
    ]


def test_dspace_2003_list_records(server, warehouse_location, monkeypatch):
    app, base = server
    fast_http(monkeypatch)
    url = base + DSPACE_PATH
    path = warehouse_location
    # The recorded ListRecords answered from=2003-04-10 (Identify tells the granularity first).
    result = oai_harvest(endpoint=url, since="2003-04-10", db=str(path), requests_per_second=FAST)
    assert (result["status"], result["pages"]) == ("completed", 1)
    assert (result["fetched"], result["inserted"], result["quarantined"]) == (16, 16, 0)
    assert warehouse_rows(path, "SELECT count(*), count(DISTINCT source_id) FROM records") == [
        (16, 16)
    ]
    assert _ids(path, "records")[:3] == [
        "hdl:1765/308#oai_dc",
        "hdl:1765/309#oai_dc",
        "hdl:1765/311#oai_dc",
    ]
    asked = [r.query for r in app.requests_to(DSPACE_PATH)][-2:]
    assert [q["verb"] for q in asked] == [["Identify"], ["ListRecords"]]
    assert asked[1]["from"] == ["2003-04-10T00:00:00Z"]
    stamps = warehouse_rows(path, "SELECT max(source_version) FROM source_records")
    assert result["watermark"] == stamps[0][0]
    assert result["window"] == ["2003-04-10", None]


@pytest.mark.parametrize(
    ("where", "detail"),
    [
        (BROKEN_BOGUS_PATH, "not well-formed XML at line 1"),
        (BROKEN_ENTITY_PATH, "Entity 'bogus' not defined"),
        (HTML_PATH, "answered an HTML page"),
    ],
)
def test_what_is_not_oai_pmh_fails_loudly_and_loads_nothing(
    server, warehouse_location, monkeypatch, where, detail
):
    _app, base = server
    fast_http(monkeypatch)
    url = base + where
    path = warehouse_location
    state = oai_harvest(endpoint=url, db=str(path), requests_per_second=FAST, return_state=True)
    assert state.is_failed()
    # What Prefect shows for the failed run names the error kind, the endpoint and the problem.
    assert "MalformedPayloadError" in state.message and url in state.message
    with pytest.raises(MalformedPayloadError, match=detail) as failure:
        state.result()
    assert f"OAI-PMH {url}" in str(failure.value)
    ((status, error),) = warehouse_rows(path, "SELECT status, error FROM runs")
    assert status == "failed"
    assert error.startswith(f"MalformedPayloadError: OAI-PMH {url}: ") and detail in error
    assert warehouse_rows(
        path,
        "SELECT (SELECT count(*) FROM source_records), (SELECT count(*) FROM record_versions), "
        "(SELECT count(*) FROM raw_payloads), (SELECT count(*) FROM sync_state)",
    ) == [(0, 0, 0, 0)]
