"""Elsevier Pure research portals read as HTML: research-output pages and the portal's listing
pages (`/en/publications/?page=N`), parsed into the canonical `Record` (`parse`), and the
portal's incremental sync over its listing (`harvest`)."""

from connectors.pure.parse import (
    SOURCE,
    ListedOutput,
    ListingPage,
    canonical_url,
    iter_pure_records,
    parse_listing,
    parse_output_page,
    parse_portal_date,
)

__all__ = [
    "SOURCE",
    "ListedOutput",
    "ListingPage",
    "canonical_url",
    "iter_pure_records",
    "parse_listing",
    "parse_output_page",
    "parse_portal_date",
]
