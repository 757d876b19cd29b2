"""biblioduck's benchmarks: a small registry of named benchmarks run by `python -m benchmarks`.

    python -m benchmarks                 # the default benchmark ("parse")
    python -m benchmarks parse --only biblioduck,lxml-iterparse --repeat 3
    python -m benchmarks list            # what is registered

Adding a benchmark: write a module under `benchmarks/` with a `main(argv: list[str]) -> int`
(argparse inside; reuse `benchmarks.harness` to run contenders in fresh processes and to write
`benchmarks/results/`), then add one `register(...)` line below. Modules are imported only
when their benchmark is run, so one benchmark's heavy imports never slow down another.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark: `module` is imported lazily and its `main(argv)` is the entry."""

    name: str
    module: str
    summary: str

    def main(self, argv: list[str]) -> int:
        module = importlib.import_module(self.module)
        return int(module.main(argv))


BENCHMARKS: dict[str, Benchmark] = {}


def register(name: str, module: str, summary: str) -> Benchmark:
    """Add a benchmark to the registry (names are unique)."""
    if name in BENCHMARKS:
        raise ValueError(f"benchmark {name!r} is already registered")
    BENCHMARKS[name] = benchmark = Benchmark(name, module, summary)
    return benchmark


DEFAULT = "parse"

register(
    "parse",
    "benchmarks.parse",
    "PubMed XML parsers on one baseline file: records/s, MB/s, peak RSS (one process each)",
)

register(
    "e2e",
    "benchmarks.e2e",
    "NLM bulk files end to end (download → parse → validate → load): records/s, stages, peak RSS",
)

register(
    "floor",
    "benchmarks.floor",
    "Each stage of the bulk path alone on one core: the best end-to-end ratio each leaves",
)

register(
    "loader",
    "benchmarks.loader",
    "The bulk writer alone over prepared files: CPU, peak RSS, size per DuckDB row group/threads",
)

register(
    "ways-in",
    "benchmarks.ways_in",
    "Every way in (import, sync, files) through the real CLI vs raw parsing of the same bytes",
)

register(
    "matching-quality",
    "benchmarks.matching_quality",
    "Precision and recall of work matching on the labelled record pairs in tests/",
)

register(
    "works-scale",
    "benchmarks.works_scale",
    "Works (full build, incremental update), search index, search and report at 1M records",
)

register(
    "backends",
    "benchmarks.backends",
    "DuckDB file vs DuckLake: the same bulk import (records/s, peak RSS, bytes) and analyst reads",
)

register(
    "landing-parse",
    "benchmarks.landing_parse",
    "Landing pages: our parser vs extruct.extract on the recorded pages (pages/s, fields found)",
)

register(
    "jats-parse",
    "benchmarks.jats_parse",
    "JATS parse speed and fields: connectors.jats vs pubmed_parser.parse_pubmed_xml, same files",
)
