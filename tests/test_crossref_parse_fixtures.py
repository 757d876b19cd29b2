"""Every recorded Crossref response parses into records, or is refused with Crossref's own words;
exact values from the three real cursor pages, the /works sample and the fatcat work list."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.crossref import (
    CrossrefApiError,
    CrossrefNotFoundError,
    iter_crossref_records,
    read_work_list,
)
from schemas.record import Author, DateEntry, Identifier, Link, Metric, Record

REFUSED = {
    "habanero__error_400_parameter_not_allowed.json": (
        "validation-failure",
        "parameter-not-allowed",
        "Crossref refused the request: validation-failure: parameter-not-allowed (query.*): "
        "This route does not support field query parameters",
    ),
    "habanero__error_404_cursor_invalid.json": (
        "resource-failure",
        "cursor-invalid",
        "Crossref refused the request: resource-failure: cursor-invalid (thing): Cursor "
        "specified but it is invalid",
    ),
}
WORK_COUNTS = {
    "commonmeta__crossref.json": 1,
    "fatcat__crossref_api_works.json": 3,
    "habanero__work_10.1016_j.neurobiolaging.2010.03.024.json": 1,
    "habanero__work_10.1038_srep16696.json": 1,
    "habanero__work_10.1109_icdcsw.2003.1203662.json": 1,
    "habanero__work_10.3892_ijo_00000353.json": 1,
    "habanero__works_cursor_page1.json": 20,
    "habanero__works_cursor_page2.json": 20,
    "habanero__works_cursor_page3.json": 20,
    "habanero__works_sample2.json": 2,
}


@pytest.fixture(scope="module")
def crossref_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "crossref"


def load_cassette(path: Path) -> list[dict[str, Any]]:
    """The interactions of a VCR cassette, each with the decoded (gunzipped) response body."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    interactions = []
    for interaction in document["interactions"]:
        response = interaction["response"]
        body = response["body"]["string"]
        if isinstance(body, str):
            body = body.encode("utf-8")
        if "gzip" in response["headers"].get("content-encoding", []):
            body = gzip.decompress(body)
        interactions.append(
            {
                "uri": interaction["request"]["uri"],
                "status": response["status"]["code"],
                "headers": {k.lower(): v[0] for k, v in response["headers"].items()},
                "body": body,
            }
        )
    return interactions


def records_of(crossref_dir: Path, name: str) -> list[Record]:
    return list(iter_crossref_records(crossref_dir / name, origin=name))


def by_doi(records: list[Record]) -> dict[str, Record]:
    return {r.doi: r for r in records if r.doi is not None}


# --- every file ------------------------------------------------------------------------------


def test_every_json_fixture_is_known_here(crossref_dir: Path) -> None:
    # A new fixture file must be added to one of the two tables (parsed or refused).
    assert sorted(p.name for p in crossref_dir.glob("*.json")) == sorted([*WORK_COUNTS, *REFUSED])


@pytest.mark.parametrize("name", sorted(WORK_COUNTS))
def test_work_fixture_parses_into_records(crossref_dir: Path, name: str) -> None:
    records = records_of(crossref_dir, name)
    assert len(records) == WORK_COUNTS[name]
    for record in records:
        assert record.source == "crossref"
        assert record.doi is not None
        assert record.source_id == record.doi == record.doi.lower()
        assert record.identifiers[0] == Identifier("doi", record.doi)
        assert record.raw is not None and b'"score"' not in record.raw


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_error_fixture_is_refused_naming_what_crossref_said(crossref_dir: Path, name: str) -> None:
    message_type, problem, said = REFUSED[name]
    with pytest.raises(CrossrefApiError) as caught:
        records_of(crossref_dir, name)
    assert caught.value.message_type == message_type
    assert [p.type for p in caught.value.problems] == [problem]
    assert str(caught.value) == f"{name}: {said}"
    assert caught.value.cursor_invalid is (problem == "cursor-invalid")


