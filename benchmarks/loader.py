"""The bulk loader alone: what DuckDB's row-group size and thread count cost the one writer.

    python -m benchmarks loader
    python -m benchmarks loader --pairs 1 --row-group-size 16384 --threads 1

The same baseline files as `e2e` (`--pairs` of pubmed20n0014 and pubmed21n1298, renumbered
copies after the first pair) are served by the NLM emulator and prepared once, in this process,
exactly as a bulk worker prepares them (download, parse, validate, spool). Each setting then
loads the spools through a fresh bulk writer process (`processes.writer.BulkWriter`, as the flow
does) into a fresh warehouse, and reports the wall seconds, the CPU seconds of the writer (all
DuckDB threads included: on 2 cores, what the writer burns is taken from the workers), its
peak RSS, and the size of the warehouse file. A setting whose load fails (e.g. out of memory)
is reported with its error.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import MB, RESULTS_DIR, argument_parser

DEFAULT_ROW_GROUP_SIZES = (2048, 16_384)
DEFAULT_THREADS = (1, 2)


def prepare_spools(work: Path, baseline: list[tuple[str, Path]]) -> Path:
    """Prepare `baseline` ((served name, path) pairs) once, as a bulk worker would; returns the
    pickle of their `PreparedFile`s (their spools stay in `work`)."""
    from connectors.pubmed.files import fetch_md5, list_files
    from flows.bulk import prepare, start_worker
    from flows.jobs import NlmFile, PrepareSettings
    from sandbox.nlm_files import NlmFileServer
    from sandbox.server import serve

    start_worker()
    settings = PrepareSettings(
        download_dir=work / "downloads",
        spool_dir=work / "spool",
        batch_size=1000,
        max_failed_fraction=0.5,
        requests_per_second=1000.0,
        max_attempts=3,
        backoff_base=0.1,
    )
    served = {"baseline": baseline, "updatefiles": []}
    with serve(NlmFileServer(served)) as url:
        files = list_files(f"{url}/pubmed", "baseline")
        prepared = [prepare(NlmFile(f, fetch_md5(f)), settings) for f in files]
    spools = work / "prepared.pickle"
    spools.write_bytes(pickle.dumps(prepared))
    return spools


def run_setting(
    spools: Path, work: Path, row_group_size: int, threads: int, memory: str
) -> dict[str, Any]:
    """Load every prepared file in order through a fresh bulk writer process (as the flow
    does), into a fresh warehouse; the writer's wall and CPU seconds, peak RSS, and the
    warehouse's size, or the error that stopped it."""
    from connectors.pubmed.files import BULK_NAME_RE
    from processes.writer import BulkWriter
    from warehouse.store import LedgerEntry

    db = work / f"loader-{row_group_size}-{threads}.duckdb"
    setting = {"row_group_size": row_group_size, "threads": threads, "memory_limit": memory}
    prepared = pickle.loads(spools.read_bytes())
    records = sum(p.records for p in prepared)
    try:
        with BulkWriter(
            db, memory_limit=memory, row_group_size=row_group_size, threads=threads
        ) as writer:
            cpu_before = _cpu_seconds(writer.pid)
            started = time.perf_counter()
            for file in prepared:
                year, number = BULK_NAME_RE.fullmatch(file.name).groups()  # type: ignore[union-attr]
                entry = LedgerEntry(
                    name=file.name,
                    kind="baseline",
                    year=int(year),
                    number=int(number),
                    md5=file.md5,
                    size=file.size,
                )
                writer.load_file(entry, file, run_id=None)
            wall = time.perf_counter() - started
            cpu = _cpu_seconds(writer.pid) - cpu_before
            peak = _peak_rss_bytes(writer.pid)
        size = db.stat().st_size
    except Exception as exc:  # reported per setting: a limit too small fails that setting
        return {**setting, "error": f"{type(exc).__name__}: {exc}"[:400]}
    finally:
        for leftover in (db, db.with_name(db.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return {
        **setting,
        "records": records,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_us_per_record": round(cpu / records * 1e6),
        "peak_rss_mb": round(peak / MB),
        "warehouse_mb": round(size / MB),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, all its threads (DuckDB's) included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def main(argv: list[str]) -> int:
    parser = argument_parser("loader", __doc__)
    parser.add_argument("--pairs", type=int, default=4, help="pairs of baseline files (default 4)")
    parser.add_argument(
        "--row-group-size", type=int, action="append", help="repeatable (default 2048, 16384)"
    )
    parser.add_argument("--threads", type=int, action="append", help="repeatable (default 1, 2)")
    parser.add_argument("--memory-limit", default=None, help="default: the bulk flow's default")
    args = parser.parse_args(argv)
    from benchmarks._e2e_child import baseline_files
    from flows.settings import Settings

    memory = args.memory_limit or Settings.model_fields["bulk_memory_limit"].default
    results = []
    with tempfile.TemporaryDirectory(prefix="biblioduck-loader-") as tmp:
        work = Path(tmp)
        spools = prepare_spools(work, baseline_files(work, args.pairs))
        for row_group_size in args.row_group_size or DEFAULT_ROW_GROUP_SIZES:
            for threads in args.threads or DEFAULT_THREADS:
                result = run_setting(spools, work, row_group_size, threads, memory)
                print(json.dumps(result), flush=True)
                results.append(result)
    rows = [
        "| row group | threads | wall s | CPU s | CPU µs/record | peak RSS MB | warehouse MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            error = " ".join(r["error"].split())  # one table row, whatever the message
            rows.append(f"| {r['row_group_size']:,} | {r['threads']} | failed: {error} |")
            continue
        rows.append(
            f"| {r['row_group_size']:,} | {r['threads']} | {r['wall_seconds']} | "
            f"{r['cpu_seconds']} | {r['cpu_us_per_record']} | {r['peak_rss_mb']} | "
            f"{r['warehouse_mb']} |"
        )
    print(f"memory limit {memory}, {results[0].get('records', 0):,} records")
    print("\n".join(rows))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    (RESULTS_DIR / f"loader-{stamp}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
