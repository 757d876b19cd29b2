"""A saved OAI-PMH response is imported streamed (issue 15): the same records as the page
parser, for every recorded response; memory holds one record however many the file has; what
is not OAI-PMH is refused as the page parser refuses it."""

from __future__ import annotations

import gzip
import re
import tracemalloc
from pathlib import Path

import pytest

from connectors.oaipmh.parse import iter_oai_records, parse_records
from connectors.payload import PayloadTooLargeError
from schemas.errors import BiblioduckError, MalformedPayloadError

RECORDED = [
    "pyoai__broken_bogus_element.xml",
    "pyoai__broken_undefined_entity.xml",
    "pyoai__dspace_eur_GetRecord_2003.xml",
    "pyoai__dspace_eur_Identify_2003.xml",
    "pyoai__dspace_eur_ListIdentifiers_2003.xml",
    "pyoai__dspace_eur_ListRecords_2003.xml",
    "zenodo__ListRecords_datacite.xml",
    "zenodo__ListRecords_oai_dc_page1.xml",
    "zenodo__ListRecords_oai_dc_page2.xml",
    "zenodo__ListRecords_oai_dc_page3_last.xml",
    "zenodo__error_badArgument_422.xml",
    "zenodo__error_badResumptionToken_422.xml",
    "zenodo__error_idDoesNotExist_422.xml",
    "zenodo__error_noRecordsMatch_422.xml",
]


def _outcome(read) -> tuple[str, object]:
    try:
        return "records", [repr(item) for item in read()]
    except BiblioduckError as error:
        return type(error).__name__, None


@pytest.mark.parametrize("name", RECORDED)
def test_streamed_equals_the_page_parser_on_every_recorded_response(
    fixtures_dir: Path, name: str
) -> None:
    path = fixtures_dir / "oaipmh" / name
    body = path.read_bytes()
    as_page = _outcome(lambda: parse_records(body, origin=name))
    assert _outcome(lambda: iter_oai_records(path, origin=name)) == as_page
    assert _outcome(lambda: iter_oai_records(gzip.compress(body), origin=name)) == as_page


def test_counts_of_the_recorded_responses(fixtures_dir: Path) -> None:
    counts = {}
    for name in RECORDED:
        try:
            counts[name] = len(list(iter_oai_records(fixtures_dir / "oaipmh" / name, origin=name)))
        except BiblioduckError as error:
            counts[name] = type(error).__name__
    assert counts == {
        "pyoai__broken_bogus_element.xml": "MalformedPayloadError",
        "pyoai__broken_undefined_entity.xml": "MalformedPayloadError",
        "pyoai__dspace_eur_GetRecord_2003.xml": 1,
        "pyoai__dspace_eur_Identify_2003.xml": 0,
        "pyoai__dspace_eur_ListIdentifiers_2003.xml": 0,
        "pyoai__dspace_eur_ListRecords_2003.xml": 16,
        "zenodo__ListRecords_datacite.xml": 50,
        "zenodo__ListRecords_oai_dc_page1.xml": 3,
        "zenodo__ListRecords_oai_dc_page2.xml": 3,
        "zenodo__ListRecords_oai_dc_page3_last.xml": 3,
        "zenodo__error_badArgument_422.xml": "BadArgument",
        "zenodo__error_badResumptionToken_422.xml": "BadResumptionToken",
        "zenodo__error_idDoesNotExist_422.xml": "IdDoesNotExist",
        "zenodo__error_noRecordsMatch_422.xml": 0,
    }


def test_a_harvest_of_any_size_holds_one_record_in_memory(fixtures_dir: Path) -> None:
    page = (fixtures_dir / "oaipmh" / "zenodo__ListRecords_datacite.xml").read_text()
    opening, rest = page.split("<ListRecords>", 1)
    records = re.findall(r"<record>.*?</record>", rest, flags=re.S)
    copies = [
        record.replace("<identifier>oai:zenodo.org:", f"<identifier>oai:zenodo.org:{n}-")
        for n in range(100)
        for record in records
    ]
    harvest = (opening + "<ListRecords>" + "".join(copies) + "</ListRecords></OAI-PMH>").encode()
    packed = gzip.compress(harvest)
    del page, rest, copies
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_oai_records(packed, origin="harvest.xml.gz"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 5_000
    assert len(harvest) > 16 << 20
    # Read whole, the document and its tree were several times its size; streamed, one
    # record's tree and what parsing it made (tracemalloc sees Python's allocations).
    assert peak < 4 << 20, f"{peak:,} bytes"


def test_blank_lines_before_the_declaration_are_skipped_up_to_the_cap(
    fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (fixtures_dir / "oaipmh" / "zenodo__ListRecords_oai_dc_page1.xml").read_bytes()
    assert len(list(iter_oai_records(b"\n\n  \n" + body, origin="php.xml"))) == 3
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", str(1 << 20))
    with pytest.raises(PayloadTooLargeError, match="bytes of whitespace before the XML"):
        list(iter_oai_records(gzip.compress(b" " * (4 << 20) + body), origin="bomb.xml.gz"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!DOCTYPE html><html><body>Not here</body></html>", "an HTML page"),
        (b"", "an empty body"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "the root element is <feed>"),
        (
            b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record>',
            "not well-formed XML",
        ),
    ],
)
def test_what_is_not_oai_pmh_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayloadError, match=message):
        list(iter_oai_records(body, origin="x.xml"))