@pytest.mark.parametrize(
    "cassette",
    [
        "habanero__cassette_cursor_max.yaml",
        "habanero__cassette_works_many_ids.yaml",
        "habanero__cassette_works_mixed_404.yaml",
    ],
)
def test_every_cassette_body_parses_or_is_refused(crossref_dir: Path, cassette: str) -> None:
    outcomes: list[int | str] = []
    for interaction in load_cassette(crossref_dir / cassette):
        try:
            records = list(iter_crossref_records(interaction["body"], origin=interaction["uri"]))
        except CrossrefNotFoundError as refusal:
            assert interaction["status"] == 404
            assert str(refusal).startswith(
                "https://api.crossref.org/works/10.1371/notarealdoi: Crossref answered "
                "'Resource not found.'"
            )
            outcomes.append("not found")
        else:
            assert interaction["status"] == 200
            outcomes.append(len(records))
    expected = {
        "habanero__cassette_cursor_max.yaml": [20, 20, 20, 20, 20],
        "habanero__cassette_works_many_ids.yaml": [1, 1, 1, 1, 1],
        "habanero__cassette_works_mixed_404.yaml": [1, "not found", 1],
    }
    assert outcomes == expected[cassette]


def test_cursor_pages_of_the_cassette_are_the_extracted_fixtures(crossref_dir: Path) -> None:
    interactions = load_cassette(crossref_dir / "habanero__cassette_cursor_max.yaml")
    for number in (1, 2, 3):
        fixture = (crossref_dir / f"habanero__works_cursor_page{number}.json").read_bytes()
        assert json.loads(interactions[number - 1]["body"]) == json.loads(fixture)


# --- cursor page 1 ---------------------------------------------------------------------------


def test_page1_envelope(crossref_dir: Path) -> None:
    page = read_work_list(
        (crossref_dir / "habanero__works_cursor_page1.json").read_bytes(), origin="page1"
    )
    assert len(page.items) == 20
    assert page.total_results == 454
    assert page.items_per_page == 20
    assert page.next_cursor is not None
    assert page.next_cursor.startswith("DnF1ZXJ5VGhlbkZldGNoJAAAAAAd55AF")
    assert page.next_cursor.endswith("AWgih0QWUlMtZjR5aVZROGlxUThvMURHandkUQ==")


def test_page1_works_without_authors_and_null_dates(crossref_dir: Path) -> None:
    records = records_of(crossref_dir, "habanero__works_cursor_page1.json")
    assert [r.doi for r in records if not r.authors] == [
        "10.1007/978-1-4302-0197-7_9",
        "10.1007/springerreference_66110",
        "10.1093/oed/5229773278",
        "10.1016/b978-155860700-2.50014-8",
    ]
    nulls = [r for r in records if r.pub_date_raw == "[[null]]"]
    assert [r.doi for r in nulls] == [
        "10.1007/978-1-4302-0197-7_9",
        "10.1007/springerreference_66110",
    ]
    for record in nulls:
        assert (record.pub_date, record.pub_date_precision, record.pub_year) == (None, None, None)


def test_page1_year_only_dates(crossref_dir: Path) -> None:
    records = records_of(crossref_dir, "habanero__works_cursor_page1.json")
    year_only = [
        (r.doi, r.pub_date, r.pub_date_raw) for r in records if r.pub_date_precision == "year"
    ]
    assert len(year_only) == 11
    assert year_only[0] == ("10.1007/978-1-4842-6700-4_5", dt.date(2020, 1, 1), "[[2020]]")
    assert year_only[-1] == ("10.1016/b978-155860802-3/50012-0", dt.date(2003, 1, 1), "[[2003]]")
    assert {r.pub_year for r in records if r.pub_date_precision == "year"} == {
        2002,
        2003,
        2020,
        2022,
    }


