"""The atomic batch load: inserts, idempotent re-loads, new versions, deletions, state, rollback."""

from __future__ import annotations

import dataclasses
import os
import zlib

import duckdb
import pyarrow as pa
import pytest

from schemas.batch import QuarantinedRow, StateUpdate, ValidatedBatch, ValidationSummary
from schemas.errors import FatalError, WarehouseBusyError
from schemas.record import Deletion
from tests.records_factory import make_record
from warehouse.ddl import SCHEMA_VERSION
from warehouse.store import FileBatches, Warehouse, content_hash, decode_payload, prepare_batch


def batch(records=(), deletions=(), quarantined=()):
    return ValidatedBatch(
        list(records),
        list(deletions),
        list(quarantined),
        [ValidationSummary("records", len(records), 0, True, {})],
    )


def load_batch(wh, validated, *, source, batch_id, run_id, fetched, state=None):
    """A validated batch through the warehouse's one door."""
    prepared = prepare_batch(validated, source=source, batch_id=batch_id, fetched=fetched)
    return wh.load(prepared, run_id=run_id, state=state)


def load_file(wh, entry, batches, *, run_id):
    """A file's batches, with its ledger entry, through the warehouse's one door."""
    return wh.load(FileBatches(entry, batches), run_id=run_id)


@pytest.fixture
def warehouse(warehouse_location):
    with Warehouse(warehouse_location) as wh:
        yield wh


def rows(wh, sql):
    return wh.con.execute(sql).fetchall()


def test_first_load_inserts_and_second_identical_load_changes_nothing(warehouse):
    records = [make_record(1), make_record(2)]
    first = load_batch(
        warehouse, batch(records), source="pubmed", batch_id="b1", run_id=None, fetched=2
    )
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    before = rows(
        warehouse, "SELECT source_id, title, content_hash, loaded_at FROM source_records ORDER BY 1"
    )
    second = load_batch(
        warehouse, batch(records), source="pubmed", batch_id="b1", run_id=None, fetched=2
    )
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    assert (
        rows(
            warehouse,
            "SELECT source_id, title, content_hash, loaded_at FROM source_records ORDER BY 1",
        )
        == before
    )
    assert rows(warehouse, "SELECT count(*) FROM record_versions") == [(2,)]
    assert rows(warehouse, "SELECT count(*) FROM raw_payloads") == [(2,)]


def test_new_version_replaces_current_row_and_history_keeps_both(warehouse):
    load_batch(
        warehouse,
        batch([make_record(7, title="Old")]),
        source="pubmed",
        batch_id="b1",
        run_id=None,
        fetched=1,
    )
    first_loaded = rows(warehouse, "SELECT first_loaded_at FROM source_records")[0][0]
    counts = load_batch(
        warehouse,
        batch([make_record(7, title="New")]),
        source="pubmed",
        batch_id="b2",
        run_id=None,
        fetched=1,
    )
    assert counts.updated == 1
    assert rows(warehouse, "SELECT source_id, title FROM records") == [("7", "New")]
    assert rows(warehouse, "SELECT first_loaded_at FROM source_records")[0][0] == first_loaded
    assert rows(warehouse, "SELECT change FROM record_versions ORDER BY changed_at") == [
        ("insert",),
        ("update",),
    ]
    payloads = [
        decode_payload(*row)
        for row in rows(warehouse, "SELECT encoding, payload, raw_bytes FROM raw_payloads")
    ]
    assert sorted(payloads) == sorted(
        [make_record(7, title="Old").raw, make_record(7, title="New").raw]
    )


def test_older_source_version_does_not_overwrite_newer(warehouse):
    load_batch(
        warehouse,
        batch([make_record(3, title="v2", version="0001:2024-02-01")]),
        source="pubmed",
        batch_id="b1",
        run_id=None,
        fetched=1,
    )
    counts = load_batch(
        warehouse,
        batch([make_record(3, title="v1", version="0001:2023-01-01")]),
        source="pubmed",
        batch_id="b2",
        run_id=None,
        fetched=1,
    )
    assert counts.stale == 1
    assert rows(warehouse, "SELECT title FROM records") == [("v2",)]


