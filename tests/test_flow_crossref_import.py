"""`biblioduck import FILE --format crossref` (the import_files flow) on the real recorded Crossref
responses: every work loads once, the untitled journal issue is quarantined, a second import
of the same files is recognised by their content and does nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.imports import import_files
from tests.conftest import BACKENDS, location_in
from tests.flow_helpers import warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

# Every recorded Crossref body that holds works (the error bodies are refused, not imported).
WORK_FILES = {
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
# A journal-issue without a title: loaded (Crossref publishes issues untitled), counted as a
# warning (quarantined until issue 17 made the title rule depend on the record type).
UNTITLED = "10.7752/jpes.2018.03256"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    """Each backend in turn, for the whole module: its import runs once."""
    return str(request.param)


@pytest.fixture(scope="module")
def imported(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory, backend: str):
    paths = [str(fixtures_dir / "crossref" / name) for name in WORK_FILES]
    db = location_in(tmp_path_factory.mktemp("import"), backend, "crossref")
    first = import_files(paths=paths, fmt="crossref", db=str(db))
    return db, paths, first


def test_every_recorded_work_imports_once(imported) -> None:
    db, paths, first = imported
    assert [(Path(f["file"]).name, f["fetched"]) for f in first["files"]] == list(
        WORK_FILES.items()
    )
    assert (first["fetched"], first["inserted"], first["quarantined"]) == (70, 70, 0)
    assert warehouse_rows(db, "SELECT source, kind, status FROM runs") == [
        ("crossref", "import", "completed")
    ]
    assert warehouse_rows(
        db,
        "SELECT source, count(*), count(DISTINCT doi), count(*) FILTER (WHERE doi = lower(doi)), "
        "count(title), count(journal), count(pub_year), count(*) FILTER (WHERE len(authors) > 0), "
        "count(*) FILTER (WHERE len(metrics) = 1) FROM records GROUP BY source",
    ) == [("crossref", 70, 70, 70, 69, 65, 63, 57, 70)]
    assert warehouse_rows(db, "SELECT source_id, failed_expectations FROM quarantine") == []
    assert warehouse_rows(
        db, f"SELECT publication_types, title FROM records WHERE doi = '{UNTITLED}'"
    ) == [(["journal-issue"], None)]
    assert warehouse_rows(
        db,
        "SELECT sum(CAST(failures->>'$.\"records.expect_column_values_to_be_in_set(untitled)"
        "[warning]\"' AS INT)) FROM validation_results WHERE suite = 'records'",
    ) == [(1,)]
    before = warehouse_rows(db, "SELECT count(*) FROM validation_results")
    # The same files again: known by their content, nothing is read or written but a run row.
    again = import_files(paths=paths, fmt="crossref", db=str(db))
    assert [(f["file"], f["status"]) for f in again["files"]] == [
        (name, "already loaded") for name in WORK_FILES
    ]
    assert (again["fetched"], again["inserted"], again["updated"], again["unchanged"]) == (
        0,
        0,
        0,
        0,
    )
    assert warehouse_rows(db, "SELECT kind, status, fetched FROM runs ORDER BY started_at") == [
        ("import", "completed", 70),
        ("import", "completed", 0),
    ]
    assert warehouse_rows(db, "SELECT count(*) FROM validation_results") == before
    assert warehouse_rows(db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert warehouse_rows(db, "SELECT count(*) FROM record_versions") == [(70,)]


def test_an_import_labels_its_bookkeeping_with_its_format(imported) -> None:
    db, _paths, _first = imported
    assert warehouse_rows(
        db,
        "SELECT DISTINCT source FROM (SELECT source FROM validation_results UNION ALL "
        "SELECT source FROM quarantine UNION ALL SELECT source FROM raw_payloads)",
    ) == [("crossref",)]