def test_page1_book_chapter(crossref_dir: Path) -> None:
    record = by_doi(records_of(crossref_dir, "habanero__works_cursor_page1.json"))[
        "10.1007/978-1-4302-0197-7_9"
    ]
    assert record.title == "Widget Mania: Using a GUI Widget Framework"
    assert record.title_markup is None
    assert record.journal == "Practical JavaScript™, DOM Scripting, and Ajax Projects"
    assert record.publication_types == ["book-chapter"]
    assert record.output_type == ["book-chapter"]
    assert record.identifiers[:2] == [
        Identifier("doi", "10.1007/978-1-4302-0197-7_9"),
        Identifier("isbn", "9781590598160"),
    ]
    assert (record.pages, record.first_page, record.last_page) == ("305-349", "305", "349")
    assert record.languages == ["en"]
    assert record.publisher == "Apress"


def test_page1_affiliations_and_orcid(crossref_dir: Path) -> None:
    records = by_doi(records_of(crossref_dir, "habanero__works_cursor_page1.json"))
    assert records["10.1117/1.jei.28.6.063006"].authors == [
        Author(
            position=1,
            name="Lin Qi",
            family="Qi",
            given="Lin",
            affiliations=[
                "Hebei University of Science and Technology, School of Information Science "
                "and Engineering, Shijiazhu"
            ],
        ),
        Author(
            position=2,
            name="Tiezhu Wang",
            family="Wang",
            given="Tiezhu",
            affiliations=[
                "Hebei University of Chinese Medicine, Center of Information Technology, "
                "Shijiazhuang"
            ],
        ),
    ]
    blog = records["10.59350/7mtwq-q3661"]
    assert blog.authors[0].orcid == "0000-0001-7542-0286"
    assert blog.output_type == ["posted-content", "other"]
    assert blog.abstract == (
        "In addition to this Swing-based screenshot of JChemPaint , here's a SWT widget in "
        "action (lower right corner):"
    )


# --- cursor page 2 ---------------------------------------------------------------------------


def test_page2_subtitle_joined_after_closing_punctuation(crossref_dir: Path) -> None:
    record = by_doi(records_of(crossref_dir, "habanero__works_cursor_page2.json"))[
        "10.1145/3027385.3027428"
    ]
    assert record.title == (
        "Widget, widget as you lead, I am performing well indeed! using results from an "
        "exploratory offline study to inform an empirical online study about a learning "
        "analytics widget in a collaborative learning environment"
    )
    # The container title carries an HTML entity, decoded in the plain text.
    assert record.journal == (
        "Proceedings of the Seventh International Learning Analytics & Knowledge Conference"
    )
    assert [a.affiliations for a in record.authors] == [["Open Universiteit, Heerlen, NL"]] * 5
    assert record.grants[0].agency == "European Commission"
    assert record.grants[0].grant_id == "619424"


def test_page2_family_only_author_and_null_volume(crossref_dir: Path) -> None:
    record = by_doi(records_of(crossref_dir, "habanero__works_cursor_page2.json"))[
        "10.21326/ksdt.2008..18.018"
    ]
    assert record.authors == [Author(position=1, name="조혜린", family="조혜린")]
    assert record.volume is None  # deposited as the string "null"
    assert record.issue == "18"
    assert (record.pub_date, record.pub_date_precision) == (dt.date(2008, 2, 1), "month")


def test_page2_orcids_and_relation(crossref_dir: Path) -> None:
    records = by_doi(records_of(crossref_dir, "habanero__works_cursor_page2.json"))
    orcids = {
        (doi, a.position, a.orcid)
        for doi, record in records.items()
        for a in record.authors
        if a.orcid
    }
    assert orcids == {
        ("10.59350/895qm-mnq80", 1, "0000-0001-7542-0286"),
        ("10.32614/cran.package.shinybody", 3, "0000-0002-4951-8906"),
        ("10.32614/cran.package.shinytime", 1, "0000-0003-1062-5576"),
    }
    assert records["10.59350/895qm-mnq80"].links == [
        Link(relation="is-version-of", target_scheme="doi", target_id="10.59350/7mtwq-q3661")
    ]
    # Two titles: the first is the title.
    assert records["10.36499/psnst.v14i1.11969"].title == (
        "Desain Widget Antarmuka Sistem Informasi Olahraga Lari Marathon untuk Pelatih"
    )
    dataset = records["10.32614/cran.package.shinytime"]
    assert dataset.abstract is None
    assert [(s.kind, s.text[:38]) for s in dataset.abstract_sections] == [
        ("description", "Provides a time input widget for Shiny")
    ]


