"""`connectors.robots`, the one robots.txt door, over real HTTP on loopback: RFC 9309's
reading (4xx allow all, 5xx and unreachable disallow all, redirects hop by hop up to five, the
first 500 KiB), its matching (longest rule, wildcards, our agent's group), the cache per site,
Crawl-delay in the host throttle; and `PoliteSession.fetch(follow_redirects=False)` it uses."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pytest
from werkzeug.wrappers import Request, Response

from connectors import robots
from connectors.http import PoliteSession
from connectors.landing.client import RobotsDisallowedError as LandingRobotsDisallowedError
from connectors.robots import ROBOTS_READ_BYTES, RobotsRules, robots_url
from sandbox.server import serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Answer = tuple[int, dict[str, str], bytes]


class _Site:
    """A site answering each path as told (404 otherwise), logging the paths asked."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.asked: list[str] = []

    def robots(self, text: str) -> None:
        self.answers["/robots.txt"] = (200, {"Content-Type": "text/plain"}, text.encode())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.asked.append(request.path)
        status, headers, body = self.answers.get(request.path, (404, {}, b"Not Found"))
        return Response(body, status=status, headers=headers)(environ, start_response)


@pytest.fixture
def site() -> Iterator[tuple[str, _Site]]:
    answering = _Site()
    with serve(answering) as base:
        yield base, answering


def _session(*, per_second: float = 500.0) -> PoliteSession:
    return PoliteSession(
        source="robots test",
        requests_per_second=per_second,
        max_attempts=2,
        backoff_base=0.01,
        user_agent="biblioduck/0.1 (+test)",
    )


def test_fetch_can_hand_a_redirect_back(site) -> None:
    base, answering = site
    answering.answers["/old"] = (301, {"Location": "/new"}, b"")
    answering.answers["/new"] = (200, {"Content-Type": "text/plain"}, b"here")
    session = _session()
    reply = session.fetch("GET", f"{base}/old", follow_redirects=False)
    assert (reply.status, reply.headers["Location"], reply.url) == (301, "/new", f"{base}/old")
    followed = session.fetch("GET", f"{base}/old")
    assert (followed.status, followed.body, followed.url) == (200, b"here", f"{base}/new")
    assert answering.asked == ["/old", "/old", "/new"]


def test_rules_longest_match_wildcards_and_our_agents_group(site) -> None:
    base, answering = site
    answering.robots(
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: biblioduck\nDisallow: /*.pdf$\nDisallow: /en/\nAllow: /en/publications/\n"
        "Disallow: /en/publications/?page=\n"
    )
    rules = RobotsRules(_session())
    allowed = {
        path: rules.allows(f"{base}{path}")
        for path in (
            "/en/persons/x",
            "/en/publications/",
            "/en/publications/a-title",
            "/en/publications/?page=3",
            "/files/paper.pdf",
            "/files/paper.pdf?download=1",
        )
    }
    assert allowed == {
        "/en/persons/x": False,
        "/en/publications/": True,  # the longer Allow beats Disallow: /en/
        "/en/publications/a-title": True,
        "/en/publications/?page=3": False,
        "/files/paper.pdf": False,
        "/files/paper.pdf?download=1": True,  # `$` anchors the end
    }
    assert answering.asked == ["/robots.txt"]  # read once, kept


def test_4xx_allows_everything(site) -> None:
    base, answering = site
    answering.answers["/robots.txt"] = (403, {}, b"no")
    assert RobotsRules(_session()).allows(f"{base}/anything")


def test_5xx_disallows_everything_after_the_retries(site) -> None:
    base, answering = site
    answering.answers["/robots.txt"] = (503, {}, b"down")
    assert not RobotsRules(_session()).allows(f"{base}/anything")
    assert answering.asked == ["/robots.txt", "/robots.txt"]  # the session's two attempts


def test_an_unreachable_site_is_disallowed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert not RobotsRules(_session()).allows(f"http://127.0.0.1:{port}/page")


def test_redirects_are_followed_five_hops_and_no_more(site) -> None:
    base, answering = site
    for hop in range(6):
        answering.answers[f"/r{hop}"] = (302, {"Location": f"/r{hop + 1}"}, b"")
    answering.answers["/robots.txt"] = (301, {"Location": "/r1"}, b"")
    answering.answers["/r6"] = (200, {}, b"User-agent: *\nDisallow: /private\n")
    assert not RobotsRules(_session()).allows(f"{base}/public")  # 6 redirects: given up
    answering.answers["/robots.txt"] = (301, {"Location": "/r2"}, b"")  # 5 redirects
    rules = RobotsRules(_session())
    assert rules.allows(f"{base}/public") and not rules.allows(f"{base}/private")


def test_only_the_first_500_kib_are_read(site) -> None:
    base, answering = site
    head = "User-agent: *\nDisallow: /early\n"
    filler = "# " + "x" * 1000 + "\n"
    padding = filler * (ROBOTS_READ_BYTES // len(filler) + 1)
    answering.robots(head + padding + "Disallow: /late\n")
    rules = RobotsRules(_session())
    assert not rules.allows(f"{base}/early")
    assert rules.allows(f"{base}/late")


def test_crawl_delay_spaces_the_hosts_next_request(site) -> None:
    base, answering = site
    answering.robots("User-agent: biblioduck\nCrawl-delay: 0.4\n")
    answering.answers["/page"] = (200, {}, b"ok")
    session = _session()
    rules = RobotsRules(session)
    assert rules.allows(f"{base}/page") and rules.crawl_delay(f"{base}/page") == 0.4
    session.fetch("GET", f"{base}/page")
    rules.keep_crawl_delay(f"{base}/page")
    started = time.monotonic()
    session.fetch("GET", f"{base}/page")
    assert time.monotonic() - started >= 0.35


def test_each_site_is_asked_once(site) -> None:
    base, answering = site
    other = _Site()
    with serve(other) as other_base:
        rules = RobotsRules(_session())
        for url in (f"{base}/a", f"{other_base}/a", f"{base}/b", f"{other_base}/b"):
            assert rules.allows(url)
    assert (answering.asked, other.asked) == (["/robots.txt"], ["/robots.txt"])
    assert robots_url(f"{base}/en/publications/?page=2") == f"{base}/robots.txt"


def test_one_except_catches_every_connectors_robots_refusal() -> None:
    landing = LandingRobotsDisallowedError("refused", asked="DOI 10.1/x", url="https://x/y")
    assert isinstance(landing, robots.RobotsDisallowedError)
    assert (landing.kind, landing.asked, landing.url) == ("robots", "DOI 10.1/x", "https://x/y")
