"""Copied as `sitecustomize.py` onto the PYTHONPATH of the syncs that `benchmarks ways-in` runs:
turns the client's own politeness off and records what it would have cost.

The CLI has no setting for the PubMed (3/s, 10/s with an api_key) or Crossref (10/s) request
rate, so a benchmark of the pipeline would otherwise measure NCBI's and Crossref's manners.
When `connectors.http` is first imported, every `PoliteSession` is given at least
`BIBLIODUCK_BENCH_REQUESTS_PER_SECOND`, and each request (`PoliteSession.fetch`), the rate the
code asked for and every wait of a `HostThrottle` are appended as JSON lines to
`BIBLIODUCK_BENCH_POLITENESS_LOG`. Without both variables this module does nothing. It imports
nothing of the project itself (it runs in every Python process of the command's tree: the
writer, workers, Prefect's server), only patches the module when something imports it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

RATE_VARIABLE = "BIBLIODUCK_BENCH_REQUESTS_PER_SECOND"
LOG_VARIABLE = "BIBLIODUCK_BENCH_POLITENESS_LOG"
PATCHED_MODULE = "connectors.http"


def _log(path: str, event: dict[str, Any]) -> None:
    # One short append per event: a line is whole even when threads or processes interleave.
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"pid": os.getpid(), **event}) + "\n")


def patch(module: ModuleType, rate: float, path: str) -> None:
    """Raise every session's rate to at least `rate` and log requests, asked rates and waits."""
    session_class = module.PoliteSession
    throttle_class = module.HostThrottle
    original_init = session_class.__init__
    original_fetch = session_class.fetch
    original_wait = throttle_class.wait

    def __init__(self: Any, *args: Any, requests_per_second: float, **kwargs: Any) -> None:
        source = kwargs.get("source")
        _log(path, {"event": "session", "source": source, "asked": requests_per_second})
        original_init(self, *args, requests_per_second=max(requests_per_second, rate), **kwargs)

    def fetch(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        _log(path, {"event": "request", "source": self.source})
        return original_fetch(self, method, url, **kwargs)

    def wait(self: Any, interval: float) -> float:
        waited: float = original_wait(self, interval)
        _log(path, {"event": "wait", "seconds": waited})
        return waited

    session_class.__init__ = __init__
    session_class.fetch = fetch
    throttle_class.wait = wait


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds `connectors.http` through the other finders and patches it once executed."""

    def __init__(self, rate: float, path: str) -> None:
        self.rate = rate
        self.path = path

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PATCHED_MODULE:
            return None
        sys.meta_path.remove(self)  # once, and no recursion into ourselves
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            patch(module, self.rate, self.path)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> bool:
    """Patch `connectors.http` when it is imported, if the benchmark asked for it."""
    rate, path = os.environ.get(RATE_VARIABLE), os.environ.get(LOG_VARIABLE)
    if not rate or not path:
        return False
    sys.meta_path.insert(0, _PatchOnImport(float(rate), path))
    return True


install()
