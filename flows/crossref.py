"""Prefect flows for Crossref: the incremental `/works` sync by update date (a backfill is the same
flow with `since`/`until`), and loading a list of DOIs.

As in `flows.pubmed`: tasks work on a page, never on one record; each page's records load in one
transaction with the sync state that says where to resume, so a failed run resumes where it
stopped; a run row counts what happened and a markdown artifact summarises it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from prefect import flow

from connectors.crossref import (
    DEFAULT_BASE_URL,
    SOURCE,
    WORK_FILTERS,
    Checkpoint,
    CrossrefClient,
    WorkPage,
    normalise_doi,
)
from connectors.http import PoliteSession
from flows import pipeline, progress
from flows.orchestration import publish_summary, run_logger
from flows.settings import Settings, load_settings
from flows.summary import RUN_FIELDS, add_reasons, reasons_text, summary_markdown
from flows.tasks import PREFETCH_PAGES, Fetched, in_groups, load_page, prefetched
from schemas.batch import LoadCounts, StateUpdate
from schemas.errors import FatalError, TransientError
from warehouse.store import Warehouse

# The window of a sync is set by `since`/`until`; filters that would move it are refused.
WINDOW_FILTERS = frozenset(
    {"from-update-date", "until-update-date", "from-index-date", "until-index-date"}
)
# Crossref's polite pool allows 10 requests/s (the public pool 5); the rate its answers announce
# lowers this, never raises it.
POLITE_REQUESTS_PER_SECOND = 10.0
PUBLIC_REQUESTS_PER_SECOND = 5.0
# Works per validate+load batch in `crossref_works` (one request per DOI, loaded in batches).
DOI_BATCH_SIZE = 100
CROSSREF_HOST = urlsplit(DEFAULT_BASE_URL).hostname
PLACEHOLDER = Settings.model_fields["ncbi_email"].default  # the shipped NCBI_EMAIL example


def sync_scope(filters: Mapping[str, str], query: str | None) -> str:
    """The sync_state key of one standing harvest: its filters (sorted) and query."""
    chosen = ",".join(f"{name}:{filters[name]}" for name in sorted(filters))
    return f"works:filter={chosen};query={query or ''}"


def crossref_client(settings: Settings) -> CrossrefClient:
    """A client on its own polite session, identified by the configured contact address."""
    mailto = settings.crossref_mailto or settings.ncbi_email
    session = PoliteSession(
        source="Crossref REST API",
        requests_per_second=POLITE_REQUESTS_PER_SECOND if mailto else PUBLIC_REQUESTS_PER_SECOND,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    )
    return CrossrefClient(session, base_url=settings.crossref_url, mailto=mailto)


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FatalError(
            f"Crossref sync: {name} must be a date (YYYY-MM-DD), not {value!r}"
        ) from None


def checked_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """The filters of a sync as strings; raises `FatalError` for unknown names and for the
    date filters that `since`/`until` own. (The CLI calls it before starting a flow.)"""
    chosen = {str(k): str(v) for k, v in (filters or {}).items()}
    window = sorted(set(chosen) & WINDOW_FILTERS)
    if window:
        raise FatalError(
            f"Crossref sync: filter(s) {', '.join(window)} set the sync window; "
            "use since/until (--since/--until) instead"
        )
    unknown = sorted(set(chosen) - WORK_FILTERS)
    if unknown:
        raise FatalError(
            f"Crossref sync: unknown /works filter(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(WORK_FILTERS - WINDOW_FILTERS))
        )
    return chosen


def _warn_placeholder_mailto(settings: Settings, logger: Any) -> None:
    """Crossref's own API (not an emulator) should hear a real contact address."""
    talks_to_crossref = urlsplit(settings.crossref_url).hostname == CROSSREF_HOST
    if talks_to_crossref and not settings.crossref_mailto and settings.ncbi_email == PLACEHOLDER:
        logger.warning(
            "Crossref: no contact address configured (CROSSREF_MAILTO or NCBI_EMAIL); the "
            "placeholder %s is sent. Set your own to be served by the polite pool.",
            PLACEHOLDER,
        )


