"""Publication dates: kept verbatim, normalised to the start of the stated period with its
precision (rules in `connectors.pubmed.dates`), on the PubDate shapes PubMed uses."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from connectors.pubmed.dates import medline_date, parse_date_entry, parse_pub_date
from connectors.pubmed.parse import iter_pubmed_records
from schemas.record import DateEntry, Record

D = dt.date


@pytest.mark.parametrize(
    ("pub_date_xml", "expected"),
    [
        # Year / Month / Day, months as names or numbers
        ("<Year>2012</Year><Month>Nov</Month><Day>22</Day>", (D(2012, 11, 22), "day", "2012 Nov 22", 2012)),
        ("<Year>2018</Year><Month>05</Month><Day>17</Day>", (D(2018, 5, 17), "day", "2018 05 17", 2018)),
        ("<Year>2018</Year><Month>5</Month>", (D(2018, 5, 1), "month", "2018 5", 2018)),
        ("<Year>2026</Year><Month>Jan</Month>", (D(2026, 1, 1), "month", "2026 Jan", 2026)),
        ("<Year>2018</Year>", (D(2018, 1, 1), "year", "2018", 2018)),
        # a day that does not exist falls back to the month
        ("<Year>2019</Year><Month>Apr</Month><Day>31</Day>", (D(2019, 4, 1), "month", "2019 Apr 31", 2019)),
        ("<Year>2019</Year><Month>Foo</Month>", (D(2019, 1, 1), "year", "2019 Foo", 2019)),
        # seasons: the first day of the (northern, meteorological) season in the stated year
        ("<Year>1990</Year><Season>Spring</Season>", (D(1990, 3, 1), "season", "1990 Spring", 1990)),
        ("<Year>1990</Year><Season>Summer</Season>", (D(1990, 6, 1), "season", "1990 Summer", 1990)),
        ("<Year>1976</Year><Season>Fall</Season>", (D(1976, 9, 1), "season", "1976 Fall", 1976)),
        ("<Year>1976</Year><Season>Autumn</Season>", (D(1976, 9, 1), "season", "1976 Autumn", 1976)),
        ("<Year>2001</Year><Season>Winter</Season>", (D(2001, 12, 1), "season", "2001 Winter", 2001)),
        ("<Year>2013</Year><Season>Jan-Mar</Season>", (D(2013, 1, 1), "range", "2013 Jan-Mar", 2013)),
        ("<Year>2013</Year><Season>Spring-Summer</Season>", (D(2013, 3, 1), "range", "2013 Spring-Summer", 2013)),
        ("<Year>2013</Year><Season>Harvest</Season>", (D(2013, 1, 1), "year", "2013 Harvest", 2013)),
        # MedlineDate: the start of the first period named; "range" when it names a range
        ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", (D(1998, 12, 1), "range", "1998 Dec-1999 Jan", 1998)),
        ("<MedlineDate>2019 Jan-Feb</MedlineDate>", (D(2019, 1, 1), "range", "2019 Jan-Feb", 2019)),
        ("<MedlineDate>1999 Apr 15-30</MedlineDate>", (D(1999, 4, 15), "range", "1999 Apr 15-30", 1999)),
        ("<MedlineDate>2005 Aug 20-26</MedlineDate>", (D(2005, 8, 20), "range", "2005 Aug 20-26", 2005)),
        ("<MedlineDate>1987-1988</MedlineDate>", (D(1987, 1, 1), "range", "1987-1988", 1987)),
        ("<MedlineDate>1998-1999 Fall-Winter</MedlineDate>", (D(1998, 9, 1), "range", "1998-1999 Fall-Winter", 1998)),
        ("<MedlineDate>1999 Nov-2000 May</MedlineDate>", (D(1999, 11, 1), "range", "1999 Nov-2000 May", 1999)),
        ("<MedlineDate>2000 3rd Quarter</MedlineDate>", (D(2000, 7, 1), "season", "2000 3rd Quarter", 2000)),
        ("<MedlineDate>2019</MedlineDate>", (D(2019, 1, 1), "year", "2019", 2019)),
        ("<MedlineDate>1975 Summer</MedlineDate>", (D(1975, 6, 1), "season", "1975 Summer", 1975)),
        ("<MedlineDate>2003 Feb 30-Mar 2</MedlineDate>", (D(2003, 2, 1), "range", "2003 Feb 30-Mar 2", 2003)),
        ("<MedlineDate>Undated</MedlineDate>", (None, None, "Undated", None)),
        # nothing usable
        ("", (None, None, None, None)),
        ("<Month>Jan</Month>", (None, None, "Jan", None)),
        # found by fuzzing (tests/test_fuzz_parsers.py): no crash, the unusable part is dropped
        ("<Year>2019</Year><Month>Apr</Month><Day>1111111111111111111111111111111</Day>", (D(2019, 4, 1), "month", "2019 Apr 1111111111111111111111111111111", 2019)),
        ("<Year>2019</Year><Month>Apr</Month><Day>²</Day>", (D(2019, 4, 1), "month", "2019 Apr ²", 2019)),
        ("<Year>0000</Year><Month>Apr</Month>", (None, None, "0000 Apr", None)),
        ("<Year>²²²²</Year>", (None, None, "²²²²", None)),
    ],
)  # fmt: skip
def test_pub_date(pub_date_xml: str, expected: tuple[object, ...]) -> None:
    assert parse_pub_date(etree.fromstring(f"<PubDate>{pub_date_xml}</PubDate>")) == expected


def test_a_missing_pub_date() -> None:
    assert parse_pub_date(None) == (None, None, None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 1998 Dec-1999 Jan", (D(1998, 12, 1), "range", 1998)),
        ("1998 December", (D(1998, 12, 1), "month", 1998)),
        ("1998 Dec 5", (D(1998, 12, 5), "day", 1998)),
        ("1998 1st Quart", (D(1998, 1, 1), "season", 1998)),
        ("Spring 1998", (None, None, None)),  # MedlineDate always starts with its year
        ("0000 Jan", (None, None, None)),  # year 0 is no date (raised ValueError before)
    ],
)
def test_medline_date(text: str, expected: tuple[object, ...]) -> None:
    assert medline_date(text) == expected


def test_date_entries_keep_the_parts_as_given() -> None:
    history_date = etree.fromstring(
        "<PubMedPubDate PubStatus='entrez'><Year>2012</Year><Month>11</Month><Day>6</Day>"
        "<Hour>6</Hour><Minute>0</Minute></PubMedPubDate>"
    )
    assert parse_date_entry("entrez", history_date) == DateEntry(
        "entrez", D(2012, 11, 6), "day", "2012 11 6 6 0"
    )
    contribution = etree.fromstring("<ContributionDate><Year>2006</Year></ContributionDate>")
    assert parse_date_entry("contribution", contribution) == DateEntry(
        "contribution", D(2006, 1, 1), "year", "2006"
    )
    broken = etree.fromstring("<DateRevised><Year>20x6</Year><Month>02</Month></DateRevised>")
    assert parse_date_entry("last_revised", broken) == DateEntry(
        "last_revised", None, None, "20x6 02"
    )
    # found by fuzzing: a Day beyond a C int raised OverflowError; it falls back to the month
    overflow = etree.fromstring(
        f"<DateRevised><Year>2019</Year><Month>06</Month><Day>{'1' * 31}</Day></DateRevised>"
    )
    assert parse_date_entry("last_revised", overflow) == DateEntry(
        "last_revised", D(2019, 6, 1), "month", f"2019 06 {'1' * 31}"
    )
    season = etree.fromstring("<EndingDate><Year>2001</Year><Season>Winter</Season></EndingDate>")
    assert parse_date_entry("book_ending", season) == DateEntry(
        "book_ending", D(2001, 12, 1), "season", "2001 Winter"
    )


def _article(pmid_xml: str, revised_xml: str) -> bytes:
    return (
        "<PubmedArticle><MedlineCitation Status='MEDLINE'>"
        f"{pmid_xml}{revised_xml}<Article><ArticleTitle>T</ArticleTitle></Article>"
        "</MedlineCitation></PubmedArticle>"
    ).encode()


@pytest.mark.parametrize(
    ("pmid_xml", "revised_xml", "version"),
    [
        ("<PMID Version='1'>1</PMID>", "<DateRevised><Year>2019</Year><Month>06</Month><Day>09</Day></DateRevised>", "0001:2019-06-09"),
        ("<PMID Version='2'>1</PMID>", "<DateRevised><Year>2019</Year><Month>6</Month><Day>9</Day></DateRevised>", "0002:2019-06-09"),
        ("<PMID Version='12'>1</PMID>", "", "0012:0000-00-00"),
        ("<PMID>1</PMID>", "", "0001:0000-00-00"),  # the DTD requires Version: absent reads as 1
        ("<PMID Version='x'>1</PMID>", "", "0000:0000-00-00"),
        # found by fuzzing: `isdigit()` digits that `int()` refuses are no version either
        ("<PMID Version='²'>1</PMID>", "", "0000:0000-00-00"),
        (f"<PMID Version='{'9' * 5000}'>1</PMID>", "", "0000:0000-00-00"),
        ("<PMID Version='1'>1</PMID>", f"<DateRevised><Year>2019</Year><Month>06</Month><Day>{'1' * 31}</Day></DateRevised>", "0001:0000-00-00"),
        ("", "<DateRevised><Year>2002</Year><Month>11</Month><Day>13</Day></DateRevised>", "0000:2002-11-13"),
        ("<PMID Version='1'>1</PMID>", "<DateRevised><Year>2019</Year><Month>06</Month></DateRevised>", "0001:0000-00-00"),
    ],
)  # fmt: skip
def test_source_version_orders_versions(pmid_xml: str, revised_xml: str, version: str) -> None:
    (record,) = iter_pubmed_records(_article(pmid_xml, revised_xml), origin="test")
    assert isinstance(record, Record)
    assert record.source_version == version


def test_source_versions_sort_as_versions() -> None:
    made = []
    for pmid_version, revised in (("2", "2001"), ("1", "2020"), ("10", "1999"), ("1", "2019")):
        xml = _article(
            f"<PMID Version='{pmid_version}'>7</PMID>",
            f"<DateRevised><Year>{revised}</Year><Month>01</Month><Day>02</Day></DateRevised>",
        )
        (record,) = iter_pubmed_records(xml, origin="test")
        assert isinstance(record, Record)
        assert record.source_version is not None
        made.append(record.source_version)
    assert sorted(made) == [
        "0001:2019-01-02",
        "0001:2020-01-02",
        "0002:2001-01-02",
        "0010:1999-01-02",
    ]
