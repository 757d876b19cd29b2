"""Prefect flows for OAI-PMH repositories: the incremental harvest of one repository (endpoint +
metadataPrefix + set), and the nightly harvest of a configured list of repositories.

As in `flows.pubmed`: tasks work on a ListRecords page, never on one record; each page's records
and deletions load in one transaction with the sync state that says where to resume, so a failed
run resumes where it stopped; a run row counts what happened and a markdown artifact sums it up.
Expired resumption tokens (`badResumptionToken`) and 503s are the client's business: it restarts
the list from its watermark and skips what it already yielded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prefect import flow

from connectors.http import PoliteSession
from connectors.oaipmh import SOURCE, OaiClient, OaiPage, format_datestamp
from flows import memory, pipeline, progress
from flows.orchestration import call, publish_summary, run_logger
from flows.settings import Settings, load_settings
from flows.summary import RUN_FIELDS, add_reasons, reasons_text, summary_markdown
from flows.tasks import PREFETCH_PAGES, Fetched, in_groups, load_page, prefetched
from schemas.batch import LoadCounts, StateUpdate
from schemas.errors import FatalError
from warehouse.store import Warehouse

# OAI-PMH states no rate limit, and many repositories are small institutional servers: be slow.
# What an entry of `oai_harvest_many`'s list may say (endpoint is required).
REPOSITORY_KEYS = frozenset(
    {"endpoint", "metadata_prefix", "set", "repository", "requests_per_second"}
)

# Every fact of the seed record (../shared/seed/000_d97e390f4f84cdba.txt) in one row of the
# `records` view, as the Pure-like portal of the sandbox serves it (metadataPrefix mods).
SEED_QUERY = """
SELECT source_id,
       title,
       list_transform(authors, lambda a: a.name) AS authors,
       abstract,
       journal,
       issue,
       pages,
       page_count,
       pub_date,
       pub_date_precision,
       publication_state,
       language,
       output_type,
       peer_reviewed,
       list_transform(metrics, lambda m: {'name': m.name, 'value': m.value,
                                          'provider': m.provider}) AS metrics,
       list_transform(list_filter(subjects, lambda s: s.scheme = 'asjc'),
                      lambda s: {'scheme': s.scheme, 'term': s.term, 'code': s.code}) AS asjc
FROM records
WHERE source = 'oai'
  AND title = 'Interleukins in Cancer Therapy: Rationale and Current Status'
