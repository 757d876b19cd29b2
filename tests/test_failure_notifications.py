"""`biblioduck notify-failures URL` makes the Prefect server post every failed run to a webhook
(an automation with a notification block), tested end to end on a real `prefect server start`:
a sync that fails is posted to a webhook on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sandbox.scripted import ScriptedApp
from sandbox.server import serve
from tests.prefect_server import prefect_environment, run_biblioduck


def test_a_failed_run_is_posted_to_the_webhook(prefect_server, tmp_path: Path):
    hook = ScriptedApp()
    with serve(hook) as receiver:
        env = prefect_environment(
            tmp_path / "prefect-home",
            PREFECT_API_URL=prefect_server,
            BIBLIODUCK_EUTILS_URL="http://127.0.0.1:9/eutils",  # nothing listens: the run fails
            BIBLIODUCK_HTTP_MAX_ATTEMPTS="1",
        )
        created = run_biblioduck("notify-failures", f"{receiver}/hook", env=env)
        assert created.returncode == 0, created.stderr
        assert f"{receiver}/hook" not in created.stdout  # the URL is a secret of the block
        failed = run_biblioduck(
            "sync", "pubmed", "--query", "x", "--db", str(tmp_path / "w.duckdb"), env=env
        )
        assert failed.returncode == 1
        deadline = time.monotonic() + 120  # a guard: the server's triggers act within seconds
        while not hook.requests:
            assert time.monotonic() < deadline, "no notification arrived"
            time.sleep(0.5)
    (posted,) = hook.requests
    assert (posted.method, posted.path) == ("POST", "/hook")
    text = json.loads(posted.body)["text"]
    assert text.startswith("biblioduck: pubmed-sync run ")
    assert "prefect.flow-run.Failed" in text


def test_without_a_prefect_server_there_is_nothing_to_notify_from(tmp_path: Path):
    result = run_biblioduck(
        "notify-failures", "http://127.0.0.1:9/hook", env=prefect_environment(tmp_path)
    )
    assert result.returncode == 2
    assert "needs a Prefect server: set PREFECT_API_URL" in result.stderr
