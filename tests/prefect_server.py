"""A real `prefect server start` for the tests that need one (see the `prefect_server` fixture
in conftest.py), and the environment of a process that talks to it, or to no Prefect at all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def prefect_environment(home: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without any Prefect API, with a Prefect home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        **extra,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on loopback with a home of its own; yields its API URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=prefect_environment(home, PREFECT_UI_ENABLED="false"),
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


def run_biblioduck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own, with `env` (say, from `prefect_environment`)."""
    return subprocess.run(
        [str(BIN / "biblioduck"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
