"""Operations on a real Prefect server: `prefect work-pool create`, `prefect deploy --all` from
prefect.yaml, a process worker, and a deployment run against the E-utilities emulator: the run
completes, its records are in the warehouse, its summary is an artifact."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from uuid import UUID

from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from tests.flow_helpers import warehouse_rows
from tests.prefect_server import BIN, prefect_environment

REPO = Path(__file__).resolve().parent.parent
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _prefect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "prefect"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_a_deployment_runs_on_a_process_worker_against_the_emulator(prefect_server, tmp_path):
    from prefect.client.orchestration import SyncPrefectClient

    db = tmp_path / "w.duckdb"
    env = prefect_environment(
        tmp_path / "prefect-home",
        PREFECT_API_URL=prefect_server,
        BIBLIODUCK_HOME=str(REPO),
        BIBLIODUCK_DB=str(db),
        BIBLIODUCK_HTTP_BACKOFF_BASE="0.01",
        BIBLIODUCK_DOWNLOAD_DIR=str(tmp_path / "downloads"),
    )
    _prefect("work-pool", "create", "biblioduck", "--type", "process", "--overwrite", env=env)
    _prefect("--no-prompt", "deploy", "--all", env=env)
    with serve(EutilsEmulator(demo_corpus(), rate_limits=None)) as eutils:
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "biblioduck"],
            cwd=REPO,
            env=env | {"BIBLIODUCK_EUTILS_URL": eutils},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            started = _prefect(
                "deployment",
                "run",
                "pubmed-sync/pubmed-backfill",
                "--param",
                'query="all[sb]"',
                "--param",
                "since=null",
                "--param",
                "until=null",
                env=env,
            )
            assert "Created flow run" in started.stdout
            run_id = UUID(re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)[1])  # type: ignore[index]
            with SyncPrefectClient(prefect_server) as client:
                deadline = time.monotonic() + 300  # a guard against a hang, not a timing
                while True:
                    run = client.read_flow_run(run_id)
                    if run.state_type is not None and run.state_type.value in TERMINAL:
                        break
                    assert time.monotonic() < deadline, f"still {run.state_name}"
                    time.sleep(1)
                assert run.state_name == "Completed", run.state
                keys = [a.key for a in client.read_artifacts() if a.flow_run_id == run_id]
                assert keys == ["pubmed-sync-summary"]
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(400,)]
    assert warehouse_rows(db, "SELECT kind, status, fetched FROM runs") == [
        ("eutils-sync", "completed", 400)
    ]
