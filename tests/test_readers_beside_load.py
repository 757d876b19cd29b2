"""Analysts read while a load runs (issue 19, item 2), on both backends.

A real `biblioduck sync pubmed` runs in a process of its own against the E-utilities emulator
(slowed, so that the run lasts), while this test process — a second process — reads
`records` again and again through the read path every analyst command takes
(`Warehouse(read_only=True)`). On a DuckDB file the load lets readers in between two of its
batches (`warehouse.readers`); on a DuckLake readers read the last committed snapshot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from tests.flow_helpers import warehouse_rows
from warehouse.readers import knock_folder
from warehouse.store import Warehouse

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

PAGE_DELAY_SECONDS = 0.4


def slowed(app):
    """The emulator, each answer delayed: 20 pages of 20 records last ~10 s."""

    def delayed(environ, start_response):
        time.sleep(PAGE_DELAY_SECONDS)
        return app(environ, start_response)

    return delayed


def read_records(db: Path) -> int:
    with Warehouse(db, read_only=True) as warehouse:
        row = warehouse.con.execute("SELECT count(*) FROM records").fetchone()
        assert row is not None
        return int(row[0])


def test_readers_are_served_while_a_sync_runs(tmp_path, warehouse_location):
    db = warehouse_location
    # The warehouse exists before the run (an analyst's warehouse of last night).
    Warehouse(db).close()
    with serve(slowed(EutilsEmulator(demo_corpus(), rate_limits=None))) as url:
        env = {
            **os.environ,
            "BIBLIODUCK_EUTILS_URL": url,
            "BIBLIODUCK_EUTILS_BATCH_SIZE": "20",
            "BIBLIODUCK_SYNC_GROUP_RECORDS": "20",
            "BIBLIODUCK_HTTP_BACKOFF_BASE": "0.01",
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the test harness's server
        }
        env.pop("NCBI_API_KEY", None)
        command = [
            str(Path(sys.executable).with_name("biblioduck")),
            "sync",
            "pubmed",
            "--query",
            "all[sb]",
            "--db",
            str(db),
        ]
        sync = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        counts: list[int] = []
        try:
            while sync.poll() is None:
                counts.append(read_records(db))
                time.sleep(0.1)
        finally:
            if sync.poll() is None:
                sync.kill()
            output = sync.communicate()[0]
    assert sync.returncode == 0, output
    during = [c for c in counts if c < 400]
    # Reads succeeded throughout the run (every read above returned; a failed one raises),
    # and saw the load's batches land one by one, never a half of one.
    assert len(counts) >= 10, (counts, output)
    assert len(set(during)) >= 3, counts
    assert all(c % 20 == 0 for c in counts), counts
    assert counts == sorted(counts)
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(400,)]
    if not str(db).startswith("ducklake:"):
        assert not knock_folder(Path(db)).exists()


def test_a_reader_waits_for_a_batch_and_gives_up_with_one_clear_error(tmp_path, monkeypatch):
    """A reader that finds the file busy knocks and retries; when no load lets it in within
    BIBLIODUCK_READ_WAIT it fails with one error that says what to do."""
    from schemas.errors import WarehouseBusyError

    db = tmp_path / "w.duckdb"
    Warehouse(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom warehouse.store import Warehouse\n"
            f"w = Warehouse({str(db)!r})\nprint('open', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        monkeypatch.setenv("BIBLIODUCK_READ_WAIT", "1")
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError, match="stayed busy for 1 s"):
            read_records(db)
        assert 1 <= time.monotonic() - started < 10
        # Its knock is gone with it: the holder (which never loads) owes it nothing.
        assert not knock_folder(db).exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_load_opening_the_file_waits_for_a_reader_but_not_for_another_load(tmp_path):
    """A reader holding the file (an analyst's long query) makes a load's open wait, not
    fail; a file held by another load fails at once, as before."""
    db = tmp_path / "w.duckdb"
    Warehouse(db).close()
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom warehouse.store import Warehouse\n"
            f"w = Warehouse({str(db)!r}, read_only=True)\nprint('open', flush=True)\n"
            "time.sleep(2)\nw.close()",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        started = time.monotonic()
        with Warehouse(db) as writer:
            waited = time.monotonic() - started
            assert writer.con.execute("SELECT count(*) FROM records").fetchone() == (0,)
            assert 0.5 < waited < 30
            other = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from warehouse.store import Warehouse\n"
                    "from schemas.errors import WarehouseBusyError\n"
                    f"try:\n    Warehouse({str(db)!r})\n"
                    "except WarehouseBusyError as e:\n    print('busy', e)",
                ],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parents[1],
                timeout=60,
            )
            assert other.stdout.startswith("busy") and "in use by another process" in other.stdout
    finally:
        reader.kill()
        reader.wait()
