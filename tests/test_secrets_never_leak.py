"""An NCBI api_key set in the environment is sent to NCBI and appears nowhere else: not in logs,
exceptions, Prefect parameters, logs or artifacts, nor in any table of the warehouse."""

from __future__ import annotations

import logging
import traceback

import duckdb
import pytest
from prefect.client.orchestration import get_client

from flows.pubmed import pubmed_sync
from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.faults import Fault
from sandbox.server import serve
from schemas.errors import TransientError
from tests.flow_helpers import fast_http
from warehouse.store import decode_payload

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

API_KEY = "bdk-7f3c9e1a5b2d4c6e8f0a"


def warehouse_text(path) -> str:
    """Every value of every table, as text, plus every raw payload decompressed."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        parts = []
        # Every schema's tables: the search index keeps its own (fts_main_search_documents).
        tables = [
            f'"{schema}"."{name}"'
            for schema, name in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables()"
            ).fetchall()
        ]
        for table in tables:
            for row in con.execute(f"SELECT * FROM {table}").fetchall():
                parts.append(repr(row))
        stored = "SELECT encoding, payload, raw_bytes FROM raw_payloads"
        for row in con.execute(stored).fetchall():
            parts.append(decode_payload(*row).decode("utf-8", "replace"))
        return "\n".join(parts)
    finally:
        con.close()


def test_the_api_key_is_sent_only_in_post_bodies_and_appears_nowhere_else(
    tmp_path, monkeypatch, caplog, capsys
):
    fast_http(monkeypatch, attempts=2, batch_size=100)
    monkeypatch.setenv("NCBI_API_KEY", API_KEY)
    caplog.set_level(logging.DEBUG)
    emulator = EutilsEmulator(demo_corpus(), rate_limits=None)
    emulator.faults.at("efetch", 1, fault=Fault.rate_limited(retry_after="0"))
    emulator.faults.at("efetch", 3, 4, fault=Fault.http_status(500))  # retries run out
    db = tmp_path / "w.duckdb"
    with serve(emulator) as url:
        with pytest.raises(TransientError) as failure:
            pubmed_sync(query="all[sb]", db=str(db), eutils_url=url)
        resumed = pubmed_sync(query="all[sb]", db=str(db), eutils_url=url)
    assert resumed["status"] == "completed"

    # It was really used: every request carried it, in the POST body only.
    assert emulator.requests
    assert all(r.method == "POST" for r in emulator.requests)
    assert all(r.form.get("api_key") == [API_KEY] for r in emulator.requests)
    assert all("api_key" not in r.query for r in emulator.requests)

    assert API_KEY not in "".join(traceback.format_exception(failure.value))
    assert API_KEY not in caplog.text
    captured = capsys.readouterr()
    assert API_KEY not in captured.out + captured.err
    assert API_KEY not in warehouse_text(db)

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        assert runs
        assert all(API_KEY not in repr(run.parameters) for run in runs)
        logs = client.read_logs()
        assert logs
        assert all(API_KEY not in log.message for log in logs)
        artifacts = client.read_artifacts()
        assert any(a.key == "pubmed-sync-summary" for a in artifacts)
        assert all(API_KEY not in repr(a.data) for a in artifacts)
