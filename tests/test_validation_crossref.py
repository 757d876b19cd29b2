"""The Crossref suite: on top of the shared suites, only for Crossref batches."""

from __future__ import annotations

from connectors.crossref.parse import iter_crossref_records
from expectations.validate import validate_batch


def test_a_real_crossref_page_passes_with_the_crossref_suite(fixtures_dir):
    page = fixtures_dir / "crossref" / "habanero__works_cursor_page1.json"
    records = list(iter_crossref_records(page, origin=page.name))
    validated = validate_batch(records, source="crossref", batch_id="page1")
    assert [s.suite for s in validated.summaries] == ["records", "authors", "crossref"]
    assert validated.quarantined == []
    assert len(validated.records) == 20
    assert validated.summaries[2].failures == {}


def test_crossref_specific_failures(fixtures_dir):
    page = fixtures_dir / "crossref" / "habanero__works_cursor_page1.json"
    records = list(iter_crossref_records(page, origin=page.name))
    records[0].source_id = "10.9999/not-this-work"
    records[1].publication_types = ["hologram"]
    records[2].source_version = None
    validated = validate_batch(records, source="crossref", batch_id="page1")
    assert sorted(
        (q.row_in_batch, tuple(q.failed_expectations)) for q in validated.quarantined
    ) == [
        (0, ("crossref.expect_column_pair_values_to_be_equal(source_id,doi)",)),
        (2, ("crossref.expect_column_values_to_not_be_null(source_version)",)),
    ]
    assert validated.summaries[2].failures == {
        "crossref.expect_column_pair_values_to_be_equal(source_id,doi)[critical]": 1,
        "crossref.expect_column_values_to_be_in_set(crossref_type)[warning]": 1,
        "crossref.expect_column_values_to_not_be_null(source_version)[critical]": 1,
    }


def test_other_sources_do_not_get_the_crossref_suite(fixtures_dir):
    page = fixtures_dir / "crossref" / "habanero__works_cursor_page1.json"
    records = list(iter_crossref_records(page, origin=page.name))
    assert [s.suite for s in validate_batch(records, source="pubmed", batch_id="x").summaries] == [
        "records",
        "authors",
    ]
