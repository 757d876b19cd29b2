"""A session told to follow the rate a service announces (`X-Rate-Limit-Limit` /
`X-Rate-Limit-Interval`, Crossref's headers) lowers its rate, never raises it above its own,
and counts each interval from the previous answer. Crossref's use is in
test_crossref_client_rate_limit."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from requests.structures import CaseInsensitiveDict

from connectors.http import PoliteSession, RateLimit
from sandbox.server import serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

TOLERANCE = 0.004  # seconds of loopback and scheduling noise


@dataclass
class Announcing:
    """Answers 200 after `delay` seconds, announcing `limit` requests per `interval`."""

    limit: str
    interval: str
    delay: float = 0.0
    arrivals: list[float] = field(default_factory=list)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.arrivals.append(time.monotonic())
        time.sleep(self.delay)
        start_response(
            "200 OK",
            [
                ("Content-Length", "2"),
                ("X-Rate-Limit-Limit", self.limit),
                ("X-Rate-Limit-Interval", self.interval),
            ],
        )
        return [b"ok"]

    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.arrivals)]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Interval": "1s"}, RateLimit(10, 1.0)),
        ({"x-rate-limit-limit": "1", "x-rate-limit-interval": "50ms"}, RateLimit(1, 0.05)),
        ({"x-ratelimit-limit": "30", "x-ratelimit-interval": "1m"}, RateLimit(30, 60.0)),
        ({"x-rate-limit-limit": "5", "x-rate-limit-interval": "2"}, RateLimit(5, 2.0)),
        ({"x-concurrency-limit": "3"}, RateLimit(concurrency=3)),
        ({"x-rate-limit-limit": "ten", "x-rate-limit-interval": "soon"}, RateLimit()),
        ({"x-rate-limit-limit": "0", "x-rate-limit-interval": "0s"}, RateLimit()),
        ({}, RateLimit()),
    ],
)
def test_announcements_are_read_from_the_headers(
    headers: dict[str, str], expected: RateLimit
) -> None:
    assert RateLimit.from_headers(CaseInsensitiveDict(headers)) == expected


def test_the_interval_counts_from_the_previous_answer() -> None:
    # Answers take 0.15 s; spacing request starts alone would allow a gap of 0.15 s between
    # arrivals, counting from the answer makes it at least 0.15 + 0.1.
    app = Announcing("10", "1s", delay=0.15)
    with serve(app) as base, PoliteSession(source="t", requests_per_second=1000) as session:
        session.follow_rate_limit_headers()
        for _ in range(4):
            session.request("GET", f"{base}/a")
    assert min(app.gaps()) >= 0.25 - TOLERANCE
    assert session.rate_limit == RateLimit(10, 1.0)
    assert session.requests_per_second == 10


def test_an_announcement_never_raises_the_session_rate() -> None:
    app = Announcing("1000", "1s")
    with (
        serve(app) as base,
        PoliteSession(source="t", requests_per_second=20, follow_rate_headers=True) as session,
    ):
        for _ in range(4):
            session.request("GET", f"{base}/b")
    assert session.requests_per_second == 20
    assert min(app.gaps()) >= 0.05 - TOLERANCE


def test_a_session_not_following_ignores_the_headers() -> None:
    app = Announcing("1", "1s")
    with serve(app) as base, PoliteSession(source="t", requests_per_second=1000) as session:
        for _ in range(3):
            session.request("GET", f"{base}/c")
    assert session.requests_per_second == 1000
    assert session.rate_limit == RateLimit()
    assert max(app.gaps()) < 0.5
