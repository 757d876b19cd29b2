"""The DuckLake backend (`ducklake:sqlite:PATH`, issue 19): a second process reads the
warehouse, through `query`'s locked-down path, while a real sync commits into it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from tests.conftest import REPO_ROOT, location_in
from tests.flow_helpers import fast_http, warehouse_rows

runner = CliRunner()

# A reader as an analyst's process is: `query`'s own function (read-only, locked down, the SQL
# gate), in a loop until told to stop, writing each answer (or error) on a line.
READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from warehouse.status import read_only_query
    db, log, stop = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    with log.open("w") as out:
        while not stop.exists():
            try:
                _, rows = read_only_query(Path(db), "SELECT count(*) FROM records")
                out.write(f"ok {rows[0][0]}\\n")
            except Exception as exc:
                out.write(f"error {type(exc).__name__}: {exc}\\n".replace("\\n", " ") + "\\n")
            out.flush()
            time.sleep(0.05)
    """
)


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_second_process_reads_the_lake_while_a_sync_commits(tmp_path, monkeypatch):
    fast_http(monkeypatch, batch_size=20)  # 400 records in 20 pages,
    monkeypatch.setenv("BIBLIODUCK_SYNC_GROUP_RECORDS", "20")  # each committed on its own
    db = location_in(tmp_path, "lake")
    with serve(EutilsEmulator(demo_corpus(), rate_limits=None)) as url:
        monkeypatch.setenv("BIBLIODUCK_EUTILS_URL", url)
        # The lake exists before the reader starts: a first, empty run creates it.
        created = runner.invoke(app, ["status", "--db", str(db)])
        assert "no warehouse" in created.output
        from warehouse.store import Warehouse

        Warehouse(db).close()
        log, stop = tmp_path / "reads.log", tmp_path / "stop"
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(REPO_ROOT), str(db), str(log), str(stop)]
        )
        result: dict[str, object] = {}

        def sync() -> None:
            result["run"] = runner.invoke(
                app, ["sync", "pubmed", "--query", "all[sb]", "--db", str(db)]
            )

        try:
            loading = threading.Thread(target=sync)
            loading.start()
            loading.join(timeout=600)
        finally:
            stop.touch()
            reader.wait(timeout=60)
    run = result["run"]
    assert run.exit_code == 0, run.output  # type: ignore[attr-defined]
    reads = log.read_text().splitlines()
    errors = [line for line in reads if not line.startswith("ok ")]
    assert errors == []
    counts = [int(line.split()[1]) for line in reads]
    assert counts == sorted(counts)  # each read sees a committed snapshot, never going back
    during = [n for n in counts if 0 < n < 400]
    assert len(reads) >= 10 and during, counts  # it read while batches were committing
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(400,)]


def test_a_lake_location_with_a_password_is_refused_without_repeating_it(tmp_path):
    result = runner.invoke(
        app, ["status", "--db", "ducklake:postgres:dbname=lake password=hunter2 host=x"]
    )
    assert result.exit_code == 2, result.output
    assert "hunter2" not in result.output and "PGPASSWORD" in result.output


def test_a_new_lake_keeps_its_data_beside_its_catalog(tmp_path):
    from warehouse.store import Warehouse

    db = location_in(tmp_path, "lake")
    with Warehouse(db) as warehouse:
        warehouse.start_run("pubmed", "import", {})
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["catalog.sqlite", "data"]
    assert warehouse_rows(db, "SELECT kind FROM runs") == [("import",)]
    assert Path(tmp_path / "w" / "data").is_dir()


def test_search_on_a_lake_reads_its_own_index_file(fixtures_dir, tmp_path, monkeypatch):
    from flows.importing import run_import
    from warehouse.search import search

    db = location_in(tmp_path, "lake")
    files = [
        fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz",
        fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml",
    ]
    run_import([str(f) for f in files], fmt="pubmed", db=str(db), workers=0)
    # The index is a DuckDB file beside the catalog (fts writes columns DuckLake refuses).
    assert (tmp_path / "w" / "search.duckdb").is_file()
    result = search(db, "mast cells tuberculosis")
    assert result.stale is None and result.hits[0].source_id == "41603352"
    assert result.documents == 32
    # A load without the index refresh leaves it stale, and the search says so.
    again = runner.invoke(app, ["index", "--db", str(db)])
    assert again.exit_code == 0 and "nothing changed" in again.output
    efetch = fixtures_dir / "pubmed_efetch" / "eutils__efetch_29915538.xml"
    with monkeypatch.context() as patched:
        patched.setenv("BIBLIODUCK_DERIVE_MAX_RECORDS", "0")
        run_import([str(efetch)], fmt="pubmed", db=str(db), workers=0)
    assert search(db, "heme").stale is not None
    rebuilt = runner.invoke(app, ["index", "--db", str(db)])
    assert rebuilt.exit_code == 0 and "rebuilt" in rebuilt.output
    assert search(db, "heme").stale is None


