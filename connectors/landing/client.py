"""Fetching landing pages politely: by DOI (through a DOI resolver's redirects, doi.org unless
configured otherwise) or by URL, one hop at a time.

Each hop of a redirect chain is a request of its own on the `PoliteSession`, so that every host
on the way gets its own rate (one request at a time, spaced per host), its robots.txt is asked
before the request is sent, and the chain is bounded and its loops named. What a fetch ends in:

- `LandingPage`: a 2xx `text/html` (or XHTML) answer, with the final URL and the chain;
- `NotAPageError`: the answer is something else (a PDF, JSON, an image): not a page to read;
- `RobotsDisallowedError`: the host's robots.txt forbids the URL (or cannot be read: RFC 9309
  says a server error on robots.txt means "disallow everything" until it can be read);
- `RedirectLoopError`: a chain that comes back to a URL it passed, or is longer than allowed;
  the message names the DOI (or URL) asked for and the chain;
- the session's `FatalHttpError` (403, 404, an over-size page) and `TransientHttpError` (429,
  5xx, timeouts once its retries, which honour `Retry-After`, run out).

robots.txt is asked through `connectors.robots` (RFC 9309, read with Protego, cached per
host, its `Crawl-delay` honoured). The resolver itself is not asked: doi.org is a redirect
service for programs, not a site to crawl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, urljoin

from connectors import robots
from connectors.http import PoliteSession
from schemas.errors import FatalError
from schemas.identifiers import normalise_doi

__all__ = [
    "DEFAULT_MAX_PAGE_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_RESOLVER",
    "LandingClient",
    "LandingFetchError",
    "LandingPage",
    "NotAPageError",
    "RedirectLoopError",
    "RobotsDisallowedError",
    "landing_session",
    "resolver_url",
]

DEFAULT_RESOLVER = "https://doi.org"
RESOLVER_VARIABLE = "BIBLIODUCK_DOI_RESOLVER"
# A landing page is tens to hundreds of KB; a 10 MB answer is not one (a dump, an attack).
DEFAULT_MAX_PAGE_BYTES = 10 << 20
# doi.org → publisher → its https/www/cookie hops: 3-5 in practice; browsers stop at 20.
DEFAULT_MAX_REDIRECTS = 10
# One request per second to any one publisher: what crawlers of scholarly pages use (Zotero's
# translators, Unpaywall's crawler) and what robots.txt files of presses ask for.
DEFAULT_REQUESTS_PER_SECOND = 1.0
_PAGE_TYPES = ("text/html", "application/xhtml+xml")
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


class LandingFetchError(FatalError):
    """A landing page that cannot be had, for a reason that asking again will not change.
    `kind` names the reason for counts ("not_a_page", "robots", "redirect_loop")."""

    kind = "refused"

    def __init__(self, message: str, *, asked: str, url: str | None = None) -> None:
        super().__init__(message)
        self.asked = asked
        self.url = url


class NotAPageError(LandingFetchError):
    kind = "not_a_page"


class RobotsDisallowedError(LandingFetchError, robots.RobotsDisallowedError):
    kind = "robots"


class RedirectLoopError(LandingFetchError):
    kind = "redirect_loop"


@dataclass(frozen=True, slots=True)
class LandingPage:
    """One fetched page: what was asked (`doi` when by DOI), the final `url` after redirects,
    the chain of URLs requested (first to last), the body and its Content-Type."""

    asked: str
    doi: str | None
    url: str
    chain: tuple[str, ...]
    body: bytes
    content_type: str | None


def resolver_url(configured: str | None = None) -> str:
    """The DOI resolver's base URL: `configured`, else `BIBLIODUCK_DOI_RESOLVER`, else doi.org
    (tests and the demo point it at the emulator on loopback)."""
    chosen = configured or os.environ.get(RESOLVER_VARIABLE) or DEFAULT_RESOLVER
    return chosen.rstrip("/")


def landing_session(
    *,
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
    max_attempts: int = 5,
    backoff_base: float = 0.5,
    backoff_cap: float = 30.0,
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    user_agent: str | None = None,
) -> PoliteSession:
    """The session landing pages are fetched on (its rate is per host)."""
    return PoliteSession(
        source="landing pages",
        requests_per_second=requests_per_second,
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        max_response_bytes=max_page_bytes,
        user_agent=user_agent or "biblioduck/0.1 (+landing-page metadata)",
        refusal_advice={
            403: "The publisher refuses this client; its page cannot be read from here.",
            404: "No page at this address: the DOI's registration points nowhere.",
        },
    )


class LandingClient:
    """Fetches landing pages by DOI or URL on a session from `landing_session` (see the
    module docstring). One instance may serve one sync; robots.txt is cached per host.

    The session's redirects are not followed (`fetch(..., follow_redirects=False)`): each hop
    is a request of its own, so any `PoliteSession` will do."""

    def __init__(
        self,
        session: PoliteSession,
        *,
        resolver: str | None = None,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
    ) -> None:
        self.session = session
        self.resolver = resolver_url(resolver)
        self.max_redirects = max_redirects
        self.robots = robots.RobotsRules(session)

    def fetch_doi(self, doi: str) -> LandingPage:
        """The page `doi` resolves to."""
        normal = normalise_doi(doi)
        if normal is None:
            raise FatalError(f"landing pages: {doi!r} is not a DOI")
        url = f"{self.resolver}/{quote(normal, safe='/')}"
        return self._follow(url, asked=f"DOI {normal}", doi=normal)

    def fetch_url(self, url: str) -> LandingPage:
        """The page at `url` (after its redirects)."""
        return self._follow(url, asked=url, doi=None)

    def _follow(self, url: str, *, asked: str, doi: str | None) -> LandingPage:
        chain = [url]
        while True:
            crawled = not url.startswith(self.resolver + "/")
            if crawled and not self.robots.allows(url):
                raise RobotsDisallowedError(
                    f"landing pages: {asked}: {robots.robots_url(url)} disallows {url}; "
                    "not fetched.",
                    asked=asked,
                    url=url,
                )
            reply = self.session.fetch(
                "GET", url, headers={"Accept": _ACCEPT}, follow_redirects=False
            )
            if crawled:
                self.robots.keep_crawl_delay(url)
            location = reply.headers.get("Location")
            if 300 <= reply.status < 400 and location:
                url = urljoin(url, location.strip())
                if url in chain:
                    raise RedirectLoopError(
                        f"landing pages: {asked}: redirect loop: {' → '.join([*chain, url])}. "
                        "The publisher's site sends this address in a circle (often a cookie "
                        "or login wall); the page cannot be read.",
                        asked=asked,
                        url=url,
                    )
                chain.append(url)
                if len(chain) > self.max_redirects + 1:
                    raise RedirectLoopError(
                        f"landing pages: {asked}: more than {self.max_redirects} redirects "
                        f"({' → '.join(chain)}); given up.",
                        asked=asked,
                        url=url,
                    )
                continue
            content_type = reply.headers.get("Content-Type")
            media = (content_type or "").split(";", 1)[0].strip().lower()
            if media not in _PAGE_TYPES:
                raise NotAPageError(
                    f"landing pages: {asked}: {url} is {media or 'of no stated type'}, not an "
                    "HTML page; nothing to read.",
                    asked=asked,
                    url=url,
                )
            return LandingPage(asked, doi, url, tuple(chain), reply.body, content_type)
