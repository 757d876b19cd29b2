"""Crossref: publisher metadata through the REST API (`/works` by cursor, incremental by update
or index date; look-ups by DOI) and from JSON dumps, as canonical records with citation counts.

`CrossrefClient` yields raw pages (`WorkPage`, with a resumable `Checkpoint`) and per-DOI
answers (`WorkReply`); `iter_crossref_records` turns any Crossref JSON payload into `Record`s.
"""

from connectors.crossref.client import (
    DEFAULT_BASE_URL,
    MAX_ROWS,
    WORK_FILTERS,
    Checkpoint,
    CrossrefClient,
    CursorRestartError,
    RateLimit,
    WorkPage,
    WorkReply,
)
from connectors.crossref.parse import (
    SOURCE,
    CrossrefApiError,
    CrossrefNotFoundError,
    CrossrefProblem,
    WorkList,
    iter_crossref_records,
    jats_to_text,
    normalise_doi,
    parse_work,
    raw_work_bytes,
    read_api_error,
    read_work_list,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ROWS",
    "SOURCE",
    "WORK_FILTERS",
    "Checkpoint",
    "CrossrefApiError",
    "CrossrefClient",
    "CrossrefNotFoundError",
    "CrossrefProblem",
    "CursorRestartError",
    "RateLimit",
    "WorkList",
    "WorkPage",
    "WorkReply",
    "iter_crossref_records",
    "jats_to_text",
    "normalise_doi",
    "parse_work",
    "raw_work_bytes",
    "read_api_error",
    "read_work_list",
]
