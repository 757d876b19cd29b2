"""The markdown summary every run leaves as a Prefect artifact."""

from __future__ import annotations

from typing import Any

from expectations.data_docs import run_docs_markdown

# The run counters every flow returns (from the `runs` row).
RUN_FIELDS = (
    "run_id",
    "status",
    "fetched",
    "inserted",
    "updated",
    "unchanged",
    "stale",
    "deleted",
    "quarantined",
)


def add_reasons(totals: dict[str, int], more: dict[str, int]) -> None:
    """Add one batch's quarantine reasons (expectation -> rows) to a run's."""
    for name, count in more.items():
        totals[name] = totals.get(name, 0) + count


def reasons_text(reasons: dict[str, int]) -> str:
    return "; ".join(f"{name}: {count}" for name, count in sorted(reasons.items()))


def summary_markdown(title: str, run: dict[str, Any], extra: dict[str, Any]) -> str:
    """A run's counters as a markdown table, then `extra` facts (query, window, reasons)."""
    rows = [
        ("fetched", run["fetched"]),
        ("inserted", run["inserted"]),
        ("updated", run["updated"]),
        ("unchanged", run["unchanged"]),
        ("stale (older than stored)", run["stale"]),
        ("deleted", run["deleted"]),
        ("quarantined", run["quarantined"]),
        ("seconds", f"{run['seconds']:.1f}" if run["seconds"] is not None else "-"),
    ]
    lines = [f"# {title}", "", f"run `{run['run_id']}`: **{run['status']}**", ""]
    lines += ["| what | count |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows]
    for key, value in extra.items():
        lines.append(f"\n**{key}**: {value}")
    lines.append("\n" + run_docs_markdown(run["run_id"]))
    return "\n".join(lines)
