"""Validation splits a batch into records to load and rows to quarantine, with exact reasons."""

from __future__ import annotations

import json

import pytest

from expectations.validate import SUITE_DIR, SUITES, BatchRejectedError, validate_batch
from schemas.record import Author, Deletion, Record
from tests.records_factory import make_record


def test_suites_are_kept_as_json_files_with_a_reason_for_every_expectation():
    for name in SUITES:
        definition = json.loads((SUITE_DIR / f"{name}.json").read_text())
        assert definition["name"] == name
        assert all(e["meta"]["why"] for e in definition["expectations"])
        assert {e["severity"] for e in definition["expectations"]} <= {"critical", "warning"}


def test_good_records_pass_and_deletions_travel_along():
    records = [make_record(i, doi=f"10.1000/x{i}", issn="0028-0836") for i in range(1, 21)]
    validated = validate_batch([*records, Deletion("pubmed", "99")], source="pubmed", batch_id="b")
    assert [r.source_id for r in validated.records] == [str(i) for i in range(1, 21)]
    assert validated.deletions == [Deletion("pubmed", "99")]
    assert validated.quarantined == []
    assert [(s.suite, s.rows, s.failed_rows, s.success) for s in validated.summaries] == [
        ("records", 20, 0, True),
        ("authors", 20, 0, True),
    ]


def test_bad_rows_are_quarantined_with_the_expectations_they_failed():
    good = [make_record(i) for i in range(1, 31)]
    no_id = make_record(40)
    no_id.source_id = None
    no_id.pmid = None
    old = make_record(41)
    old.pub_year = 1700
    gap = make_record(42)
    gap.authors = [Author(1, "A B"), Author(3, "C D")]
    untitled = make_record(43, title=None)  # type: ignore[arg-type]
    upper_doi = make_record(44, doi="10.1000/ABC")
    validated = validate_batch(
        [*good, no_id, old, gap, untitled, upper_doi], source="pubmed", batch_id="b"
    )
    assert len(validated.records) == 30
    assert {(q.source_id, tuple(q.failed_expectations)) for q in validated.quarantined} == {
        (None, ("records.expect_column_values_to_not_be_null(source_id)",)),
        ("41", ("records.expect_column_values_to_be_between(pub_year)",)),
        ("42", ("authors.expect_column_pair_values_to_be_equal(position,expected_position)",)),
        ("43", ("records.expect_column_values_to_be_in_set(has_title)",)),
        ("44", ("records.expect_column_values_to_match_regex(doi)",)),
    }
    assert next(q for q in validated.quarantined if q.source_id == "41").raw == old.raw


def test_a_vernacular_title_is_a_title():
    record = make_record(1, title=None)  # type: ignore[arg-type]
    record.vernacular_title = "Tittel på norsk"
    assert validate_batch([record], source="pubmed", batch_id="b").quarantined == []


def test_warnings_are_counted_but_the_record_loads():
    odd = make_record(1, doi="10.1000/has space", issn="12345")
    odd.authors[0].orcid = "not-an-orcid"
    validated = validate_batch([odd], source="pubmed", batch_id="b")
    assert [r.source_id for r in validated.records] == ["1"]
    assert validated.summaries[0].failures == {
        "records.expect_column_values_to_match_regex(doi)[warning]": 1,
        "records.expect_column_values_to_match_regex(issn)[warning]": 1,
    }
    assert validated.summaries[1].failures == {
        "authors.expect_column_values_to_match_regex(orcid)[warning]": 1
    }


def test_a_batch_where_most_rows_fail_is_rejected_loudly():
    broken = [make_record(i) for i in range(1, 21)]
    for record in broken[:15]:
        record.pub_year = 3000
    with pytest.raises(BatchRejectedError) as caught:
        validate_batch(broken, source="pubmed", batch_id="efetch:x:0")
    message = str(caught.value)
    assert "pubmed batch efetch:x:0: 15 of 20 records failed validation" in message
    assert "records.expect_column_values_to_be_between(pub_year): 15 rows" in message


