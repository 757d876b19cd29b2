"""`query --as-of` across two real syncs (issue 19, item 3): an OAI-PMH harvest of the
loopback Pure portal into a DuckLake, an update and a deletion in the portal, a second
harvest; the lake as the first run left it is still there to read, by run id or snapshot."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.oai import oai_harvest
from sandbox.oaipmh import PURE_PATH
from sandbox.oaipmh import build_emulator as build_oai_emulator
from sandbox.server import serve
from tests.conftest import location_in
from tests.flow_helpers import fast_http, warehouse_rows
from warehouse.status import read_only_query

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

FAST = 500.0  # requests per second: the loopback portal needs no politeness
LIVE = 43  # the seed and 42 generated records (5 more are deleted ones)


def test_as_of_returns_the_warehouse_of_an_earlier_sync(tmp_path, monkeypatch):
    fast_http(monkeypatch)
    db = location_in(tmp_path, "lake")
    app_, repository = build_oai_emulator(page_size=10)
    with serve(app_) as base:
        url = base + PURE_PATH
        first = oai_harvest(endpoint=url, db=str(db), requests_per_second=FAST)
        live = [item for item in repository.items if not item.deleted]
        removed, changed = live[10], live[3]
        repository.delete(removed.identifier, "2026-11-02T09:30:00Z")
        repository.upsert(dataclasses.replace(changed, datestamp="2026-11-02T08:00:00Z"))
        second = oai_harvest(endpoint=url, db=str(db), requests_per_second=FAST)
    assert first["inserted"] == LIVE
    assert (second["updated"], second["deleted"]) == (1, 1)
    runs = warehouse_rows(db, "SELECT run_id, snapshot_id FROM runs ORDER BY started_at")
    assert len(runs) == 2 and runs[0][1] < runs[1][1]
    first_run, first_snapshot = runs[0]

    removed_id, changed_id = f"{removed.identifier}#oai_dc", f"{changed.identifier}#oai_dc"
    sql = (
        "SELECT source_id, source_version FROM records "
        f"WHERE source_id IN ('{removed_id}', '{changed_id}') ORDER BY source_id"
    )
    then = sorted([(removed_id, removed.datestamp), (changed_id, changed.datestamp)])
    now = [(changed_id, "2026-11-02T08:00:00Z")]
    assert read_only_query(db, sql)[1] == now
    assert read_only_query(db, sql, as_of=first_run)[1] == then
    assert read_only_query(db, sql, as_of=str(first_snapshot))[1] == then
    assert read_only_query(db, "SELECT count(*) FROM records", as_of=first_run)[1] == [(LIVE,)]
    assert read_only_query(db, "SELECT count(*) FROM records")[1] == [(LIVE - 1,)]
    # The analysts' door: the command line, by run id.
    shown = CliRunner().invoke(
        app,
        [
            "query",
            "--db",
            str(db),
            "--as-of",
            first_run,
            "--format",
            "csv",
            "SELECT count(*) AS n FROM deleted_records",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[-1] == "0"
