"""The markdown summary every run leaves as a Prefect artifact."""

from __future__ import annotations

from typing import Any


def summary_markdown(title: str, run: dict[str, Any], extra: dict[str, Any]) -> str:
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
    return "\n".join(lines)
