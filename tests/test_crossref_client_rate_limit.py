"""The client obeys the rate Crossref announces in its headers and the Retry-After of its 429 and
503 answers, measured from the emulator's own arrival times."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from connectors.crossref import CrossrefClient, RateLimit
from connectors.http import PoliteSession
from sandbox.crossref import CrossrefEmulator
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.faults import Fault, FaultPlan
from sandbox.server import serve

TOLERANCE = 0.004  # seconds: loopback and scheduling noise between client and server clocks


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return crossref_demo_corpus()


def session(requests_per_second: float) -> PoliteSession:
    return PoliteSession(
        source="Crossref",
        requests_per_second=requests_per_second,
        backoff_base=0.01,
        backoff_cap=5,
        rng=random.Random(3),
    )


def gaps(emulator: CrossrefEmulator) -> list[float]:
    arrivals = [r.arrived for r in emulator.requests]
    return [later - earlier for earlier, later in itertools.pairwise(arrivals)]


def test_announced_rate_slows_a_fast_client(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(
        corpus, rate_limit=(10, "1s"), concurrency_limit=1, enforce_rate_limit=True
    )
    fast = session(1000)
    with serve(emulator) as base:
        client = CrossrefClient(fast, base_url=base, mailto="dev@example.org")
        pages = list(client.iter_work_pages(rows=25))
    assert len(pages) == 6
    assert len(emulator.requests) == 6
    # Every gap, the first included: the gate learns the limit from the first answer.
    assert min(gaps(emulator)) >= 0.1 - TOLERANCE
    assert emulator.rate_violations == 0
    assert all(r.status == 200 for r in emulator.requests)
    assert emulator.max_in_flight == 1
    assert client.rate_limit == RateLimit(limit=10, interval=1.0, concurrency=1)
    assert fast.requests_per_second == 10


def test_interval_in_milliseconds(corpus: list[dict[str, Any]]) -> None:
    emulator = CrossrefEmulator(corpus, rate_limit=(1, "50ms"), enforce_rate_limit=True)
    with serve(emulator) as base:
        client = CrossrefClient(session(1000), base_url=base, mailto="dev@example.org")
        list(client.iter_work_pages(rows=30))
    assert min(gaps(emulator)) >= 0.05 - TOLERANCE
    assert emulator.rate_violations == 0
    assert client.rate_limit.requests_per_second == 20


def test_a_generous_announcement_never_raises_the_configured_rate(
    corpus: list[dict[str, Any]],
) -> None:
    slow = session(20)
    emulator = CrossrefEmulator(corpus, rate_limit=(1000, "1s"))
    with serve(emulator) as base:
        client = CrossrefClient(slow, base_url=base, mailto="dev@example.org")
        list(client.iter_work_pages(rows=50))
    assert slow.requests_per_second == 20
    assert min(gaps(emulator)) >= 0.05 - TOLERANCE


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(corpus: list[dict[str, Any]], status: int) -> None:
    emulator = CrossrefEmulator(
        corpus,
        faults=FaultPlan().at("works", 2, fault=Fault.http_status(status, retry_after="1")),
        rate_limit=(100, "1s"),
    )
    with serve(emulator) as base:
        client = CrossrefClient(session(1000), base_url=base, mailto="dev@example.org")
        pages = list(client.iter_work_pages(rows=75))
    assert [p.items for p in pages] == [75, 75]
    assert [r.status for r in emulator.requests] == [200, status, 200]
    refused, retried = emulator.requests[1], emulator.requests[2]
    assert retried.params == refused.params  # the same page asked again: nothing skipped
    assert retried.arrived - refused.arrived >= 1.0 - TOLERANCE
