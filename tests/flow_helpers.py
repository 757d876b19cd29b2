"""Helpers shared by the flow tests: run a sync against an emulator, read a warehouse back."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path

import duckdb

# Everything a record row says, minus what depends on when or by which run it was loaded.
COMPARABLE = (
    "SELECT * EXCLUDE (loaded_at, first_loaded_at, run_id, deleted_at) "
    "FROM source_records ORDER BY source, source_id"
)


def warehouse_rows(path: Path, sql: str = COMPARABLE) -> list[tuple]:
    """Rows of `sql` on the warehouse at `path` (a DuckDB file or a lake), read-only."""
    from warehouse.connection import open_lake
    from warehouse.location import lake_location

    lake = lake_location(path)
    con = open_lake(lake, True) if lake else duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def copy_warehouse(source: Path, target: Path) -> None:
    """A copy at `target` of the warehouse at `source` (a DuckDB file, or a lake with an SQLite
    catalog and its data beside it), to change without changing `source`."""
    from warehouse.location import lake_location

    lake, copied = lake_location(source), lake_location(target)
    if lake is None or copied is None:
        shutil.copy(source, target)
        return
    folder, copied_folder = Path(lake.catalog).parent, Path(copied.catalog).parent
    shutil.copytree(folder, copied_folder)
    # The catalog names its data folder by its absolute path: the copy's must name its own,
    # or it would read and write the data files of `source`.
    with closing(sqlite3.connect(copied.catalog)) as catalog, catalog:
        changed = catalog.execute(
            "UPDATE ducklake_metadata SET value = ? WHERE key = 'data_path' AND value = ?",
            [f"{copied_folder / 'data'}{os.sep}", f"{folder / 'data'}{os.sep}"],
        ).rowcount
    assert changed == 1, f"{source} keeps its data elsewhere than beside its catalog"


def files_under(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time: equal before and after,
    nothing was written."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def fast_http(monkeypatch, *, attempts: int = 6, batch_size: int = 100) -> None:
    """Tiny backoffs (the emulator's Retry-After still applies) and small efetch pages."""
    monkeypatch.setenv("BIBLIODUCK_HTTP_BACKOFF_BASE", "0.01")
    monkeypatch.setenv("BIBLIODUCK_HTTP_MAX_ATTEMPTS", str(attempts))
    monkeypatch.setenv("BIBLIODUCK_EUTILS_BATCH_SIZE", str(batch_size))
    monkeypatch.delenv("NCBI_API_KEY", raising=False)


def processes_naming(argument: str) -> set[int]:
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


def wait_until_gone(pids: set[int]) -> None:
    """Until every thread of `pids` has ended (a 60 s guard against a hang)."""
    deadline = time.monotonic() + 60
    while left := {pid: states for pid in pids if (states := _live_threads(pid))}:
        assert time.monotonic() < deadline, f"still running (pid: thread states): {left}"
        time.sleep(0.05)


def kill_at_line(
    command: list[str], env: dict[str, str], marker: str, *, guard_seconds: float = 600
) -> tuple[int, list[str], set[int]]:
    """Run `command`, SIGKILL it when a line of its stderr holds `marker`, and wait for it.
    Returns its exit code, the stderr lines seen, and the processes it had started (their
    command lines name its warehouse, or their parent is it) at the moment of the kill."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    guard = threading.Timer(guard_seconds, process.kill)  # a guard against a hang, not a timing
    guard.start()
    seen: list[str] = []
    started: set[int] = set()
    try:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            if marker in line:
                db = command[command.index("--db") + 1]
                started = (processes_naming(db) | children_of(process.pid)) - {process.pid}
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait()
        guard.cancel()
    return process.returncode, seen, started


def children_of(pid: int) -> set[int]:
    """The processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found
