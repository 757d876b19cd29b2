"""`works_by_doi`: per-DOI answers in order, a 404 reported for its DOI while the others are
returned; DOIs with reserved characters travel intact. The emulator serves real recorded works."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from connectors.crossref import CrossrefClient, CrossrefNotFoundError, iter_crossref_records
from connectors.http import PoliteSession
from sandbox.crossref import CrossrefEmulator
from sandbox.server import serve
from tests.test_crossref_parse_fixtures import load_cassette

RECORDED = (
    "habanero__work_10.1016_j.neurobiolaging.2010.03.024.json",
    "habanero__work_10.1038_srep16696.json",
    "habanero__work_10.3892_ijo_00000353.json",
)


@pytest.fixture(scope="module")
def crossref_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "crossref"


def recorded_works(crossref_dir: Path) -> list[dict[str, Any]]:
    return [
        json.loads((crossref_dir / name).read_text(encoding="utf-8"))["message"]
        for name in RECORDED
    ]


def client_for(base: str) -> CrossrefClient:
    session = PoliteSession(
        source="Crossref", requests_per_second=1000, backoff_base=0.01, rng=random.Random(5)
    )
    return CrossrefClient(session, base_url=base, mailto="dev@example.org")


def test_one_404_among_three(crossref_dir: Path) -> None:
    emulator = CrossrefEmulator(recorded_works(crossref_dir), rate_limit=(500, "1s"))
    asked = [
        "10.1016/J.NEUROBIOLAGING.2010.03.024",
        "10.1371/notarealdoi",
        "https://doi.org/10.1038/srep16696",
    ]
    with serve(emulator) as base:
        replies = list(client_for(base).works_by_doi(asked))

    assert [(r.doi, r.found) for r in replies] == [
        ("10.1016/j.neurobiolaging.2010.03.024", True),
        ("10.1371/notarealdoi", False),
        ("10.1038/srep16696", True),
    ]
    missing = replies[1]
    assert missing.body is None
    assert isinstance(missing.problem, CrossrefNotFoundError)
    assert str(missing.problem) == (
        f"Crossref GET {base}/works/10.1371/notarealdoi?mailto=dev%40example.org: Crossref "
        "answered 'Resource not found.': no such work (or route) in Crossref; check the DOI"
    )
    assert [r.status for r in emulator.requests] == [200, 404, 200]
    # What comes back parses to exactly what the recorded files parse to.
    for reply, name in zip((replies[0], replies[2]), RECORDED[:2], strict=True):
        assert reply.body is not None
        assert list(iter_crossref_records(reply.body, origin=reply.doi)) == list(
            iter_crossref_records(crossref_dir / name, origin=name)
        )


def test_replaying_the_recorded_mixed_batch(crossref_dir: Path) -> None:
    interactions = load_cassette(crossref_dir / "habanero__cassette_works_mixed_404.yaml")
    works = [json.loads(i["body"])["message"] for i in interactions if i["status"] == 200]
    dois = [i["uri"].removeprefix("https://api.crossref.org/works/") for i in interactions]
    emulator = CrossrefEmulator(works, rate_limit=(500, "1s"))
    with serve(emulator) as base:
        replies = list(client_for(base).works_by_doi(dois))
    assert [r.found for r in replies] == [True, False, True]
    assert [r.status for r in emulator.requests] == [i["status"] for i in interactions]


def test_reserved_characters_travel_intact() -> None:
    sici = "10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D"
    odd = "10.1000/a#b?c&d=e%f+g"
    emulator = CrossrefEmulator(
        [{"DOI": sici, "type": "journal-article"}, {"DOI": odd, "type": "dataset"}],
        rate_limit=(500, "1s"),
    )
    with serve(emulator) as base:
        replies = list(client_for(base).works_by_doi([sici, odd]))
    assert [r.found for r in replies] == [True, True]
    assert [r.path for r in emulator.requests] == [f"/works/{sici.lower()}", f"/works/{odd}"]
    assert [r.params for r in emulator.requests] == [{"mailto": ["dev@example.org"]}] * 2
    (record,) = iter_crossref_records(replies[0].body or b"", origin="sici")
    assert record.doi == sici.lower()


def test_a_blank_doi_is_refused_when_reached() -> None:
    emulator = CrossrefEmulator([], rate_limit=(500, "1s"))
    with serve(emulator) as base:
        replies = client_for(base).works_by_doi(["10.1/none", "  "])
        assert next(replies).found is False
        with pytest.raises(ValueError, match="not a DOI: '  '"):
            next(replies)
