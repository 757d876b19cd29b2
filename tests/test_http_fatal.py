"""Answers that retrying cannot fix fail at once with FatalHttpError: other 4xx (with a redacted
body snippet), unrecoverable 5xx, and bodies over the size cap."""

from __future__ import annotations

import pytest

from connectors.http import FatalHttpError, PoliteSession
from sandbox.faults import Fault
from sandbox.scripted import ScriptedApp
from sandbox.server import serve
from schemas.errors import FatalError

SECRET = "0badc0de0badc0de0badc0de0badc0de"


def _session(**overrides: object) -> PoliteSession:
    options: dict[str, object] = {
        "source": "Test source",
        "requests_per_second": 1000,
        "max_attempts": 5,
        "backoff_base": 0.001,
    }
    options.update(overrides)
    return PoliteSession(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (400, "check the parameters"),
        (401, "Check the credentials"),
        (403, "Check the credentials"),
        (404, "Check the configured base URL"),
        (414, "send fewer identifiers"),
        (501, "retrying will not help"),
    ],
)
def test_non_retryable_status_fails_after_one_request(status: int, advice: str) -> None:
    body = b'{"error":"API key invalid","api_key":"' + SECRET.encode() + b'"}'
    app = ScriptedApp(default=Fault.answer(status, body))
    with (
        serve(app) as base,
        _session(secrets=[SECRET]) as session,
        pytest.raises(FatalHttpError) as caught,
    ):
        session.request("POST", f"{base}/efetch.fcgi", data={"db": "pubmed", "api_key": SECRET})
    message = str(caught.value)
    assert len(app.requests) == 1
    assert isinstance(caught.value, FatalError) and caught.value.status == status
    assert message.startswith(f"Test source: POST {base}/efetch.fcgi [form: db=pubmed&api_key=***]")
    assert f"HTTP {status}" in message
    assert '"error":"API key invalid"' in message
    assert advice in message
    assert SECRET not in message


def test_body_over_the_cap_with_content_length_fails() -> None:
    app = ScriptedApp(default=Fault.answer(200, b"x" * 5000))
    with (
        serve(app) as base,
        _session(max_response_bytes=1000) as session,
        pytest.raises(FatalHttpError, match="larger than the 1000-byte cap"),
    ):
        session.request("GET", f"{base}/big")
    assert len(app.requests) == 1


def test_streamed_body_over_the_cap_fails() -> None:
    app = ScriptedApp(default=Fault.answer(200, b"y" * 50_000, delivery="chunked"))
    with (
        serve(app) as base,
        _session(max_response_bytes=10_000) as session,
        pytest.raises(FatalHttpError, match="10000-byte cap"),
    ):
        session.request("GET", f"{base}/big")
    assert len(app.requests) == 1


def test_body_at_the_cap_is_returned_whole() -> None:
    app = ScriptedApp(default=Fault.answer(200, b"z" * 10_000, delivery="chunked"))
    with serve(app) as base, _session(max_response_bytes=10_000) as session:
        assert session.request("GET", f"{base}/big") == b"z" * 10_000
