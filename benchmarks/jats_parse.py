"""`python -m benchmarks jats-parse`: JATS parse speed of biblioduck (`connectors.jats`)
against its nearest peer, pubmed_parser 0.5.1's `parse_pubmed_xml` (the function its users
feed PMC Open Access `.nxml` files), on the same real files of `../shared/fixtures/jats`
(or `$BIBLIODUCK_FIXTURES/jats`), and what each extracts.

Both read each file from its path (page-cached after the warm-up). A round parses every file
once with every contender, the contenders' order rotating from round to round so that the
machine's other work falls on each alike; figures are medians over `--repeat` rounds.
"records/s" counts articles per second over the files every contender parses (a file one of
them fails on is listed, not counted). "fields" counts, per article, the fields a contender
returns non-empty (a `Record` field of ours; a key of pubmed_parser's dict), summed over
those files; "values" counts their items (each author, reference, date, subject…). Since
`parse_pubmed_xml` reads no references, a second peer row adds pubmed_parser's
`parse_pubmed_references` for the same files.

The report is printed and written to `benchmarks/results/latest-jats-parse.md`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULTS_DIR, environment, render_table

REPORT_NAME = "latest-jats-parse.md"
# Record fields that say where a record came from or what parsing could not keep: not
# extracted metadata.
_NOT_FIELDS = frozenset({"source", "raw", "unreadable", "dropped", "unknown", "source_version"})

Parse = Callable[[Path], list[Any]]


def default_fixtures_dir() -> Path:
    configured = os.environ.get("BIBLIODUCK_FIXTURES")
    root = Path(__file__).resolve().parent.parent
    return Path(configured) if configured else root.parent / "shared" / "fixtures"


def ours(path: Path) -> list[Any]:
    from connectors.jats import iter_jats_records

    return list(iter_jats_records(path, origin=path.name))


def pubmed_parser_xml(path: Path) -> list[Any]:
    import pubmed_parser

    return [pubmed_parser.parse_pubmed_xml(str(path))]


def pubmed_parser_xml_and_references(path: Path) -> list[Any]:
    import pubmed_parser

    article = pubmed_parser.parse_pubmed_xml(str(path))
    references = pubmed_parser.parse_pubmed_references(str(path)) or []
    return [{**article, "references": references}]


CONTENDERS: dict[str, Parse] = {
    "biblioduck (connectors.jats)": ours,
    "pubmed_parser.parse_pubmed_xml": pubmed_parser_xml,
    "pubmed_parser xml + references": pubmed_parser_xml_and_references,
}


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {}, ()) and not (isinstance(value, float) and value != value)


def extracted(result: list[Any]) -> tuple[int, int]:
    """(fields, values) of one file's parse (see the module docstring)."""
    fields = values = 0
    for item in result:
        pairs = (
            [(f.name, getattr(item, f.name)) for f in dataclasses.fields(item)]
            if dataclasses.is_dataclass(item)
            else list(item.items())
        )
        for name, value in pairs:
            if name in _NOT_FIELDS or not _filled(value):
                continue
            fields += 1
            values += len(value) if isinstance(value, list) else 1
    return fields, values


@dataclasses.dataclass
class Measured:
    seconds: dict[str, list[float]]  # per file, one per round
    fields: dict[str, tuple[int, int]]  # per file
    failed: dict[str, str]  # file -> why


def measure(files: list[Path], repeat: int) -> dict[str, Measured]:
    measured = {name: Measured({}, {}, {}) for name in CONTENDERS}
    for name, parse in CONTENDERS.items():  # warm-up: imports, page cache, failures
        for path in files:
            try:
                measured[name].fields[path.name] = extracted(parse(path))
            except Exception as error:
                measured[name].failed[path.name] = f"{type(error).__name__}: {error}"
    names = list(CONTENDERS)
    for round_number in range(repeat):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            parse, result = CONTENDERS[name], measured[name]
            for path in files:
                if path.name in result.failed:
                    continue
                started = time.perf_counter()
                parse(path)
                result.seconds.setdefault(path.name, []).append(time.perf_counter() - started)
    return measured


def report(measured: dict[str, Measured], files: list[Path], repeat: int) -> str:
    common = [p.name for p in files if not any(p.name in m.failed for m in measured.values())]
    rows = []
    for name, result in measured.items():
        total = sum(statistics.median(result.seconds[f]) for f in common)
        fields = sum(result.fields[f][0] for f in common)
        values = sum(result.fields[f][1] for f in common)
        rows.append(
            [
                name,
                f"{len(common) / total:,.0f}",
                f"{total * 1000 / len(common):.2f}",
                str(fields),
                str(values),
            ]
        )
    per_file = [
        [
            file,
            *(
                f"{statistics.median(m.seconds[file]) * 1000:.2f}" if file in m.seconds else "fails"
                for m in measured.values()
            ),
            *(str(m.fields[file][0]) if file in m.fields else "-" for m in measured.values()),
        ]
        for file in (p.name for p in files)
    ]
    short = ["ours", "pp xml", "pp xml+refs"]
    failures = [
        f"- {name} fails on {file}: {why}"
        for name, m in measured.items()
        for file, why in m.failed.items()
    ]
    env = environment()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"# JATS parse: biblioduck vs pubmed_parser ({when})",
            "",
            f"{len(files)} real JATS files of ../shared/fixtures/jats, median of {repeat} rounds; "
            f"records/s over the {len(common)} files every contender parses. "
            f"Python {env.get('python')}, {env.get('cpu_count')} CPUs, load average "
            f"{env.get('load_average_1_5_15')}, commit {env.get('git_commit')}.",
            "",
            render_table(
                ["contender", "records/s", "ms/article", "fields", "values"], rows, markdown=True
            ),
            "",
            "Per file: median ms, then fields extracted.",
            "",
            render_table(
                ["file", *(f"{s} ms" for s in short), *(f"{s} fields" for s in short)],
                per_file,
                markdown=True,
            ),
            "",
            *(failures or ["No failures."]),
            "",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks jats-parse",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fixtures", type=Path, default=None, help="the shared fixtures folder")
    parser.add_argument("--repeat", type=int, default=30, help="rounds (default 30)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / REPORT_NAME)
    args = parser.parse_args(argv)
    folder = (args.fixtures or default_fixtures_dir()) / "jats"
    if not folder.is_dir():
        print(f"JATS fixtures not found at {folder} (--fixtures)", file=sys.stderr)
        return 2
    files = sorted(p for p in folder.iterdir() if p.suffix in (".xml", ".nxml"))
    measured = measure(files, args.repeat)
    text = report(measured, files, args.repeat)
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
