"""Prefect flow for PubMed's E-utilities: the incremental sync of a standing query.

The harvest (its window, the query's slices under PubMed's paging limit, efetch pages and their
checkpoints) is `connectors.pubmed.harvest`; the run (state, run row, pages loaded in groups,
summary) is `flows.sync.run_sync`, as for every source. Progress is committed with every group
of pages, so a failed run resumes where it stopped.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from connectors.pubmed.harvest import (
    EARLIEST,
    SOURCE,
    PubmedHarvest,
    eutils_client,
    plan_window,
    sync_scope,
)
from flows.settings import load_settings
from flows.sync import run_sync

__all__ = ["EARLIEST", "SOURCE", "eutils_client", "plan_window", "pubmed_sync", "sync_scope"]


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
    settings = load_settings(db=db, eutils_url=eutils_url)
    return run_sync(PubmedHarvest(settings, query=query, since=since, until=until), settings)
