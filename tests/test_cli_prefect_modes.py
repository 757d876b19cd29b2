"""The command line with and without a Prefect API: without one it starts no temporary server
and still records every run in the warehouse; with a real `prefect server start` every run is
also a Prefect flow run with its artifact, and each page a task run."""

from __future__ import annotations

from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from tests.flow_helpers import warehouse_rows
from tests.prefect_server import prefect_environment, run_biblioduck

EFETCH = "biopython__pubmed1.xml"  # two records


def test_without_a_prefect_api_a_command_starts_no_server_and_records_its_run(
    fixtures_dir, tmp_path
):
    home = tmp_path / "prefect-home"
    db = tmp_path / "w.duckdb"
    env = prefect_environment(home, BIBLIODUCK_DOWNLOAD_DIR=str(tmp_path / "downloads"))
    result = run_biblioduck(
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


def test_with_a_prefect_server_runs_are_flow_runs_with_artifacts(
    fixtures_dir, tmp_path, prefect_server
):
    env = prefect_environment(
        tmp_path / "prefect-home",
        PREFECT_API_URL=prefect_server,
        BIBLIODUCK_DOWNLOAD_DIR=str(tmp_path / "downloads"),
        BIBLIODUCK_HTTP_BACKOFF_BASE="0.01",
        BIBLIODUCK_EUTILS_BATCH_SIZE="100",
    )
    db = tmp_path / "w.duckdb"
    imported = run_biblioduck(
        "import", str(fixtures_dir / "pubmed_efetch" / EFETCH), "--db", str(db), env=env
    )
    assert imported.returncode == 0, imported.stderr
    with serve(EutilsEmulator(demo_corpus(), rate_limits=None)) as url:
        synced = run_biblioduck(
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

    with SyncPrefectClient(prefect_server) as client:  # the server may hold other tests' runs
        flow_runs = {
            run.id: run for run in client.read_flow_runs() if run.parameters.get("db") == str(db)
        }
        names = {run.id: client.read_flow(run.flow_id).name for run in flow_runs.values()}
        assert sorted(names.values()) == ["import-files", "pubmed-sync"]
        assert {run.state_name for run in flow_runs.values()} == {"Completed"}
        assert {a.key for a in client.read_artifacts() if a.flow_run_id in flow_runs} == {
            "import-summary",
            "pubmed-sync-summary",
        }
        task_runs = [t for t in client.read_task_runs() if t.flow_run_id in flow_runs]
        pages = [t for t in task_runs if t.name.startswith("load-page")]
        # 400 records in pages of 100: one group of pages (flows.tasks.GROUP_RECORDS), one
        # task run of the sync's flow run
        assert len(pages) == 1
        assert {names[t.flow_run_id] for t in pages} == {"pubmed-sync"}
        assert {t.state_name for t in task_runs} == {"Completed"}


def test_a_failed_flow_run_is_one_error_without_traceback_unless_debug(
    fixtures_dir, tmp_path, prefect_server
):
    # The engine logged the whole traceback of a failed run at ERROR before the one `error:`
    # line (issue 15); the API's log keeps it, the console shows it only with --debug.
    env = prefect_environment(tmp_path / "prefect-home", PREFECT_API_URL=prefect_server)
    whole = (fixtures_dir / "pubmed_efetch" / EFETCH).read_bytes()
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(whole[: len(whole) // 2])
    arguments = ("import", str(truncated), "--db", str(tmp_path / "w.duckdb"))
    failed = run_biblioduck(*arguments, env=env)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr + failed.stdout
    assert failed.stderr.count("error: ") == 1, failed.stderr
    assert "truncated.xml" in failed.stderr
    debugged = run_biblioduck("--debug", *arguments, env=env)
    assert debugged.returncode == 1
    assert "Traceback (most recent call last)" in debugged.stderr + debugged.stdout
