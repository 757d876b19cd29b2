"""The value normalisation under the OAI-PMH parsers: identifiers by form, partial dates,
names written "Family, Given", HTML descriptions, Pure's type vocabulary."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.oaipmh.mods import output_type_labels
from connectors.oaipmh.values import (
    classify_identifier,
    html_to_text,
    normalise_identifier,
    parse_iso_date,
    parse_number,
    parse_page_count,
    split_name,
    split_pages,
)
from schemas.record import Identifier


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://doi.org/10.5281/ZENODO.8435696", Identifier("doi", "10.5281/zenodo.8435696")),
        ("doi:10.1000/XYZ", Identifier("doi", "10.1000/xyz")),
        ("info:doi/10.1000/abc", Identifier("doi", "10.1000/abc")),
        ("http://hdl.handle.net/1765/308", Identifier("handle", "1765/308")),
        ("hdl:1765/315", Identifier("handle", "1765/315")),
        ("oai:zenodo.org:8435696", Identifier("oai", "oai:zenodo.org:8435696")),
        ("urn:nbn:nl:ui:15-1765/308", Identifier("urn", "urn:nbn:nl:ui:15-1765/308")),
        ("90-5892-036-4", Identifier("isbn", "9058920364")),
        ("ISBN 978-3-16-148410-0", Identifier("isbn", "9783161484100")),
        ("90-5892-036-5", Identifier("other", "90-5892-036-5")),  # wrong check digit
        ("1566-5283", Identifier("issn", "1566-5283")),
        ("1566-5284", Identifier("other", "1566-5284")),  # wrong check digit
        ("DOI 10.1000/abc", Identifier("doi", "10.1000/abc")),
        ("10.1000/has space", Identifier("other", "10.1000/has space")),
        ("https://zenodo.org/records/1", Identifier("url", "https://zenodo.org/records/1")),
        ("EIA;EIA-12-MKT", Identifier("other", "EIA;EIA-12-MKT")),
    ],
)
def test_classify_identifier(text: str, expected: Identifier) -> None:
    assert classify_identifier(text) == expected


def test_blank_is_none() -> None:
    assert classify_identifier("  ") is None
    assert normalise_identifier("DOI", "") is None
    assert split_name(" ") == (None, None, None)
    assert html_to_text("\n") is None


@pytest.mark.parametrize(
    ("scheme", "text", "expected"),
    [
        ("DOI", "10.5281/Zenodo.1", Identifier("doi", "10.5281/zenodo.1")),
        ("hdl", "https://hdl.handle.net/10379/1", Identifier("handle", "10379/1")),
        ("uri", "https://x.example", Identifier("url", "https://x.example")),
        ("PubMed", "123", Identifier("pmid", "123")),
        ("PMID", "0042", Identifier("pmid", "42")),
        ("pmc", "pmc12", Identifier("pmcid", "PMC12")),
        (
            "ORCID",
            "https://orcid.org/0000-0002-1825-0097",
            Identifier("orcid", "0000-0002-1825-0097"),
        ),
        # Declared but not one (wrong check digit, no "10."): kept as given under "other".
        ("ORCID", "0000-0002-1825-0098", Identifier("other", "0000-0002-1825-0098")),
        ("ISBN", "90-5892-036-5", Identifier("other", "90-5892-036-5")),
        ("ISSN", "1566-5284", Identifier("other", "1566-5284")),
        ("DOI", "zenodo.1", Identifier("other", "zenodo.1")),
        ("scopus", "85012345678", Identifier("scopus", "85012345678")),
    ],
)
def test_normalise_declared_identifier(scheme: str, text: str, expected: Identifier) -> None:
    assert normalise_identifier(scheme, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1994", (dt.date(1994, 1, 1), "year")),
        ("1994-04", (dt.date(1994, 4, 1), "month")),
        ("1994-04-30", (dt.date(1994, 4, 30), "day")),
        ("2003-04-15T10:18:51Z", (dt.date(2003, 4, 15), "day")),
        ("2020-01-01/2020-12-31", (dt.date(2020, 1, 1), "range")),
        ("1994-02-30", (None, None)),
        ("Spring 1994", (None, None)),
    ],
)
def test_parse_iso_date(text: str, expected: tuple[dt.date | None, str | None]) -> None:
    assert parse_iso_date(text) == expected


def test_names_and_pages() -> None:
    assert split_name("Laan, E.A. van der") == ("E.A. van der Laan", "Laan", "E.A. van der")
    assert split_name("O’Boyle, Kevin") == ("Kevin O’Boyle", "O’Boyle", "Kevin")
    assert split_name("Meika4") == ("Meika4", None, None)
    assert split_name("Smith, J., Jr.") == ("Smith, J., Jr.", None, None)
    assert split_pages("271-281") == ("271", "281")
    assert split_pages("e1002 – e1010") == ("e1002", "e1010")
    assert split_pages("e1002") == ("e1002", None)


def test_html_to_text() -> None:
    escaped_twice = "&lt;p&gt;One &amp;amp; two&lt;br&gt;\nthree&lt;/p&gt;&lt;ul&gt;&lt;li&gt;a&lt;/li&gt;&lt;/ul&gt;"
    assert html_to_text(escaped_twice) == "One & two\nthree\n\na"
    assert html_to_text("<p>x&nbsp;y</p>") == "x\xa0y"
    assert html_to_text("p < 0.05 and q > 1") == "p < 0.05 and q > 1"  # not markup
    assert html_to_text("  plain\n\ntext  ") == "plain\n\ntext"


def test_pure_type_labels() -> None:
    root = "/dk/atira/pure/researchoutput/researchoutputtypes/"
    assert output_type_labels(root + "contributiontojournal/systematicreview") == [
        "Contribution to journal",
        "Review article",
    ]
    assert output_type_labels(root + "contributiontojournal/localsubtype") == [
        "Contribution to journal"
    ]
    assert output_type_labels(root + "unknowncategory/x") == []
    assert output_type_labels("info:eu-repo/semantics/article") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 007 ", 7),
        (str(2**63 - 1), 2**63 - 1),
        # found by tests/test_fuzz_parsers.py: no BIGINT holds these, or `int()` refuses them
        (str(2**63), None),
        ("9" * 30, None),
        ("9" * 5000, None),
        ("²", None),
        ("-1", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_number(text: str | None, expected: int | None) -> None:
    assert parse_number(text) == expected


def test_a_page_count_no_bigint_holds_is_none() -> None:
    assert parse_page_count("44 pages") == 44
    assert parse_page_count("9" * 30 + " pages") is None
