"""Prefect flow for PubMed's E-utilities: the incremental sync of a standing query.

Tasks work on a page or a file batch, never on one record. Only transient errors are retried;
a bad record is quarantined; a fatal error fails the run with a message a person can act on.
Progress is committed with every batch, so a failed run resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from prefect import flow
from prefect.cache_policies import NO_CACHE

from connectors.http import PoliteSession
from connectors.pubmed.client import EfetchPage, EutilsClient, QuerySlice
from flows import memory, pipeline, progress
from flows.orchestration import publish_summary, run_logger, tracked_task
from flows.settings import Settings, load_settings
from flows.summary import add_reasons, reasons_text, summary_markdown
from flows.tasks import PREFETCH_PAGES, Fetched, in_groups, load_page, prefetched
from schemas.batch import LoadCounts, StateUpdate
from warehouse.store import Warehouse

SOURCE = "pubmed"
EARLIEST = dt.date(1781, 1, 1)  # before the oldest PubMed record: "from the beginning"


# No Prefect retries: the HTTP session already retries what is transient, with backoff
# honouring Retry-After (retries at two levels multiplied: 3 x 6 attempts, 103 s for a DNS
# failure).
@tracked_task(cache_policy=NO_CACHE)
def plan_query(
    client: EutilsClient, query: str, mindate: dt.date, maxdate: dt.date, datetype: str
) -> list[QuerySlice]:
    """Split the query into slices of at most 10,000 hits (PubMed's paging limit)."""
    return client.plan_slices(query, mindate=mindate, maxdate=maxdate, datetype=datetype)


def sync_scope(query: str, datetype: str) -> str:
    """The sync_state key of one standing query."""
    return f"eutils:{datetype}:{query}"


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _client(settings: Settings) -> EutilsClient:
    api_key = settings.ncbi_api_key
    session = PoliteSession(
        source="PubMed E-utilities",
        requests_per_second=10.0 if api_key else 3.0,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
        secrets=[api_key.get_secret_value()] if api_key else [],
    )
    return EutilsClient(
        settings.eutils_url,
        tool=settings.ncbi_tool,
        email=settings.ncbi_email,
        api_key=api_key,
        session=session,
        batch_size=settings.eutils_batch_size,
    )


@flow(name="pubmed-sync", log_prints=True)
def pubmed_sync(
    query: str,
    since: str | None = None,
    until: str | None = None,
    db: str | None = None,
    eutils_url: str | None = None,
) -> dict[str, Any]:
    """Sync the PubMed records matching `query` into the warehouse.

    Without `since`, the window starts at the stored watermark of this query (inclusive), so a
    nightly run fetches what changed since the last one; `until` defaults to today. A run that
    failed half-way resumes from its checkpoint: slices already loaded are skipped.
    Secrets (NCBI api_key) come from the environment, never from parameters.
    """
    logger = run_logger()
    memory.tune_gc()
    settings = load_settings(db=db, eutils_url=eutils_url)
    datetype = settings.pubmed_datetype
    scope = sync_scope(query, datetype)
    client = _client(settings)
    started = time.perf_counter()
    with Warehouse(settings.db) as warehouse:
        watermark, checkpoint = warehouse.state(SOURCE, scope)
        maxdate = _date(until) or dt.date.today()
        mindate = _date(since) or _date(watermark) or EARLIEST
        done: list[str] = []
        if checkpoint and checkpoint.get("unfinished"):
            # Resume the interrupted window exactly; loads are idempotent, so re-fetching
            # the slice that was in progress duplicates nothing.
            mindate = dt.date.fromisoformat(checkpoint["mindate"])
            maxdate = dt.date.fromisoformat(checkpoint["maxdate"])
            done = list(checkpoint.get("done", []))
            logger.info(
                "resuming %s %s..%s: %d slices already loaded", query, mindate, maxdate, len(done)
            )
        # A backfill of an older window must not move the watermark backwards.
        advances_watermark = since is None or watermark is None or _date(since) <= _date(watermark)  # type: ignore[operator]
        new_watermark = watermark
        if advances_watermark:
            new_watermark = max(filter(None, [maxdate, _date(watermark)])).isoformat()
        run_id = warehouse.start_run(
            SOURCE,
            "eutils-sync",
            {
                "query": query,
                "since": mindate.isoformat(),
                "until": maxdate.isoformat(),
                "datetype": datetype,
            },
        )
        totals = LoadCounts()
        reasons: dict[str, int] = {}
        try:
            slices = plan_query(client, query, mindate, maxdate, datetype)
            expected = sum(s.count for s in slices if s.key not in done)
            logger.info(
                "%s: %d records in %d slices (%s..%s, %s)",
                query,
                expected,
                len(slices),
                mindate,
                maxdate,
                datetype,
            )
            progress.report(f"PubMed {query!r}", 0, expected)
            base = {
                "unfinished": True,
                "query": query,
                "datetype": datetype,
                "mindate": mindate.isoformat(),
                "maxdate": maxdate.isoformat(),
            }

            def fetched() -> Iterator[Fetched[EfetchPage]]:
                finished = list(done)
                for query_slice in slices:
                    if query_slice.key in finished:
                        continue
                    for page in client.iter_pages(query_slice):
                        last_page = page.retstart + page.count >= query_slice.count
                        if last_page:
                            finished = [*finished, query_slice.key]
                        checkpoint = {**base, "done": finished}
                        yield Fetched(
                            page,
                            page.count,
                            f"efetch:{query_slice.key}:{page.retstart}",
                            StateUpdate(SOURCE, scope, watermark, checkpoint),
                        )

            for group in in_groups(
                prefetched(fetched(), ahead=PREFETCH_PAGES), records=settings.sync_group_records
            ):
                outcome = load_page(
                    warehouse.handle,
                    pipeline.Payloads(
                        SOURCE, tuple((f"efetch {f.batch_id}", f.page.body) for f in group)
                    ),
                    batch_id=group[0].batch_id,
                    run_id=run_id,
                    state=group[-1].state,
                    max_failed_fraction=settings.max_failed_fraction,
                    source=SOURCE,
                )
                totals.add(outcome.counts)
                add_reasons(reasons, outcome.quarantine_reasons)
                progress.report(f"PubMed {query!r}", totals.fetched, expected)
            # The window is complete: move the watermark and clear the checkpoint.
            warehouse.save_state(StateUpdate(SOURCE, scope, new_watermark, None))
            run = warehouse.finish_run(run_id, status="completed")
        except Exception as exc:
            # Any failure, ours or not, must leave the run row, and its summary, saying so.
            failed = warehouse.finish_run(run_id, status="failed", error=str(exc))
            logger.error("PubMed sync failed: %s", exc)
            publish_summary(
                key="pubmed-sync-summary",
                markdown=summary_markdown("PubMed sync", failed, {"error": str(exc)}),
                description=f"PubMed sync of {query!r} (failed)",
            )
            raise
        seconds = time.perf_counter() - started
        extra = {"query": f"`{query}`", "window": f"{mindate}..{maxdate} ({datetype})"}
        if reasons:
            extra["quarantine reasons"] = reasons_text(reasons)
        publish_summary(
            key="pubmed-sync-summary",
            markdown=summary_markdown("PubMed sync", run, extra),
            description=f"PubMed sync of {query!r}",
        )
    return {
        **{
            k: run[k]
            for k in (
                "run_id",
                "status",
                "fetched",
                "inserted",
                "updated",
                "unchanged",
                "stale",
                "deleted",
                "quarantined",
            )
        },
        "seconds": round(seconds, 2),
        "watermark": new_watermark,
        "window": [mindate.isoformat(), maxdate.isoformat()],
        "quarantine_reasons": reasons,
    }
