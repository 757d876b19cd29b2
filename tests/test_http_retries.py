"""Transient failures are retried with backoff (honouring Retry-After) and end in a
TransientHttpError that says what happened, to which (redacted) request, and what to do."""

from __future__ import annotations

import datetime as dt
import random
import socket
import traceback

import pytest

from connectors.http import (
    HttpReply,
    PoliteSession,
    TransientHttpError,
    parse_retry_after,
)
from sandbox.faults import Fault
from sandbox.scripted import ScriptedApp
from sandbox.server import serve
from schemas.errors import TransientError

SECRET = "f00dfeedcafe0123456789abcdef4567"


def _session(**overrides: object) -> PoliteSession:
    options: dict[str, object] = {
        "source": "Test source",
        "requests_per_second": 1000,
        "max_attempts": 4,
        "backoff_base": 0.001,
        "backoff_cap": 2.0,
        "timeout": (2.0, 2.0),
        "rng": random.Random(7),
    }
    options.update(overrides)
    return PoliteSession(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retried_until_success(status: int) -> None:
    app = ScriptedApp(
        [Fault.answer(status, b"busy"), Fault.answer(status, b"busy"), Fault.answer(200, b"done")]
    )
    with serve(app) as base, _session() as session:
        reply = session.fetch("GET", f"{base}/r")
    assert reply.body == b"done"
    assert reply.attempts == 3
    assert len(app.requests) == 3


def test_429_waits_as_long_as_retry_after_says() -> None:
    app = ScriptedApp(
        [Fault.answer(429, b"{}", headers={"Retry-After": "1"}), Fault.answer(200, b"done")]
    )
    with serve(app) as base, _session() as session:
        assert session.request("GET", f"{base}/r") == b"done"
    first, second = (seen.arrived for seen in app.requests)
    assert second - first >= 1.0


def test_retry_after_longer_than_the_cap_fails_at_once() -> None:
    app = ScriptedApp([Fault.answer(503, b"down for maintenance", headers={"Retry-After": "3600"})])
    with (
        serve(app) as base,
        _session(backoff_cap=5.0) as session,
        pytest.raises(TransientHttpError) as caught,
    ):
        session.request("GET", f"{base}/r")
    assert len(app.requests) == 1
    assert caught.value.retry_after == 3600
    assert "asked to wait 3600 s" in str(caught.value)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Fri, 02 Jan 2026 03:04:35 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 02 Jan 2026 03:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("action", ["reset", "short_body"])
def test_broken_bodies_are_retried(action: str) -> None:
    body = b"<PubmedArticleSet>" + b"x" * 50_000 + b"</PubmedArticleSet>"
    app = ScriptedApp([Fault.answer(200, body, delivery=action), Fault.answer(200, body)])
    with serve(app) as base, _session() as session:
        reply = session.fetch("GET", f"{base}/r")
    assert reply.body == body
    assert reply.attempts == 2


def test_read_timeout_is_retried() -> None:
    app = ScriptedApp([Fault.answer(200, b"late", delay=1.0), Fault.answer(200, b"on time")])
    with serve(app) as base, _session(timeout=(2.0, 0.2)) as session:
        assert session.request("GET", f"{base}/r") == b"on time"
    assert len(app.requests) == 2


def test_validator_can_ask_for_a_retry() -> None:
    app = ScriptedApp([Fault.answer(200, b"<html>try later</html>"), Fault.answer(200, b"<ok/>")])

    def validate(reply: HttpReply) -> None:
        if not reply.body.startswith(b"<ok"):
            raise TransientError("an HTML page instead of XML")

    with serve(app) as base, _session() as session:
        assert session.request("GET", f"{base}/r", validate=validate) == b"<ok/>"
    assert len(app.requests) == 2


def test_exhausted_retries_name_source_request_and_remedy_without_secrets() -> None:
    app = ScriptedApp(
        default=Fault.answer(503, b'{"error":"overloaded","api_key":"' + SECRET.encode() + b'"}')
    )
    with (
        serve(app) as base,
        _session(secrets=[SECRET]) as session,
        pytest.raises(TransientHttpError) as caught,
    ):
        session.request(
            "GET",
            f"{base}/eutils/esearch.fcgi",
            params={"db": "pubmed", "api_key": SECRET, "email": "dev@example.org"},
        )
    message = str(caught.value)
    assert len(app.requests) == 4
    assert caught.value.status == 503 and caught.value.attempts == 4
    assert message.startswith("Test source: GET http://127.0.0.1:")
    assert "api_key=***" in message
    assert "email=dev%40example.org" in message
    assert "failed after 4 attempt(s): HTTP 503 Service Unavailable" in message
    assert "run the same command again later" in message
    everything = "".join(traceback.format_exception(caught.value))
    assert SECRET not in everything


def test_connection_refused_ends_in_transient_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: every attempt is refused.
    with _session(max_attempts=2) as session, pytest.raises(TransientHttpError) as caught:
        session.request("POST", f"http://127.0.0.1:{port}/x", data={"api_key": SECRET})
    assert caught.value.status is None
    assert "connection failed" in str(caught.value)
    assert "api_key=***" in str(caught.value)
    assert SECRET not in "".join(traceback.format_exception(caught.value))
