"""Secrets never reach logs or messages: URLs, free text and JSON bodies are redacted, and the
urllib3 debug log (which prints full request lines) is filtered."""

from __future__ import annotations

import logging
import random

import pytest

from connectors.http import PoliteSession, TransientHttpError, redact, redact_url, register_secret
from sandbox.faults import Fault
from sandbox.scripted import ScriptedApp
from sandbox.server import serve

SECRET = "c0ffee00c0ffee00c0ffee00c0ffee0042"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://eutils.example.org/esearch.fcgi?db=pubmed&api_key=abc123&term=x",
            "https://eutils.example.org/esearch.fcgi?db=pubmed&api_key=***&term=x",
        ),
        (
            "https://x.org/a?token=t0k&access_token=a1&key=k2",
            "https://x.org/a?token=***&access_token=***&key=***",
        ),
        ("https://x.org/a?query_key=1&WebEnv=MCID_1", "https://x.org/a?query_key=1&WebEnv=MCID_1"),
        (
            "https://x.org/a?mailto=me%40uni.edu&email=me@uni.edu",
            "https://x.org/a?mailto=me%40uni.edu&email=me@uni.edu",
        ),
        ("https://user:hunter2@x.org/a?password=pw", "https://user:***@x.org/a?password=***"),
        ("https://x.org/a?API_KEY=abc", "https://x.org/a?API_KEY=***"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_masks_json_fields_and_registered_literals() -> None:
    register_secret("s3cr3t/value+1")
    text = (
        '{"error":"API rate limit exceeded","api-key":"10.0.0.7","count":"4","limit":"3"} '
        "plain s3cr3t/value+1, encoded s3cr3t%2Fvalue%2B1, Authorization: Bearer abc.def"
    )
    assert redact(text) == (
        '{"error":"API rate limit exceeded","api-key":"***","count":"4","limit":"3"} '
        "plain ***, encoded ***, Authorization: Bearer ***"
    )


def test_short_strings_are_not_registered_as_secrets() -> None:
    register_secret("ab")
    assert redact("about a tab") == "about a tab"


def test_no_log_record_carries_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = ScriptedApp(
        [Fault.answer(503, b"busy " + SECRET.encode())], default=Fault.answer(200, b"ok")
    )
    with serve(app) as base:
        session = PoliteSession(
            source="Test source",
            requests_per_second=1000,
            backoff_base=0.001,
            max_attempts=2,
            secrets=[SECRET],
            rng=random.Random(1),
        )
        # A GET with the key in the URL is exactly what urllib3 prints at DEBUG.
        session.request("GET", f"{base}/esearch.fcgi", params={"api_key": SECRET, "db": "pubmed"})
        app_down = ScriptedApp(default=Fault.answer(503, b"down"))
        with serve(app_down) as other, pytest.raises(TransientHttpError):
            session.request("GET", f"{other}/efetch.fcgi?api_key={SECRET}")
        session.close()
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/esearch.fcgi?api_key=***" in line for line in urllib3_lines), urllib3_lines
    assert any(
        r.levelno == logging.WARNING and "retrying" in r.getMessage() for r in caplog.records
    )
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")
    assert SECRET not in caplog.text
