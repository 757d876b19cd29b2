"""Harvesting Zenodo's recorded answers over real HTTP: the ListRecords and ListIdentifiers
token chains (the real tokens), the deleted record, and the OAI errors Zenodo sends with 422 —
read as typed OAI errors, also when a repository sends them with 200."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.http import FatalHttpError, PoliteSession
from connectors.oaipmh.client import OaiClient
from connectors.oaipmh.errors import BadArgument, BadResumptionToken, IdDoesNotExist
from sandbox.oaipmh import ZENODO_PATH, OaiEmulator, zenodo_replay
from sandbox.server import serve
from schemas.record import Deletion, Record

PAGE1_TOKEN_END = "5uw7SoyJHENt78rdOf1DOBJyvMg"
PAGE2_TOKEN = ".eJwlzEuOgjAAANC7dG0mLeAMkMwCRmlEqYLSQjemUBRtFRSMROPd5"


@pytest.fixture(params=[None, 200], ids=["as-recorded-422", "errors-with-200"])
def zenodo(request: pytest.FixtureRequest, fixtures_dir: Path) -> Iterator[tuple[OaiEmulator, str]]:
    app = OaiEmulator({ZENODO_PATH: zenodo_replay(fixtures_dir, error_status=request.param)})
    with serve(app) as base:
        yield app, base + ZENODO_PATH


def _client(url: str, **options: object) -> OaiClient:
    session = PoliteSession(
        source="Zenodo replay", requests_per_second=500, backoff_base=0.01, rng=random.Random(5)
    )
    return OaiClient(url, session=session, **options)  # type: ignore[arg-type]


def test_token_chain_harvest(zenodo: tuple[OaiEmulator, str]) -> None:
    app, url = zenodo
    pages = list(_client(url).list_record_pages("oai_dc"))
    assert [page.number for page in pages] == [1, 2, 3]
    assert [len(page.headers) for page in pages] == [3, 3, 3]
    assert [page.token.cursor if page.token else None for page in pages] == [0, 50, None]
    assert pages[0].token is not None and pages[0].token.complete_list_size == 8091628
    assert pages[-1].complete and not pages[0].complete
    # Zenodo does not list in datestamp order (14:26, 15:06, then 02:36): the checkpoint stays
    # at the harvest's start until the list is complete.
    assert [page.resume_from for page in pages] == [None, None, "2026-06-08T08:46:03Z"]
    assert [page.max_datestamp for page in pages] == [
        "2023-10-12T15:06:49Z",
        "2023-10-12T05:35:16Z",
        "2026-06-08T08:46:03Z",
    ]
    # The real tokens were sent back, alone with the verb.
    asked = [r.query for r in app.requests]
    assert asked[0] == {"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"]}
    assert asked[1]["resumptionToken"][0].endswith(PAGE1_TOKEN_END)
    assert asked[2] == {"verb": ["ListRecords"], "resumptionToken": [PAGE2_TOKEN]}
    assert len(asked) == 3

    items = [item for page in pages for item in page.records()]
    assert len(items) == 9
    assert [type(item).__name__ for item in items].count("Deletion") == 1
    deletion = items[3]
    assert isinstance(deletion, Deletion) and deletion.source_id == "oai:zenodo.org:8433364#oai_dc"
    assert all(
        isinstance(item, Record) and item.endpoint == url for item in items if item is not deletion
    )
    assert [item.source_id for item in items] == [
        "oai:zenodo.org:8435696#oai_dc",
        "oai:zenodo.org:8435639#oai_dc",
        "oai:zenodo.org:8433301#oai_dc",
        "oai:zenodo.org:8433364#oai_dc",
        "oai:zenodo.org:8333281#oai_dc",
        "oai:zenodo.org:8321258#oai_dc",
        "oai:zenodo.org:20589672#oai_dc",
        "oai:zenodo.org:20590449#oai_dc",
        "oai:zenodo.org:20565714#oai_dc",
    ]


def test_list_records_yields_records_and_the_deletion(zenodo: tuple[OaiEmulator, str]) -> None:
    _app, url = zenodo
    items = list(_client(url).list_records("oai_dc"))
    assert (
        sum(isinstance(i, Record) for i in items),
        sum(isinstance(i, Deletion) for i in items),
    ) == (8, 1)


def test_list_identifiers_chain(zenodo: tuple[OaiEmulator, str]) -> None:
    _app, url = zenodo
    headers = list(_client(url).list_identifiers("oai_dc"))
    assert [(h.identifier, h.deleted) for h in headers] == [
        ("oai:zenodo.org:8435696", True),
        ("oai:zenodo.org:8435639", False),
        ("oai:zenodo.org:8433301", False),
        ("oai:zenodo.org:8433364", False),
        ("oai:zenodo.org:8333281", False),
        ("oai:zenodo.org:8321258", False),
        ("oai:zenodo.org:8242804", False),
        ("oai:zenodo.org:20516515", False),
        ("oai:zenodo.org:20598207", False),
    ]
    assert headers[0].set_specs == ("user-pyhep2023", "openaire")


def test_identify_formats_sets_and_get_record(zenodo: tuple[OaiEmulator, str]) -> None:
    _app, url = zenodo
    client = _client(url)
    info = client.identify()
    assert (info.repository_name, info.base_url, info.granularity, info.deleted_record) == (
        "Zenodo",
        "https://zenodo.org/oai2d",
        "YYYY-MM-DDThh:mm:ssZ",
        "no",  # yet it lists deleted records: deletions are applied whatever Identify says
    )
    assert info.earliest_datestamp == "2014-02-03T14:41:33Z"
    prefixes = [f.prefix for f in client.list_metadata_formats()]
    assert "oai_dc" in prefixes and "datacite" in prefixes
    sets = client.list_sets()
    first = next(sets)
    assert first.spec == "user-harmonic-radar" and first.name == "Harmonic Radar"
    record = client.get_record("oai:zenodo.org:10357859", "datacite")
    assert isinstance(record, Record) and record.source_id == "oai:zenodo.org:10357859#datacite"
    assert record.doi is not None and record.authors


def test_errors_arrive_typed(zenodo: tuple[OaiEmulator, str]) -> None:
    app, url = zenodo
    client = _client(url)
    with pytest.raises(BadArgument) as bad_argument:
        list(client.list_records("XXX"))
    assert bad_argument.value.oai_message == "metadataPrefix does not exist"
    with pytest.raises(IdDoesNotExist) as unknown:
        client.get_record("oai:zenodo.org:XXX", "oai_dc")
    assert unknown.value.code == "idDoesNotExist"
    assert unknown.value.status == app.requests[-1].status  # 422 as recorded, or 200
    # noRecordsMatch is an empty harvest, not a failure.
    assert list(client.list_records("oai_dc", from_="2030-01-01")) == []
    assert list(client.list_identifiers("oai_dc", from_="2030-01-15")) == []
    assert app.requests[-1].query["from"] == ["2030-01-15T00:00:00Z"]  # at Zenodo's granularity


def test_expired_token_without_restarts_names_the_watermark(
    zenodo: tuple[OaiEmulator, str],
) -> None:
    app, url = zenodo
    replay = app.repositories[ZENODO_PATH]
    pages = _client(url, restart_expired_lists=False).list_record_pages("oai_dc")
    first = next(pages)
    assert first.number == 1
    replay.expire_tokens()
    with pytest.raises(BadResumptionToken) as expired:
        next(pages)
    # Unordered listing: a restart must begin where this harvest began (the beginning).
    assert expired.value.resume_from is None
    assert "invalid or expired" in (expired.value.oai_message or "")


def test_unrecorded_request_fails_loudly(zenodo: tuple[OaiEmulator, str]) -> None:
    _app, url = zenodo
    with pytest.raises(FatalHttpError) as refused:
        list(_client(url).list_records("oai_dc", from_="2001-01-01"))
    assert refused.value.status == 501
