"""Prefect flow of the landing-page enrichment (`biblioduck sync landing`): for a list of DOIs,
or for the works that lack an abstract or affiliations, fetch each DOI's landing page through
doi.org (politely: robots.txt, one request at a time per host) and load what its meta tags
state as a `landing` record, which joins its work by DOI.

The harvest (resolution, pages, outcomes, the checkpoint: the list's digest and the next DOI)
is `connectors.landing.harvest`; the run (state, run row, pages in groups, summary) is
`flows.sync.run_sync`, as for every source.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from connectors.landing.harvest import LandingHarvest, read_doi_file
from flows.settings import load_settings
from flows.sync import run_sync
from schemas.errors import UsageError
from warehouse.location import warehouse_exists
from warehouse.store import Warehouse

__all__ = ["WORKS_TO_ENRICH_SQL", "landing_sync"]

# The works a landing page may complete: a DOI to resolve, no landing record yet, and no
# abstract or no author with an affiliation.
WORKS_TO_ENRICH_SQL = """
SELECT doi FROM works
WHERE doi IS NOT NULL
  AND NOT list_contains(sources, 'landing')
  AND (abstract IS NULL OR authors IS NULL
       OR len(list_filter(authors, lambda a: len(a.affiliations) > 0)) = 0)
ORDER BY doi
"""


def works_to_enrich(db: str) -> list[str]:
    """The DOIs of the works `WORKS_TO_ENRICH_SQL` picks (none in a new warehouse)."""
    if not warehouse_exists(db):
        return []
    with Warehouse(db, read_only=True) as warehouse:
        return [doi for (doi,) in warehouse.con.execute(WORKS_TO_ENRICH_SQL).fetchall()]


@flow(name="landing-sync", log_prints=True)
def landing_sync(
    doi_file: str | None = None, from_works: bool = False, db: str | None = None
) -> dict[str, Any]:
    """Load the landing pages of the DOIs in `doi_file` (one a line), or, with `from_works`,
    of the works that lack an abstract or affiliations. Resumes at the DOI after the last one
    loaded when the same list runs again after a failure."""
    if (doi_file is None) == (not from_works):
        raise UsageError("sync landing: give either --doi-file FILE or --from-works")
    settings = load_settings(db=db)
    if doi_file is not None:
        dois, label = read_doi_file(doi_file), f"DOI file {doi_file}"
    else:
        dois, label = works_to_enrich(str(settings.db)), "works lacking an abstract or affiliations"
    harvest = LandingHarvest(settings, dois=dois, label=label)
    return run_sync(harvest, settings)
