"""Prefect flow for Elsevier Pure research portals read as HTML: the sync of one portal's listing
(`/en/publications/?page=N`) and each listed output's page (`biblioduck sync pure-portal URL`).

The harvest (listing pages, output pages, the page-number checkpoint) is
`connectors.pure.harvest`; the run (state, run row, pages loaded in groups, summary) is
`flows.sync.run_sync`, as for every source.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from connectors.pure.harvest import PurePortalHarvest
from flows.settings import load_settings
from flows.sync import run_sync

__all__ = ["pure_portal_sync"]


@flow(name="pure-portal-sync", log_prints=True)
def pure_portal_sync(
    portal: str,
    since: str | None = None,
    fetch_pages: bool = True,
    db: str | None = None,
    repository: str | None = None,
    requests_per_second: float | None = None,
) -> dict[str, Any]:
    """Sync a Pure portal's research outputs into the warehouse from its HTML pages.

    `portal` is its address or any URL on it (https://researchportal.bath.ac.uk); `since` a
    year: the listing is newest first, so the read stops at the first page older than it
    (default: the whole listing); `fetch_pages` False keeps to what the listing states (no
    abstract, language, ASJC areas). A run that failed resumes at the listing page after the
    last one loaded. `repository` names the sync state when the URL changes (the demo's port);
    `requests_per_second` the politeness towards the portal (default: the OAI-PMH rate, 1).
    """
    settings = load_settings(db=db)
    harvest = PurePortalHarvest(
        settings,
        portal=portal,
        since=since,
        fetch_pages=fetch_pages,
        repository=repository,
        requests_per_second=requests_per_second,
    )
    return run_sync(harvest, settings)
