"""An import SIGKILLed at ten random points, then run again, ends in the warehouse of a clean
run: nothing lost or loaded twice, no process left behind, no run left `running`."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.crossref_corpus import crossref_demo_corpus
from tests.flow_helpers import children_of, processes_naming, wait_until_gone, warehouse_rows

BIBLIODUCK = str(Path(sys.executable).with_name("biblioduck"))
LEDGER = "SELECT name, md5, status, records, inserted FROM bulk_files ORDER BY name"
KILLS = 10


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A public-data-file-like folder: 30 parts of 5 works."""
    works = crossref_demo_corpus()
    folder = tmp_path / "parts"
    folder.mkdir()
    for number, start in enumerate(range(0, len(works), 5)):
        part = {"items": works[start : start + 5]}
        (folder / f"{number}.json.gz").write_bytes(gzip.compress(json.dumps(part).encode()))
    return folder


def _import(folder: Path, db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [BIBLIODUCK, "import", str(folder), "--format", "crossref", "--workers", "2"]
    return subprocess.Popen(
        [*command, "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_ten_kills_at_random_points_then_a_rerun_equal_a_clean_run(tree, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["BIBLIODUCK_DOWNLOAD_DIR"] = str(tmp_path / "downloads")
    clean, killed = tmp_path / "clean.duckdb", tmp_path / "killed.duckdb"
    assert _import(tree, clean, env).wait(timeout=300) == 0

    points = random.Random(20261204)  # the points are random, and the same in every run
    for _ in range(KILLS):
        process = _import(tree, killed, env)
        time.sleep(points.uniform(0.2, 4.0))  # where it is killed, not how long anything takes
        started = (processes_naming(str(killed)) | children_of(process.pid)) - {process.pid}
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_until_gone(started)  # its writer and workers die with it
    assert _import(tree, killed, env).wait(timeout=300) == 0

    assert warehouse_rows(killed) == warehouse_rows(clean)
    assert warehouse_rows(killed, LEDGER) == warehouse_rows(clean, LEDGER)
    statuses = [
        status
        for (status,) in warehouse_rows(killed, "SELECT status FROM runs ORDER BY started_at")
    ]
    assert statuses[-1] == "completed"
    assert "running" not in statuses
    assert set(statuses[:-1]) <= {"abandoned", "completed"}
    assert "abandoned" in statuses  # kills landed in the middle of runs
    assert not processes_naming(str(killed))
