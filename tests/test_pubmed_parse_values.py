"""Value normalisation on small synthetic cases that no recording shows: page ranges, ORCIDs,
identifier schemes, and the structural odd cases (old DTDs, nested reference lists, books
without chapters, empty elements)."""

from __future__ import annotations

import pytest
from lxml import etree

from connectors.pubmed.fields import (
    expand_end_page,
    normalise_identifier,
    parse_pagination,
    split_page_range,
)
from connectors.pubmed.parse import iter_pubmed_records
from schemas.errors import MalformedPayloadError
from schemas.identifiers import normalise_orcid
from schemas.record import Author, Identifier, Record, Reference


@pytest.mark.parametrize(
    ("pages", "first", "last"),
    [
        ("271-81", "271", "281"),
        ("1979-87", "1979", "1987"),
        ("1116-1122", "1116", "1122"),
        ("99-101", "99", "101"),
        ("S12-9", "S12", "S19"),
        ("S1-5", "S1", "S5"),
        ("e123-30", "e123", "e130"),
        ("e123-e130", "e123", "e130"),
        ("R271-R281", "R271", "R281"),
        ("iii-iv", "iii", "iv"),
        ("123-45; discussion 146-7", "123", "145"),
        ("1-10, 12", "1", "10"),
        ("98-2", "98", "2"),  # would expand below the start: left as given
        ("325", "325", None),
        ("e2308706120", "e2308706120", None),
        ("112-", "112", None),
    ],
)
def test_medline_page_ranges(pages: str, first: str, last: str | None) -> None:
    assert split_page_range(pages) == (first, last)


def test_expand_end_page_keeps_what_it_cannot_read() -> None:
    assert expand_end_page("1.2", "5") == "5"
    assert expand_end_page("x", "y") == "y"
    # 5,000 digits are past `int()`'s limit (ValueError before): no page number, kept as given
    assert expand_end_page("1" * 5000, "2") == "2"
    assert split_page_range("1" * 5000 + "-2") == ("1" * 5000, "2")


@pytest.mark.parametrize(
    ("pagination_xml", "expected"),
    [
        ("<StartPage>113</StartPage><EndPage>125</EndPage><MedlinePgn>113-25</MedlinePgn>", ("113-25", "113", "125")),
        ("<StartPage>576</StartPage>", ("576", "576", None)),
        ("<StartPage>5</StartPage><EndPage>9</EndPage>", ("5-9", "5", "9")),
        ("<MedlinePgn> </MedlinePgn>", (None, None, None)),
        ("<MedlinePgn/>", (None, None, None)),
    ],
)  # fmt: skip
def test_pagination_elements(pagination_xml: str, expected: tuple[str | None, ...]) -> None:
    pagination = etree.fromstring(f"<Pagination>{pagination_xml}</Pagination>")
    assert parse_pagination(pagination) == expected