def test_a_few_bad_rows_in_a_tiny_batch_are_quarantined_not_rejected():
    lone = make_record(1)
    lone.pub_year = 3000
    validated = validate_batch([lone], source="pubmed", batch_id="b")
    assert [q.source_id for q in validated.quarantined] == ["1"]


def test_duplicate_ids_in_a_batch_keep_the_last_version():
    validated = validate_batch(
        [make_record(1, title="old"), make_record(1, title="new")], source="pubmed", batch_id="b"
    )
    assert [r.title for r in validated.records] == ["new"]


def test_the_earliest_plausible_year_depends_on_the_source():
    old = make_record(1)
    old.pub_year = 1665
    assert [
        q.source_id for q in validate_batch([old], source="pubmed", batch_id="b").quarantined
    ] == ["1"]
    # The same record as Crossref has it: the DOI is its id, the indexed date its version.
    old.source, old.source_id, old.doi = (
        "crossref",
        "10.1098/rstl.1665.0001",
        "10.1098/rstl.1665.0001",
    )
    old.source_version = "2026-11-01T00:00:00Z"
    assert validate_batch([old], source="crossref", batch_id="b").quarantined == []


def test_packages_the_suites_never_run_load_only_when_used():
    # Great Expectations imports altair and scipy.stats with its core expectations: ~76 MB of a
    # bulk worker's memory for charts and distribution tests our suites do not have. In a
    # fresh interpreter: after a validation they are still unexecuted, and work when used.
    import subprocess
    import sys
    from pathlib import Path

    code = """
import sys
from expectations.validate import validate_batch
from tests.records_factory import make_record
validated = validate_batch([make_record(i) for i in (1, 2, 3)], source="pubmed", batch_id="b")
assert [r.source_id for r in validated.records] == ["1", "2", "3"]
kinds = {name: type(sys.modules[name]).__name__ for name in ("altair", "scipy.stats")}
assert kinds == {"altair": "_LazyModule", "scipy.stats": "_LazyModule"}, kinds
from scipy import stats
assert stats.norm.cdf(0) == 0.5
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_great_expectations_analytics_are_off():
    from expectations.validate import _validator

    assert _validator().context.config.analytics_enabled is False


def test_a_title_is_critical_only_where_the_record_type_requires_one():
    # PubMed publishes errata with an empty ArticleTitle (PMID 33977567), Crossref issues,
    # volumes and components without titles: loaded, and counted as untitled (a warning).
    erratum = make_record(1, title=None, publication_types=["Published Erratum"])  # type: ignore[arg-type]
    article = make_record(2, title=None, publication_types=["Journal Article"])  # type: ignore[arg-type]
    issue = Record(source="crossref", source_id="10.1234/i", doi="10.1234/i", source_version="v")
    issue.publication_types, issue.pub_year = ["journal-issue"], 2020
    chapter = Record(source="crossref", source_id="10.1234/c", doi="10.1234/c", source_version="v")
    chapter.publication_types, chapter.pub_year = ["book-chapter"], 2020
    pubmed = validate_batch([erratum, article], source="pubmed", batch_id="p")
    crossref = validate_batch([issue, chapter], source="crossref", batch_id="c")
    assert [r.source_id for r in pubmed.records + crossref.records] == ["1", "10.1234/i"]
    assert [
        (q.source_id, q.failed_expectations) for q in pubmed.quarantined + crossref.quarantined
    ] == [
        ("2", ["records.expect_column_values_to_be_in_set(has_title)"]),
        ("10.1234/c", ["records.expect_column_values_to_be_in_set(has_title)"]),
    ]
    for validated in (pubmed, crossref):
        records_summary = next(s for s in validated.summaries if s.suite == "records")
        assert (
            records_summary.failures["records.expect_column_values_to_be_in_set(untitled)[warning]"]
            == 2
        )