def _load_run(warehouse, records, deletions=()):
    """One run of one batch through the warehouse's door, as a sync's is."""
    from schemas.batch import ValidatedBatch, ValidationSummary
    from warehouse.store import prepare_batch

    run_id = warehouse.start_run("pubmed", "sync", {})
    validated = ValidatedBatch(
        list(records), list(deletions), [], [ValidationSummary("records", 1, 0, True, {})]
    )
    prepared = prepare_batch(validated, source="pubmed", batch_id=run_id, fetched=len(records))
    warehouse.load(prepared, run_id=run_id)
    warehouse.finish_run(run_id, status="completed")
    return run_id


def test_as_of_reads_the_lake_as_an_earlier_run_left_it(tmp_path):
    from schemas.errors import FatalError, UsageError
    from schemas.record import Deletion
    from tests.records_factory import make_record
    from warehouse.status import read_only_query
    from warehouse.store import Warehouse

    db = location_in(tmp_path, "lake")
    with Warehouse(db) as warehouse:
        first = _load_run(warehouse, [make_record(n, title=f"Old {n}") for n in (1, 2, 3)])
        second = _load_run(
            warehouse,
            [make_record(2, title="New 2")],
            [Deletion("pubmed", "3", reason="withdrawn")],
        )
        snapshots = dict(warehouse.con.execute("SELECT run_id, snapshot_id FROM runs").fetchall())
    assert snapshots[first] < snapshots[second]
    sql = "SELECT source_id, title FROM records ORDER BY source_id"
    now = [("1", "Old 1"), ("2", "New 2")]
    then = [("1", "Old 1"), ("2", "Old 2"), ("3", "Old 3")]
    assert read_only_query(db, sql)[1] == now
    assert read_only_query(db, sql, as_of=first)[1] == then
    assert read_only_query(db, sql, as_of=str(snapshots[first]))[1] == then
    assert read_only_query(db, sql, as_of=second)[1] == now
    result = runner.invoke(
        app, ["query", "--db", str(db), "--as-of", first, "--format", "csv", sql]
    )
    assert result.exit_code == 0 and result.output.splitlines()[1:] == [
        "1,Old 1",
        "2,Old 2",
        "3,Old 3",
    ]
    with pytest.raises(UsageError, match="no snapshot number"):
        read_only_query(db, sql, as_of="no-such-run")
    file_db = location_in(tmp_path, "file")
    Warehouse(file_db).close()
    with pytest.raises((UsageError, FatalError), match="DuckDB file"):
        read_only_query(file_db, sql, as_of=first)


def test_maintenance_merges_small_files_and_expires_old_snapshots(tmp_path):
    from tests.records_factory import make_record
    from warehouse.store import Warehouse

    db = location_in(tmp_path, "lake")
    with Warehouse(db) as warehouse:
        # 40 small commits, as 40 synced groups make, each with its own files and snapshot.
        runs = [
            _load_run(warehouse, [make_record(n, title=f"T{n}", abstract="x" * 3000)])
            for n in range(1, 41)
        ]
        rows = warehouse.con.execute("SELECT * FROM records ORDER BY source_id").fetchall()
    kept = runner.invoke(app, ["lake-maintenance", "--db", str(db)])
    assert kept.exit_code == 0, kept.output
    assert "snapshots →" in kept.output
    with Warehouse(db) as warehouse:
        assert warehouse.con.execute("SELECT * FROM records ORDER BY source_id").fetchall() == rows
    # Every snapshot is younger than 30 days: time travel still reaches the first run.
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(40,)]
    from warehouse.status import read_only_query

    assert read_only_query(db, "SELECT count(*) FROM records", as_of=runs[0])[1] == [(1,)]
    files_before = sorted((tmp_path / "w" / "data").rglob("*.parquet"))
    with Warehouse(db) as warehouse:
        from warehouse.maintenance import maintain_lake

        result = maintain_lake(warehouse.con, keep_days=0)
        assert warehouse.con.execute("SELECT * FROM records ORDER BY source_id").fetchall() == rows
    assert result["snapshots_after"] < result["snapshots_before"]
    assert result["files_after"] <= len(files_before)
    # An expired snapshot is refused, saying why.
    from schemas.errors import BiblioduckError

    with pytest.raises(BiblioduckError):
        read_only_query(db, "SELECT count(*) FROM records", as_of=runs[0])


def test_maintenance_of_a_duckdb_file_does_nothing(tmp_path):
    from warehouse.store import Warehouse

    db = location_in(tmp_path, "file")
    Warehouse(db).close()
    result = runner.invoke(app, ["lake-maintenance", "--db", str(db)])
    assert result.exit_code == 0 and "nothing to do" in result.output
