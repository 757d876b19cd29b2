"""`biblioduck reparse` (issue 17, part 0): stored payloads parsed and validated again with the
current code reach an existing warehouse without fetching: a row that differs is rewritten as a
'reparsed' version, an equal one is left alone (a second run changes nothing), a quarantined
payload that passes the current rules loads, and an interrupted run resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from expectations import validate
from flows import pipeline
from flows import reparse as reparse_module
from flows.importing import run_import
from flows.reparse import reparse
from tests.flow_helpers import warehouse_rows
from warehouse.store import Warehouse

CROSSREF = ["habanero__works_cursor_page1.json", "habanero__works_sample2.json"]
PUBMED = "pubmed_efetch/biopython__pubmed1.xml"
UNTITLED = "10.7752/jpes.2018.03256"  # a journal-issue without a title


@pytest.fixture
def warehouse(fixtures_dir: Path, warehouse_location: Path) -> Path:
    db = warehouse_location
    run_import([str(fixtures_dir / "crossref" / n) for n in CROSSREF], fmt="crossref", db=str(db))
    run_import([str(fixtures_dir / PUBMED)], fmt="pubmed", db=str(db))
    return db


def _counts(result: dict, source: str) -> tuple[int, int, int, int]:
    counts = result["sources"][source]
    return counts["read"], counts["equal"], counts["updated"], counts["inserted"]


def test_equal_records_are_left_alone(warehouse: Path) -> None:
    versions = warehouse_rows(warehouse, "SELECT count(*) FROM record_versions")
    result = reparse(db=str(warehouse))
    assert _counts(result, "crossref") == (22, 22, 0, 0)
    assert _counts(result, "pubmed") == (2, 2, 0, 0)
    assert _counts(result, "oai") == (0, 0, 0, 0)
    assert warehouse_rows(warehouse, "SELECT count(*) FROM record_versions") == versions


def test_a_row_the_current_code_reads_differently_is_rewritten_once(warehouse: Path) -> None:
    # What an older parser stored: another title for one work, no authors for a PubMed record.
    with Warehouse(warehouse) as opened:
        con = opened.con
        doi = con.execute(
            "SELECT min(source_id) FROM source_records WHERE source = 'crossref'"
        ).fetchone()[0]
        title = con.execute(
            f"SELECT title FROM source_records WHERE source_id = '{doi}'"
        ).fetchone()[0]
        con.execute(
            f"UPDATE source_records SET title = 'As an old parser read it' "
            f"WHERE source_id = '{doi}'"
        )
        con.execute("UPDATE source_records SET authors = [] WHERE source = 'pubmed'")
    result = reparse(db=str(warehouse))
    assert _counts(result, "crossref") == (22, 21, 1, 0)
    assert _counts(result, "pubmed") == (2, 0, 2, 0)
    assert warehouse_rows(warehouse, f"SELECT title FROM records WHERE source_id = '{doi}'") == [
        (title,)
    ]
    assert warehouse_rows(
        warehouse, "SELECT count(*) FROM records WHERE source = 'pubmed' AND len(authors) > 0"
    ) == [(2,)]
    assert warehouse_rows(
        warehouse,
        "SELECT change, count(*), count(DISTINCT content_hash) FROM record_versions "
        "WHERE change = 'reparsed' GROUP BY change",
    ) == [("reparsed", 3, 3)]
    again = reparse(db=str(warehouse))
    assert _counts(again, "crossref") == (22, 22, 0, 0)
    assert _counts(again, "pubmed") == (2, 2, 0, 0)


def test_a_quarantined_payload_that_passes_the_current_rules_loads(
    fixtures_dir: Path, warehouse_location: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = warehouse_location
    body = (fixtures_dir / "crossref" / "habanero__works_sample2.json").read_bytes()
    # Loaded under the rule before issue 17 (every Crossref record needs a title), in this
    # process: an import validates in worker processes, which would not see the patch.
    with monkeypatch.context() as old_rules, Warehouse(db) as opened:
        old_rules.setitem(validate.TITLE_OPTIONAL, "crossref", frozenset())
        run_id = opened.start_run("crossref", "import", {})
        first = pipeline.process_items(
            opened,
            pipeline.parse_payload(body, fmt="crossref", origin="sample2"),
            source="crossref",
            batch_id="old-rules",
            run_id=run_id,
        ).counts
        opened.finish_run(run_id, status="completed")
    assert (first.inserted, first.quarantined) == (1, 1)
    result = reparse(db=str(db), source="crossref", quarantined=True)
    assert _counts(result, "crossref") == (1, 0, 0, 1)
    assert warehouse_rows(
        db, f"SELECT publication_types FROM records WHERE doi = '{UNTITLED}'"
    ) == [(["journal-issue"],)]
    # Loaded now, so no longer to reparse; the quarantine row stays as history.
    assert _counts(reparse(db=str(db), source="crossref", quarantined=True), "crossref") == (
        0,
        0,
        0,
        0,
    )
    assert warehouse_rows(db, "SELECT count(*) FROM quarantine") == [(1,)]


def test_an_interrupted_reparse_resumes_after_its_last_batch(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Warehouse(warehouse) as opened:
        opened.con.execute("UPDATE source_records SET title = 'old' WHERE source = 'crossref'")
    monkeypatch.setattr(reparse_module, "BATCH", 5)
    original = reparse_module._reparse_batch
    calls = 0

    def failing_third(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(reparse_module, "_reparse_batch", failing_third)
    with pytest.raises(RuntimeError, match="killed"):
        reparse(db=str(warehouse), source="crossref")
    monkeypatch.setattr(reparse_module, "_reparse_batch", original)
    resumed = reparse(db=str(warehouse), source="crossref")
    assert _counts(resumed, "crossref") == (12, 0, 12, 0)  # the 10 of two batches were done
    assert warehouse_rows(
        warehouse, "SELECT status, count(*) FROM runs WHERE kind = 'reparse' GROUP BY 1 ORDER BY 1"
    ) == [("completed", 1), ("failed", 1)]
    assert warehouse_rows(
        warehouse, "SELECT count(*) FROM records WHERE source = 'crossref' AND title = 'old'"
    ) == [(0,)]
