"""The OAI-PMH emulator speaks the protocol: the six verbs, every error code (with HTTP 200 or
422 as configured), tokens with cursor/completeListSize that can be expired, deleted records,
the replays answering the recorded bytes, and a log of what it was asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from sandbox.oaipmh import (
    DSPACE_PATH,
    PURE_PATH,
    ZENODO_PATH,
    GeneratedRepository,
    OaiEmulator,
    build_emulator,
    pure_repository,
)
from sandbox.pure_corpus import SEED_IDENTIFIER
from sandbox.server import serve

OAI = "{http://www.openarchives.org/OAI/2.0/}"


@pytest.fixture(scope="module")
def server(fixtures_dir: Path) -> Iterator[tuple[OaiEmulator, GeneratedRepository, str]]:
    app, portal = build_emulator(fixtures_dir, page_size=10)
    with serve(app) as base:
        yield app, portal, base


def _ask(url: str, **params: str) -> tuple[int, etree._Element]:
    response = requests.get(url, params=params, timeout=10)
    return response.status_code, etree.fromstring(response.content)


def _error(root: etree._Element) -> tuple[str | None, dict[str, str]]:
    error = root.find(f"{OAI}error")
    request = root.find(f"{OAI}request")
    assert request is not None
    attributes = {str(name): str(value) for name, value in request.attrib.items()}
    return (None if error is None else error.get("code")), attributes


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "badVerb"),
        ({"verb": "Harvest"}, "badVerb"),
        ({"verb": "Identify", "metadataPrefix": "oai_dc"}, "badArgument"),
        ({"verb": "ListRecords"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "marcxml"}, "cannotDisseminateFormat"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-13"}, "badArgument"),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-01-01",
             "until": "2025-02-01T00:00:00Z"},
            "badArgument",
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-02-01",
             "until": "2025-01-01"},
            "badArgument",
        ),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2030-01-01"}, "noRecordsMatch"),
        ({"verb": "ListRecords", "resumptionToken": "pure-999999"}, "badResumptionToken"),
        (
            {"verb": "ListRecords", "resumptionToken": "x", "metadataPrefix": "oai_dc"},
            "badArgument",
        ),
        ({"verb": "GetRecord", "identifier": "oai:nowhere:1", "metadataPrefix": "oai_dc"},
         "idDoesNotExist"),
        ({"verb": "GetRecord", "identifier": SEED_IDENTIFIER, "metadataPrefix": "marc"},
         "cannotDisseminateFormat"),
        ({"verb": "ListMetadataFormats", "identifier": "oai:nowhere:1"}, "idDoesNotExist"),
    ],
)  # fmt: skip
def test_errors_of_the_generated_repository(
    server: tuple[OaiEmulator, GeneratedRepository, str], params: dict[str, str], code: str
) -> None:
    _app, _portal, base = server
    status, root = _ask(base + PURE_PATH, **params)
    assert status == 200  # the spec's way
    assert _error(root) == (code, {})  # a bad request echoes no arguments


def test_repeated_arguments_and_422(fixtures_dir: Path) -> None:
    app, _portal = build_emulator(fixtures_dir, error_status=422)
    with serve(app) as base:
        response = requests.get(
            base + PURE_PATH + "?verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=mods",
            timeout=10,
        )
        assert response.status_code == 422
        assert _error(etree.fromstring(response.content))[0] == "badArgument"
        status, root = _ask(base + DSPACE_PATH, verb="ListRecords", resumptionToken="nope")
        assert (status, _error(root)[0]) == (422, "badResumptionToken")


def test_no_set_hierarchy() -> None:
    bare = pure_repository()
    repository = GeneratedRepository(bare.items, identity=bare.identity, formats=bare.formats)
    with serve(OaiEmulator({PURE_PATH: repository})) as base:
        for params in (
            {"verb": "ListSets"},
            {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "a"},
        ):
            assert _error(_ask(base + PURE_PATH, **params)[1])[0] == "noSetHierarchy"


def test_pages_tokens_and_their_expiry(
    server: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    _app, portal, base = server
    url = base + PURE_PATH
    _status, first = _ask(url, verb="ListIdentifiers", metadataPrefix="oai_dc")
    container = first.find(f"{OAI}ListIdentifiers")
    assert container is not None and len(container.findall(f"{OAI}header")) == 10
    token = container.find(f"{OAI}resumptionToken")
    assert token is not None and token.text
    assert (token.get("cursor"), token.get("completeListSize")) == ("0", "48")
    assert token.get("expirationDate", "").endswith("Z")
    assert _error(first)[1] == {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}
    # A token can be used again (a client retrying a broken page) until it expires.
    for _ in range(2):
        _status, second = _ask(url, verb="ListIdentifiers", resumptionToken=token.text)
        assert _error(second) == (None, {"verb": "ListIdentifiers", "resumptionToken": token.text})
    assert portal.expire_tokens() >= 1
    _status, expired = _ask(url, verb="ListIdentifiers", resumptionToken=token.text)
    assert _error(expired)[0] == "badResumptionToken"
    # The last page carries an empty token with the cursor, as the spec asks.
    _status, page = _ask(url, verb="ListIdentifiers", metadataPrefix="oai_dc")
    while True:
        element = page.find(f"{OAI}ListIdentifiers/{OAI}resumptionToken")
        assert element is not None
        if not element.text:
            break
        _status, page = _ask(url, verb="ListIdentifiers", resumptionToken=element.text)
    assert (element.get("cursor"), element.get("completeListSize")) == ("40", "48")
    assert len(page.findall(f"{OAI}ListIdentifiers/{OAI}header")) == 8


def test_deleted_records_identify_sets_and_formats(
    server: tuple[OaiEmulator, GeneratedRepository, str],
) -> None:
    _app, portal, base = server
    url = base + PURE_PATH
    deleted = next(item for item in portal.items if item.deleted)
    _status, root = _ask(
        url, verb="GetRecord", identifier=deleted.identifier, metadataPrefix="mods"
    )
    record = root.find(f"{OAI}GetRecord/{OAI}record")
    assert record is not None and record.find(f"{OAI}metadata") is None
    header = record.find(f"{OAI}header")
    assert header is not None and header.get("status") == "deleted"
    _status, root = _ask(url, verb="ListMetadataFormats", identifier=deleted.identifier)
    assert _error(root)[0] == "noMetadataFormats"
    _status, root = _ask(url, verb="Identify")
    assert root.findtext(f"{OAI}Identify/{OAI}deletedRecord") == "persistent"
    assert root.findtext(f"{OAI}Identify/{OAI}baseURL") == url
    assert root.findtext(f"{OAI}Identify/{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"
    _status, root = _ask(url, verb="ListSets")
    specs = [e.text for e in root.iter(f"{OAI}setSpec")]
    assert specs[:2] == ["publications:all", "publications:withFiles"]
    assert "publications:year1994" in specs
    _status, root = _ask(url, verb="ListMetadataFormats", identifier=SEED_IDENTIFIER)
    assert [e.text for e in root.iter(f"{OAI}metadataPrefix")] == [
        "oai_dc",
        "mods",
        "oai_cerif_openaire",
    ]


def test_post_is_accepted(server: tuple[OaiEmulator, GeneratedRepository, str]) -> None:
    _app, _portal, base = server
    response = requests.post(base + PURE_PATH, data={"verb": "Identify"}, timeout=10)
    assert response.status_code == 200
    assert etree.fromstring(response.content).find(f"{OAI}Identify") is not None


def test_replays_answer_the_recorded_bytes(
    server: tuple[OaiEmulator, GeneratedRepository, str], fixtures_dir: Path
) -> None:
    _app, _portal, base = server
    folder = fixtures_dir / "oaipmh"
    page1 = requests.get(
        base + ZENODO_PATH, params={"verb": "ListRecords", "metadataPrefix": "oai_dc"}, timeout=10
    )
    assert page1.content == (folder / "zenodo__ListRecords_oai_dc_page1.xml").read_bytes()
    assert page1.headers["Retry-After"] == "56"  # Zenodo's header, as recorded
    token = etree.fromstring(page1.content).findtext(f"{OAI}ListRecords/{OAI}resumptionToken")
    page2 = requests.get(
        base + ZENODO_PATH, params={"verb": "ListRecords", "resumptionToken": token}, timeout=10
    )
    assert page2.content == (folder / "zenodo__ListRecords_oai_dc_page2.xml").read_bytes()
    error = requests.get(
        base + ZENODO_PATH, params={"verb": "ListRecords", "metadataPrefix": "XXX"}, timeout=10
    )
    assert error.status_code == 422
    assert error.content == (folder / "zenodo__error_badArgument_422.xml").read_bytes()
    dspace = requests.get(
        base + DSPACE_PATH,
        params={"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2003-04-10T00:00:00Z"},
        timeout=10,
    )
    assert dspace.content == (folder / "pyoai__dspace_eur_ListRecords_2003.xml").read_bytes()


def test_requests_are_recorded(fixtures_dir: Path) -> None:
    app, _portal = build_emulator(fixtures_dir)
    with serve(app) as base:
        requests.get(base + PURE_PATH, params={"verb": "Identify"}, timeout=10)
        requests.get(
            base + PURE_PATH,
            params={"verb": "ListRecords", "metadataPrefix": "mods"},
            headers={"User-Agent": "biblioduck-test"},
            timeout=10,
        )
        requests.get(base + ZENODO_PATH, params={"verb": "Identify"}, timeout=10)
    log = app.requests
    assert [(r.endpoint, r.number, r.status) for r in log] == [
        ("Identify", 1, 200),
        ("ListRecords", 1, 200),
        ("Identify", 2, 200),
    ]
    assert log[1].query == {"verb": ["ListRecords"], "metadataPrefix": ["mods"]}
    assert log[1].user_agent == "biblioduck-test"
    assert [r.path for r in app.requests_to(ZENODO_PATH)] == [ZENODO_PATH]


def test_the_portal_works_without_the_shared_fixtures() -> None:
    app, portal = build_emulator(None)
    assert set(app.repositories) == {PURE_PATH, "/wrong-endpoint/html"}
    with serve(app) as base:
        status, root = _ask(base + PURE_PATH, verb="GetRecord", identifier=SEED_IDENTIFIER,
                            metadataPrefix="mods")  # fmt: skip
    assert status == 200
    title = root.find(".//{http://www.loc.gov/mods/v3}titleInfo/{http://www.loc.gov/mods/v3}title")
    assert title is not None
    assert title.text == "Interleukins in Cancer Therapy: Rationale and Current Status"
    assert len(portal.items) == 48
