"""The bulk writer process: calls and their errors cross the pipe intact, a warehouse in use is
refused with the usual message, a writer that dies is reported (not waited for), and none is
left running."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from flows.bulk import PreparedFile
from processes.writer import BulkWriter
from schemas.errors import FatalError, WarehouseBusyError
from tests.records_factory import make_record
from warehouse.spool import spool_chunk
from warehouse.store import LedgerEntry, Warehouse, prepare_chunk

_ENTRY = LedgerEntry("pubmed26n0001.xml.gz", "baseline", 26, 1, "ab" * 16)


def _writer(db):
    return BulkWriter(db, memory_limit="64MB", row_group_size=16_384, threads=1)


def test_runs_and_ledger_entries_are_written_by_the_writer(tmp_path):
    db = tmp_path / "w.duckdb"
    with _writer(db) as writer:
        run_id = writer.start_run("pubmed", "baseline-files", {"files": 1})
        entry = LedgerEntry("pubmed26n0001.xml.gz", "baseline", 2026, 1, "ab" * 16)
        writer.mark_file_failed(entry, run_id=run_id, error="md5 mismatch")
        run = writer.finish_run(run_id, status="failed", error="md5 mismatch")
        pid = writer.pid
    assert run["status"] == "failed"
    assert not os.path.exists(f"/proc/{pid}/cmdline") or _zombie(pid)
    with Warehouse(db, read_only=True) as warehouse:
        ledger = warehouse.ledger()
    assert ledger["pubmed26n0001.xml.gz"]["status"] == "failed"
    assert ledger["pubmed26n0001.xml.gz"]["error"] == "md5 mismatch"


def test_a_spooled_file_loads_through_the_writer_with_progress(tmp_path):
    records = [make_record(pmid, title=f"Title {pmid}") for pmid in range(1, 8)]
    spool = []
    for number, first in enumerate(range(0, 7, 3)):
        path = tmp_path / f"pubmed26n0001.xml.gz.{number:04d}.spool"
        chunk = prepare_chunk(
            records[first : first + 3],
            [],
            source="pubmed",
            batch_id="file:pubmed26n0001.xml.gz",
            fetched=len(records[first : first + 3]),
            first_row=first,
        )
        spool_chunk(chunk, path)
        spool.append(path)
    prepared = PreparedFile(
        _ENTRY.name, "pubmed", "ab" * 16, 1, spool, failed={4: ["records.title"]}
    )
    db = tmp_path / "w.duckdb"
    applied = []
    with _writer(db) as writer:
        counts = writer.load_file(_ENTRY, prepared, run_id=None, progress=applied.append)
        # pyarrow would import pandas to build arrays; the writer keeps it out (45 MB).
        maps = Path(f"/proc/{writer.pid}/maps").read_text()
        assert "pyarrow" in maps
        assert "/pandas/" not in maps
    assert (counts.inserted, counts.quarantined) == (6, 1)
    assert applied == [7]
    with Warehouse(db, read_only=True) as warehouse:
        assert warehouse.con.execute(
            "SELECT list(source_id ORDER BY source_id::INT) FROM source_records"
        ).fetchone() == (["1", "2", "3", "4", "6", "7"],)
        assert warehouse.ledger()["pubmed26n0001.xml.gz"]["status"] == "loaded"


def test_an_error_in_the_writer_reaches_the_flow_with_its_type_and_message(tmp_path):
    with _writer(tmp_path / "w.duckdb") as writer:
        with pytest.raises(KeyError, match="no-such-run"):
            writer.finish_run("no-such-run", status="completed")
        assert writer.start_run("pubmed", "baseline-files", {}).startswith("pubmed-")


def test_a_warehouse_in_use_is_refused_by_name(tmp_path):
    db = tmp_path / "w.duckdb"
    with Warehouse(db), pytest.raises(WarehouseBusyError, match="in use by another process"):
        _writer(db)


def test_a_writer_that_died_is_reported_by_the_next_call(tmp_path):
    with _writer(tmp_path / "w.duckdb") as writer:
        os.kill(writer.pid, signal.SIGKILL)
        with pytest.raises(FatalError, match=r"bulk writer process .* ended with exit code -9"):
            writer.start_run("pubmed", "baseline-files", {})
        assert not writer.alive


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
