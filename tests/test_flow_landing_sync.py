"""The landing-page enrichment sync end to end: `LandingHarvest` run by the one sync runner
(`flows.sync.run_sync`) against the emulated resolver and publisher, into a real DuckDB file:
the pages' records load, a page of another DOI is quarantined (never displacing the page's own
record), and a run stopped by a failing publisher resumes at the DOI it failed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.http import TransientHttpError
from connectors.landing.client import LandingClient, landing_session
from connectors.landing.harvest import LandingHarvest
from flows.settings import load_settings
from flows.sync import run_sync
from sandbox.faults import Fault
from sandbox.landing import LandingEmulator
from warehouse.store import Warehouse

DOIS = [
    "10.1371/journal.pone.0213978",
    "10.5281/zenodo.1196821",
    "10.9999/bare",
    "10.9999/moved",
    "10.5210/fm.v25i10.10274",
    "10.1038/d41586-020-02610-z",
    "10.48550/arxiv.1902.02534",
]
LOADED = [
    ("10.1038/d41586-020-02610-z", "More than 100 scientific journals have disappeared from the Internet"),
    ("10.1371/journal.pone.0213978", "Assessment on reticuloendotheliosis virus infection in specific-pathogen-free chickens based on detection of yolk antibody"),
    ("10.48550/arxiv.1902.02534", "Crowdsourcing open citations with CROCI -- An analysis of the current status of open citations, and a proposal"),
    ("10.5210/fm.v25i10.10274", "Surveillance, stigma & sociotechnical design for HIV"),
    ("10.5281/zenodo.1196821", "PsPM-SC4B: SCR, ECG, EMG, PSR and respiration measurements in a delay fear conditioning task with auditory CS and electrical US"),
]  # fmt: skip


def _harvest(emulator: LandingEmulator, settings: Any) -> LandingHarvest:
    session = landing_session(requests_per_second=50.0, max_attempts=2, backoff_base=0.01)
    client = LandingClient(session, resolver=emulator.resolver_url)
    return LandingHarvest(settings, dois=DOIS, label="dois.txt", client=client)


def _loaded(db: Path) -> list[tuple[str, str]]:
    with Warehouse(db) as warehouse:
        rows = warehouse.con.execute(
            "SELECT source_id, title FROM records WHERE source = 'landing' ORDER BY source_id"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_sync_loads_pages_and_quarantines_another_dois_page(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    settings = load_settings(db=str(tmp_path / "w.duckdb"))
    emulator = LandingEmulator(fixtures_dir / "landing_html")
    with emulator.serving():
        result = run_sync(_harvest(emulator, settings), settings)
    assert result["status"] == "completed"
    assert (result["fetched"], result["inserted"], result["quarantined"]) == (6, 5, 1)
    assert result["landing_outcomes"] == {"record": 5, "no_record": 1, "mismatch": 1}
    assert _loaded(settings.db) == LOADED
    with Warehouse(settings.db) as warehouse:
        quarantined = warehouse.con.execute("SELECT source, source_id FROM quarantine").fetchall()
        authors = warehouse.con.execute(
            "SELECT [a.name FOR a IN authors], authors[1].affiliations FROM records "
            "WHERE source_id = '10.5210/fm.v25i10.10274'"
        ).fetchone()
    assert quarantined == [("landing", "10.9999/moved")]
    assert authors == (
        ["Calvin Liang", "Jevan Alexander Hutson", "Os Keyes"],
        ["University of Washington, Department of Human Centered Design & Engineering"],
    )


def test_a_failed_run_resumes_at_the_doi_it_failed_on(fixtures_dir: Path, tmp_path: Path) -> None:
    settings = load_settings(db=str(tmp_path / "w.duckdb"), sync_group_records=1)
    emulator = LandingEmulator(fixtures_dir / "landing_html")
    with emulator.serving():
        # The publisher fails for good from its 6th answer on (robots.txt, then pages).
        emulator.faults.at("page", *range(5, 40), fault=Fault.http_status(503))
        with pytest.raises(TransientHttpError):
            run_sync(_harvest(emulator, settings), settings)
        first = _loaded(settings.db)
        emulator.faults = type(emulator.faults)()  # the publisher recovers
        asked_before = len([r for r in emulator.requests if r.key == "resolver"])
        result = run_sync(_harvest(emulator, settings), settings)
        resolved = [r.path for r in emulator.requests if r.key == "resolver"][asked_before:]
    assert first == [LOADED[1], LOADED[4]]  # PLOS and Zenodo, before the publisher failed
    assert result["status"] == "completed"
    # The second run starts at the DOI the first failed on (the third), not at the top.
    assert resolved == [f"/{doi}" for doi in DOIS[2:]]
    assert _loaded(settings.db) == LOADED
