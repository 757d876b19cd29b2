"""The tables of `benchmarks ways-in`: one row per way in, one per sync for politeness, and the
failures in full."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.harness import render_table

MAIN_HEADERS = (
    "way in",
    "records",
    "s",
    "records/s",
    "× raw",
    "raw records/s",
    "rec/s after start-up",
    "peak RSS MB: tree",
    "cli",
    "writer",
    "worker",
    "prefect srv",
    "processes",
    "CPU s",
    "rows in records",
    "status",
)
SYNC_HEADERS = (
    "sync",
    "requests",
    "client's own rate /s",
    "throttle waited s",
    "least s at client's own rate",
    "pipeline µs/record",
)


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not digits and abs(value) < 10:
        return f"{value:.1f}"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _records(r: dict[str, Any]) -> str:
    if r["records"] is None:
        return "–"
    deletions = r.get("deletions") or 0
    if deletions:
        return f"{r['records'] - deletions:,} + {deletions} del"
    return f"{r['records']:,}"


def main_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        roles = r["peak_rss_mb_by_role"]
        status = r["status"] if len(r["status"]) <= 40 else r["status"][:39] + "…"
        rows.append(
            [
                r["name"],
                _records(r),
                _n(r["seconds"], 2),
                _n(r["records_per_s"]),
                _n(r["ratio_to_raw"], 3),
                _n(r["raw_records_per_s"]),
                _n(r["records_per_s_after_startup"]),
                _n(r["peak_rss_mb"], 1),
                *(_n(roles.get(role), 1) for role in ("cli", "writer", "worker", "prefect-server")),
                str(sum(r["processes_by_role"].values())),
                _n(r["cpu_seconds"], 1),
                _n(r["records_in_warehouse"]),
                status,
            ]
        )
    return rows


def sync_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        if "politeness" not in r:
            continue
        polite = r["politeness"] or {}
        asked = polite.get("client_asked_requests_per_second") or {}
        rows.append(
            [
                r["name"],
                _n(polite.get("requests")),
                ", ".join(f"{rate:g}" for rate in asked.values()) or "–",
                _n(polite.get("throttle_waited_seconds"), 2),
                _n(polite.get("least_seconds_at_asked_rate"), 1),
                _n(r.get("pipeline_us_per_record")),
            ]
        )
    return rows


def _notes(payload: dict[str, Any]) -> list[str]:
    startups = payload["startup_seconds"]
    notes = [
        "fixed cost taken off for 'after start-up' and 'pipeline µs/record' (median seconds): "
        + (", ".join(f"{name} {_n(s, 2)} s" for name, s in startups.items()) or "none measured"),
        f"warm-up import before the first measured command: {payload['warm_up']['seconds']} s "
        f"({payload['warm_up']['status']})",
    ]
    for r in payload["results"]:
        if r.get("left_processes_behind"):
            left = "; ".join(r["left_processes_behind"])
            notes.append(f"{r['name']}: still running 3 s after the command ended: {left}")
        if r["status"] not in ("ok", "failed as expected"):
            notes.append(f"{r['name']}: {r['status']}")
        elif r["status"] == "failed as expected":
            notes.append(
                f"{r['name']}: exit {r['exit_code']} after {r['seconds']:.2f} s: "
                f"{r['stderr_last_line']}"
            )
        elif r["name"].startswith("re") and r.get("cli_said"):
            notes.append(f"{r['name']}: the CLI said: {r['cli_said']}")
    return notes


def render_text(payload: dict[str, Any]) -> str:
    results = payload["results"]
    parts = [render_table(MAIN_HEADERS, main_rows(results), markdown=False)]
    syncs = sync_rows(results)
    if syncs:
        parts += ["", render_table(SYNC_HEADERS, syncs, markdown=False)]
    parts += ["", *_notes(payload)]
    return "\n".join(parts)


def render_markdown(payload: dict[str, Any]) -> str:
    results = payload["results"]
    parameters = payload["parameters"]
    lines = [
        f"# ways-in benchmark, {payload['started_at']}",
        "",
        f"`{payload['command']}`: {parameters['records']:,} generated records per corpus, "
        f"Crossref tree {parameters['tree_records']:,} works, {parameters['repeat']} run(s) "
        "per way in (the median run; peak RSS the highest of all runs).",
        "",
        render_table(MAIN_HEADERS, main_rows(results), markdown=True),
        "",
    ]
    syncs = sync_rows(results)
    if syncs:
        lines += [render_table(SYNC_HEADERS, syncs, markdown=True), ""]
    lines += [f"- {note}" for note in _notes(payload)]
    return "\n".join(lines) + "\n"
