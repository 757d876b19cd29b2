"""The sync of one Pure portal over its HTML listing (`biblioduck sync pure-portal URL`) as a
`connectors.harvest.Harvest`: listing pages in the portal's default order (publication year,
newest first), each with its outputs' own pages, checkpointed by page number.

A portal's listing has no order by modification, so there is no datestamp watermark: every run
reads the listing from page 0 (or from `since`, a year: it stops after the first page whose
outputs are all older, the listing being newest first), and what did not change loads as
unchanged (the record's payload is the output's markup, not the whole page). An interrupted run
resumes at the page after the last one loaded. The watermark is the day the last complete
read finished, for people to read."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from connectors.harvest import HarvestPage, HttpSettings, Note, Outlook, Window
from connectors.http import PoliteSession
from connectors.pure.client import DEFAULT_MAX_PAGE_BYTES, PortalClient, listing_base
from connectors.pure.parse import SOURCE
from schemas.errors import FatalError

__all__ = ["PortalSettings", "PurePortalHarvest", "portal_client"]


class PortalSettings(HttpSettings, Protocol):
    """What a portal sync is configured with (`flows.settings.Settings` has it): portals are
    institutional servers like OAI-PMH repositories, and share their polite rate."""

    @property
    def oai_requests_per_second(self) -> float: ...


def portal_client(
    settings: HttpSettings,
    portal: str,
    requests_per_second: float,
    *,
    fetch_pages: bool = True,
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> PortalClient:
    """A client for the portal on its own polite session (retries and backoff as configured,
    pages larger than `max_page_bytes` refused)."""
    session = PoliteSession(
        source=f"Pure portal {listing_base(portal)}",
        requests_per_second=requests_per_second,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
        max_response_bytes=max_page_bytes,
    )
    return PortalClient(portal, session=session, fetch_pages=fetch_pages)


def _since_year(since: str | None) -> int | None:
    if since is None or not since.strip():
        return None
    text = since.strip()[:4]
    if not text.isdigit():
        raise FatalError(f"Pure portal sync: since is a year (e.g. 2023), not {since!r}")
    return int(text)


class PurePortalHarvest:
    """The sync of one portal (see the module docstring)."""

    source = SOURCE
    kind = "pure-portal-sync"
    title = "Pure portal sync"
    summary_key = "pure-portal-sync-summary"

    def __init__(
        self,
        settings: PortalSettings,
        *,
        portal: str,
        since: str | None = None,
        fetch_pages: bool = True,
        repository: str | None = None,
        requests_per_second: float | None = None,
        client: PortalClient | None = None,
    ) -> None:
        self.listing_url = listing_base(portal)
        self.since_year = _since_year(since)
        # `repository`: the name the state is kept under when the URL changes (the demo's port).
        self.scope = f"Pure portal {repository or self.listing_url}"
        self.name = self.subject = self.progress_label = self.scope
        rate = requests_per_second or settings.oai_requests_per_second
        self.client = client or portal_client(settings, portal, rate, fetch_pages=fetch_pages)
        self.pages_read = 0
        self.disallowed = 0
        self.last_page: int | None = None

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        since = str(self.since_year) if self.since_year is not None else None
        start, notes = 0, []
        if checkpoint and checkpoint.get("unfinished"):
            if checkpoint.get("since") == since:
                start = int(checkpoint.get("next_page") or 0)
                notes.append((logging.INFO, f"resuming {self.name} at listing page {start}"))
            else:
                notes.append(
                    (
                        logging.WARNING,
                        f"{self.name}: not resuming the interrupted read since "
                        f"{checkpoint.get('since') or 'the beginning'}; this run's replaces it",
                    )
                )
        note_tuple: tuple[Note, ...] = tuple(notes)
        return Window(since, None, watermark, watermark, True, start, note_tuple)

    def run_parameters(self, window: Window) -> dict[str, Any]:
        return {
            "portal": self.listing_url,
            "since": window.since,
            "fetch_pages": self.client.fetch_pages,
            "resume_page": window.resume,
        }

    def prepare(self, window: Window) -> Outlook:
        return Outlook()

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        for page in self.client.listing_pages(start=window.resume):
            if self.since_year is not None and (page.newest_year or 0) < self.since_year:
                return  # nothing on it is in the window (a resumed run's first page may be so)
            self.pages_read += 1
            self.disallowed += page.disallowed
            self.last_page = page.number
            yield HarvestPage(
                page,
                page.listed,
                f"pure:{run_id}:{page.number}",
                {
                    "unfinished": True,
                    "portal": self.listing_url,
                    "since": window.since,
                    "next_page": page.number + 1,
                },
                expected=page.total,
            )
            if self.since_year is not None and (page.oldest_year or 0) < self.since_year:
                return  # newest first: every later page is older still

    def completed(self, window: Window) -> str | None:
        return dt.datetime.now(dt.UTC).date().isoformat()

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        return {
            "portal": f"`{self.listing_url}`",
            "window": f"published {window.since or 'any year'} or later",
            "listing pages": f"{self.pages_read} (from page {window.resume})",
            "output pages": (
                f"fetched ({self.disallowed} disallowed by robots.txt, loaded as listed)"
                if self.client.fetch_pages
                else "not fetched (listing only)"
            ),
            "last complete read": watermark or "-",
        }

    def result(self, window: Window) -> dict[str, Any]:
        return {
            "portal": self.listing_url,
            "pages": self.pages_read,
            "last_page": self.last_page,
            "robots_disallowed": self.disallowed,
        }

    def describe_error(self, error: BaseException) -> str:
        return f"{type(error).__name__}: {error}"
