"""oai_dc records → Record/Deletion, on real responses: Zenodo's three chained pages (with a
deleted record and HTML escaped twice in descriptions) and a 2003 DSpace ListRecords."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from connectors.oaipmh.parse import parse_records
from schemas.record import AbstractSection, Author, DateEntry, Deletion, Identifier, Link, Record


def _load(fixtures_dir: Path, name: str) -> list[Record | Deletion]:
    return parse_records((fixtures_dir / "oaipmh" / name).read_bytes(), origin=name)


def _records(items: list[Record | Deletion]) -> list[Record]:
    records = [item for item in items if isinstance(item, Record)]
    assert len(records) == sum(1 for item in items if not isinstance(item, Deletion))
    return records


def test_zenodo_page1_first_record_every_field(fixtures_dir: Path) -> None:
    items = _load(fixtures_dir, "zenodo__ListRecords_oai_dc_page1.xml")
    assert [item.source_id for item in items] == [
        "oai:zenodo.org:8435696#oai_dc",
        "oai:zenodo.org:8435639#oai_dc",
        "oai:zenodo.org:8433301#oai_dc",
    ]
    record = items[0]
    assert isinstance(record, Record)
    assert record.source == "oai"
    assert record.source_version == "2023-10-12T14:26:07Z"
    assert record.endpoint == "https://zenodo.org/oai2d"  # from <request>: no caller's URL
    assert record.record_status is None
    assert record.identifiers == [
        Identifier("oai", "oai:zenodo.org:8435696"),
        Identifier("doi", "10.5281/zenodo.8435696"),
    ]
    assert record.doi == "10.5281/zenodo.8435696"
    assert record.title == "PocketCoffea: a configuration layer for CMS analyses with Coffea"
    # "Matteo Marchegiani" has no comma: kept whole, not guessed apart.
    assert record.authors == [Author(position=1, name="Matteo Marchegiani")]
    assert record.pub_date == dt.date(2023, 10, 10)
    assert (record.pub_date_precision, record.pub_date_raw, record.pub_year) == (
        "day",
        "2023-10-10",
        2023,
    )
    assert record.dates == []
    assert record.publisher == "Zenodo"
    assert record.publication_types == ["info:eu-repo/semantics/lecture"]
    assert record.languages == []
    assert record.subjects == []
    assert record.license == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert record.links == [
        Link("relation", "url", "https://zenodo.org/communities/pyhep2023/"),
        Link("relation", "doi", "10.5281/zenodo.8435695"),
        Link("source", citation="PyHEP 2023 Workshop, 9-12 October 2023"),
    ]
    # The description is HTML escaped twice ("&amp;lt;p&amp;gt;"): it becomes plain text,
    # paragraphs apart by a blank line, <br> a line break.
    paragraphs = record.abstract.split("\n\n") if record.abstract else []
    assert len(paragraphs) == 2
    assert paragraphs[0] == (
        "A configuration layer for the analysis of CMS data in the NanoAOD format is presented. "
        "The framework is based on the columnar analysis of proton-proton collision events with "
        "the Coffea Python package and it focuses on configurability and reproducibility of "
        "analysis tasks."
    )
    assert paragraphs[1].split("\n")[0] == (
        "All the operations needed to extract the relevant information from events are performed "
        "by a Coffea processor object that takes the NanoAOD events as input and returns a set of "
        "output histograms or arrays."
    )
    assert paragraphs[1].endswith("computational efficient and user-friendly way.")
    assert len(paragraphs[1].split("\n")) == 4
    assert record.abstract_sections == [AbstractSection(text=record.abstract or "")]
    assert record.raw is not None and record.raw.startswith(b"<record")
    assert b"<identifier>oai:zenodo.org:8435696</identifier>" in record.raw
    assert b"oai:zenodo.org:8435639" not in record.raw  # only this record's own XML


def test_zenodo_page1_other_records(fixtures_dir: Path) -> None:
    _, second, third = _records(_load(fixtures_dir, "zenodo__ListRecords_oai_dc_page1.xml"))
    assert second.languages == ["eng"]
    assert [s.term for s in second.subjects] == ["Flexibility  services", "DSO"]
    assert {s.scheme for s in second.subjects} == {"keyword"}
    assert second.abstract is not None
    assert second.abstract.startswith(
        "areti_market_flexibility_TSO_requestes\n\nareti_market_flexibility_DSO_requestes"
    )
    assert "<" not in second.abstract and "&lt;" not in second.abstract
    assert third.authors == [Author(position=1, name="Sam Lin", family="Lin", given="Sam")]
    # &#39; and &ldquo;/&rdquo; (escaped twice) become the characters.
    assert third.abstract == (
        "Data and R code for reproducing the results presented in 'in “A new method for "
        "quantifying flake scar organisation on cores using orientation statistics” by Lin et al."
    )
    assert [s.term for s in third.subjects] == [
        "Archaeology",
        "Stone tools",
        "3D modeling",
        "Orientation analysis",
    ]


def test_zenodo_page2_deleted_record_is_a_deletion(fixtures_dir: Path) -> None:
    items = _load(fixtures_dir, "zenodo__ListRecords_oai_dc_page2.xml")
    assert [type(item).__name__ for item in items] == ["Deletion", "Record", "Record"]
    deletion = items[0]
    # Zenodo keeps the metadata of the deleted record: the header's status wins.
    assert deletion == Deletion(
        source="oai",
        # Asked for with a resumptionToken, the page does not echo its metadataPrefix: the
        # format is the one its records' metadata namespace conventionally has.
        source_id="oai:zenodo.org:8433364#oai_dc",
        reason=(
            "OAI-PMH deleted record (datestamp 2023-10-12T03:01:25Z, oai_dc) at "
            "https://zenodo.org/oai2d"
        ),
    )
    second = items[1]
    assert isinstance(second, Record)
    assert [a.name for a in second.authors] == ["Ayumu Tsubosaka", "Shumpei Ishikawa"]
    assert second.links[-1] == Link("source", citation="Cell Reports, 42(10), (2023-10-12)")
    assert second.abstract is not None
    assert second.abstract.startswith(
        "This dataset contains the spatial transcriptome dataset\xa0of human gastric mucosa "
        "obtained by CosMx\n\nA zip file contains the following folders and files:\n\nFolders"
    )
    third = items[2]
    assert isinstance(third, Record)
    assert [(a.family, a.given) for a in third.authors] == [
        ("Thronsen", "Elisabeth"),
        ("Bergh", "Tina"),
        ("Thorsen", "Tor I."),
        ("Christiansen", "Emil F."),
        ("Frafjord", "Jonas"),
    ]
    assert third.pub_date == dt.date(2023, 9, 6)


def test_zenodo_page3_last(fixtures_dir: Path) -> None:
    records = _records(_load(fixtures_dir, "zenodo__ListRecords_oai_dc_page3_last.xml"))
    assert [(r.source_id, r.source_version) for r in records] == [
        ("oai:zenodo.org:20589672#oai_dc", "2026-06-08T07:42:23Z"),
        ("oai:zenodo.org:20590449#oai_dc", "2026-06-08T08:46:03Z"),
        ("oai:zenodo.org:20565714#oai_dc", "2026-06-06T04:01:11Z"),
    ]
    assert records[1].abstract is None and records[1].abstract_sections == []
    assert records[2].license == "https://creativecommons.org/licenses/by-nc/4.0/legalcode"
    assert records[2].abstract == (
        "This dataset is a static snapshot of the FIShBOT data product before new data are "
        "aggregated. This version of fishbot is archived for reproducibility and is not updated. "
        "The data are aggregated from the FIShBOT system, which collects and processes "
        "oceanographic from fishery dependent and independent sources."
    )
    assert "⁵" in (records[0].abstract or "")  # a superscript kept as the character


DSPACE_IDS = [f"hdl:1765/{n}#oai_dc" for n in (308, 309, *range(311, 314), *range(315, 326))]


def test_dspace_2003_list_records(fixtures_dir: Path) -> None:
    records = _records(_load(fixtures_dir, "pyoai__dspace_eur_ListRecords_2003.xml"))
    assert [r.source_id for r in records] == DSPACE_IDS
    assert len(records) == 16
    assert {r.endpoint for r in records} == {"http://dspace.ubib.eur.nl/oai/"}
    assert records[0].source_version == "2003-04-15T10:18:51Z"
    assert records[-1].source_version == "2003-04-29T15:57:01Z"
    by_id = {r.source_id.removesuffix("#oai_dc"): r for r in records}

    first = by_id["hdl:1765/308"]
    # DSpace 2003 put its authors in dc:contributor and had no dc:creator.
    assert first.authors == [Author(position=1, name="A. Smidts", family="Smidts", given="A.")]
    assert first.identifiers == [
        Identifier("oai", "hdl:1765/308"),
        Identifier("isbn", "9058920364"),
        Identifier("handle", "1765/308"),
    ]
    assert first.title == "Kijken in het brein: Over de mogelijkheden van neuromarketing"
    assert first.publication_types == ["Other"]
    assert first.languages == ["other"]
    # The three identical dc:dates are one publication date, nothing more.
    assert (first.pub_date, first.pub_date_precision, first.pub_date_raw) == (
        dt.date(2003, 4, 15),
        "day",
        "2003-04-15T10:18:51Z",
    )
    assert first.dates == []
    assert len(first.subjects) == 13 and first.subjects[0].term == "neuroimaging"
    # A Dutch and an English abstract: two sections; the source's mojibake is kept as given.
    assert len(first.abstract_sections) == 2
    assert "ge??llustreerd" in first.abstract_sections[0].text
    assert first.abstract_sections[1].text.startswith("Modern neuroimaging techniques")
    assert first.links == [
        Link("relation", citation="EIA;EIA-12-MKT"),
        Link("relation", citation=";EIA-2002-12-MKT"),
    ]

    # Identical descriptions are kept once.
    assert len(by_id["hdl:1765/309"].abstract_sections) == 1
    assert by_id["hdl:1765/309"].identifiers[1] == Identifier("isbn", "9058920321")
    assert by_id["hdl:1765/315"].identifiers[1] == Identifier("isbn", "9090149805")
    assert by_id["hdl:1765/317"].issn == "1566-5283"
    assert by_id["hdl:1765/317"].identifiers[1] == Identifier("issn", "1566-5283")

    managing = by_id["hdl:1765/316"]
    assert managing.authors == [
        Author(position=1, name="B. Toktay", family="Toktay", given="B."),
        Author(position=2, name="E.A. van der Laan", family="Laan", given="E.A. van der"),
        Author(position=3, name="M.P. de Brito", family="Brito", given="M.P. de"),
    ]
    assert managing.languages == ["en_US"]
    assert managing.publication_types == ["Working Paper"]
    assert [s.term for s in managing.subjects][-3:] == [
        "Bedrijfskunde / Bedrijfseconomie",
        "Bedrijfsprocessen, logistiek, management informatiesystemen",
        "Recycling, forecasting, bedrijfsinformatie, voorraadbeheer, ketenbeheer",
    ]
    assert by_id["hdl:1765/318"].title == (
        "WLAN Hot Spot services  for the automotive and oil industries :a business analysis\n"
        'Or : "Refuel the car with petrol and information, both ways at the gas station"'
    )
    assert [r.languages for r in records].count(["nl"]) == 4


def test_dspace_get_record_matches_its_list_version(fixtures_dir: Path) -> None:
    (single,) = _records(_load(fixtures_dir, "pyoai__dspace_eur_GetRecord_2003.xml"))
    listed = next(
        r
        for r in _records(_load(fixtures_dir, "pyoai__dspace_eur_ListRecords_2003.xml"))
        if r.source_id == "hdl:1765/315#oai_dc"
    )
    assert dataclasses.replace(single, raw=None) == dataclasses.replace(listed, raw=None)
    assert single.authors == [
        Author(position=1, name="A.R. Edwards", family="Edwards", given="A.R.")
    ]
    assert single.title == (
        "De vrouwenbeweging online. Een onderzoek naar het gebruik van Internet door "
        "vrouwenorganisaties in Nederland ."
    )


def test_no_records_match_is_an_empty_list(fixtures_dir: Path) -> None:
    assert _load(fixtures_dir, "zenodo__error_noRecordsMatch_422.xml") == []


@pytest.mark.parametrize(
    "name", ["zenodo__error_badArgument_422.xml", "zenodo__error_idDoesNotExist_422.xml"]
)
def test_other_oai_errors_raise(fixtures_dir: Path, name: str) -> None:
    from connectors.oaipmh.errors import BadArgument, IdDoesNotExist

    expected = BadArgument if "badArgument" in name else IdDoesNotExist
    with pytest.raises(expected):
        _load(fixtures_dir, name)


def test_dates_beyond_the_first_are_kept_with_their_kind() -> None:
    body = (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request>https://r.example/oai'
        b"</request><ListRecords><record><header><identifier>oai:r:1</identifier>"
        b"<datestamp>2024-01-02</datestamp></header><metadata>"
        b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title>'
        b"<dc:date>1998</dc:date><dc:date>1998-05</dc:date><dc:date>1998</dc:date>"
        b"<dc:rights>info:eu-repo/semantics/openAccess</dc:rights><dc:rights>CC BY 4.0</dc:rights>"
        b"</oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"
    )
    (record,) = parse_records(body, origin="synthetic", endpoint="https://caller.example/oai")
    assert isinstance(record, Record)
    assert record.endpoint == "https://caller.example/oai"
    assert (record.pub_date, record.pub_date_precision) == (dt.date(1998, 1, 1), "year")
    assert record.dates == [DateEntry("date", dt.date(1998, 5, 1), "month", "1998-05")]
    assert record.license == "CC BY 4.0"


@pytest.mark.parametrize("date", ["²²²²", "0000"])
def test_a_date_whose_digits_are_no_year_gives_no_year(fixtures_dir: Path, date: str) -> None:
    # Found by tests/test_fuzz_parsers.py: "²" is a digit to `str.isdigit` but not to `int()`
    # (ValueError before); the record still loads, without a year.
    name = "zenodo__ListRecords_oai_dc_page3_last.xml"
    body = (fixtures_dir / "oaipmh" / name).read_bytes()
    mutated = body.replace(b"<dc:date>2026-06-08</dc:date>", f"<dc:date>{date}</dc:date>".encode())
    assert mutated != body
    record = _records(parse_records(mutated, origin=name))[0]
    assert (record.source_id, record.pub_date, record.pub_date_raw, record.pub_year) == (
        "oai:zenodo.org:20589672#oai_dc",
        None,
        date,
        None,
    )
