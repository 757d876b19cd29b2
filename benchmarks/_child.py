"""The child side of `benchmarks.harness.run_isolated`: one contender, one fresh process.

    python -m benchmarks._child MODULE:FUNCTION PARAMS_JSON OUT_PATH

Order matters for what the figures mean: the loader does all imports and setup first, then
the baseline RSS is read (so "growth" is what the work itself added), then only the work is
timed, then the peak RSS is read. The result goes to OUT_PATH as JSON (not stdout: a library
may print), and the exit code is 0 even for "unavailable" / "error": the parent reads the
status from the file and a missing file means the child itself died.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Unavailable, Workload, current_rss_bytes, peak_rss_bytes

Loader = Callable[[dict[str, Any]], Workload]


def resolve(spec: str) -> Loader:
    module_name, _, function_name = spec.partition(":")
    loader: Loader = getattr(importlib.import_module(module_name), function_name)
    return loader


def measure(loader: Loader, params: dict[str, Any]) -> dict[str, Any]:
    """Set up, then time one run; every outcome becomes a result dict, never an exception."""
    try:
        workload = loader(params)
    except Unavailable as exc:
        return {"status": "unavailable", "reason": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        return {"status": "error", "stage": "setup", "reason": f"{type(exc).__name__}: {exc}"}

    rss_baseline = peak_rss_bytes()
    started = time.perf_counter()
    try:
        counts = workload.run()
    except Exception as exc:
        traceback.print_exc()
        return {
            "status": "error",
            "stage": "run",
            "reason": f"{type(exc).__name__}: {exc}",
            "seconds": time.perf_counter() - started,
            "version": workload.version,
            "options": workload.options,
            "notes": workload.notes,
        }
    seconds = time.perf_counter() - started
    return {
        "status": "ok",
        "counts": counts,
        "seconds": seconds,
        "rss_baseline_bytes": rss_baseline,
        "rss_peak_bytes": peak_rss_bytes(),
        "rss_end_bytes": current_rss_bytes(),
        "version": workload.version,
        "options": workload.options,
        "notes": workload.notes,
    }


def main(argv: list[str]) -> int:
    spec, params_json, out_path = argv
    try:
        loader = resolve(spec)
    except Exception as exc:
        traceback.print_exc()
        result: dict[str, Any] = {
            "status": "error",
            "stage": "import",
            "reason": f"cannot load {spec}: {type(exc).__name__}: {exc}",
        }
    else:
        result = measure(loader, json.loads(params_json))
    Path(out_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
