"""The one way a connector asks a site's robots.txt (RFC 9309) before it crawls the site's
pages: read once per site on the connector's own `PoliteSession`, cached, and its
`Crawl-delay` pushed into `connectors.http`'s per-host throttle.

How robots.txt is read, as RFC 9309 says (section 2.3.1):

- 2xx: its rules, the first 500 KiB of it (redirects followed hop by hop, 5 at most, each hop
  on the session's per-host rate);
- 4xx ("unavailable", 404 above all): no rules, everything allowed;
- 5xx, network failures once the session's retries run out, a redirect chain that does not
  end ("unreachable"): everything disallowed, until a later run can read it. So is a file
  larger than the session's own size cap (10 MiB for landing pages and portals): it is read
  whole on the session before its first 500 KiB are kept, and `PoliteSession` has no partial
  read.

Rules are matched with Protego (the longest matching rule wins, `*` and `$` in paths,
`Crawl-delay`), not `urllib.robotparser`, which takes the first matching rule and knows no
wildcards, so it allows what `Disallow: /*.pdf$` or a longer `Allow` meant otherwise.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urljoin, urlsplit

from protego import Protego

from connectors.http import FatalHttpError, PoliteSession, TransientHttpError, host_throttle
from schemas.errors import FatalError

__all__ = ["ROBOTS_READ_BYTES", "RobotsDisallowedError", "RobotsRules", "robots_url"]

log = logging.getLogger(__name__)

# RFC 9309 2.5: a crawler must parse at least the first 500 KiB of a robots.txt.
ROBOTS_READ_BYTES = 500 * 1024
# RFC 9309 2.3.1.2: follow at least five consecutive redirects.
_ROBOTS_REDIRECTS = 5
_DISALLOW_ALL = "User-agent: *\nDisallow: /\n"


class RobotsDisallowedError(FatalError):
    """A site's robots.txt forbids a URL (or could not be read, which RFC 9309 says means
    "disallow everything"). `url` is the URL refused; asking again will not change it until the
    site's robots.txt does."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


def robots_url(url: str) -> str:
    """The robots.txt that governs `url`: `scheme://host[:port]/robots.txt`."""
    return f"{_site(url)}/robots.txt"


class RobotsRules:
    """The robots.txt of every site one session crawls, each read at the first URL asked about
    and kept for the life of this object (one sync). Thread-safe.

    The rules are those for the session's `User-Agent` (Protego matches its product token,
    "biblioduck"), read on the session itself: its rate, retries and size cap apply."""

    def __init__(self, session: PoliteSession) -> None:
        self.session = session
        self._sites: dict[str, Protego] = {}
        self._lock = threading.Lock()

    def allows(self, url: str) -> bool:
        """Whether this site's robots.txt lets the session's agent fetch `url`."""
        return bool(self._rules(url).can_fetch(url, self.session.user_agent))

    def crawl_delay(self, url: str) -> float | None:
        """The site's `Crawl-delay` for our agent in seconds (None: none stated)."""
        delay = self._rules(url).crawl_delay(self.session.user_agent)
        return float(delay) if delay else None

    def keep_crawl_delay(self, url: str) -> None:
        """Call after each request to `url`'s site: a `Crawl-delay` longer than the session's
        own spacing pushes the host's next request (in the throttle every session and process
        on this machine shares for that host)."""
        with self._lock:
            rules = self._sites.get(_site(url))
        delay = rules.crawl_delay(self.session.user_agent) if rules is not None else None
        if delay and float(delay) > 1.0 / self.session.requests_per_second:
            host_throttle(url).answered(float(delay))

    def _rules(self, url: str) -> Protego:
        site = _site(url)
        with self._lock:
            known = self._sites.get(site)
        if known is not None:
            return known
        # Read outside the lock: one slow site must not hold up the others' threads. Two
        # threads may both read a site's file once; the first parse kept wins.
        rules = Protego.parse(self._text(site))
        with self._lock:
            return self._sites.setdefault(site, rules)

    def _text(self, site: str) -> str:
        url = f"{site}/robots.txt"
        for _ in range(_ROBOTS_REDIRECTS + 1):
            try:
                reply = self.session.fetch("GET", url, follow_redirects=False)
            except FatalHttpError as error:
                if error.status is not None and 400 <= error.status < 500:
                    return ""
                log.warning("%s: %s unreadable (%s): disallowing the site", site, url, error)
                return _DISALLOW_ALL
            except TransientHttpError as error:
                log.warning("%s: %s unreachable (%s): disallowing the site", site, url, error)
                return _DISALLOW_ALL
            location = reply.headers.get("Location")
            if 300 <= reply.status < 400 and location:
                url = urljoin(url, location.strip())
                continue
            return reply.body[:ROBOTS_READ_BYTES].decode("utf-8", errors="replace")
        log.warning(
            "%s: robots.txt redirects more than %d times: disallowing the site",
            site,
            _ROBOTS_REDIRECTS,
        )
        return _DISALLOW_ALL


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