# --- cursor page 3 ---------------------------------------------------------------------------


def test_page3_dissertation_skips_the_nameless_author(crossref_dir: Path) -> None:
    record = by_doi(records_of(crossref_dir, "habanero__works_cursor_page3.json"))[
        "10.31390/gradschool_theses.6125"
    ]
    assert record.authors == [
        Author(
            position=1,
            name="Joshua Rovira",
            family="Rovira",
            given="Joshua",
            affiliations=["Louisiana State University and Agricultural and Mechanical College"],
        )
    ]
    assert record.pub_date_raw == "[[null]]"
    assert record.dates == [
        DateEntry("approved", dt.date(2025, 4, 1), "day", "[[2025,4,1]]"),
        DateEntry("created", dt.date(2025, 10, 24), "day", "2025-10-24T20:23:20Z"),
        DateEntry("deposited", dt.date(2025, 10, 24), "day", "2025-10-24T20:26:54Z"),
        DateEntry("indexed", dt.date(2025, 10, 24), "day", "2025-10-24T20:32:49Z"),
    ]
    assert record.source_version == "2025-10-24T20:32:49Z"
    assert record.publication_types == ["dissertation"]


def test_page3_journal_article(crossref_dir: Path) -> None:
    record = by_doi(records_of(crossref_dir, "habanero__works_cursor_page3.json"))[
        "10.1109/tlt.2016.2622268"
    ]
    assert record.title == "Widget, Widget on the Wall, Am I Performing Well at All?"
    assert record.journal == "IEEE Transactions on Learning Technologies"
    assert record.journal_abbrev == "IEEE Trans. Learning Technol."
    assert (record.issn, record.issn_print, record.issn_electronic) == (
        "1939-1382",
        "1939-1382",
        None,
    )
    assert (record.volume, record.issue, record.pages) == ("10", "1", "42-52")
    assert [a.name for a in record.authors][:2] == ["Maren Scheffel", "Hendrik Drachsler"]
    assert len(record.authors) == 6


# --- the sample and fatcat's work list ----------------------------------------------------------


def test_sample_empty_subtitle_and_untitled_issue(crossref_dir: Path) -> None:
    article, issue = records_of(crossref_dir, "habanero__works_sample2.json")
    assert article.title == "Icônes"  # subtitle [""] adds nothing
    assert article.volume == "n° 95"
    assert (article.pages, article.first_page, article.last_page) == ("1-235", "1", "235")
    assert article.metrics == [Metric("citations", 0, "crossref", dt.date(2024, 12, 10))]
    assert issue.title is None
    assert issue.publication_types == ["journal-issue"]
    assert (issue.issn, issue.issn_print, issue.issn_electronic) == (
        "2247-8051",
        "2247-8051",
        "2247-806X",
    )
    assert issue.metrics == [Metric("citations", 4, "crossref", dt.date(2024, 12, 10))]


def test_fatcat_proceedings_with_null_date_and_family_only_authors(crossref_dir: Path) -> None:
    records = by_doi(records_of(crossref_dir, "fatcat__crossref_api_works.json"))
    paper = records["10.1109/infvis.2005.1532150"]
    assert paper.pub_date is None and paper.pub_date_raw == "[[null]]"
    assert [(a.name, a.family, a.given) for a in paper.authors[:2]] == [
        ("Doantam Phan", "Doantam Phan", None),
        ("Ling Xiao", "Ling Xiao", None),
    ]
    assert Identifier("isbn", "078039464X") in paper.identifiers
    article = records["10.1007/s10107-009-0306-5"]
    assert (article.pub_date, article.pub_date_precision) == (dt.date(2009, 9, 23), "day")
    assert article.issue == "1-2"
    assert [s.term for s in article.subjects] == ["Software", "General Mathematics"]
