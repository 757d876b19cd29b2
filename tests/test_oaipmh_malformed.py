"""What is not OAI-PMH XML fails loudly and yields nothing: the deliberately broken files,
an HTML page at a wrong endpoint, XML of another kind, 4xx pages, unknown formats, and XML
that tries to pull in external entities."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.http import FatalHttpError, PoliteSession
from connectors.oaipmh.client import OaiClient
from connectors.oaipmh.errors import UnsupportedMetadataError
from connectors.oaipmh.parse import parse_records
from sandbox.faults import Fault
from sandbox.oaipmh import (
    BROKEN_BOGUS_PATH,
    BROKEN_ENTITY_PATH,
    HTML_PATH,
    OaiEmulator,
    build_emulator,
)
from sandbox.server import serve
from schemas.errors import FatalError, MalformedPayloadError
from schemas.record import Record


@pytest.fixture(scope="module")
def server(fixtures_dir: Path) -> Iterator[tuple[OaiEmulator, str]]:
    app, _portal = build_emulator(fixtures_dir)
    with serve(app) as base:
        yield app, base


def _client(url: str) -> OaiClient:
    session = PoliteSession(
        source="malformed", requests_per_second=500, backoff_base=0.01, rng=random.Random(4)
    )
    # The granularity is given so that a list request is the first request made.
    return OaiClient(url, session=session, granularity="YYYY-MM-DDThh:mm:ssZ")


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (BROKEN_BOGUS_PATH, r"line 1, column \d+: Opening and ending tag mismatch: bogus"),
        (BROKEN_ENTITY_PATH, r"line 1, column \d+: Entity 'bogus' not defined"),
    ],
)
def test_broken_xml_yields_nothing(server: tuple[OaiEmulator, str], path: str, detail: str) -> None:
    _app, base = server
    client = _client(base + path)
    records = client.list_records("oai_dc", from_="2006-01-01")
    with pytest.raises(MalformedPayloadError, match=detail) as broken:
        next(records)
    assert f"{base}{path}" in str(broken.value)  # names the request
    with pytest.raises(MalformedPayloadError, match="not well-formed XML"):
        client.identify()


def test_html_page_is_not_an_empty_harvest(server: tuple[OaiEmulator, str]) -> None:
    _app, base = server
    client = _client(base + HTML_PATH)
    pages = client.list_record_pages("oai_dc")
    with pytest.raises(MalformedPayloadError, match="answered an HTML page") as html:
        next(pages)
    assert "text/html" in str(html.value) and "base URL" in str(html.value)
    with pytest.raises(MalformedPayloadError, match="HTML page"):
        client.identify()


def test_unknown_path_is_an_http_failure(server: tuple[OaiEmulator, str]) -> None:
    _app, base = server
    with pytest.raises(FatalHttpError) as missing:
        _client(base + "/no/such/oai").identify()
    assert missing.value.status == 404


def test_a_4xx_html_page_stays_an_http_failure(server: tuple[OaiEmulator, str]) -> None:
    app, base = server
    forbidden = Fault.answer(403, b"<!DOCTYPE html><html><body>Forbidden</body></html>")
    app.faults.next("Identify", forbidden, times=2)  # the client reads a 4xx body twice
    with pytest.raises(FatalHttpError) as refused:
        _client(base + "/pure/ws/oai").identify()
    assert refused.value.status == 403
    assert not isinstance(refused.value, MalformedPayloadError)


def test_files_parse_the_same_way(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "oaipmh"
    for name in ("pyoai__broken_bogus_element.xml", "pyoai__broken_undefined_entity.xml"):
        with pytest.raises(MalformedPayloadError, match=name):
            parse_records((folder / name).read_bytes(), origin=name)


def _one_record(metadata: bytes, header: bytes = b"<identifier>oai:x:1</identifier>") -> bytes:
    return (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header>'
        + header
        + b"<datestamp>2024-01-01</datestamp></header><metadata>"
        + metadata
        + b"</metadata></record></ListRecords></OAI-PMH>"
    )


def test_other_xml_and_empty_bodies() -> None:
    with pytest.raises(MalformedPayloadError, match="root element is <rss>"):
        parse_records(b"<rss version='2.0'><channel/></rss>", origin="feed")
    with pytest.raises(MalformedPayloadError, match="empty body"):
        parse_records(b"  \n", origin="empty")
    with pytest.raises(MalformedPayloadError, match="lacks an identifier"):
        parse_records(_one_record(b"", header=b""), origin="headless")


def test_unsupported_metadata_format() -> None:
    marc = b'<record xmlns="http://www.loc.gov/MARC21/slim"><leader>x</leader></record>'
    with pytest.raises(UnsupportedMetadataError, match="MARC21/slim") as unsupported:
        parse_records(_one_record(marc), origin="marcxml page")
    assert isinstance(unsupported.value, FatalError)


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    dc = (
        b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Title &xxe;</dc:title>'
        b"</oai_dc:dc>"
    )
    doctype = f'<!DOCTYPE OAI-PMH [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
    (record,) = parse_records(doctype + _one_record(dc), origin="xxe")
    assert isinstance(record, Record)
    assert record.title is not None and "SECRET" not in record.title


def test_sloppy_but_well_formed_answers_still_parse() -> None:
    """Blank lines before the XML declaration (PHP repositories) carry nothing: not an error."""
    body = (
        b"\n\r\n"
        + b'<?xml version="1.0" encoding="UTF-8"?>'
        + _one_record(
            b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title></oai_dc:dc>'
        )
    )
    (record,) = parse_records(body, origin="sloppy")
    assert isinstance(record, Record) and record.title == "T"