def test_last_version_in_a_batch_wins_and_the_earlier_copy_is_recorded(warehouse):
    """Issue 15, item 4: one input (a page, a sync group of pages, an import) carrying an id
    twice loads the last copy, and records the earlier one as a superseded version with its
    payload; it is not dropped silently."""
    from flows import pipeline

    first, second = make_record(5, title="first"), make_record(5, title="second")
    outcome = pipeline.process_items(
        warehouse, [first, make_record(6), second], source="pubmed", batch_id="b1", run_id=None
    )
    assert (outcome.counts.fetched, outcome.counts.inserted) == (3, 2)
    assert rows(warehouse, "SELECT source_id, title FROM source_records ORDER BY 1") == [
        ("5", "second"),
        ("6", "A title"),
    ]
    assert rows(
        warehouse,
        "SELECT source_id, change, content_hash FROM record_versions ORDER BY source_id, change",
    ) == [
        ("5", "insert", content_hash(second.raw)),
        ("5", "superseded", content_hash(first.raw)),
        ("6", "insert", content_hash(make_record(6).raw)),
    ]
    assert warehouse.raw_payload(content_hash(first.raw)) == first.raw
    # The same input again changes nothing, the superseded copy included.
    again = pipeline.process_items(
        warehouse, [first, make_record(6), second], source="pubmed", batch_id="b1", run_id=None
    )
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged) == (0, 0, 2)
    assert rows(warehouse, "SELECT count(*) FROM record_versions") == [(3,)]
    assert rows(warehouse, "SELECT count(*) FROM raw_payloads") == [(3,)]


def test_a_batch_to_load_carries_each_id_once(warehouse):
    """Deduplication happens in validation, once: a batch that reaches the warehouse with an
    id twice is a bug, refused before anything is written."""
    with pytest.raises(FatalError, match="twice"):
        load_batch(
            warehouse,
            batch([make_record(5, title="first"), make_record(5, title="second")]),
            source="pubmed",
            batch_id="b1",
            run_id=None,
            fetched=2,
        )
    assert rows(warehouse, "SELECT count(*) FROM source_records") == [(0,)]


def test_deletions_hide_records_keep_history_and_are_idempotent(warehouse):
    load_batch(
        warehouse,
        batch([make_record(1), make_record(2)]),
        source="pubmed",
        batch_id="b1",
        run_id=None,
        fetched=2,
    )
    gone = [Deletion("pubmed", "2", "DeleteCitation in x.xml"), Deletion("pubmed", "404")]
    counts = load_batch(
        warehouse, batch(deletions=gone), source="pubmed", batch_id="b2", run_id=None, fetched=2
    )
    assert counts.deleted == 1
    assert rows(warehouse, "SELECT source_id FROM records") == [("1",)]
    assert rows(warehouse, "SELECT source_id FROM deleted_records") == [("2",)]
    assert rows(
        warehouse, "SELECT source_id, change, reason FROM record_versions WHERE change = 'delete'"
    ) == [("2", "delete", "DeleteCitation in x.xml")]
    again = load_batch(
        warehouse, batch(deletions=gone), source="pubmed", batch_id="b2", run_id=None, fetched=2
    )
    assert again.deleted == 0
    # The same record seen again after its deletion comes back (the source re-published it).
    back = load_batch(
        warehouse, batch([make_record(2)]), source="pubmed", batch_id="b3", run_id=None, fetched=1
    )
    assert back.updated == 1
    assert rows(warehouse, "SELECT source_id FROM records ORDER BY 1") == [("1",), ("2",)]


def test_a_deletion_in_the_same_batch_applies_after_the_record(warehouse):
    load_batch(
        warehouse,
        batch([make_record(9)], [Deletion("pubmed", "9")]),
        source="pubmed",
        batch_id="b1",
        run_id=None,
        fetched=2,
    )
    assert rows(warehouse, "SELECT count(*) FROM records") == [(0,)]
    assert rows(warehouse, "SELECT count(*) FROM deleted_records") == [(1,)]


def test_quarantine_keeps_reasons_and_payload_once(warehouse):
    bad = QuarantinedRow(
        "pubmed",
        None,
        4,
        ["records.expect_column_values_to_not_be_null(source_id)"],
        b"<PubmedArticle/>",
    )
    for _ in range(2):
        load_batch(
            warehouse,
            batch(quarantined=[bad]),
            source="pubmed",
            batch_id="b1",
            run_id=None,
            fetched=1,
        )
    assert rows(
        warehouse,
        "SELECT source_id, row_in_batch, failed_expectations, content_hash FROM quarantine",
    ) == [
        (
            None,
            4,
            ["records.expect_column_values_to_not_be_null(source_id)"],
            content_hash(b"<PubmedArticle/>"),
        )
    ]
    assert warehouse.raw_payload(content_hash(b"<PubmedArticle/>")) == b"<PubmedArticle/>"


