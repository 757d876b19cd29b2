"""Every recorded landing page of `fixtures/landing_html/` read into its record (or a counted
`NoRecord`, each justified below), with exact values; plus the family order, the date forms and
the DOI-mismatch flag on small pages of our own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.landing.parse import (
    NoRecord,
    iter_landing_records,
    parse_landing_date,
    parse_landing_page,
)
from schemas.record import Author, DateEntry, Identifier, Link, Record, Subject


@pytest.fixture(scope="module")
def pages(fixtures_dir: Path) -> Path:
    return fixtures_dir / "landing_html"


def _record(pages: Path, name: str, **kwargs: str) -> Record:
    parsed = parse_landing_page((pages / name).read_bytes(), **kwargs)
    assert isinstance(parsed, Record), parsed
    return parsed


def _names(record: Record) -> list[tuple[str | None, list[str]]]:
    return [(a.name, a.affiliations) for a in record.authors]


def test_every_fixture_page_is_a_record_or_a_counted_no_record(pages: Path) -> None:
    outcomes = {
        page.name: type(parse_landing_page(page.read_bytes())).__name__
        for page in sorted(pages.glob("*.html"))
    }
    assert outcomes == {
        "arxiv_abs_1902.02534.html": "Record",
        "pure_portal_bath_publications_listing.html": "NoRecord",
        "sandcrawler__dlib_article.html": "NoRecord",
        "sandcrawler__first_monday_ojs3_landing.html": "Record",
        "sandcrawler__nature_article.html": "Record",
        "sandcrawler__plos_one_article.html": "Record",
        "zenodo_record_1196821.html": "Record",
    }


def test_plos_one_highwire_tags(pages: Path) -> None:
    record = _record(pages, "sandcrawler__plos_one_article.html")
    assert record.source == "landing"
    assert record.source_id == record.doi == "10.1371/journal.pone.0213978"
    assert record.title == (
        "Assessment on reticuloendotheliosis virus infection in specific-pathogen-free chickens "
        "based on detection of yolk antibody"
    )
    assert _names(record) == [
        ("Yang Li", ["China Animal Health and Epidemiology Center, Qingdao, China"]),
        ("Tuanjie Wang", ["China Institute of Veterinary Drug Control, Beijing, China"]),
        ("Lin Wang", ["China Animal Health and Epidemiology Center, Qingdao, China"]),
        ("Mingjun Sun", ["China Animal Health and Epidemiology Center, Qingdao, China"]),
        ("Zhizhong Cui", ["College of Veterinary Medicine, Shandong Agricultural University, Taian, China"]),
        ("Shuang Chang", ["College of Veterinary Medicine, Shandong Agricultural University, Taian, China"]),
        ("Yongping Wu", ["College of Animal Sciences and Technology, Zhejiang A&F University, Hangzhou, China"]),
        ("Xiaodong Zhang", ["College of Animal Sciences and Technology, Zhejiang A&F University, Hangzhou, China"]),
        ("Xiaohui Yu", ["China Animal Health and Epidemiology Center, Qingdao, China"]),
        ("Tao Sun", ["Shandong Entry-exit Inspection and Quarantine Bureau, Qingdao, China"]),
        ("Peng Zhao", ["College of Veterinary Medicine, Shandong Agricultural University, Taian, China"]),
    ]  # fmt: skip
    assert [a.position for a in record.authors] == list(range(1, 12))
    # "Yang Li" has no comma: which part is the family name is not guessed.
    assert (record.authors[0].family, record.authors[0].given) == (None, None)
    # "Apr 22, 2019": the month-name form PLOS writes.
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw) == (
        dt.date(2019, 4, 22),
        "day",
        "Apr 22, 2019",
    )
    assert record.pub_year == 2019
    assert (record.journal, record.journal_abbrev, record.issn) == (
        "PLOS ONE",
        "PLOS ONE",
        "1932-6203",
    )
    assert (record.volume, record.issue) == ("14", "4")
    assert (record.first_page, record.last_page, record.pages) == ("e0213978", None, "e0213978")
    assert record.publisher == "Public Library of Science"
    assert record.publication_types == ["Research Article"]
    assert record.links == [
        Link(
            "pdf",
            "url",
            "https://journals.plos.org/plosone/article/file?id=10.1371/journal.pone.0213978&type=printable",
        )
    ]
    assert record.identifiers == [
        Identifier("doi", "10.1371/journal.pone.0213978"),
        Identifier(
            "url", "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978"
        ),
    ]
    assert record.abstract is not None
    assert record.abstract.startswith("Reticuloendotheliosis virus (REV) is the most frequent")
    assert record.abstract.endswith("by sampling yolk antibody titers.")
    assert len(record.abstract) == 1379
    assert len(record.references) == 23
    assert record.references[0].citation == (
        "Z. Cheng, Y. Shi, L. Zhan, G. Zhu, X Diao, Z. Cui. 2007. Occurrence of "
        "reticuloendotheliosis in Chinese partridge. J Vet Med Sci 69(12):1295-1298"
    )
    assert record.references[2].citation is not None
    assert record.references[2].citation.endswith("Pak Vet J 32:621-623")
    assert record.raw == (pages / "sandcrawler__plos_one_article.html").read_bytes()
    assert record.unreadable is None


def test_first_monday_ojs_highwire_before_dublin_core(pages: Path) -> None:
    record = _record(pages, "sandcrawler__first_monday_ojs3_landing.html")
    assert record.source_id == record.doi == "10.5210/fm.v25i10.10274"
    assert record.title == "Surveillance, stigma & sociotechnical design for HIV"
    assert _names(record) == [
        ("Calvin Liang", ["University of Washington, Department of Human Centered Design & Engineering"]),
        ("Jevan Alexander Hutson", ["University of Washington, School of Law"]),
        ("Os Keyes", ["University of Washington, Department of Human Centered Design & Engineering"]),
    ]  # fmt: skip
    # citation_date "2020/09/10" wins over DC.Date.issued "2020-10-01": families never mix.
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw) == (
        dt.date(2020, 9, 10),
        "day",
        "2020/09/10",
    )
    assert (record.journal, record.issn) == ("First Monday", "1396-0466")
    # As the page states it (OJS fills citation_journal_abbrev with the journal's id).
    assert record.journal_abbrev == "1"
    # The page states neither volume/issue nor pages in any family (only in its body text).
    assert (record.volume, record.issue, record.pages) == (None, None, None)
    assert record.languages == ["en"]
    assert [s.term for s in record.subjects] == [
        "HIV",
        "online dating",
        "design",
        "policy",
        "surveillance",
        "intimacy",
        "social computing",
        "social justice",
    ]
    assert record.subjects[0] == Subject("keyword", "HIV")
    assert record.links == []  # no citation_pdf_url on this page
    # No Highwire type: Dublin Core's DC.Type values, as given.
    assert record.publication_types == ["Text.Serial.Journal", "Qualitative; Content analysis"]
    assert record.license == "Copyright (c) 2020 First Monday"
    assert record.identifiers[-1] == Identifier(
        "url", "https://firstmonday.org/ojs/index.php/fm/article/view/10274"
    )
    assert record.abstract is not None and len(record.abstract) == 1235


def test_nature_prism_and_dublin_core_without_highwire(pages: Path) -> None:
    record = _record(pages, "sandcrawler__nature_article.html")
    # prism.doi "doi:10.1038/…" normalised.
    assert record.source_id == record.doi == "10.1038/d41586-020-02610-z"
    assert record.title == "More than 100 scientific journals have disappeared from the Internet"
    assert _names(record) == [("Diana Kwon", [])]  # dc.creator: the only author family here
    assert (record.pub_date, record.pub_date_precision) == (dt.date(2020, 9, 10), "day")
    assert record.pub_date_raw == "2020-09-10"  # prism.publicationDate (before dc.date)
    assert record.journal == "Nature"  # prism.publicationName, not dc.source "Nature 2020"
    # prism.startingPage/endingPage are present but empty: no pages.
    assert (record.volume, record.issue, record.first_page, record.pages) == (
        None,
        None,
        None,
        None,
    )
    assert record.publisher == "Nature Publishing Group"
    assert record.publication_types == ["News"]
    assert record.languages == ["En"]
    assert record.subjects == [Subject("keyword", "Publishing")]
    assert record.links == []
    assert record.abstract is not None and record.abstract.startswith(
        "Researchers have identified dozens of open-access journals"
    )
    assert record.identifiers == [
        Identifier("doi", "10.1038/d41586-020-02610-z"),
        Identifier("url", "https://www.nature.com/articles/d41586-020-02610-z"),  # og:url
    ]


def test_arxiv_without_a_doi_is_keyed_by_its_url(pages: Path) -> None:
    record = _record(pages, "arxiv_abs_1902.02534.html")
    # No DOI on the page: the canonical URL names the record (a file has no final URL).
    assert record.doi is None
    assert record.source_id == "https://arxiv.org/abs/1902.02534"
    assert record.title == (
        "Crowdsourcing open citations with CROCI -- An analysis of the current status of open "
        "citations, and a proposal"
    )
    assert [(a.name, a.family, a.given) for a in record.authors] == [
        ("Ivan Heibi", "Heibi", "Ivan"),
        ("Silvio Peroni", "Peroni", "Silvio"),
        ("David Shotton", "Shotton", "David"),
    ]
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw) == (
        dt.date(2019, 2, 7),
        "day",
        "2019/02/07",
    )
    assert record.dates == [
        DateEntry("published_online", dt.date(2019, 6, 21), "day", "2019/06/21")
    ]
    assert record.links == [Link("pdf", "url", "https://arxiv.org/pdf/1902.02534")]
    assert record.identifiers == [
        Identifier("arxiv", "1902.02534"),
        Identifier("url", "https://arxiv.org/abs/1902.02534"),
    ]
    assert (record.journal, record.volume, record.issue, record.pages) == (None, None, None, None)
    assert record.abstract is not None and len(record.abstract) == 672


def test_arxiv_fetched_by_doi_takes_the_resolved_doi(pages: Path) -> None:
    final = "https://arxiv.org/abs/1902.02534"
    record = _record(
        pages, "arxiv_abs_1902.02534.html", url=final, expected_doi="10.48550/arXiv.1902.02534"
    )
    assert record.doi == "10.48550/arxiv.1902.02534"
    assert record.source_id == "10.48550/arxiv.1902.02534"
    assert record.unreadable is None


def test_zenodo_highwire_then_json_ld_per_field(pages: Path) -> None:
    record = _record(pages, "zenodo_record_1196821.html")
    assert record.source_id == record.doi == "10.5281/zenodo.1196821"
    assert record.title == (
        "PsPM-SC4B: SCR, ECG, EMG, PSR and respiration measurements in a delay fear "
        "conditioning task with auditory CS and electrical US"
    )
    # Authors from citation_author alone, although the JSON-LD block has their ORCIDs and
    # affiliations: one family for the whole list, never a mix.
    assert record.authors == [
        Author(1, "Matthias Staib", "Staib", "Matthias"),
        Author(2, "Giuseppe Castegnetti", "Castegnetti", "Giuseppe"),
        Author(3, "Athina Tzovara", "Tzovara", "Athina"),
        Author(4, "Philipp C. Paulus", "Paulus", "Philipp C."),
        Author(5, "Nicolas Hofer", "Hofer", "Nicolas"),
        Author(6, "Dominik R. Bach", "Bach", "Dominik R."),
    ]
    # No citation date on the page: JSON-LD's datePublished is the next family's.
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw) == (
        dt.date(2018, 3, 14),
        "day",
        "2018-03-14",
    )
    assert record.publisher == "Zenodo"
    assert record.publication_types == ["Dataset"]
    assert record.license == "https://creativecommons.org/licenses/by-sa/4.0/legalcode"
    assert len(record.subjects) == 12
    assert record.subjects[-1] == Subject("keyword", "GSR")
    # JSON-LD description is HTML: plain text.
    assert record.abstract is not None
    assert record.abstract.startswith("This dataset includes pupil size response (PSR)")
    assert "<p>" not in record.abstract
    assert (record.journal, record.volume, record.pages) == (None, None, None)
    assert record.links == []


def test_zenodo_json_ld_authors_when_no_highwire_authors(pages: Path) -> None:
    # The same page with its citation_author tags renamed: the JSON-LD family gives the
    # authors, with ORCIDs (from @id) and affiliations.
    body = (pages / "zenodo_record_1196821.html").read_bytes()
    body = body.replace(b'name="citation_author"', b'name="x_author"')
    parsed = parse_landing_page(body)
    assert isinstance(parsed, Record)
    assert [(a.name, a.orcid, a.affiliations) for a in parsed.authors] == [
        ("Matthias Staib", "0000-0001-9688-838X", ["University of Zurich, Zurich, Switzerland"]),
        ("Giuseppe Castegnetti", None, ["University of Zurich, Zurich, Switzerland"]),
        ("Athina Tzovara", "0000-0002-7588-1418", ["University of Zurich, Zurich, Switzerland"]),
        ("Philipp C. Paulus", "0000-0001-8090-3266", ["University of Zurich, Zurich, Switzerland"]),
        ("Nicolas Hofer", None, ["University of Zurich, Zurich, Switzerland"]),
        ("Dominik R. Bach", "0000-0003-3717-2036", ["University of Zurich, Zurich, Switzerland"]),
    ]


def test_dlib_page_is_no_record(pages: Path) -> None:
    # No record: the page has no citation_*, Dublin Core, PRISM or JSON-LD tag. What it has is
    # not a scholarly family: a `<meta id="DOI">` (an id attribute, no name: no reader knows
    # it) and a microdata Article whose only property is datePublished, without a title.
    parsed = parse_landing_page((pages / "sandcrawler__dlib_article.html").read_bytes())
    assert parsed == NoRecord(
        None, "no citation_*, EPrints, bepress, PRISM, JSON-LD or Dublin Core"
    )


def test_pure_listing_page_is_no_record(pages: Path) -> None:
    # No record: a saved fragment of a Pure portal's listing (50 research outputs as
    # <div>s, no <head>, no <meta>, no JSON-LD): no one work's metadata. Its items are the
    # Pure portal parser's (connectors/pure/), not this one's.
    body = (pages / "pure_portal_bath_publications_listing.html").read_bytes()
    parsed = parse_landing_page(body, url="https://researchportal.bath.ac.uk/en/publications/")
    assert isinstance(parsed, NoRecord)
    assert parsed.url == "https://researchportal.bath.ac.uk/en/publications/"
    assert list(iter_landing_records(body, origin="listing.html")) == []


def test_a_page_of_another_doi_is_flagged_and_not_the_requested(pages: Path) -> None:
    record = _record(
        pages,
        "sandcrawler__plos_one_article.html",
        url="https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978",
        expected_doi="https://doi.org/10.1234/REQUESTED",
    )
    # The page's own DOI, never the requested one; quarantined by validation with the reason,
    # under the requested DOI (it must not displace the page's own record in a batch).
    assert record.doi == "10.1371/journal.pone.0213978"
    assert record.source_id == "10.1234/requested"
    assert all(i.value != "10.1234/requested" for i in record.identifiers)
    assert record.unreadable == (
        "landing page of another record: fetched for DOI 10.1234/requested, the page at "
        "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978 states DOI "
        "10.1371/journal.pone.0213978"
    )
    # The same DOI in another case or as a URL is no mismatch.
    same = _record(
        pages,
        "sandcrawler__plos_one_article.html",
        expected_doi="https://doi.org/10.1371/JOURNAL.PONE.0213978",
    )
    assert same.unreadable is None


def test_iter_landing_records_reads_a_file(pages: Path) -> None:
    records = list(
        iter_landing_records(pages / "sandcrawler__nature_article.html", origin="nature.html")
    )
    assert [r.source_id for r in records] == ["10.1038/d41586-020-02610-z"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019/03/15", (dt.date(2019, 3, 15), "day")),
        ("2019-03-15", (dt.date(2019, 3, 15), "day")),
        ("2019/3/5", (dt.date(2019, 3, 5), "day")),
        ("2019/03", (dt.date(2019, 3, 1), "month")),
        ("2019-03", (dt.date(2019, 3, 1), "month")),
        ("2019", (dt.date(2019, 1, 1), "year")),
        ("15 March 2019", (dt.date(2019, 3, 15), "day")),
        ("15 Mar. 2019", (dt.date(2019, 3, 15), "day")),
        ("Apr 22, 2019", (dt.date(2019, 4, 22), "day")),
        ("September 3rd, 2019", (dt.date(2019, 9, 3), "day")),
        ("March 2019", (dt.date(2019, 3, 1), "month")),
        ("2020-09-10T08:00:00Z", (dt.date(2020, 9, 10), "day")),
        ("2019/02/30", (None, None)),
        ("Smarch 2019", (None, None)),
        ("soon", (None, None)),
        ("", (None, None)),
    ],
)
def test_citation_date_forms(text: str, expected: tuple[dt.date | None, str | None]) -> None:
    assert parse_landing_date(text) == expected


def _page(head: str) -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body></body></html>".encode()


def test_each_field_from_the_first_family_that_states_it() -> None:
    body = _page(
        '<meta property="og:title" content="OG title">'
        '<meta name="DC.title" content="DC title">'
        '<meta name="DC.creator" content="Dc, Person">'
        '<meta name="prism.volume" content="7">'
        '<meta name="prism.startingPage" content="10"><meta name="prism.endingPage" content="19">'
        '<meta name="citation_title" content="Highwire title">'
        '<meta name="citation_author" content="Smith, Jane">'
        '<meta name="citation_author_orcid" content="https://orcid.org/0000-0002-1825-0097">'
        '<meta name="citation_author_institution" content="Uni A">'
        '<meta name="citation_author_institution" content="Uni B">'
        '<meta name="citation_author" content="Doe, John">'
        '<meta name="citation_author_email" content="john@example.org">'
        '<meta name="citation_publication_date" content="2019">'
        '<meta name="citation_keywords" content="alpha; beta; alpha">'
    )
    parsed = parse_landing_page(body, url="https://example.org/a")
    assert isinstance(parsed, Record)
    assert parsed.title == "Highwire title"
    assert [(a.name, a.orcid, a.affiliations) for a in parsed.authors] == [
        ("Jane Smith", "0000-0002-1825-0097", ["Uni A", "Uni B"]),
        ("John Doe", None, []),
    ]
    assert (parsed.volume, parsed.first_page, parsed.last_page, parsed.pages) == (
        "7",
        "10",
        "19",
        "10-19",
    )
    assert (parsed.pub_date, parsed.pub_date_precision) == (dt.date(2019, 1, 1), "year")
    assert [s.term for s in parsed.subjects] == ["alpha", "beta"]
    assert parsed.source_id == "https://example.org/a"  # no DOI stated: the final URL


def test_open_graph_alone_is_no_record() -> None:
    body = _page(
        '<meta property="og:title" content="A blog post"><meta property="og:type" content="article">'
    )
    assert parse_landing_page(body, url="https://blog.example/x") == NoRecord(
        "https://blog.example/x", "no citation_*, EPrints, bepress, PRISM, JSON-LD or Dublin Core"
    )


def test_og_description_is_never_the_abstract() -> None:
    body = _page(
        '<meta name="citation_title" content="T">'
        '<meta property="og:description" content="A teaser for link previews">'
    )
    parsed = parse_landing_page(body)
    assert isinstance(parsed, Record)
    assert parsed.abstract is None
    assert parsed.abstract_sections == []
