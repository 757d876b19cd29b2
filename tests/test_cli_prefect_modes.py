"""The command line with and without a Prefect API: without one it starts no temporary server
and still records every run in the warehouse; with a real `prefect server start` every run is
also a Prefect flow run with its artifact, and each page a task run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from tests.flow_helpers import warehouse_rows

BIN = Path(sys.executable).parent
EFETCH = "biopython__pubmed1.xml"  # two records


def _environment(home: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without any Prefect API, with a Prefect home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        **extra,
    }


def _biblioduck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "biblioduck"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_without_a_prefect_api_a_command_starts_no_server_and_records_its_run(
    fixtures_dir, tmp_path
):
    home = tmp_path / "prefect-home"
    db = tmp_path / "w.duckdb"
    env = _environment(home, BIBLIODUCK_DOWNLOAD_DIR=str(tmp_path / "downloads"))
    result = _biblioduck(
        "import", str(fixtures_dir / "pubmed_efetch" / EFETCH), "--db", str(db), env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"{EFETCH}: 2 read, 2 inserted" in result.stdout
    # A temporary Prefect API keeps its database in PREFECT_HOME and says it started.
    assert not (home / "prefect.db").exists()
    assert "temporary server" not in result.stderr.lower()
    assert warehouse_rows(db, "SELECT source, kind, status, fetched FROM runs") == [
        ("pubmed", "import", "completed", 2)
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server start` on loopback, with a home of its own."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=_environment(home, PREFECT_UI_ENABLED="false"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180  # a guard: it takes 10-20 s here
        while True:
            assert server.poll() is None, "prefect server start exited"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "prefect server start did not answer"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_with_a_prefect_server_runs_are_flow_runs_with_artifacts(
    fixtures_dir, tmp_path, prefect_server
):
    env = _environment(
        tmp_path / "prefect-home",
        PREFECT_API_URL=prefect_server,
        BIBLIODUCK_DOWNLOAD_DIR=str(tmp_path / "downloads"),
        BIBLIODUCK_HTTP_BACKOFF_BASE="0.01",
        BIBLIODUCK_EUTILS_BATCH_SIZE="100",
    )
    db = tmp_path / "w.duckdb"
    imported = _biblioduck(
        "import", str(fixtures_dir / "pubmed_efetch" / EFETCH), "--db", str(db), env=env
    )
    assert imported.returncode == 0, imported.stderr
    with serve(EutilsEmulator(demo_corpus(), rate_limits=None)) as url:
        synced = _biblioduck(
            "sync",
            "pubmed",
            "--query",
            "all[sb]",
            "--db",
            str(db),
            env=env | {"BIBLIODUCK_EUTILS_URL": url},
        )
    assert synced.returncode == 0, synced.stderr
    assert warehouse_rows(db, "SELECT kind, status FROM runs ORDER BY started_at") == [
        ("import", "completed"),
        ("eutils-sync", "completed"),
    ]

    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(prefect_server) as client:
        flow_runs = {run.id: run for run in client.read_flow_runs()}
        names = {run.id: client.read_flow(run.flow_id).name for run in flow_runs.values()}
        assert sorted(names.values()) == ["import-files", "pubmed-sync"]
        assert {run.state_name for run in flow_runs.values()} == {"Completed"}
        assert {a.key for a in client.read_artifacts()} == {"import-summary", "pubmed-sync-summary"}
        task_runs = client.read_task_runs()
        pages = [t for t in task_runs if t.name.startswith("load-page")]
        # 400 records in pages of 100: one group of pages (flows.tasks.GROUP_RECORDS), one
        # task run of the sync's flow run
        assert len(pages) == 1
        assert {names[t.flow_run_id] for t in pages} == {"pubmed-sync"}
        assert {t.state_name for t in task_runs} == {"Completed"}