def test_each_payload_is_stored_once_across_versions_and_quarantine(warehouse):
    """raw_payloads has no key: the loader finds held payloads through the record's versions
    and the quarantine. A version that returns to earlier content, and a payload quarantined
    once then loaded as a record, are not stored again."""

    def load(record, batch_id):
        load_batch(
            warehouse, batch([record]), source="pubmed", batch_id=batch_id, run_id=None, fetched=1
        )

    load(make_record(7, title="First"), "b1")
    load(make_record(7, title="Second"), "b2")
    load(make_record(7, title="First"), "b3")  # back to the first content: a third version
    assert rows(warehouse, "SELECT change FROM record_versions ORDER BY changed_at") == [
        ("insert",),
        ("update",),
        ("update",),
    ]
    assert rows(warehouse, "SELECT count(*), count(DISTINCT content_hash) FROM raw_payloads") == [
        (2, 2)
    ]

    later = make_record(8)
    assert later.raw is not None
    held = QuarantinedRow("pubmed", "8", 0, ["records.some_expectation"], later.raw)
    load_batch(
        warehouse, batch(quarantined=[held]), source="pubmed", batch_id="b4", run_id=None, fetched=1
    )
    load(later, "b5")
    assert rows(warehouse, "SELECT source_id FROM records ORDER BY 1") == [("7",), ("8",)]
    assert rows(warehouse, "SELECT count(*), count(DISTINCT content_hash) FROM raw_payloads") == [
        (3, 3)
    ]
    assert warehouse.raw_payload(content_hash(later.raw)) == later.raw


def test_state_and_run_counters_commit_with_the_batch(warehouse):
    run_id = warehouse.start_run("pubmed", "test", {"query": "q"})
    state = StateUpdate("pubmed", "eutils:mdat:q", "2026-11-01", {"done": ["a"]})
    load_batch(
        warehouse,
        batch([make_record(1)]),
        source="pubmed",
        batch_id="b1",
        run_id=run_id,
        fetched=3,
        state=state,
    )
    assert warehouse.state("pubmed", "eutils:mdat:q") == ("2026-11-01", {"done": ["a"]})
    run = warehouse.finish_run(run_id, status="completed")
    assert (run["batches"], run["fetched"], run["inserted"], run["status"]) == (
        1,
        3,
        1,
        "completed",
    )


def test_a_failing_batch_leaves_no_trace(warehouse):
    load_batch(
        warehouse, batch([make_record(1)]), source="pubmed", batch_id="b1", run_id=None, fetched=1
    )
    before = rows(warehouse, "SELECT * FROM source_records")
    state = StateUpdate("pubmed", "s", "2026-01-01", None)
    broken = make_record(2)
    broken.pub_year = "not a year"  # type: ignore[assignment]  # Arrow refuses it mid-load
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        load_batch(
            warehouse,
            batch([make_record(1, title="changed"), broken]),
            source="pubmed",
            batch_id="b2",
            run_id=None,
            fetched=2,
            state=state,
        )
    assert rows(warehouse, "SELECT * FROM source_records") == before
    assert warehouse.state("pubmed", "s") == (None, None)
    assert rows(warehouse, "SELECT count(*) FROM record_versions") == [(1,)]


def test_reopening_migrates_idempotently_and_keeps_rows(warehouse_location):
    path = warehouse_location
    with Warehouse(path) as wh:
        load_batch(
            wh, batch([make_record(1)]), source="pubmed", batch_id="b", run_id=None, fetched=1
        )
    with Warehouse(path) as wh:
        assert rows(wh, "SELECT count(*) FROM records") == [(1,)]
        assert rows(wh, "SELECT max(version) FROM schema_info") == [(SCHEMA_VERSION,)]


