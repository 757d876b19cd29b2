"""PoliteSession spaces requests to one host, across sessions and threads (measured by the
server's own arrival times, never by sleeping in the test)."""

from __future__ import annotations

import itertools
import threading

from connectors.http import PoliteSession, host_throttle
from sandbox.scripted import ScriptedApp
from sandbox.server import serve

# Arrival times carry connection and scheduling jitter; without the limiter the gaps would be a
# millisecond or two, so half an interval of tolerance still proves the spacing.
TOLERANCE = 0.025


def _gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [later - earlier for earlier, later in itertools.pairwise(ordered)]


def assert_spaced(arrivals: list[float], interval: float) -> None:
    """Spaced by the limiter, as a server sees it: the whole takes (n - 1) intervals, and no
    interval holds three arrivals. (A request held up in the kernel can arrive just before
    the next one on a loaded machine, so one short gap proves nothing; without the limiter
    every arrival falls in the same few milliseconds.)"""
    ordered = sorted(arrivals)
    assert ordered[-1] - ordered[0] >= (len(ordered) - 1) * interval - TOLERANCE
    crowded = [
        (first, third)
        for first, third in zip(ordered, ordered[2:], strict=False)
        if third - first < interval - TOLERANCE
    ]
    assert crowded == [], f"three arrivals within {interval} s: {crowded}"


def test_sequential_requests_are_spaced_by_the_rate() -> None:
    app = ScriptedApp()
    with serve(app) as base, PoliteSession(source="test", requests_per_second=10) as session:
        for _ in range(6):
            assert session.request("GET", f"{base}/x") == b"ok"
    arrivals = [seen.arrived for seen in app.requests]
    assert len(arrivals) == 6
    assert min(_gaps(arrivals)) >= 0.1 - TOLERANCE
    assert arrivals[-1] - arrivals[0] >= 5 * 0.1 - TOLERANCE


def test_threads_and_sessions_share_one_limit_per_host() -> None:
    app = ScriptedApp()
    with serve(app) as base:
        sessions = [PoliteSession(source="test", requests_per_second=20) for _ in range(2)]
        errors: list[BaseException] = []

        def worker(session: PoliteSession) -> None:
            try:
                for _ in range(3):
                    session.request("GET", f"{base}/y")
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(sessions[i % 2],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for session in sessions:
            session.close()
    assert errors == []
    arrivals = [seen.arrived for seen in app.requests]
    assert len(arrivals) == 12
    assert_spaced(arrivals, 0.05)


def test_throttles_are_per_host_and_port() -> None:
    assert host_throttle("http://127.0.0.1:8000/a") is host_throttle("http://127.0.0.1:8000/b?x=1")
    assert host_throttle("http://127.0.0.1:8000/") is not host_throttle("http://127.0.0.1:8001/")
    assert host_throttle("https://EUTILS.example.org/") is host_throttle(
        "https://eutils.example.org/x"
    )


# Sends requests to one URL at 10 per second from a process of its own.
_SENDER = """
import sys
from connectors.http import PoliteSession
with PoliteSession(source="test", requests_per_second=10) as session:
    for _ in range(int(sys.argv[2])):
        session.request("GET", sys.argv[1])
"""


def test_processes_on_one_machine_share_one_limit_per_host(tmp_path) -> None:
    """NCBI counts requests per second from one address, whatever the number of flows: two
    processes sending at once are spaced as one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo), "BIBLIODUCK_THROTTLE_DIR": str(tmp_path)}
    app = ScriptedApp()
    with serve(app) as base:
        senders = [
            subprocess.Popen([sys.executable, "-c", _SENDER, f"{base}/z", "4"], env=env)
            for _ in range(2)
        ]
        assert [sender.wait(timeout=120) for sender in senders] == [0, 0]
    arrivals = [seen.arrived for seen in app.requests]
    assert len(arrivals) == 8
    assert_spaced(arrivals, 0.1)