@pytest.mark.parametrize(
    ("text", "orcid"),
    [
        ("0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("https://orcid.org/0000-0002-1694-233X", "0000-0002-1694-233X"),
        ("http://orcid.org/0000-0002-1694-233x", "0000-0002-1694-233X"),
        ("https://orcid.org/0000-0002-1825-009X", None),  # wrong check digit (it is 7)
        ("0000000284046596", "0000-0002-8404-6596"),
        (" 0000-0001-7093-6988 ", "0000-0001-7093-6988"),
        ("0000-0001-9206-317", None),  # a digit short, as in pubmed21n1298: not an ORCID
        ("", None),
        (None, None),
    ],
)
def test_orcid_normalisation(text: str | None, orcid: str | None) -> None:
    assert normalise_orcid(text) == orcid


@pytest.mark.parametrize(
    ("id_type", "value", "expected"),
    [
        ("doi", "10.1200/JCO.2012.44.6112", Identifier("doi", "10.1200/jco.2012.44.6112")),
        ("doi", "https://doi.org/10.1/ABC", Identifier("doi", "10.1/abc")),
        ("doi", "doi: 10.1/x", Identifier("doi", "10.1/x")),
        ("pmc", "PMC123", Identifier("pmcid", "PMC123")),
        ("pmcid", "pmc123", Identifier("pmcid", "PMC123")),
        ("pmc", "123", Identifier("pmcid", "PMC123")),
        ("pubmed", " 42 ", Identifier("pmid", "42")),
        (None, "42", Identifier("pmid", "42")),  # the DTD default IdType is "pubmed"
        ("MID", "NIHMS857349", Identifier("mid", "NIHMS857349")),
        ("bookaccession", "NBK1403", Identifier("bookaccession", "NBK1403")),
        ("isbn", "978-0-12-345678-6", Identifier("isbn", "9780123456786")),
        # A declared id that is not one is kept as given under "other" (as in OAI-PMH).
        ("isbn", "978-0-12-345678-9", Identifier("other", "978-0-12-345678-9")),
        (
            "doi",
            "10.3129/can j ophthalmol.06-124",
            Identifier("other", "10.3129/can j ophthalmol.06-124"),
        ),
        ("pmc", "PMC6134338.4", Identifier("pmcid", "PMC6134338")),
        ("pubmed", "0042", Identifier("pmid", "42")),
        ("pii", "  ", None),
        ("doi", None, None),
    ],
)
def test_identifier_normalisation(
    id_type: str | None, value: str | None, expected: Identifier | None
) -> None:
    assert normalise_identifier(id_type, value) == expected


def parse_one(xml: str) -> Record:
    (record,) = iter_pubmed_records(xml.encode(), origin="synthetic")
    assert isinstance(record, Record)
    return record


def test_empty_elements_are_none_never_empty_strings() -> None:
    record = parse_one(
        "<PubmedArticle><MedlineCitation Status='MEDLINE'><PMID Version='1'>9</PMID>"
        "<Article><Journal><ISSN IssnType='Print'> </ISSN><JournalIssue><Volume/><Issue></Issue>"
        "<PubDate><Year>2001</Year></PubDate></JournalIssue><Title/></Journal>"
        "<ArticleTitle>  </ArticleTitle><Abstract><AbstractText Label=''/></Abstract>"
        "<AuthorList><Author><LastName>Smith</LastName><ForeName/><Initials></Initials>"
        "<Suffix></Suffix><AffiliationInfo><Affiliation/></AffiliationInfo></Author></AuthorList>"
        "<Language></Language><VernacularTitle/></Article></MedlineCitation>"
        "<PubmedData><ArticleIdList><ArticleId IdType='doi'></ArticleId></ArticleIdList>"
        "</PubmedData></PubmedArticle>"
    )
    assert (record.issn, record.issn_print, record.volume, record.issue, record.journal) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (record.title, record.title_markup, record.vernacular_title) == (None, None, None)
    assert (record.abstract, record.abstract_sections) == (None, [])
    assert record.authors == [Author(position=1, name="Smith", family="Smith")]
    assert record.languages == []
    assert record.identifiers == [Identifier("pmid", "9")]
    assert record.doi is None


def test_old_dtd_shapes_and_nested_reference_lists() -> None:
    record = parse_one(
        "<PubmedArticle><MedlineCitation Status='OLDMEDLINE'><PMID Version='1'>3</PMID>"
        "<DateCreated><Year>1999</Year><Month>01</Month><Day>02</Day></DateCreated>"
        "<Article><ArticleTitle>T</ArticleTitle><AuthorList>"
        "<Author><LastName>Doe</LastName><FirstName>Jane</FirstName>"
        "<Affiliation>Old place.</Affiliation></Author></AuthorList></Article></MedlineCitation>"
        "<PubmedData><ReferenceList><Title>References</Title>"
        "<Reference><Citation>A.</Citation></Reference>"
        "<ReferenceList><Reference><Citation>B.</Citation><ArticleIdList>"
        "<ArticleId IdType='pubmed'>11</ArticleId></ArticleIdList></Reference></ReferenceList>"
        "</ReferenceList><ReferenceList><Reference><Citation>C.</Citation></Reference>"
        "</ReferenceList></PubmedData></PubmedArticle>"
    )
    assert record.authors == [
        Author(position=1, name="Jane Doe", family="Doe", given="Jane", affiliations=["Old place."])
    ]
    assert record.references == [
        Reference(1, "A."),
        Reference(2, "B.", [Identifier("pmid", "11")]),
        Reference(3, "C."),
    ]
    assert [(d.kind, d.raw) for d in record.dates] == [("created", "1999 01 02")]
    assert record.record_status == "OLDMEDLINE"


def test_only_the_authors_own_identifier_is_their_orcid() -> None:
    record = parse_one(
        "<PubmedArticle><MedlineCitation Status='MEDLINE'><PMID Version='1'>4</PMID>"
        "<Article><ArticleTitle>T</ArticleTitle><AuthorList>"
        "<Author EqualContrib='Y'><LastName>A</LastName><ForeName>Ann</ForeName>"
        "<Identifier Source='ISNI'>0000 0001 2345 6789</Identifier>"
        "<Identifier Source='ORCID'>https://orcid.org/0000-0002-1825-0097</Identifier>"
        "<AffiliationInfo><Affiliation>Uni A.</Affiliation>"
        "<Identifier Source='ORCID'>0000-0003-0000-0001</Identifier></AffiliationInfo>"
        "<AffiliationInfo><Affiliation>Uni B.</Affiliation>"
        "<Identifier Source='GRID'>grid.1.2</Identifier></AffiliationInfo></Author>"
        "<Author><LastName>B</LastName><AffiliationInfo><Affiliation>Uni C.</Affiliation>"
        "<Identifier Source='ORCID'>0000-0003-0000-0002</Identifier></AffiliationInfo>"
        "</Author></AuthorList></Article></MedlineCitation></PubmedArticle>"
    )
    assert record.authors == [
        Author(
            position=1,
            name="Ann A",
            family="A",
            given="Ann",
            orcid="0000-0002-1825-0097",
            affiliations=["Uni A.", "Uni B."],
            equal_contrib=True,
        ),
        # An identifier inside AffiliationInfo belongs to the affiliation, never the author.
        Author(position=2, name="B", family="B", affiliations=["Uni C."]),
    ]


def test_a_whole_book_and_its_isbns() -> None:
    record = parse_one(
        "<PubmedBookArticle><BookDocument><PMID Version='1'>77</PMID>"
        "<ArticleIdList><ArticleId IdType='bookaccession'>NBK1</ArticleId></ArticleIdList>"
        "<Book><Publisher><PublisherName>Press</PublisherName></Publisher>"
        "<BookTitle book='b'>Whole <i>Book</i></BookTitle><PubDate><Year>2001</Year>"
        "<Month>Mar</Month></PubDate><AuthorList Type='editors'><Author><LastName>Ed</LastName>"
        "</Author></AuthorList><Volume>2</Volume><Isbn>0-306-40615-2</Isbn>"
        "<Isbn>9780306406157</Isbn></Book><Language>eng</Language>"
        "<AuthorList Type='authors'><Author><CollectiveName>Group</CollectiveName></Author>"
        "</AuthorList><PublicationType UI='D1'>Book</PublicationType></BookDocument>"
        "</PubmedBookArticle>"
    )
    assert (record.title, record.title_markup, record.journal) == (
        "Whole Book",
        "Whole <i>Book</i>",
        None,
    )
    assert [(a.role, a.position, a.name) for a in record.authors] == [
        ("author", 1, "Group"),
        ("editor", 1, "Ed"),
    ]
    assert record.identifiers == [
        Identifier("pmid", "77"),
        Identifier("bookaccession", "NBK1"),
        Identifier("isbn", "0306406152"),
        Identifier("isbn", "9780306406157"),
    ]
    assert (record.volume, record.publisher, record.pub_date_raw) == ("2", "Press", "2001 Mar")
    assert record.source_version == "0001:0000-00-00"
    assert record.publication_state is None


def test_an_article_without_medline_citation_is_an_empty_record() -> None:
    record = parse_one("<PubmedArticle><PubmedData/></PubmedArticle>")
    assert (record.source_id, record.title, record.identifiers) == (None, None, [])
    assert record.raw == b"<PubmedArticle><PubmedData/></PubmedArticle>"


def test_an_empty_pmid_in_delete_citation_is_malformed() -> None:
    xml = b"<PubmedArticleSet><DeleteCitation><PMID>1</PMID>\n<PMID> </PMID></DeleteCitation></PubmedArticleSet>"
    with pytest.raises(
        MalformedPayloadError, match=r"^upd\.xml: empty PMID in DeleteCitation at line 2"
    ):
        list(iter_pubmed_records(xml, origin="upd.xml"))
