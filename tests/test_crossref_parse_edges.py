"""Synthetic Crossref cases no recording shows: SICI DOIs, 1,000+ authors, JSON-lines dumps,
structured JATS abstracts, title markup, update notices, odd date-parts, refused payloads."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.crossref import (
    CrossrefApiError,
    CrossrefNotFoundError,
    iter_crossref_records,
    jats_to_text,
    parse_work,
    read_work_list,
)
from connectors.crossref.parse import parse_date_parts
from expectations.validate import validation_frames
from schemas.arrow import records_table
from schemas.errors import MalformedPayloadError
from schemas.record import Author, Grant, Identifier, Link, Metric

SICI = "10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D"


def work(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"DOI": "10.5555/Edge.1", "type": "journal-article"}
    base.update(fields)
    return base


def jsonl(*works: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(w).encode() + b"\n" for w in works)


# --- identifiers -----------------------------------------------------------------------------


def test_sici_doi_keeps_every_character_lower_cased() -> None:
    record = parse_work(work(DOI=SICI, reference=[{"key": "r1", "DOI": f"https://doi.org/{SICI}"}]))
    expected = "10.1002/(sici)1097-4636(199706)35:4<477::aid-jbm8>3.0.co;2-d"
    assert record.doi == record.source_id == expected
    assert record.identifiers == [Identifier("doi", expected)]
    assert record.references[0].identifiers == [Identifier("doi", expected)]
    # The DOI is data, not markup: nothing of it is stripped as a "tag".
    assert json.loads(record.raw or b"")["DOI"] == SICI


def test_missing_doi_leaves_source_id_none_for_quarantine() -> None:
    record = parse_work({"type": "journal-article", "title": ["No DOI"]})
    assert record.source_id is None and record.doi is None
    assert record.title == "No DOI"


def test_isbns_are_normalised() -> None:
    record = parse_work(
        work(
            ISBN=[
                "http://id.crossref.org/isbn/978-3-16-148410-0",
                "0-8044-2957-x",
                "978-3-16-148410-9",  # wrong check digit: no ISBN, dropped
            ]
        )
    )
    assert record.identifiers == [
        Identifier("doi", "10.5555/edge.1"),
        Identifier("isbn", "9783161484100"),
        Identifier("isbn", "080442957X"),
    ]


def test_issns_are_normalised_and_a_wrong_check_digit_is_skipped() -> None:
    record = parse_work(
        work(
            ISSN=["2345-678X", "2050-084x"],
            **{
                "issn-type": [
                    {"type": "print", "value": "2345-678X"},  # wrong check digit
                    {"type": "electronic", "value": "2050084x"},
                ]
            },
        )
    )
    assert (record.issn_print, record.issn_electronic, record.issn) == (
        None,
        "2050-084X",
        "2050-084X",
    )
    only_listed = parse_work(work(ISSN=["2345-678X", "0378-5955"]))
    assert only_listed.issn == "0378-5955"


def test_a_doi_that_is_not_one_leaves_source_id_none() -> None:
    record = parse_work(work(DOI="10.5555/has space"))
    assert record.source_id is None and record.doi is None


# --- people ----------------------------------------------------------------------------------


def test_more_than_a_thousand_authors_in_order() -> None:
    people: list[dict[str, Any]] = [
        {"name": "The Sandbox Genomes Consortium", "sequence": "first", "affiliation": []}
    ]
    for n in range(1, 1234):
        person: dict[str, Any] = {
            "given": f"Given{n}",
            "family": f"Family{n}",
            "sequence": "additional",
            "affiliation": [{"name": f"Institute {n % 7}"}],
        }
        if n % 100 == 0:
            person["ORCID"] = f"http://orcid.org/0000-0002-{n:04d}-000X"
        people.append(person)
    people.insert(600, {"sequence": "additional", "affiliation": []})  # nameless: skipped
    people.append({"family": "Solo", "sequence": "additional", "affiliation": []})
    editors = [{"given": "Ed", "family": f"Itor{n}", "sequence": "first"} for n in range(3)]
    record = parse_work(work(author=people, editor=editors))

    authors = [a for a in record.authors if a.role == "author"]
    assert len(authors) == 1235
    assert [a.position for a in authors] == list(range(1, 1236))
    assert authors[0] == Author(
        position=1,
        name="The Sandbox Genomes Consortium",
        collective="The Sandbox Genomes Consortium",
    )
    assert authors[1000] == Author(
        position=1001,
        name="Given1000 Family1000",
        family="Family1000",
        given="Given1000",
        orcid="0000-0002-1000-000X",
        affiliations=["Institute 6"],
    )
    assert authors[-1] == Author(position=1235, name="Solo", family="Solo")
    # Of the twelve "0000-0002-nn00-000X", only n=200 and n=1000 have X as their right check
    # digit: the other ten are not ORCID iDs and are dropped.
    assert [a.position for a in authors if a.orcid] == [201, 1001]
    assert [(a.position, a.name, a.role) for a in record.authors[-3:]] == [
        (1, "Ed Itor0", "editor"),
        (2, "Ed Itor1", "editor"),
        (3, "Ed Itor2", "editor"),
    ]


# --- text ------------------------------------------------------------------------------------


def test_title_markup_kept_and_flattened() -> None:
    record = parse_work(
        work(
            title=["Effects of <i>E. coli</i> on H<sub>2</sub>O &amp; salt"],
            subtitle=["a   review"],
            **{"original-title": ["Effets d'<i>E. coli</i>"]},
        )
    )
    assert record.title == "Effects of E. coli on H2O & salt: a review"
    assert (
        record.title_markup == "Effects of <i>E. coli</i> on H<sub>2</sub>O &amp; salt: a   review"
    )
    assert record.vernacular_title == "Effets d'E. coli"


def test_subtitle_alone_and_title_ending_in_colon() -> None:
    assert parse_work(work(subtitle=["Only a subtitle"])).title == "Only a subtitle"
    assert parse_work(work(title=["Widgets:"], subtitle=["why"])).title == "Widgets: why"


def test_structured_jats_abstract() -> None:
    jats = (
        '<jats:abstract xml:lang="en"><jats:title>Abstract</jats:title>'
        "<jats:sec><jats:title>Background</jats:title><jats:p>Widgets\n  matter "
        "(p < 0.05).</jats:p></jats:sec>"
        "<jats:sec><jats:title>Methods</jats:title><jats:p>We used <jats:italic>x</jats:italic>"
        "<mml:math><mml:mi>α</mml:mi></mml:math> and &#8805;3 runs.</jats:p>"
        "<jats:list><jats:list-item><jats:p>one</jats:p></jats:list-item>"
        "<jats:list-item><jats:p>two</jats:p></jats:list-item></jats:list></jats:sec>"
        "<jats:p>Closing remark.</jats:p></jats:abstract>"
    )
    assert jats_to_text(jats) == (
        "Background: Widgets matter (p < 0.05).\n\n"
        "Methods: We used xα and ≥3 runs.\n\n"
        "one\n\ntwo\n\nClosing remark."
    )
    assert jats_to_text("Plain text, no tags &amp; one entity.") == (
        "Plain text, no tags & one entity."
    )
    assert jats_to_text("<jats:p> </jats:p>") is None


# --- links, grants, licence ------------------------------------------------------------------


def test_update_notices_and_updated_works() -> None:
    notice = parse_work(
        work(
            **{
                "update-to": [
                    {"DOI": "10.5555/ORIGINAL", "type": "retraction", "label": "Retraction"},
                    {"DOI": "10.5555/other", "type": "correction"},
                ]
            }
        )
    )
    assert notice.links == [
        Link(relation="retraction", target_scheme="doi", target_id="10.5555/original"),
        Link(relation="correction", target_scheme="doi", target_id="10.5555/other"),
    ]
    original = parse_work(work(**{"updated-by": [{"DOI": "10.5555/Edge.1", "type": "retraction"}]}))
    assert original.links == [
        Link(relation="has-retraction", target_scheme="doi", target_id="10.5555/edge.1")
    ]


def test_award_info_when_award_is_missing_and_one_grant_per_award() -> None:
    record = parse_work(
        work(
            funder=[
                {"name": "Agency A", "award-info": [{"award-number": ["A-1", "A-2"]}]},
                {"name": "Agency B", "award": ["B-1", "B-1", " "]},
                {"DOI": "10.13039/000", "award": []},
            ]
        )
    )
    assert record.grants == [
        Grant(grant_id="A-1", agency="Agency A"),
        Grant(grant_id="A-2", agency="Agency A"),
        Grant(grant_id="B-1", agency="Agency B"),
    ]


def test_licence_prefers_the_version_of_record() -> None:
    record = parse_work(
        work(
            license=[
                {"URL": "https://example.org/tdm", "content-version": "tdm"},
                {"URL": "https://creativecommons.org/licenses/by/4.0/", "content-version": "vor"},
            ]
        )
    )
    assert record.license == "https://creativecommons.org/licenses/by/4.0/"


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([[2019, 0]], (dt.date(2019, 1, 1), "year", "[[2019,0]]", 2019)),
        ([[2019, 2, 30]], (dt.date(2019, 2, 1), "month", "[[2019,2,30]]", 2019)),
        ([["2019", "5"]], (dt.date(2019, 5, 1), "month", '[["2019","5"]]', 2019)),
        ([[2001, 1], [2001, 3]], (dt.date(2001, 1, 1), "range", "[[2001,1],[2001,3]]", 2001)),
        ([[None]], (None, None, "[[null]]", None)),
        ([], (None, None, "[]", None)),
    ],
)
def test_date_parts(parts: list[Any], expected: tuple[Any, ...]) -> None:
    assert parse_date_parts({"date-parts": parts}) == expected


# --- payload forms ---------------------------------------------------------------------------


def test_json_lines_stream_with_blank_lines_and_a_long_first_line(tmp_path: Path) -> None:
    many_authors = [{"family": f"F{n}", "given": "G"} for n in range(3000)]  # > 64 KiB line
    payload = jsonl(work(DOI="10.5555/a", author=many_authors), work(DOI="10.5555/b"))
    payload += b"\n" + jsonl(work(DOI="10.5555/C"))
    assert len(payload.split(b"\n", 1)[0]) > 65536
    from_bytes = [r.doi for r in iter_crossref_records(payload, origin="dump")]
    assert from_bytes == ["10.5555/a", "10.5555/b", "10.5555/c"]
    path = tmp_path / "dump.jsonl.gz"
    path.write_bytes(gzip.compress(payload))
    records = list(iter_crossref_records(path, origin="dump"))
    assert [r.doi for r in records] == from_bytes
    assert len(records[0].authors) == 3000


def test_json_lines_errors_name_the_line() -> None:
    broken = jsonl(work(DOI="10.5555/a"), work(DOI="10.5555/b")) + b"\n{not json\n"
    with pytest.raises(MalformedPayloadError, match=r"^dump: line 4 is not JSON"):
        list(iter_crossref_records(broken, origin="dump"))
    refused = jsonl(work(), {"status": "failed", "message-type": "exception", "message": "boom"})
    with pytest.raises(CrossrefApiError, match="exception: boom"):
        list(iter_crossref_records(refused, origin="dump"))


def test_other_json_forms() -> None:
    array = json.dumps([work(DOI="10.5555/x"), work(DOI="10.5555/y")]).encode()
    assert [r.doi for r in iter_crossref_records(array, origin="a")] == ["10.5555/x", "10.5555/y"]
    data_file = json.dumps({"items": [work(DOI="10.5555/z")]}).encode()
    assert [r.doi for r in iter_crossref_records(data_file, origin="f")] == ["10.5555/z"]
    pretty = json.dumps(work(DOI="10.5555/p"), indent=2).encode()
    assert [r.doi for r in iter_crossref_records(pretty, origin="p")] == ["10.5555/p"]
    envelope = gzip.compress(
        json.dumps({"status": "ok", "message-type": "work", "message": work()}).encode()
    )
    assert [r.doi for r in iter_crossref_records(envelope, origin="g")] == ["10.5555/edge.1"]


def test_refused_payloads() -> None:
    with pytest.raises(CrossrefNotFoundError, match=r"^x: Crossref answered 'Resource not found.'"):
        list(iter_crossref_records(b"Resource not found.", origin="x"))
    with pytest.raises(MalformedPayloadError) as caught:
        list(iter_crossref_records(b"<html><body>Bad gateway</body></html>", origin="x"))
    assert str(caught.value) == (
        "x: not Crossref JSON (Expecting value at line 1, column 1); the body starts with "
        "'<html><body>Bad gateway</body></html>'"
    )
    with pytest.raises(MalformedPayloadError, match="not a Crossref work or work list"):
        list(iter_crossref_records(b"42", origin="x"))
    with pytest.raises(MalformedPayloadError, match="member message is not a work"):
        list(
            iter_crossref_records(
                b'{"status":"ok","message-type":"member","message":{}}', origin="x"
            )
        )
    with pytest.raises(MalformedPayloadError, match="truncated or corrupt"):
        list(iter_crossref_records(gzip.compress(jsonl(work()))[:-12], origin="x"))
    with pytest.raises(TypeError, match="pass the payload as bytes; a str source is a path"):
        list(iter_crossref_records('{"DOI": "10.1/x"}', origin="x"))


def test_read_work_list_refuses_what_is_not_a_work_list() -> None:
    single = json.dumps({"status": "ok", "message-type": "work", "message": work()}).encode()
    with pytest.raises(
        MalformedPayloadError, match="expected a Crossref work-list, got message-type 'work'"
    ):
        read_work_list(single, origin="x")
    bad_item = json.dumps(
        {"status": "ok", "message-type": "work-list", "message": {"items": [work(), "oops"]}}
    ).encode()
    with pytest.raises(MalformedPayloadError, match="item 1 of the work-list is a JSON str"):
        read_work_list(bad_item, origin="x")


def test_assertion_dates_keep_unreadable_text() -> None:
    record = parse_work(
        work(
            assertion=[
                {"name": "received", "value": "Summer 2015"},
                {"name": "revised", "value": "3 Feb 2016"},
                {"name": "copyright", "value": "© 2016"},
            ]
        )
    )
    assert [(d.kind, d.date, d.precision, d.raw) for d in record.dates] == [
        ("received", None, None, "Summer 2015"),
        ("revised", dt.date(2016, 2, 3), "day", "3 Feb 2016"),
    ]


# --- values no column holds (found by tests/test_fuzz_parsers.py) ------------------------------


@pytest.mark.parametrize("count", [10**30, -(10**30), "1" * 31, "9" * 5000, "²"])
def test_a_citation_count_no_bigint_holds_is_dropped_and_named(count: Any) -> None:
    # 10**30 crashed the Arrow table and the validation frame with OverflowError; "9" * 5000
    # and "²" crashed `int()` with ValueError. Dropped silently after that (issue 15): now
    # named in `dropped`, which validation counts as a warning.
    body = json.dumps(work(**{"is-referenced-by-count": count, "title": ["T"]})).encode()
    (record,) = iter_crossref_records(body, origin="x")
    assert record.metrics == []
    assert record.title == "T"
    assert record.unreadable is None
    assert len(record.dropped) == 1
    assert record.dropped[0].startswith("is-referenced-by-count: ")
    assert record.dropped[0].endswith(" is not a count a 64-bit integer holds")
    assert records_table([record]).column("metrics").to_pylist() == [[]]
    frames = validation_frames([record], source="crossref")
    assert frames["crossref"]["citations"].isna().tolist() == [True]
    assert frames["records"]["dropped_fields"].tolist() == [1]


def test_a_negative_citation_count_is_kept_for_the_suite_to_quarantine() -> None:
    (record,) = iter_crossref_records(
        json.dumps(work(**{"is-referenced-by-count": -5})).encode(), origin="x"
    )
    assert record.metrics == [Metric("citations", -5, "crossref", None)]


@pytest.mark.parametrize(
    "body",
    [
        b'{"DOI": "10.1/x", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"DOI": "10.1/x"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    ],
    ids=["document", "bare-array", "json-lines"],
)
def test_json_nested_too_deeply_is_malformed(body: bytes) -> None:
    # RecursionError from the JSON decoder before.
    with pytest.raises(MalformedPayloadError, match="nested too deeply to decode"):
        list(iter_crossref_records(body, origin="deep.json"))


def test_a_lone_surrogate_escape_makes_the_work_unreadable() -> None:
    # UnicodeEncodeError when `raw` was encoded before; then replaced by U+FFFD and loaded, a
    # guess the XML paths never make. Now the work is kept apart, with its evidence.
    body = b'{"DOI": "10.1/X", "type": "journal-article", "title": ["A \\ud800 B"]}'
    (record,) = iter_crossref_records(body, origin="x")
    assert record.unreadable == "text that is not valid UTF-8 in title[0]"
    assert (record.source_id, record.doi, record.title) == ("10.1/x", "10.1/x", None)
    assert record.raw is not None
    assert json.loads(record.raw)["title"] == ["A \ud800 B"]


def test_wrong_json_types_drop_the_field() -> None:
    record = parse_work(
        work(author="Smith, J.", issued={"date-parts": "2020-01-01"}, title=[float("nan")])
    )
    assert (record.authors, record.pub_date, record.pub_date_raw, record.title) == (
        [],
        None,
        '"2020-01-01"',
        None,
    )


def test_a_date_part_beyond_a_c_int_falls_back() -> None:
    # OverflowError from `datetime.date` before.
    assert parse_date_parts({"date-parts": [[2020, 1, 2**40]]}) == (
        dt.date(2020, 1, 1),
        "month",
        "[[2020,1,1099511627776]]",
        2020,
    )
    assert parse_date_parts({"date-parts": [[10**30, 1, 1]]}) == (
        None,
        None,
        "[[1000000000000000000000000000000,1,1]]",
        None,
    )
