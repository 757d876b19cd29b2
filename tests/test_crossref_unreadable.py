"""A Crossref work that cannot be represented faithfully is quarantined with its reason, and a
field dropped for its JSON type is a counted warning (issue 15): before, bytes that are not
UTF-8 became U+FFFD and loaded, NaN/Infinity loaded as a missing count, and an `author` string
or `date-parts` string loaded as no authors / no year, all without a word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.crossref import iter_crossref_records
from flows.importing import run_import
from tests.flow_helpers import warehouse_rows

PAGE = "crossref/habanero__works_cursor_page1.json"  # 20 real works
NOT_UTF8 = "@@not-utf-8@@"  # replaced by a lone 0xFF byte in the written file


def _page_bytes(fixtures_dir: Path, change: dict[int, dict[str, Any]]) -> tuple[bytes, list[str]]:
    document = json.loads((fixtures_dir / PAGE).read_bytes())
    items = document["message"]["items"]
    for index, fields in change.items():
        items[index].update(fields)
    text = json.dumps(document, ensure_ascii=False)  # NaN and Infinity as Python writes them
    return text.encode().replace(NOT_UTF8.encode(), b"\xff"), [w["DOI"].lower() for w in items]


CHANGES: dict[int, dict[str, Any]] = {
    0: {"title": [f"A title {NOT_UTF8} with a byte that is not UTF-8"]},
    1: {"is-referenced-by-count": float("nan")},
    2: {"author": "Smith, J."},
    3: {"issued": {"date-parts": "2020"}},
    4: {"is-referenced-by-count": 10**30},
    5: {"reference": [{"unstructured": "ok"}, "a citation as a bare string"]},
    6: {"short-container-title": [float("inf")]},
}


def test_each_work_is_parsed_kept_apart_or_counted(fixtures_dir: Path) -> None:
    body, dois = _page_bytes(fixtures_dir, CHANGES)
    records = list(iter_crossref_records(body, origin="page"))
    assert [r.source_id for r in records] == dois
    assert [(i, r.unreadable) for i, r in enumerate(records) if r.unreadable] == [
        (0, "text that is not valid UTF-8 in title[0]"),
        (1, "NaN (not allowed in JSON) in is-referenced-by-count"),
        (6, "Infinity (not allowed in JSON) in short-container-title[0]"),
    ]
    assert [(i, r.dropped) for i, r in enumerate(records) if r.dropped] == [
        (2, ["author: a JSON string, not a list"]),
        (3, ["issued.date-parts: a JSON string, not a list of lists"]),
        (4, [f"is-referenced-by-count: {10**30} is not a count a 64-bit integer holds"]),
        (5, ["reference[1]: a JSON string, not an object"]),
    ]
    # The unreadable work keeps its evidence, ASCII-escaped (surrogates are not UTF-8).
    raw = records[0].raw
    assert raw is not None and b"\\udcff" in raw


def test_json_lines_quarantine_one_line_and_keep_its_neighbours() -> None:
    good = b'{"DOI": "10.1/a", "type": "journal-article", "title": ["A"]}'
    bad = b'{"DOI": "10.1/b", "type": "journal-article", "title": ["B \xc3"]}'
    records = list(iter_crossref_records(b"\n".join([good, bad, good]), origin="dump"))
    assert [(r.source_id, r.title, r.unreadable) for r in records] == [
        ("10.1/a", "A", None),
        ("10.1/b", None, "text that is not valid UTF-8 in title[0]"),
        ("10.1/a", "A", None),
    ]


def test_a_page_imports_its_good_works_and_quarantines_with_the_reason(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.json"
    clean.write_bytes((fixtures_dir / PAGE).read_bytes())
    changed = tmp_path / "changed.json"
    changed.write_bytes(_page_bytes(fixtures_dir, CHANGES)[0])
    baseline = run_import([str(clean)], fmt="crossref", db=str(tmp_path / "clean.duckdb"))
    assert (baseline["fetched"], baseline["inserted"], baseline["quarantined"]) == (20, 20, 0)

    db = tmp_path / "changed.duckdb"
    outcome = run_import([str(changed)], fmt="crossref", db=str(db))
    assert (outcome["fetched"], outcome["inserted"], outcome["quarantined"]) == (20, 17, 3)
    _, dois = _page_bytes(fixtures_dir, {})
    reason_of = {
        dois[0]: "unreadable: text that is not valid UTF-8 in title[0]",
        dois[1]: "unreadable: NaN (not allowed in JSON) in is-referenced-by-count",
        dois[6]: "unreadable: Infinity (not allowed in JSON) in short-container-title[0]",
    }
    assert sorted(
        warehouse_rows(db, "SELECT source_id, failed_expectations FROM quarantine")
    ) == sorted(
        (doi, ["records.expect_column_values_to_be_null(unreadable)", reason])
        for doi, reason in reason_of.items()
    )
    # The dropped fields are warnings: counted per batch, and their works load.
    assert warehouse_rows(
        db,
        "SELECT failures->>'$.\"records.expect_column_values_to_be_in_set(dropped_fields)"
        "[warning]\"' FROM validation_results WHERE suite = 'records'",
    ) == [("4",)]
    listed = ", ".join(f"'{doi}'" for doi in dois[2:6])
    shape = (
        'SELECT source_id, len(authors), pub_year, len(metrics), len("references") '
        f"FROM records WHERE source_id IN ({listed}) ORDER BY source_id"
    )
    as_recorded = {row[0]: row for row in warehouse_rows(tmp_path / "clean.duckdb", shape)}
    assert len(as_recorded) == 4 and as_recorded[dois[2]][1] == 1  # one author as recorded
    expected = [
        (dois[2], 0, *as_recorded[dois[2]][2:]),  # the author string dropped
        (dois[3], as_recorded[dois[3]][1], None, *as_recorded[dois[3]][3:]),  # no year
        (dois[4], *as_recorded[dois[4]][1:3], 0, as_recorded[dois[4]][4]),  # no count
        (dois[5], *as_recorded[dois[5]][1:4], 1),  # the bare-string reference dropped
    ]
    assert warehouse_rows(db, shape) == sorted(expected)


@pytest.mark.parametrize("name", ["NaN", "Infinity", "-Infinity"])
def test_every_non_json_constant_is_named(name: str) -> None:
    body = f'{{"DOI": "10.1/x", "type": "other", "volume": [{name}]}}'.encode()
    (record,) = iter_crossref_records(body, origin="x")
    assert record.unreadable == f"{name} (not allowed in JSON) in volume[0]"
