"""Machinery shared by every benchmark: run one contender in its own fresh Python process,
measure it there, and render and write the results.

Why one process per contender (and per repeat): peak RSS (VmHWM) is a high-water mark
of the whole process, so measured in a shared process it would carry the previous contender's
peak, and import caches or a warmed allocator would flatter whoever runs second.

A contender is named by a loader, "module:function", imported only in the child. The loader
takes the benchmark's params (a JSON-able dict), does every import and every piece of setup,
and returns a `Workload`; the child then reads the baseline RSS, times `Workload.run()` with
`time.perf_counter`, and reads the peak RSS (see `benchmarks._child`). A loader that cannot
run here raises `Unavailable`, which is reported as such instead of as a failure.

Units: MB is 10**6 bytes everywhere (throughput and RSS), so "< 200 MB" is the strict reading.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 1_000_000
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


class Unavailable(Exception):
    """The contender cannot run here (its package or module is missing); not a failure."""


@dataclass
class Workload:
    """What a loader hands back: the timed part, plus what to report about how it ran.

    `run()` returns counts ({"records": n, "deletions": n, ...}); it may append to `notes`
    (e.g. which DTD files it read), which the child reads after the run."""

    run: Callable[[], dict[str, int]]
    version: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Contender:
    name: str
    loader: str  # "module:function", imported in the child only
    description: str


def argument_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m benchmarks NAME`, whose help is the module's docstring."""
    return argparse.ArgumentParser(
        prog=f"python -m benchmarks {name}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark. On Linux, /proc's VmHWM: `ru_maxrss` survives
    fork and exec, so a fresh child reported its parent's peak whenever that was higher
    (measured: every setting of `benchmarks loader` read 1,016 MB, the parent's). Elsewhere
    ru_maxrss (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int | None:
    """The RSS right now (not the peak), from /proc where there is one."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_isolated(contender: Contender, params: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Run one contender once in a fresh `python -m benchmarks._child` and return its result
    dict: status "ok" (with counts, seconds, RSS figures), "unavailable" or "error"."""
    with tempfile.TemporaryDirectory(prefix="biblioduck-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks._child",
            contender.loader,
            json.dumps(params),
            str(out),
        ]
        # The child must import `benchmarks` whatever the caller's working directory is.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        try:
            proc = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return {"status": "error", "reason": f"timed out after {timeout:g} s"}
        if out.is_file():
            result: dict[str, Any] = json.loads(out.read_text())
            if result.get("status") == "error" and proc.stderr.strip():
                result["stderr_tail"] = _tail(proc.stderr)
            return result
        return {
            "status": "error",
            "reason": f"child exited with code {proc.returncode} and wrote no result",
            "stderr_tail": _tail(proc.stderr),
        }


def environment() -> dict[str, Any]:
    """Where the figures were taken: they mean little without it."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    # Other work on the machine skews timings; the load average at the start makes that visible.
    with contextlib.suppress(OSError, AttributeError):
        info["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    with contextlib.suppress(ValueError, OSError):  # sysconf names are not on every platform
        info["memory_total_gb"] = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1
        )
    # Read-only: the commit the figures belong to (`rev-parse` never touches the index).
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if head.returncode == 0:
            info["git_commit"] = head.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def timestamp() -> dt.datetime:
    return dt.datetime.now().astimezone().replace(microsecond=0)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> str:
    """A fixed-width text table (for the terminal) or a GitHub markdown table (for the issue).
    Columns after the first are right-aligned: they are numbers."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts)

    if markdown:
        rule = "|" + "|".join(
            ("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)
        )
        rule += "|"
    else:
        rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
