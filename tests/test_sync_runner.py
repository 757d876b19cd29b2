"""The one sync runner (`flows.sync.run_sync`) with a harvest of its own making: the pages load in
groups with the checkpoint of their last page, the watermark moves only once the window is
complete, and a failure leaves the run row failed and the checkpoint of the last group loaded
(or, when the harvest says the window must be read again, no checkpoint at all)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.harvest import Harvest, HarvestPage, Outlook, RestartWindow, Window
from flows.settings import load_settings
from flows.sync import run_sync
from schemas.batch import StateUpdate
from schemas.errors import TransientError
from schemas.record import Deletion, Record
from tests.records_factory import make_record
from warehouse.store import Warehouse

SCOPE = "test:scope"


@dataclass(frozen=True)
class _Records:
    records: tuple[Record | Deletion, ...]

    def items(self) -> list[Record | Deletion]:
        return list(self.records)


@dataclass
class FakeHarvest:
    """Pages of two records each; `fail_after` pages, a transient failure; `restart`, the
    window must be read again once every page is loaded."""

    pages_of: list[list[int]]
    fail_after: int | None = None
    restart: bool = False
    prepared: list[Window] = field(default_factory=list)
    source: str = "pubmed"
    scope: str = SCOPE
    kind: str = "test-sync"
    name: str = "Test sync"
    title: str = "Test sync"
    subject: str = "the test source"
    summary_key: str = "test-sync-summary"
    progress_label: str = "Test"

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        done = checkpoint["page"] if checkpoint else 0
        note = (logging.INFO, f"resuming after page {done}")
        return Window("2026-01-01", "2026-02-01", watermark, "2026-02-01", True, done, (note,))

    def run_parameters(self, window: Window) -> dict[str, Any]:
        return {"since": window.since, "resume": window.resume}

    def prepare(self, window: Window) -> Outlook:
        self.prepared.append(window)
        return Outlook(sum(len(p) for p in self.pages_of), ("planned",))

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        for number, pmids in enumerate(self.pages_of, 1):
            if number <= window.resume:
                continue
            if self.fail_after is not None and number > self.fail_after:
                raise TransientError(f"page {number} failed")
            records = tuple(make_record(pmid) for pmid in pmids)
            yield HarvestPage(
                _Records(records), len(records), f"test:{run_id}:{number}", {"page": number}
            )

    def completed(self, window: Window) -> str | None:
        if self.restart:
            raise RestartWindow("read the window again")
        return window.watermark_after

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        return {"window": f"{window.since}..{window.until}"}

    def result(self, window: Window) -> dict[str, Any]:
        return {"pages": len(self.pages_of)}

    def describe_error(self, error: BaseException) -> str:
        return f"{type(error).__name__}: {error}"


def _settings(db: Path, group_records: int = 2) -> Any:
    return load_settings(db=str(db), sync_group_records=group_records)


def _runs(db: Path) -> list[tuple[Any, ...]]:
    with Warehouse(db) as warehouse:
        rows = warehouse.con.execute(
            "SELECT kind, status, error, fetched, parameters FROM runs ORDER BY started_at"
        ).fetchall()
    return [(*row[:4], json.loads(row[4])) for row in rows]


def _state(db: Path) -> tuple[str | None, dict[str, Any] | None]:
    with Warehouse(db) as warehouse:
        return warehouse.state("pubmed", SCOPE)


def test_a_complete_window_loads_every_page_and_moves_the_watermark(warehouse_location):
    harvest: Harvest = FakeHarvest([[1, 2], [3, 4], [5]])
    settings = _settings(warehouse_location)
    result = run_sync(harvest, settings)
    assert result["status"] == "completed"
    assert (result["fetched"], result["inserted"]) == (5, 5)
    assert result["watermark"] == "2026-02-01"
    assert result["window"] == ["2026-01-01", "2026-02-01"]
    assert result["pages"] == 3 and result["quarantine_reasons"] == {}
    assert _state(settings.db) == ("2026-02-01", None)
    assert _runs(settings.db) == [
        ("test-sync", "completed", None, 5, {"since": "2026-01-01", "resume": 0})
    ]


def test_a_failure_keeps_the_checkpoint_of_the_last_group_and_a_rerun_resumes_there(
    warehouse_location,
):
    settings = _settings(warehouse_location)
    with pytest.raises(TransientError, match="page 3 failed"):
        run_sync(FakeHarvest([[1, 2], [3, 4], [5]], fail_after=2), settings)
    # Both loaded pages were committed with their checkpoints; the watermark did not move.
    assert _state(settings.db) == (None, {"page": 2})
    _kind, status, error, fetched, _ = _runs(settings.db)[0]
    assert (status, error, fetched) == ("failed", "TransientError: page 3 failed", 4)

    again = FakeHarvest([[1, 2], [3, 4], [5]])
    result = run_sync(again, settings)
    assert again.prepared[0].resume == 2  # resumed after the last page loaded
    assert (result["status"], result["fetched"], result["inserted"]) == ("completed", 1, 1)
    assert _state(settings.db) == ("2026-02-01", None)


def test_a_window_to_read_again_clears_the_checkpoint_and_keeps_the_watermark(warehouse_location):
    settings = _settings(warehouse_location)
    with Warehouse(settings.db) as warehouse:
        warehouse.save_state(StateUpdate("pubmed", SCOPE, "2025-12-31", None))
    with pytest.raises(RestartWindow, match="read the window again"):
        run_sync(FakeHarvest([[1, 2], [3]], restart=True), settings)
    assert _state(settings.db) == ("2025-12-31", None)
    assert [run[1:4] for run in _runs(settings.db)] == [
        ("failed", "RestartWindow: read the window again", 3)
    ]


def test_a_failure_before_the_first_page_fails_the_run(warehouse_location):
    settings = _settings(warehouse_location)
    with pytest.raises(TransientError, match="page 1 failed"):
        run_sync(FakeHarvest([[1]], fail_after=0), settings)
    assert _state(settings.db) == (None, None)
    assert [run[1:4] for run in _runs(settings.db)] == [
        ("failed", "TransientError: page 1 failed", 0)
    ]
