"""Prefect flows for OAI-PMH repositories: the incremental harvest of one repository (endpoint +
metadataPrefix + set), and the nightly harvest of a configured list of repositories.

The harvest of one repository (its window of datestamps, ListRecords pages and their
checkpoints; expired resumption tokens and 503s are the client's business) is
`connectors.oaipmh.harvest`; the run (state, run row, pages loaded in groups with their
deletions, summary) is `flows.sync.run_sync`, as for every source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import flow

from connectors.oaipmh.harvest import OaiHarvest, harvest_scope, oai_client
from flows.orchestration import call, publish_summary, run_logger
from flows.settings import load_settings
from flows.sync import run_sync
from schemas.errors import FatalError

__all__ = [
    "REPOSITORY_KEYS",
    "SEED_QUERY",
    "harvest_scope",
    "oai_client",
    "oai_harvest",
    "oai_harvest_many",
    "repository_options",
]

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
    Each record is kept per format (`source_id` `<identifier>#<metadataPrefix>`), so harvests
    of other formats of the same repository keep their own records. Deleted records
    (`<header status="deleted">`) of this format leave the `records` view; their history
    stays. A run that failed half-way resumes from the checkpoint of its last loaded page.
    `since`/`until` are days (YYYY-MM-DD) or datestamps (YYYY-MM-DDThh:mm:ssZ).

    `repository` is the name the sync state is kept under (default: the endpoint), for an
    endpoint whose URL changes (the demo's loopback port); `requests_per_second` the politeness
    towards this repository (default 1).
    """
    settings = load_settings(db=db)
    harvest = OaiHarvest(
        settings,
        endpoint=endpoint,
        metadata_prefix=metadata_prefix,
        set_spec=set,
        since=since,
        until=until,
        repository=repository,
        requests_per_second=requests_per_second,
    )
    return run_sync(harvest, settings)


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