def test_payloads_stored_before_zstd_stay_readable(tmp_path):
    """Warehouses of schema 1 kept zlib payloads without their size; migration adds the size
    column and both encodings decode."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE raw_payloads (content_hash VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, "
        "encoding VARCHAR NOT NULL, payload BLOB NOT NULL, first_seen_at TIMESTAMPTZ NOT NULL)"
    )
    old = b"<PubmedArticle>old</PubmedArticle>"
    con.execute(
        "INSERT INTO raw_payloads VALUES ('old', 'pubmed', 'zlib', ?, now())", [zlib.compress(old)]
    )
    con.close()
    with Warehouse(path) as wh:
        load_batch(
            wh, batch([make_record(5)]), source="pubmed", batch_id="b", run_id=None, fetched=1
        )
        assert wh.raw_payload("old") == old
        new = make_record(5).raw
        assert new is not None
        assert wh.raw_payload(content_hash(new)) == new
        assert rows(wh, "SELECT encoding, raw_bytes FROM raw_payloads ORDER BY encoding") == [
            ("zlib", None),
            ("zstd", len(new)),
        ]
        # Schema 3: the primary key, whose index DuckDB holds in memory, is gone.
        assert rows(
            wh,
            "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'raw_payloads' "
            "AND constraint_type = 'PRIMARY KEY'",
        ) == [(0,)]
        assert rows(wh, "SELECT max(version) FROM schema_info") == [(SCHEMA_VERSION,)]


def test_migration_adds_columns_new_to_the_canonical_record(tmp_path):
    path = tmp_path / "old.duckdb"
    with Warehouse(path):
        pass
    con = duckdb.connect(str(path))
    con.execute("DROP VIEW records")
    con.execute("DROP VIEW record_authors")
    con.execute("DROP VIEW record_subjects")
    con.execute("DROP VIEW deleted_records")
    con.execute("ALTER TABLE source_records DROP COLUMN license")
    con.close()
    with Warehouse(path) as wh:
        assert rows(
            wh,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'records' AND column_name = 'license'",
        ) == [(1,)]


def test_second_writer_gets_a_clear_busy_error(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    with Warehouse(path):
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from warehouse.store import Warehouse\n"
                "from schemas.errors import WarehouseBusyError\n"
                f"try:\n    Warehouse({str(path)!r})\nexcept WarehouseBusyError as e:\n    print(e); sys.exit(3)",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert probe.returncode == 3, probe.stderr
    assert "in use by another process" in probe.stdout
    assert issubclass(WarehouseBusyError, Exception)


def test_records_view_has_the_analyst_contract_columns(warehouse):
    columns = dict(
        rows(
            warehouse,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'records'",
        )
    )
    expected = {
        "source": "VARCHAR",
        "source_id": "VARCHAR",
        "doi": "VARCHAR",
        "pmid": "VARCHAR",
        "pmcid": "VARCHAR",
        "title": "VARCHAR",
        "abstract": "VARCHAR",
        "language": "VARCHAR",
        "pub_year": "BIGINT",
        "pub_date": "DATE",
        "pub_date_precision": "VARCHAR",
        "pub_date_raw": "VARCHAR",
        "journal": "VARCHAR",
        "issn": "VARCHAR",
        "volume": "VARCHAR",
        "issue": "VARCHAR",
        "pages": "VARCHAR",
        "publication_types": "VARCHAR[]",
        "authors": 'STRUCT("position" BIGINT, "name" VARCHAR, "family" VARCHAR, given VARCHAR, collective VARCHAR, orcid VARCHAR, affiliations VARCHAR[], corresponding BOOLEAN, profile_url VARCHAR)[]',
        "subjects": "STRUCT(scheme VARCHAR, term VARCHAR, code VARCHAR, major BOOLEAN, qualifiers STRUCT(term VARCHAR, code VARCHAR, major BOOLEAN)[])[]",
        "reference_count": "BIGINT",
        "loaded_at": "TIMESTAMP WITH TIME ZONE",
    }
    assert {k: columns[k] for k in expected} == expected


def test_citation_counts_keep_their_history_across_versions(warehouse):
    import datetime as dt

    from schemas.record import Metric

    first = make_record(
        1, payload="<r>v1</r>", metrics=[Metric("citations", 4, "scopus", dt.date(2026, 1, 1))]
    )
    load_batch(warehouse, batch([first]), source="pubmed", batch_id="b1", run_id=None, fetched=1)
    same = make_record(
        1, payload="<r>v1b</r>", metrics=[Metric("citations", 4, "scopus", dt.date(2026, 1, 1))]
    )
    load_batch(warehouse, batch([same]), source="pubmed", batch_id="b2", run_id=None, fetched=1)
    later = make_record(
        1, payload="<r>v2</r>", metrics=[Metric("citations", 6, "scopus", dt.date(2026, 6, 1))]
    )
    load_batch(warehouse, batch([later]), source="pubmed", batch_id="b3", run_id=None, fetched=1)
    assert rows(
        warehouse, "SELECT name, provider, value, as_of FROM measurements ORDER BY as_of"
    ) == [
        ("citations", "scopus", 4, dt.date(2026, 1, 1)),
        ("citations", "scopus", 6, dt.date(2026, 6, 1)),
    ]
    assert rows(warehouse, "SELECT metrics FROM records") == [
        ([{"name": "citations", "value": 6, "provider": "scopus", "as_of": dt.date(2026, 6, 1)}],)
    ]


def test_a_bulk_warehouse_spills_beside_its_file_not_in_the_current_directory(tmp_path):
    """Bulk loads open the file through ATTACH on an in-memory connection, whose temporary
    directory would be `.tmp` in the current directory, shared by every process started there
    (concurrent loads overwrote each other's spilled blocks: DuckDB segfaulted)."""
    db = tmp_path / "bulk.duckdb"
    with Warehouse(db, row_group_size=16_384) as warehouse:
        (spill,) = warehouse.con.execute("SELECT current_setting('temp_directory')").fetchone()
    assert spill == f"{db}.tmp"


def test_a_warehouse_runs_duckdb_on_the_threads_it_is_given(tmp_path):
    """The bulk loader runs DuckDB on one thread (its second one split row groups and took a
    core from the workers: docs/performance.md); other connections keep DuckDB's default."""
    with Warehouse(tmp_path / "one.duckdb", threads=1) as warehouse:
        assert warehouse.con.execute("SELECT current_setting('threads')").fetchone() == (1,)
    with Warehouse(tmp_path / "default.duckdb") as warehouse:
        (threads,) = warehouse.con.execute("SELECT current_setting('threads')").fetchone()
    assert threads == len(os.sched_getaffinity(0)) or threads == os.cpu_count()


def test_finishing_a_chunk_keeps_its_records_without_copying_unless_some_go():
    # A filter copies every column: a bulk load once copied each batch's records twice even
    # when all of them were kept, the usual case.
    from warehouse.store import finish_chunk, prepare_chunk

    chunk = prepare_chunk(
        [make_record(1), make_record(2), make_record(3)],
        [],
        source="pubmed",
        batch_id="file:x",
        fetched=3,
        first_row=10,
    )
    titles = chunk.rows.column("title").chunk(0).buffers()[2]
    kept = finish_chunk(chunk, failed={}, superseded=set(), summaries=[])
    assert kept.records.column("source_id").to_pylist() == ["1", "2", "3"]
    assert kept.records.column("title").chunk(0).buffers()[2].address == titles.address
    some = finish_chunk(chunk, failed={11: ["title_not_null"]}, superseded={12}, summaries=[])
    assert some.records.column("source_id").to_pylist() == ["1"]
    assert some.quarantine.column("source_id").to_pylist() == ["2"]
    assert some.quarantine.column("row_in_batch").to_pylist() == [11]


def test_a_file_appends_its_new_rows_whatever_the_batches_of_the_second_pass(tmp_path):
    # The second pass reads the batches again, one spooled chunk at a time and without
    # payloads, where the first read five chunks at a time: which rows to append is kept in
    # file order, not per batch.
    from warehouse.store import PAYLOADS_SCHEMA, LedgerEntry

    with Warehouse(tmp_path / "w.duckdb", row_group_size=16_384) as wh:
        load_batch(
            wh,
            batch([make_record(1), make_record(3)]),
            source="pubmed",
            batch_id="b0",
            run_id=None,
            fetched=2,
        )
        records = [make_record(1), make_record(2), make_record(3, title="New"), make_record(4)]
        passes = []

        def batches(*, payloads=True):
            passes.append(payloads)
            if payloads:
                return [_finished_chunk(records, [], 0)]
            return [
                dataclasses.replace(
                    _finished_chunk([record], [], row), payloads=PAYLOADS_SCHEMA.empty_table()
                )
                for row, record in enumerate(records)
            ]

        entry = LedgerEntry("pubmed26n0001.xml.gz", "baseline", 2026, 1, "ab" * 16)
        counts = load_file(wh, entry, batches, run_id=None)
        assert passes == [True, False]
        assert (counts.inserted, counts.updated, counts.unchanged) == (2, 1, 1)
        assert rows(wh, "SELECT source_id, title FROM source_records ORDER BY source_id") == [
            ("1", "A title"),
            ("2", "A title"),
            ("3", "New"),
            ("4", "A title"),
        ]
        assert rows(wh, "SELECT count(*) FROM raw_payloads") == [(5,)]


def test_a_batch_lets_go_of_its_payloads_before_the_transaction_ends(tmp_path):
    # DuckDB keeps what is registered in a transaction alive until it ends: registered as a
    # table (a copy, by `take`), every payload of a bulk file (one transaction) stayed in
    # memory through its load. Payloads of ~1 MB each (random, so zstd cannot shrink them).
    import weakref

    from warehouse import loading

    class Payloads(bytearray):  # a buffer whose release a weak reference reports
        pass

    records = [make_record(pmid, payload=os.urandom(1 << 20).hex()) for pmid in (1, 2)]
    prepared = prepare_batch(batch(records), source="pubmed", batch_id="b1", fetched=2)
    old = prepared.payloads.column("payload").to_pylist()
    data = Payloads(b"".join(old))
    offsets = pa.array([0, len(old[0]), len(data)], pa.int32()).buffers()[1]
    tracked = pa.Array.from_buffers(pa.binary(), 2, [None, offsets, pa.py_buffer(data)])
    prepared.payloads = prepared.payloads.set_column(2, "payload", tracked)
    released = []
    weakref.finalize(data, released.append, True)
    del data, tracked, old, records

    with Warehouse(tmp_path / "w.duckdb") as wh, wh.transaction() as con:
        before = pa.total_allocated_bytes()
        loading.apply(con, prepared, run_id=None)
        del prepared
        assert released == [True]
        assert pa.total_allocated_bytes() - before < 256 * 1024  # no copy held either
        assert con.execute("SELECT count(*), sum(raw_bytes) FROM raw_payloads").fetchone() == (
            2,
            2 * 2 * (1 << 20),
        )


def _finished_chunk(records, deletions, first_row):
    """A bulk file's chunk as the writer applies it, every record kept."""
    from warehouse.store import finish_chunk, prepare_chunk

    prepared = prepare_chunk(
        list(records),
        list(deletions),
        source="pubmed",
        batch_id="file:x",
        fetched=len(records) + len(deletions),
        first_row=first_row,
    )
    return finish_chunk(prepared, failed={}, superseded=set(), summaries=[])


def _file_batches(records, deletions=(), *, deletions_first=False):
    """A bulk file's batches as the writer gets them: one chunk of records and one of
    deletions, in file order (PubMed's DeleteCitation comes last; first forces the batch-by-
    batch path, as records after a deletion do)."""

    def batches(*, payloads=True):
        parts = [_finished_chunk(records, [], 0), _finished_chunk([], deletions, len(records))]
        return parts[::-1] if deletions_first else parts

    return batches


def test_a_record_a_later_file_deleted_stays_deleted_whatever_order_files_load_in(tmp_path):
    """NLM's order is the truth, not the order files happen to load in: a baseline file loaded
    after the update file that deleted one of its records (a backfill finished after nightly
    syncs began), or re-published and loaded again, must not bring the record back; a later
    file that carries it again does."""
    from warehouse.store import LedgerEntry

    def entry(number, kind, md5="ab"):
        return LedgerEntry(f"pubmed26n{number:04d}.xml.gz", kind, 2026, number, md5 * 16)

    gone = [Deletion("pubmed", "7", "DeleteCitation in pubmed26n1400.xml.gz")]
    with Warehouse(tmp_path / "w.duckdb", row_group_size=16_384) as wh:
        # Deleted before its baseline file was ever loaded: nothing to delete yet, remembered.
        counts = load_file(wh, entry(1400, "update"), _file_batches([], gone), run_id=None)
        assert counts.deleted == 0
        assert rows(wh, "SELECT source_id, file_order, file_name FROM tombstones") == [
            ("7", "2026.001400.update", "pubmed26n1400.xml.gz")
        ]
        counts = load_file(
            wh, entry(5, "baseline"), _file_batches([make_record(6), make_record(7)]), run_id=None
        )
        assert (counts.inserted, counts.stale) == (1, 1)
        assert rows(wh, "SELECT source_id FROM records") == [("6",)]

        # Loaded, deleted by a later file, then its file re-published and loaded again (both
        # paths of load_file: streamed, and batch by batch when a deletion comes first).
        load_file(wh, entry(6, "baseline"), _file_batches([make_record(1)]), run_id=None)
        counts = load_file(
            wh, entry(1401, "update"), _file_batches([], [Deletion("pubmed", "1")]), run_id=None
        )
        assert counts.deleted == 1
        for deletions_first in (False, True):
            counts = load_file(
                wh,
                entry(6, "baseline", md5="cd"),
                _file_batches(
                    [make_record(1, title="Re-published")],
                    [Deletion("pubmed", "99")],
                    deletions_first=deletions_first,
                ),
                run_id=None,
            )
            assert (counts.inserted, counts.updated, counts.stale) == (0, 0, 1)
        assert rows(wh, "SELECT source_id FROM records ORDER BY 1") == [("6",)]

        # A later file carrying them again: NLM brought them back.
        counts = load_file(
            wh,
            entry(1402, "update"),
            _file_batches([make_record(1, title="Back"), make_record(7)]),
            run_id=None,
        )
        assert (counts.inserted, counts.updated, counts.stale) == (1, 1, 0)
        assert rows(wh, "SELECT source_id, title FROM records ORDER BY 1") == [
            ("1", "Back"),
            ("6", "A title"),
            ("7", "A title"),
        ]
        # E-utilities and other batch loads are current by nature: tombstones do not apply.
        load_file(wh, entry(1403, "update"), _file_batches([], gone), run_id=None)
        counts = load_batch(
            wh, batch([make_record(7)]), source="pubmed", batch_id="efetch", run_id=None, fetched=1
        )
        assert counts.updated == 1


def test_migration_to_tombstones_keeps_the_deletions_bulk_files_already_applied(tmp_path):
    """A warehouse of schema 3 has no tombstones: the deletions its files applied are found in
    the history (batch ids name the file) and kept, so an older file still cannot bring their
    records back."""
    from warehouse.store import LedgerEntry

    path = tmp_path / "w.duckdb"
    baseline = LedgerEntry("pubmed26n0006.xml.gz", "baseline", 2026, 6, "ab" * 16)
    update = LedgerEntry("pubmed26n1401.xml.gz", "update", 2026, 1401, "ab" * 16)

    def named(batches, name):
        # Batch ids as bulk files carry them (`flows.pipeline.iter_file_batches`).
        def renamed(*, payloads=True):
            return [
                dataclasses.replace(b, batch_id=f"file:{name}:{n}")
                for n, b in enumerate(batches(payloads=payloads))
            ]

        return renamed

    with Warehouse(path, row_group_size=16_384) as wh:
        load_file(wh, baseline, named(_file_batches([make_record(1)]), baseline.name), run_id=None)
        load_file(
            wh,
            update,
            named(_file_batches([], [Deletion("pubmed", "1", "gone")]), update.name),
            run_id=None,
        )
        expected = [("1", "2026.001401.update", "pubmed26n1401.xml.gz", "gone")]
        assert rows(wh, "SELECT source_id, file_order, file_name, reason FROM tombstones") == (
            expected
        )
        # Back to schema 3, as before this table existed.
        wh.con.execute("DELETE FROM tombstones")
        wh.con.execute("DELETE FROM schema_info")
        wh.con.execute("INSERT INTO schema_info (version) VALUES (3)")
    with Warehouse(path, row_group_size=16_384) as wh:
        assert rows(wh, "SELECT source_id, file_order, file_name, reason FROM tombstones") == (
            expected
        )
        counts = load_file(
            wh,
            dataclasses.replace(baseline, md5="cd" * 16),
            _file_batches([make_record(1)]),
            run_id=None,
        )
        assert counts.stale == 1
        assert rows(wh, "SELECT count(*) FROM records") == [(0,)]
    with Warehouse(path) as wh:  # migrating again adds nothing
        assert rows(wh, "SELECT count(*) FROM tombstones") == [(1,)]
