"""NCBI's rate limit: the emulator answers a burst with 429 + Retry-After + NCBI's JSON (never
echoing the key), and the client at NCBI's rate for its key never trips it."""

from __future__ import annotations

import json

import requests
from pydantic import SecretStr

from connectors.http import PoliteSession
from connectors.pubmed.client import EutilsClient
from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve

API_KEY = "a11ce5ecre7a11ce5ecre7a11ce5ecre7a11"
CORPUS = demo_corpus()


def test_a_burst_gets_429_with_ncbi_body_and_no_key_echo() -> None:
    emulator = EutilsEmulator(CORPUS, rate_limit_retry_after="1")
    with serve(emulator) as base, requests.Session() as http:
        form = {"db": "pubmed", "term": "all[sb]", "api_key": API_KEY}
        answers = [http.post(f"{base}/esearch.fcgi", data=form) for _ in range(12)]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    limited = answers[10]
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["Content-Type"] == "application/json"
    body = json.loads(limited.content)
    assert body == {
        "error": "API rate limit exceeded",
        "api-key": "127.0.0.1",
        "count": "11",
        "limit": "10",
    }
    assert API_KEY not in limited.text


def test_without_a_key_the_limit_is_three_per_second() -> None:
    emulator = EutilsEmulator(CORPUS)
    with serve(emulator) as base, requests.Session() as http:
        statuses = [
            http.post(f"{base}/esearch.fcgi", data={"db": "pubmed", "term": "all[sb]"}).status_code
            for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


def test_the_client_at_ncbi_rate_is_never_limited() -> None:
    emulator = EutilsEmulator(CORPUS)
    with serve(emulator) as base:
        session = PoliteSession(
            source="PubMed E-utilities", requests_per_second=10, max_attempts=1, secrets=[API_KEY]
        )
        client = EutilsClient(
            f"{base}/entrez/eutils/",
            tool="biblioduck-tests",
            email="dev@example.org",
            api_key=SecretStr(API_KEY),
            session=session,
        )
        for _ in range(15):
            client.search("all[sb]", usehistory=False)
        session.close()
    assert [r.status for r in emulator.requests] == [200] * 15


def test_default_session_follows_ncbi_rates() -> None:
    keyed = EutilsClient(tool="t", email="e@example.org", api_key=SecretStr(API_KEY))
    anonymous = EutilsClient(tool="t", email="e@example.org")
    assert keyed.session.requests_per_second == 10
    assert anonymous.session.requests_per_second == 3
    assert API_KEY not in repr(keyed)