"""


@dataclass(frozen=True, slots=True)
class _ListRecordsPages:
    """Consecutive ListRecords answers as a `flows.tasks.Page`: their records and deletions
    not yielded before in this harvest, in order."""

    pages: tuple[OaiPage, ...]

    def items(self) -> list[pipeline.Item]:
        return [item for page in self.pages for item in page.records()]


def harvest_scope(repository: str, metadata_prefix: str, set_spec: str | None) -> str:
    """The sync_state key of one standing harvest: repository, metadataPrefix and set."""
    scope = f"ListRecords {repository} metadataPrefix={metadata_prefix}"
    return f"{scope} set={set_spec}" if set_spec else scope


def oai_client(settings: Settings, endpoint: str, requests_per_second: float) -> OaiClient:
    """A client for `endpoint` on its own polite session (retries and backoff as configured)."""
    name = f"OAI-PMH {endpoint}"
    session = PoliteSession(
        source=name,
        requests_per_second=requests_per_second,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    )
    return OaiClient(endpoint, session=session, name=name)


def list_pages(
    client: OaiClient,
    metadata_prefix: str,
    from_: str | None,
    until: str | None,
    set_spec: str | None,
) -> Iterator[OaiPage]:
    """The ListRecords pages of a harvest (a generator: fetching happens as the flow consumes
    it)."""
    return client.list_record_pages(metadata_prefix, from_=from_, until=until, set_=set_spec)


def _checked_datestamp(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        format_datestamp(value, seconds=True)
    except ValueError:
        raise FatalError(
            f"OAI-PMH harvest: {name} must be a day (YYYY-MM-DD) or a datestamp "
            f"(YYYY-MM-DDThh:mm:ssZ), not {value!r}"
        ) from None
    return value.strip()


def _checked_endpoint(endpoint: str) -> str:
    base = endpoint.strip().rstrip("?")
    if not base.startswith(("http://", "https://")) or "?" in base:
        raise FatalError(
            f"OAI-PMH harvest: the endpoint must be an http(s) base URL without a query "
            f"string (e.g. https://zenodo.org/oai2d), not {endpoint!r}"
        )
    return base


def _latest(*stamps: str | None) -> str | None:
    # Datestamps of one repository share a granularity and sort as text; a day sorts before
    # the datestamps of that day, which errs towards listing a little more, never less.
    return max((s for s in stamps if s), default=None)


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@flow(name="oai-harvest", log_prints=True)
def oai_harvest(
    endpoint: str,
    metadata_prefix: str = "oai_dc",
    set: str | None = None,  # the protocol's own name, though it shadows the builtin
    since: str | None = None,
    until: str | None = None,
    db: str | None = None,
    repository: str | None = None,
    requests_per_second: float | None = None,
) -> dict[str, Any]:
    """Harvest the records of one OAI-PMH repository into the warehouse (ListRecords).

    Incremental per endpoint + metadataPrefix + set: without `since`, the harvest starts at the
    stored watermark, the last datestamp seen (inclusive: what sits at it comes again and loads
    as unchanged), or at the beginning. `until` bounds it (inclusive; default: no bound).
    Deleted records (`<header status="deleted">`) leave the `records` view; their history
    stays. A run that failed half-way resumes from the checkpoint of its last loaded page.
    `since`/`until` are days (YYYY-MM-DD) or datestamps (YYYY-MM-DDThh:mm:ssZ).

    `repository` is the name the sync state is kept under (default: the endpoint), for an
    endpoint whose URL changes (the demo's loopback port); `requests_per_second` the politeness
    towards this repository (default 1).
    """
    logger = run_logger()
    memory.tune_gc()
    endpoint = _checked_endpoint(endpoint)
    set_spec = set or None
    since = _checked_datestamp(since, "since")
    until = _checked_datestamp(until, "until")
    settings = load_settings(db=db)
    scope = harvest_scope(repository or endpoint, metadata_prefix, set_spec)
    label = f"OAI-PMH {endpoint} ({metadata_prefix}{f', set {set_spec}' if set_spec else ''})"
    client = oai_client(settings, endpoint, requests_per_second or settings.oai_requests_per_second)
    started = time.perf_counter()
    with Warehouse(settings.db) as warehouse:
        watermark, checkpoint = warehouse.state(SOURCE, scope)
        start, end = since or watermark, until
        resume_from: str | None = None
        seen_max: str | None = None
        if checkpoint and checkpoint.get("unfinished"):
            window = (checkpoint.get("since"), checkpoint.get("until"))
            if (since is None and until is None) or window == (start, end):
                start, end = window
                resume_from = checkpoint.get("resume_from")
                seen_max = checkpoint.get("max_datestamp")
                logger.info("resuming %s from %s", label, resume_from or start or "the beginning")
            else:
                # Its watermark never moved, so the next incremental harvest covers its window.
                logger.warning(
                    "%s: not resuming the interrupted window %s..%s; this run's window replaces it",
                    label,
                    window[0] or "the beginning",
                    window[1] or "now",
                )
        if start and end and start[:10] > end[:10]:
            said = "since" if since else "the stored watermark"
            raise FatalError(f"OAI-PMH harvest of {label}: {said} {start} is after until {end}")
        # A backfill of an older window must not move the watermark; a window that starts after
        # it would leave a gap, so it does not move it either.
        joins = watermark is None or start is None or start <= watermark
        from_ = resume_from or start
        run_id = warehouse.start_run(
            SOURCE,
            "oai-harvest",
            {
                "endpoint": endpoint,
                "metadata_prefix": metadata_prefix,
                "set": set_spec,
                "since": start,
                "until": end,
                "resume_from": resume_from,
            },
        )
        base = {
            "unfinished": True,
            "endpoint": endpoint,
            "metadata_prefix": metadata_prefix,
            "set": set_spec,
            "since": start,
            "until": end,
        }
        totals = LoadCounts()
        reasons: dict[str, int] = {}
        pages = restarts = 0

        def fetched() -> Iterator[Fetched[OaiPage]]:
            nonlocal pages, restarts, seen_max
            for page in list_pages(client, metadata_prefix, from_, end, set_spec):
                pages, restarts = page.number, page.restarts
                seen_max = _latest(seen_max, page.max_datestamp)
                state = StateUpdate(
                    SOURCE,
                    scope,
                    watermark,
                    {**base, "resume_from": page.resume_from, "max_datestamp": seen_max},
                )
                new = page.new_headers
                yield Fetched(
                    page,
                    len(new),
                    f"oai:{run_id}:{page.number}",
                    state,
                    ends_group=any(header.deleted for header in new),
                )

        try:
            for group in in_groups(
                prefetched(fetched(), ahead=PREFETCH_PAGES), records=settings.sync_group_records
            ):
                outcome = load_page(
                    warehouse.handle,
                    _ListRecordsPages(tuple(f.page for f in group)),
                    source=SOURCE,
                    batch_id=group[0].batch_id,
                    run_id=run_id,
                    state=group[-1].state,
                    max_failed_fraction=settings.max_failed_fraction,
                )
                totals.add(outcome.counts)
                add_reasons(reasons, outcome.quarantine_reasons)
                token = group[-1].page.token
                announced = token.complete_list_size if token else None
                progress.report(label, totals.fetched, max(announced or 0, totals.fetched))
            # The list is complete: move the watermark and clear the checkpoint.
            new_watermark = _latest(watermark, seen_max) if joins else watermark
            warehouse.save_state(StateUpdate(SOURCE, scope, new_watermark, None))
            run = warehouse.finish_run(run_id, status="completed")
        except Exception as exc:
            failed = warehouse.finish_run(run_id, status="failed", error=_described(exc))
            logger.error("%s failed: %s", label, _described(exc))
            publish_summary(
                key="oai-harvest-summary",
                markdown=summary_markdown("OAI-PMH harvest", failed, {"error": _described(exc)}),
                description=f"OAI-PMH harvest of {label} (failed)",
            )
            raise
        seconds = time.perf_counter() - started
        window_text = f"{start or 'the beginning'}..{end or 'now'} (datestamps, inclusive)"
        extra: dict[str, Any] = {
            "repository": f"`{endpoint}`",
            "metadataPrefix": f"`{metadata_prefix}`",
            "set": f"`{set_spec}`" if set_spec else "all records",
            "window": window_text,
            "pages": f"{pages} ({restarts} list restarts after expired tokens)",
            "watermark": new_watermark or "-",
        }
        if reasons:
            extra["quarantine reasons"] = reasons_text(reasons)
        publish_summary(
            key="oai-harvest-summary",
            markdown=summary_markdown("OAI-PMH harvest", run, extra),
            description=f"OAI-PMH harvest of {label}",
        )
    return {
        **{k: run[k] for k in RUN_FIELDS},
        "endpoint": endpoint,
        "metadata_prefix": metadata_prefix,
        "set": set_spec,
        "seconds": round(seconds, 2),
        "watermark": new_watermark,
        "window": [start, end],
        "pages": pages,
        "restarts": restarts,
        "quarantine_reasons": reasons,
    }


def repository_options(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The `oai_harvest` arguments of one configured repository; FatalError when it is not
    one (not a mapping, no endpoint, or keys other than `REPOSITORY_KEYS`)."""
    if not isinstance(entry, Mapping):
        raise FatalError(f"OAI-PMH repositories: an entry must be a mapping, not {entry!r}")
    unknown = sorted(set(entry) - REPOSITORY_KEYS)
    if unknown:
        raise FatalError(
            f"OAI-PMH repositories: unknown key(s) {', '.join(unknown)} in {dict(entry)!r}; "
            f"known: {', '.join(sorted(REPOSITORY_KEYS))}"
        )
    if not entry.get("endpoint"):
        raise FatalError(f"OAI-PMH repositories: no endpoint in {dict(entry)!r}")
    options = dict(entry)
    options.setdefault("metadata_prefix", "oai_dc")
    return options


def _where(entry: object) -> dict[str, Any]:
    """Endpoint, format and set of a configured entry, as far as it says them (for reports)."""
    given: Mapping[str, Any] = entry if isinstance(entry, Mapping) else {}
    return {
        "endpoint": given.get("endpoint", repr(entry)),
        "metadata_prefix": given.get("metadata_prefix", "oai_dc"),
        "set": given.get("set"),
    }


def _many_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "# OAI-PMH harvests",
        "",
        "| repository | format | set | status | fetched | inserted | updated | deleted | "
        "quarantined |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        counts = [str(r.get(k, "-")) for k in ("fetched", "inserted", "updated", "deleted")]
        lines.append(
            f"| `{r['endpoint']}` | {r['metadata_prefix']} | {r['set'] or '-'} | {r['status']} | "
            + " | ".join(counts)
            + f" | {r.get('quarantined', '-')} |"
        )
    for r in results:
        if r["status"] != "completed":
            lines.append(f"\n**{r['endpoint']}** failed: {r['error']}")
    return "\n".join(lines)


@flow(name="oai-harvest-many", log_prints=True)
def oai_harvest_many(
    repositories: list[dict[str, Any]] | None = None, db: str | None = None
) -> dict[str, Any]:
    """Harvest each configured repository in turn (the nightly deployment); without
    `repositories`, the list configured in BIBLIODUCK_OAI_REPOSITORIES.

    Each entry says `endpoint` and optionally `metadata_prefix` (default oai_dc), `set`,
    `repository` (the sync-state name) and `requests_per_second`. A repository that fails does
    not stop the others; the flow fails at the end, naming every repository that failed.
    """
    logger = run_logger()
    if repositories is None:
        repositories = load_settings(db=db).oai_repositories
    results: list[dict[str, Any]] = []
    for entry in repositories:
        where = _where(entry)
        try:
            result = call(oai_harvest, **repository_options(entry), db=db)
        except Exception as exc:
            logger.error("OAI-PMH harvest of %s failed: %s", where["endpoint"], _described(exc))
            results.append({**where, "status": "failed", "error": _described(exc)})
            continue
        results.append(result)
    failed = [r for r in results if r["status"] != "completed"]
    publish_summary(
        key="oai-harvest-many-summary",
        markdown=_many_markdown(results),
        description=f"OAI-PMH harvests of {len(results)} repositories ({len(failed)} failed)",
    )
    if failed:
        named = "; ".join(f"{r['endpoint']} ({r['metadata_prefix']}): {r['error']}" for r in failed)
        raise FatalError(
            f"OAI-PMH: {len(failed)} of {len(results)} repositories failed (the others were "
            f"harvested): {named}"
        )
    return {"repositories": results, "failed": 0}
