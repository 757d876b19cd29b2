"""oai_harvest_many, the nightly flow over configured repositories: they run one after the
other, one that fails (or is misconfigured) does not stop the others, and the flow fails at the
end naming each failure."""

from __future__ import annotations

import pytest

from flows.oai import oai_harvest_many
from sandbox.oaipmh import HTML_PATH, PURE_PATH, build_emulator
from sandbox.server import serve
from schemas.errors import FatalError
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

FAST = 500.0
YEAR_SET = "publications:year1994"


def test_a_failing_repository_does_not_stop_the_others(warehouse_location, monkeypatch):
    fast_http(monkeypatch)
    app, portal = build_emulator(page_size=50)  # one page per harvest: paging is not the point
    path = warehouse_location
    live = [item for item in portal.items if not item.deleted]
    in_year = [item for item in portal.items if YEAR_SET in item.set_specs]
    in_year_live = [item for item in in_year if not item.deleted]
    with serve(app) as base:
        repositories = [
            {"endpoint": base + PURE_PATH, "metadata_prefix": "mods", "requests_per_second": FAST},
            {"endpoint": base + HTML_PATH, "requests_per_second": FAST},
            {"endpont": base + PURE_PATH},  # a typo in the configuration
            {
                "endpoint": base + PURE_PATH,
                "metadata_prefix": "mods",
                "set": YEAR_SET,
                "requests_per_second": FAST,
            },
        ]
        state = oai_harvest_many(repositories=repositories, db=str(path), return_state=True)
    assert state.is_failed()
    with pytest.raises(FatalError) as failure:
        state.result()
    message = str(failure.value)
    assert message.startswith("OAI-PMH: 2 of 4 repositories failed (the others were harvested)")
    assert f"{base + HTML_PATH} (oai_dc): MalformedPayloadError: OAI-PMH {base + HTML_PATH}" in (
        message
    )
    assert "FatalError: OAI-PMH repositories: unknown key(s) endpont" in message
    # In the order configured: the misconfigured entry never started a run.
    assert warehouse_rows(
        path,
        "SELECT parameters ->> '$.endpoint', parameters ->> '$.set', status, fetched, "
        "inserted, unchanged FROM runs ORDER BY started_at",
    ) == [
        (base + PURE_PATH, None, "completed", len(portal.items), len(live), 0),
        (base + HTML_PATH, None, "failed", 0, 0, 0),
        (base + PURE_PATH, YEAR_SET, "completed", len(in_year), 0, len(in_year_live)),
    ]
    # Each repository + format + set keeps its own watermark.
    assert warehouse_rows(path, "SELECT scope FROM sync_state ORDER BY scope") == [
        (f"ListRecords {base + PURE_PATH} metadataPrefix=mods",),
        (f"ListRecords {base + PURE_PATH} metadataPrefix=mods set={YEAR_SET}",),
    ]
