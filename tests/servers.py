"""Real servers on loopback for the lake past one machine (issue 19): a throw-away PostgreSQL
cluster (Debian's `postgresql` binaries) for a DuckLake catalog, and moto's S3 server for its
data files. Each runs while its block runs and is stopped after it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Debian's server binaries (package postgresql-15); psql is on PATH.
POSTGRES_BIN = Path(os.environ.get("BIBLIODUCK_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
# initdb and pg_ctl refuse to run as root (CI runs as root): as root, the cluster is this
# user's, in a folder handed to it.
POSTGRES_OS_USER = "postgres"
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Postgres:
    """A running cluster: where it listens, and the role (a superuser, trust auth on
    loopback) that owns it."""

    host: str
    port: int
    user: str
    folder: Path
    password: str = field(repr=False)

    def conninfo(self, dbname: str) -> str:
        """libpq keywords for `dbname`: what a `ducklake:postgres:` location carries."""
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def psql(self, dbname: str, sql: str) -> list[list[str]]:
        """Rows of `sql` through the real `psql` client (unaligned, tab-separated), logged in
        over TCP with the cluster's password (through `PGPASSWORD`, as libpq takes it)."""
        answer = subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-F",
                "\t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                dbname,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        return [line.split("\t") for line in answer.stdout.splitlines() if line]

    def create_database(self, dbname: str) -> None:
        # An identifier cannot be a parameter: callers pass fixed names of their own.
        assert dbname.isidentifier(), dbname
        self.psql("postgres", f"CREATE DATABASE {dbname}")


def _as_cluster_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", POSTGRES_OS_USER, "--", *command]


def _hand_over(path: Path) -> None:
    """Give `path` to the cluster's OS user when running as root."""
    if os.geteuid() == 0:
        owner = pwd.getpwnam(POSTGRES_OS_USER)
        os.chown(path, owner.pw_uid, owner.pw_gid)


@contextmanager
def running_postgres(*, user: str = "lake", password: str) -> Iterator[Postgres]:
    """A new PostgreSQL cluster on a free loopback port whose superuser `user` logs in over
    TCP with `password` (SCRAM), fsync off (a test's data is thrown away), stopped and removed
    when the block ends. Its folder (and unix socket) is a new one under /tmp: a socket path
    has a short length limit, and pytest's tmp_path is closed to other users than root."""
    if not (POSTGRES_BIN / "initdb").is_file():
        raise RuntimeError(f"no PostgreSQL server binaries at {POSTGRES_BIN} (apt postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="biblioduck-pg-"))
    data, pg_ctl = folder / "data", str(POSTGRES_BIN / "pg_ctl")
    try:
        _hand_over(folder)
        password_file = folder / "password"
        password_file.write_text(password + "\n")
        _hand_over(password_file)
        initdb = [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", user, "-E", "UTF8"]
        initdb += ["--auth-local=trust", "--auth-host=scram-sha-256"]
        initdb += [f"--pwfile={password_file}", "--no-sync"]
        subprocess.run(_as_cluster_owner(initdb), check=True, capture_output=True, timeout=120)
        password_file.unlink()
        port = free_port()
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log")]
        start += ["-w", "-t", str(START_TIMEOUT_SECONDS), "start"]
        subprocess.run(
            _as_cluster_owner(start),
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_SECONDS + 10,
        )
        yield Postgres("127.0.0.1", port, user, folder, password)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_cluster_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class S3Server:
    """moto's S3 server: its endpoint and the (made-up) keys it takes."""

    endpoint: str  # http://127.0.0.1:PORT
    key_id: str = "biblioduck-test-key"
    secret: str = "biblioduck-test-secret-never-logged"
    region: str = "us-east-1"

    def environment(self) -> dict[str, str]:
        """The standard variables a process reads its S3 access from."""
        return {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self):  # boto3's S3 client (untyped)
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def keys(self, bucket: str) -> list[str]:
        """Every object key in `bucket`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextmanager
def running_s3(log: Path) -> Iterator[S3Server]:
    """`python -m moto.server` on a free loopback port, in a process of its own (its uploads
    take no GIL from the test), stopped when the block ends."""
    if shutil.which("moto_server") is None and not _importable("moto.server"):
        raise RuntimeError("moto's server is not installed: pip install 'moto[server]'")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert server.poll() is None, f"moto's server exited: {log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "moto's server did not answer"
                time.sleep(0.2)
        yield S3Server(endpoint)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
