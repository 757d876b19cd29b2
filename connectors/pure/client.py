"""Fetching a Pure portal's listing (`/en/publications/?page=N`, 0-based, 50 outputs a page) and
each listed output's own page, on a `connectors.http.PoliteSession` (one host, its rate, its
retries, a size cap per page). Yields one `PortalPage` per listing page: the listing's bytes
and those of its outputs' pages, parsed only when loaded (`items`). The page number is the
checkpoint: a later run resumes at the page after the last one loaded.

The portal's robots.txt is asked first (`connectors.robots`: RFC 9309, its `Crawl-delay`
honoured). A listing page it disallows ends the sync with `RobotsDisallowedError` naming the
portal and the page: the listing is the sync, and reading past a refused page would miss its
outputs while looking complete. An output page it disallows is not fetched and its output
loads as listed (title, people, date, type, journal: what the allowed listing already shows),
counted in `PortalPage.disallowed`: one refused page must not stop the sync of the others, and
the record is not lost, only less detailed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from connectors.http import FatalHttpError, HttpReply, PoliteSession
from connectors.pure.parse import parse_listing, parse_output_page
from connectors.robots import RobotsDisallowedError, RobotsRules, robots_url
from schemas.errors import FatalError, MalformedPayloadError
from schemas.record import Deletion, Record

__all__ = ["DEFAULT_MAX_PAGE_BYTES", "LISTING_PATH", "PortalClient", "PortalPage", "listing_base"]

LISTING_PATH = "/en/publications/"
# A listing page of 50 outputs is 100-300 KB, an output page less; 10 MB is not a page.
DEFAULT_MAX_PAGE_BYTES = 10 << 20
# An output listed, then withdrawn before its page was fetched: its listing entry is loaded.
_GONE = frozenset({404, 410})


def listing_base(portal: str) -> str:
    """The portal's listing URL from its address or any URL on it ("https://x.ac.uk",
    "https://x.ac.uk/en/publications/?page=3" → "https://x.ac.uk/en/publications/");
    `FatalError` for anything that is not http(s)."""
    parts = urlsplit(portal.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FatalError(
            f"Pure portal sync: the portal must be an http(s) URL (e.g. "
            f"https://researchportal.bath.ac.uk), not {portal!r}"
        )
    path = parts.path
    if LISTING_PATH in path:
        path = path[: path.index(LISTING_PATH)]
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}{LISTING_PATH}"


def _html_only(reply: HttpReply) -> None:
    kind = reply.headers.get("Content-Type", "")
    if "html" not in kind.lower():
        raise MalformedPayloadError(
            f"Pure portal: {reply.url} answered {kind or 'no Content-Type'}, not an HTML page"
        )


@dataclass(frozen=True, slots=True)
class PortalPage:
    """One listing page as fetched: its number and URL, its bytes, the bytes of each listed
    output's page (URL, body; an output whose page was gone has none), and the day fetched
    (the date of the Scopus counts it shows). A `connectors.harvest.Parsable`."""

    number: int
    url: str
    listing: bytes = field(repr=False)
    outputs: tuple[tuple[str, bytes], ...] = field(repr=False)
    fetched_on: dt.date
    listed: int = 0
    disallowed: int = 0
    total: int | None = None
    next_page: int | None = None
    oldest_year: int | None = None
    newest_year: int | None = None

    def items(self) -> list[Record | Deletion]:
        """Each listed output's record: from its own page when fetched, else as listed."""
        listing = parse_listing(self.listing, url=self.url, as_of=self.fetched_on)
        bodies = dict(self.outputs)
        records: list[Record | Deletion] = []
        for listed in listing.outputs:
            body = bodies.get(listed.url or "")
            if body is None:
                records.append(listed.record)
            else:
                records.append(parse_output_page(body, url=listed.url, as_of=self.fetched_on))
        return records


class PortalClient:
    """A portal's listing and output pages (see the module docstring). `fetch_pages` False
    keeps to the listing (what it states, one request per 50 outputs)."""

    def __init__(self, portal: str, *, session: PoliteSession, fetch_pages: bool = True) -> None:
        self.listing_url = listing_base(portal)
        self.session = session
        self.fetch_pages = fetch_pages
        self.robots = RobotsRules(session)

    def page_url(self, number: int) -> str:
        """The URL of listing page `number` (0-based)."""
        return f"{self.listing_url}?page={number}"

    def listing_pages(self, start: int = 0) -> Iterator[PortalPage]:
        """Listing pages from `start` on, until one names no next page or lists nothing."""
        number = start
        while True:
            url = self.page_url(number)
            if not self.robots.allows(url):
                raise RobotsDisallowedError(
                    f"Pure portal {self.listing_url}: {robots_url(url)} disallows the listing "
                    f"page {url}; the sync stops here. The portal asks crawlers not to page "
                    "through its listing: harvest it over OAI-PMH instead (`biblioduck sync "
                    "oai`), or ask its owners to allow biblioduck.",
                    url=url,
                )
            reply = self._fetch(url)
            fetched_on = dt.datetime.now(dt.UTC).date()
            listing = parse_listing(reply.body, url=url, as_of=fetched_on)
            outputs: list[tuple[str, bytes]] = []
            disallowed = 0
            if self.fetch_pages:
                for listed in listing.outputs:
                    if listed.url is None:
                        continue
                    if not self.robots.allows(listed.url):
                        disallowed += 1
                        continue
                    try:
                        page = self._fetch(listed.url)
                    except FatalHttpError as refused:
                        if refused.status in _GONE:
                            continue
                        raise
                    outputs.append((listed.url, page.body))
            years = [o.record.pub_year for o in listing.outputs if o.record.pub_year is not None]
            last = listing.next_url is None or not listing.outputs
            yield PortalPage(
                number,
                url,
                reply.body,
                tuple(outputs),
                fetched_on,
                listed=len(listing.outputs),
                disallowed=disallowed,
                total=listing.total,
                next_page=None if last else number + 1,
                oldest_year=min(years) if years else None,
                newest_year=max(years) if years else None,
            )
            if last:
                return
            number += 1

    def _fetch(self, url: str) -> HttpReply:
        try:
            return self.session.fetch("GET", url, validate=_html_only)
        finally:
            # After an answer or a refusal alike: the site saw a request either way.
            self.robots.keep_crawl_delay(url)
