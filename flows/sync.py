"""The one sync runner: a `connectors.harvest.Harvest` (PubMed, Crossref, OAI-PMH) read into the
warehouse, the same way for every source.

State → window → run row → pages fetched ahead (`flows.tasks.prefetched`) and loaded in groups
(`in_groups`, `load_page`: parse → validate → load, each group in one transaction with the
checkpoint of its last page) → the watermark moved and the checkpoint cleared → run row
finished → summary artifact → result. Tasks work on a group of pages, never on one record; a
bad record is quarantined; a failed run leaves its run row and summary saying so, and resumes
from its checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import NO_CACHE

from connectors.harvest import Harvest, HarvestPage, Outlook, Parsable, RestartWindow, Window
from flows import pipeline, progress
from flows.orchestration import publish_summary, run_logger, tracked_task
from flows.settings import Settings
from flows.summary import RUN_FIELDS, add_reasons, reasons_text, summary_markdown
from flows.tasks import PREFETCH_PAGES, Fetched, in_groups, load_page, prefetched
from processes import memory
from schemas.batch import LoadCounts, StateUpdate
from warehouse.derived import refresh_derived
from warehouse.drift import warn_first_seen
from warehouse.store import Warehouse

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


@dataclass(frozen=True, slots=True)
class _Group:
    """Consecutive pages as one `flows.tasks.Page`: their items, in order."""

    payloads: tuple[Parsable, ...]

    def items(self) -> list[pipeline.Item]:
        return [item for payload in self.payloads for item in payload.items()]


# No Prefect retries: the HTTP session already retries what is transient, with backoff
# honouring Retry-After (retries at two levels multiply: 3 x 6 attempts, 103 s for a DNS
# failure).
@tracked_task(name="prepare-harvest", cache_policy=NO_CACHE)
def prepare_harvest(harvest: Harvest, window: Window) -> Outlook:
    """What comes before a harvest's first page (PubMed plans its query's slices)."""
    return harvest.prepare(window)


def run_sync(harvest: Harvest, settings: Settings) -> dict[str, Any]:
    """Read `harvest`'s window into the warehouse at `settings.db`; the run's counters, its
    duration, the new watermark, the window, the harvest's own keys and the quarantine
    reasons. Any failure finishes the run row as failed, publishes a failed summary and is
    raised again."""
    logger = run_logger()
    memory.tune_gc()
    started = time.perf_counter()
    with Warehouse(settings.db) as warehouse:
        watermark, checkpoint = warehouse.state(harvest.source, harvest.scope)
        window = harvest.plan(watermark, checkpoint)
        for level, note in window.notes:
            logger.log(level, note)
        run_id = warehouse.start_run(harvest.source, harvest.kind, harvest.run_parameters(window))
        try:
            reasons = _load_window(warehouse, harvest, window, run_id, settings, logger)
            try:
                new_watermark = harvest.completed(window)
            except RestartWindow:
                warehouse.save_state(StateUpdate(harvest.source, harvest.scope, watermark, None))
                raise
            # The window is complete: move the watermark and clear the checkpoint.
            warehouse.save_state(StateUpdate(harvest.source, harvest.scope, new_watermark, None))
            run = warehouse.finish_run(run_id, status="completed")
            warn_first_seen(logger, run)
            # Readers waiting since the last batch read before works and the index are redone.
            warehouse.serve_readers()
            if any(run[key] for key in ("inserted", "updated", "deleted")):
                refresh_derived(
                    warehouse.con,
                    logger,
                    max_records=settings.derive_max_records,
                    run_id=run_id,
                    memory_limit=settings.derive_memory_limit,
                )
        except Exception as exc:
            # Any failure, ours or not, must leave the run row, and its summary, saying so.
            error = harvest.describe_error(exc)
            failed = warehouse.finish_run(run_id, status="failed", error=error)
            warn_first_seen(logger, failed)
            logger.error("%s failed: %s", harvest.name, error)
            publish_summary(
                key=harvest.summary_key,
                markdown=summary_markdown(harvest.title, failed, {"error": error}),
                description=f"{harvest.title} of {harvest.subject} (failed)",
            )
            raise
        seconds = time.perf_counter() - started
        extra = harvest.summary_rows(window, new_watermark)
        if reasons:
            extra["quarantine reasons"] = reasons_text(reasons)
        publish_summary(
            key=harvest.summary_key,
            markdown=summary_markdown(harvest.title, run, extra),
            description=f"{harvest.title} of {harvest.subject}",
        )
    return {
        **{k: run[k] for k in RUN_FIELDS},
        "seconds": round(seconds, 2),
        "watermark": new_watermark,
        "window": [window.since, window.until],
        **harvest.result(window),
        "quarantine_reasons": reasons,
    }


def _load_window(
    warehouse: Warehouse,
    harvest: Harvest,
    window: Window,
    run_id: str,
    settings: Settings,
    logger: Logger,
) -> dict[str, int]:
    """Fetch the window's pages ahead and load them in groups; the quarantine reasons."""
    outlook = prepare_harvest(harvest, window)
    for note in outlook.notes:
        logger.info(note)
    if outlook.expected is not None:
        progress.report(harvest.progress_label, 0, outlook.expected)

    def fetched() -> Iterator[Fetched[HarvestPage]]:
        for page in harvest.pages(window, run_id):
            state = StateUpdate(harvest.source, harvest.scope, window.watermark, page.checkpoint)
            yield Fetched(page, page.records, page.batch_id, state, page.ends_group)

    totals = LoadCounts()
    reasons: dict[str, int] = {}
    pages = prefetched(fetched(), ahead=PREFETCH_PAGES)
    for group in in_groups(pages, records=settings.sync_group_records):
        outcome = load_page(
            warehouse.handle,
            _Group(tuple(f.page.payload for f in group)),
            source=harvest.source,
            batch_id=group[0].batch_id,
            run_id=run_id,
            state=group[-1].state,
            max_failed_fraction=settings.max_failed_fraction,
        )
        totals.add(outcome.counts)
        add_reasons(reasons, outcome.quarantine_reasons)
        expected = max(group[-1].page.expected or 0, totals.fetched)
        progress.report(harvest.progress_label, totals.fetched, expected)
    return reasons
