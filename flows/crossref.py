"""Prefect flows for Crossref: the incremental `/works` sync by update date (a backfill is the same
flow with `since`/`until`), and loading a list of DOIs.

As in `flows.pubmed`: tasks work on a page, never on one record; each page's records load in one
transaction with the sync state that says where to resume, so a failed run resumes where it
stopped; a run row counts what happened and a markdown artifact summarises it.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from prefect import flow

from connectors.crossref import DEFAULT_BASE_URL, SOURCE, normalise_doi
from connectors.crossref.harvest import (
    POLITE_REQUESTS_PER_SECOND,
    PUBLIC_REQUESTS_PER_SECOND,
    WINDOW_FILTERS,
    CrossrefHarvest,
    checked_filters,
    crossref_client,
    plan_window,
    sync_scope,
)
from flows import pipeline, progress
from flows.orchestration import publish_summary, run_logger
from flows.settings import Settings, load_settings
from flows.summary import RUN_FIELDS, add_reasons, reasons_text, summary_markdown
from flows.sync import run_sync
from flows.tasks import load_page
from warehouse.drift import warn_first_seen
from warehouse.store import Warehouse

__all__ = [
    "POLITE_REQUESTS_PER_SECOND",
    "PUBLIC_REQUESTS_PER_SECOND",
    "WINDOW_FILTERS",
    "checked_filters",
    "crossref_client",
    "crossref_sync",
    "crossref_works",
    "plan_window",
    "sync_scope",
]

# Works per validate+load batch in `crossref_works` (one request per DOI, loaded in batches).
DOI_BATCH_SIZE = 100
CROSSREF_HOST = urlsplit(DEFAULT_BASE_URL).hostname
PLACEHOLDER = Settings.model_fields["ncbi_email"].default  # the shipped NCBI_EMAIL example


def _warn_placeholder_mailto(settings: Settings, logger: Any) -> None:
    """Crossref's own API (not an emulator) should hear a real contact address."""
    talks_to_crossref = urlsplit(settings.crossref_url).hostname == CROSSREF_HOST
    if talks_to_crossref and not settings.crossref_mailto and settings.ncbi_email == PLACEHOLDER:
        logger.warning(
            "Crossref: no contact address configured (CROSSREF_MAILTO or NCBI_EMAIL); the "
            "placeholder %s is sent. Set your own to be served by the polite pool.",
            PLACEHOLDER,
        )


@flow(name="crossref-sync", log_prints=True)
def crossref_sync(
    filters: dict[str, str] | None = None,
    since: str | None = None,
    until: str | None = None,
    query: str | None = None,
    db: str | None = None,
    crossref_url: str | None = None,
) -> dict[str, Any]:
    """Sync the Crossref works matching `filters` and `query`, by update (deposit) date.

    Without `since`, the window starts at the stored watermark of this filter set and query
    (inclusive: the last day is read again, and what comes twice loads as unchanged), or at the
    beginning when there is none; `until` defaults to today. On completion the watermark moves
    to `until`, never backwards, and only when the window joins on to it (`plan_window`): a
    backfill of an older window leaves it. A run that failed half-way resumes from the
    checkpoint of its last loaded page. Update-date windows follow publishers' deposits: a
    citation count that changes without a deposit is not fetched again.
    """
    chosen = checked_filters(filters)
    settings = load_settings(db=db, crossref_url=crossref_url)
    _warn_placeholder_mailto(settings, run_logger())
    harvest = CrossrefHarvest(settings, filters=chosen, since=since, until=until, query=query)
    return run_sync(harvest, settings)


def _normalised_dois(dois: list[str]) -> tuple[list[str], list[str]]:
    """(distinct DOIs in the given order, normalised; entries that are not DOIs)."""
    seen: dict[str, None] = {}
    invalid: list[str] = []
    for given in dois:
        doi = normalise_doi(given)
        if doi is None or not doi.startswith("10."):
            invalid.append(given)
        else:
            seen.setdefault(doi)
    return list(seen), invalid


@flow(name="crossref-works", log_prints=True)
def crossref_works(
    dois: list[str], db: str | None = None, crossref_url: str | None = None
) -> dict[str, Any]:
    """Load the Crossref works of a list of DOIs (any case, with or without resolver prefix).

    A DOI Crossref does not know (404) is reported in `not_found` (DOI → message) and logged;
    an entry that is not a DOI is reported in `invalid`; the other works load. Any other
    failure (retries running out, a refused request) fails the run: it would fail every DOI.
    """
    logger = run_logger()
    wanted, invalid = _normalised_dois(dois)
    for given in invalid:
        logger.warning("Crossref works: %r is not a DOI; skipped", given)
    settings = load_settings(db=db, crossref_url=crossref_url)
    _warn_placeholder_mailto(settings, logger)
    client = crossref_client(settings)
    started = time.perf_counter()
    not_found: dict[str, str] = {}
    reasons: dict[str, int] = {}
    with Warehouse(settings.db) as warehouse:
        run_id = warehouse.start_run(
            SOURCE, "works-by-doi", {"dois": len(wanted), "first": wanted[:5]}
        )
        try:
            pending: list[tuple[str, bytes]] = []
            batches = 0

            def load_pending() -> None:
                nonlocal batches
                batches += 1
                answers = tuple((f"Crossref work {doi}", body) for doi, body in pending)
                outcome = load_page(
                    warehouse.handle,
                    pipeline.Payloads(SOURCE, answers),
                    source=SOURCE,
                    batch_id=f"dois:{run_id}:{batches}",
                    run_id=run_id,
                    state=None,
                    max_failed_fraction=settings.max_failed_fraction,
                )
                add_reasons(reasons, outcome.quarantine_reasons)
                pending.clear()

            for done, reply in enumerate(client.works_by_doi(wanted), 1):
                if reply.body is None:
                    not_found[reply.doi] = str(reply.problem)
                    logger.warning("Crossref works: %s", reply.problem)
                else:
                    pending.append((reply.doi, reply.body))
                if len(pending) >= DOI_BATCH_SIZE:
                    load_pending()
                progress.report("Crossref works by DOI", done, len(wanted))
            if pending:
                load_pending()
            run = warehouse.finish_run(run_id, status="completed")
            warn_first_seen(logger, run)
        except Exception as exc:
            warehouse.finish_run(run_id, status="failed", error=str(exc))
            logger.error("Crossref works failed: %s", exc)
            raise
        extra: dict[str, Any] = {"DOIs asked": len(wanted)}
        if not_found:
            extra["not found in Crossref"] = ", ".join(f"`{d}`" for d in not_found)
        if invalid:
            extra["not DOIs"] = ", ".join(f"`{d}`" for d in invalid)
        if reasons:
            extra["quarantine reasons"] = reasons_text(reasons)
        publish_summary(
            key="crossref-works-summary",
            markdown=summary_markdown("Crossref works by DOI", run, extra),
            description=f"Crossref look-up of {len(wanted)} DOIs",
        )
    return {
        **{k: run[k] for k in RUN_FIELDS},
        "seconds": round(time.perf_counter() - started, 2),
        "not_found": not_found,
        "invalid": invalid,
        "quarantine_reasons": reasons,
    }
