"""prefect.yaml deploys against a real Prefect API server: every deployment's entrypoint loads,
its parameters fit the flow, and the nightly ones carry their cron schedule and timezone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

REPO = Path(__file__).resolve().parent.parent


def prefect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("prefect")), *args]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_every_deployment_in_prefect_yaml_deploys_with_its_schedule():
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "BIBLIODUCK_HOME": str(REPO),
    }
    created = prefect(
        "work-pool", "create", "biblioduck", "--type", "process", "--overwrite", env=env
    )
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = prefect("--no-prompt", "deploy", "--all", env=env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]

    declared = {
        d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    }
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
        assert set(declared) <= set(deployments)
        for name, spec in declared.items():
            deployment = deployments[name]
            assert deployment.entrypoint == spec["entrypoint"]
            assert deployment.parameters == spec.get("parameters", {})
            schedules = client.read_deployment_schedules(deployment.id)
            expected = [(s["cron"], s["timezone"], s["active"]) for s in spec.get("schedules", [])]
            assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in schedules] == expected
    # A schedule that would call a live service with placeholder parameters starts paused.
    for name in ("pubmed-nightly", "crossref-nightly"):
        assert [s["active"] for s in declared[name]["schedules"]] == [False]
    assert declared["pubmed-nightly"]["schedules"][0]["timezone"] == "America/New_York"
