"""The raw baseline of `benchmarks ways-in`, in a fresh process: the least any way in must do
with the same bytes, i.e. only read them.

    python -m benchmarks._ways_in_raw pubmed|oai|json-lines PATH...

`pubmed`: lxml iterparse of PubmedArticle/PubmedBookArticle/DeleteCitation, elements cleared;
`oai`: lxml iterparse of OAI-PMH `record` elements (a deleted one counts as a deletion),
cleared; `json-lines`: `json.loads` of each line (one work each). Files may be gzipped. Best
of `PASSES` passes (one pass on a shared machine is sometimes half as fast); prints one JSON
line: records, deletions, seconds (the best), every pass's seconds.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from lxml import etree

PASSES = 3
OAI_NS = "{http://www.openarchives.org/OAI/2.0/}"
PUBMED_TAGS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return cast(BinaryIO, gzip.open(path, "rb")) if gzipped else path.open("rb")


def _clear(element: etree._Element) -> None:
    element.clear()
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]


def pubmed(path: Path) -> tuple[int, int]:
    records = deletions = 0
    with _open(path) as stream:
        for _, element in etree.iterparse(stream, tag=PUBMED_TAGS):
            if element.tag == "DeleteCitation":
                deletions += len(element)
            else:
                records += 1
            _clear(element)
    return records, deletions


def oai(path: Path) -> tuple[int, int]:
    records = deletions = 0
    with _open(path) as stream:
        for _, element in etree.iterparse(stream, tag=f"{OAI_NS}record"):
            header = element.find(f"{OAI_NS}header")
            if header is not None and header.get("status") == "deleted":
                deletions += 1
            else:
                records += 1
            _clear(element)
    return records, deletions


def json_lines(path: Path) -> tuple[int, int]:
    records = 0
    with _open(path) as stream:
        for line in stream:
            if line.strip():
                json.loads(line)
                records += 1
    return records, 0


READERS: dict[str, Callable[[Path], tuple[int, int]]] = {
    "pubmed": pubmed,
    "oai": oai,
    "json-lines": json_lines,
}


def measure(reader: str, paths: list[Path], passes: int = PASSES) -> dict[str, object]:
    """Best of `passes` timed reads of every path."""
    read = READERS[reader]
    timings = []
    records = deletions = 0
    for _ in range(passes):
        started = time.perf_counter()
        records = deletions = 0
        for path in paths:
            found, gone = read(path)
            records += found
            deletions += gone
        timings.append(time.perf_counter() - started)
    return {
        "reader": reader,
        "records": records,
        "deletions": deletions,
        "seconds": min(timings),
        "passes": [round(t, 4) for t in timings],
        "bytes": sum(p.stat().st_size for p in paths),
    }


def main(argv: list[str]) -> int:
    reader, *names = argv
    print(json.dumps(measure(reader, [Path(n) for n in names])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