def list_work_pages(
    client: CrossrefClient,
    filters: Mapping[str, str],
    query: str | None,
    rows: int,
    resume: Checkpoint | None,
) -> Iterator[WorkPage]:
    """The `/works` pages of a window (a generator: fetching happens as the flow consumes it)."""
    return client.iter_work_pages(filters=filters, query=query, rows=rows, resume=resume)


@dataclass(frozen=True, slots=True)
class SyncWindow:
    """What one sync run reads (`since` None: from the beginning), where it resumes, and
    where the watermark goes when it completes; `replaces` is the (since, until) of an
    interrupted run this one does not resume."""

    since: dt.date | None
    until: dt.date
    resume: Checkpoint | None
    watermark_after: str | None
    replaces: tuple[str | None, str] | None = None


def plan_window(
    since: str | None,
    until: str | None,
    watermark: str | None,
    checkpoint: Mapping[str, Any] | None,
    *,
    label: str,
    today: dt.date | None = None,
) -> SyncWindow:
    """The window of a run from its parameters and the scope's stored state.

    An interrupted run is resumed when no window is given, or the same one. The watermark
    never moves backwards, and moves only when the window joins on to it and starts no later
    than an interrupted window it replaces: otherwise the next incremental sync would skip
    what lies before this window."""
    stored = _date(watermark, "the stored watermark")
    maxdate = _date(until, "until") or today or dt.date.today()
    mindate = _date(since, "since") or stored
    resume: Checkpoint | None = None
    replaces: tuple[str | None, str] | None = None
    if checkpoint and checkpoint.get("unfinished"):
        interrupted = (checkpoint["since"], checkpoint["until"])
        asked = (mindate.isoformat() if mindate else None, maxdate.isoformat())
        if (since is None and until is None) or interrupted == asked:
            mindate = _date(interrupted[0], "the checkpoint's since")
            maxdate = _date(interrupted[1], "the checkpoint's until") or maxdate
            resume = Checkpoint.from_state(checkpoint["resume"])
        else:
            replaces = interrupted
    if mindate is not None and mindate > maxdate:
        start = f"since {mindate}" if since else f"the watermark of {label} ({mindate})"
        raise FatalError(
            f"Crossref sync: {start} is after until {maxdate}; give since to backfill an "
            "older window"
        )
    joins = stored is None or mindate is None or mindate <= stored
    if replaces is not None and mindate is not None:
        replaced_since = _date(replaces[0], "the checkpoint's since")
        joins = joins and replaced_since is not None and mindate <= replaced_since
    watermark_after = watermark
    if joins:
        watermark_after = max(filter(None, [maxdate, stored])).isoformat()
    return SyncWindow(mindate, maxdate, resume, watermark_after, replaces)


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
    logger = run_logger()
    chosen = checked_filters(filters)
    query = query or None
    settings = load_settings(db=db, crossref_url=crossref_url)
    _warn_placeholder_mailto(settings, logger)
    scope = sync_scope(chosen, query)
    label = scope.removeprefix("works:")
    client = crossref_client(settings)
    started = time.perf_counter()
    with Warehouse(settings.db) as warehouse:
        watermark, checkpoint = warehouse.state(SOURCE, scope)
        window = plan_window(since, until, watermark, checkpoint, label=label)
        mindate, maxdate = window.since, window.until
        resume, new_watermark = window.resume, window.watermark_after
        if resume is not None:
            logger.info(
                "resuming %s %s..%s from %s",
                label,
                mindate or "the beginning",
                maxdate,
                resume.resume_from or "the beginning",
            )
        if window.replaces is not None:
            logger.warning(
                "Crossref: not resuming the interrupted window %s..%s of %s; this run's window "
                "replaces it, and the watermark stays at %s unless this window covers it",
                window.replaces[0] or "the beginning",
                window.replaces[1],
                label,
                watermark or "the beginning",
            )
        window_filters: dict[str, str] = {**chosen, "until-update-date": maxdate.isoformat()}
        if mindate is not None:
            window_filters["from-update-date"] = mindate.isoformat()
        run_id = warehouse.start_run(
            SOURCE,
            "works-sync",
            {
                "filters": chosen,
                "query": query,
                "since": mindate.isoformat() if mindate else None,
                "until": maxdate.isoformat(),
                "resume_from": resume.to_state()["resume_from"] if resume else None,
            },
        )
        base = {
            "unfinished": True,
            "filters": chosen,
            "query": query,
            "since": mindate.isoformat() if mindate else None,
            "until": maxdate.isoformat(),
        }
        totals = LoadCounts()
        reasons: dict[str, int] = {}
        pages = restarts = 0
        cursor_delivered = 0  # works the current cursor delivered
        cursor_announced: int | None = None
        cursor_started_at = 0  # works fetched when the current cursor started

        def fetched() -> Iterator[Fetched[WorkPage]]:
            nonlocal pages, restarts, cursor_delivered, cursor_announced, cursor_started_at
            seen = 0
            for page in list_work_pages(
                client, window_filters, query, settings.crossref_rows, resume
            ):
                if page.restarts != restarts or pages == 0:
                    restarts, cursor_delivered, cursor_started_at = page.restarts, 0, seen
                pages = page.number
                cursor_delivered += page.items
                cursor_announced = page.total_results
                seen += page.items
                state = StateUpdate(
                    SOURCE, scope, watermark, {**base, "resume": page.checkpoint.to_state()}
                )
                yield Fetched(page, page.items, f"works:{run_id}:{page.number}", state)

        try:
            for group in in_groups(
                prefetched(fetched(), ahead=PREFETCH_PAGES), records=settings.sync_group_records
            ):
                outcome = load_page(
                    warehouse.handle,
                    pipeline.Payloads(
                        SOURCE,
                        tuple(
                            (f"{f.page.origin} (page {f.page.number})", f.page.body) for f in group
                        ),
                    ),
                    source=SOURCE,
                    batch_id=group[0].batch_id,
                    run_id=run_id,
                    state=group[-1].state,
                    max_failed_fraction=settings.max_failed_fraction,
                )
                totals.add(outcome.counts)
                add_reasons(reasons, outcome.quarantine_reasons)
                expected = cursor_started_at + (group[-1].page.total_results or 0)
                progress.report(f"Crossref {label}", totals.fetched, max(expected, totals.fetched))
            shortfall = max(0, (cursor_announced or 0) - cursor_delivered)
            if shortfall:
                # A response lost after Crossref's scroll had advanced (a body cut off, retried
                # by the session) skips works no cursor can give again, and later pages moved
                # the checkpoint past them: read the whole window again (loads are idempotent).
                warehouse.save_state(StateUpdate(SOURCE, scope, watermark, None))
                raise TransientError(
                    f"Crossref sync of {label}: Crossref announced {cursor_announced} works "
                    f"for the last cursor but delivered {cursor_delivered}; a response was lost "
                    "after the cursor had advanced. Nothing loaded is lost and the watermark "
                    f"stays at {watermark or 'the beginning'}: run the sync again to read the "
                    "window again."
                )
            # The window is complete: move the watermark and clear the checkpoint.
            warehouse.save_state(StateUpdate(SOURCE, scope, new_watermark, None))
            run = warehouse.finish_run(run_id, status="completed")
        except Exception as exc:
            failed = warehouse.finish_run(run_id, status="failed", error=str(exc))
            logger.error("Crossref sync failed: %s", exc)
            publish_summary(
                key="crossref-sync-summary",
                markdown=summary_markdown("Crossref sync", failed, {"error": str(exc)}),
                description=f"Crossref sync of {label} (failed)",
            )
            raise
        seconds = time.perf_counter() - started
        window_text = f"{mindate or 'the beginning'}..{maxdate} (update date)"
        extra: dict[str, Any] = {
            "filters": f"`{label}`",
            "window": window_text,
            "pages": f"{pages} ({restarts} cursor restarts)",
        }
        if reasons:
            extra["quarantine reasons"] = reasons_text(reasons)
        publish_summary(
            key="crossref-sync-summary",
            markdown=summary_markdown("Crossref sync", run, extra),
            description=f"Crossref sync of {label}",
        )
    return {
        **{k: run[k] for k in RUN_FIELDS},
        "seconds": round(seconds, 2),
        "watermark": new_watermark,
        "window": [mindate.isoformat() if mindate else None, maxdate.isoformat()],
        "pages": pages,
        "cursor_restarts": restarts,
        "quarantine_reasons": reasons,
    }


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
