"""Drift: the element, attribute and JSON key names a source's records carried that its parser
does not know (`Record.unknown`; NLM revises its DTD yearly, Crossref adds fields), kept per
run in `run_drift`, told once as a warning when a name is new to the warehouse, and shown by
`biblioduck status` and the report.

Validation counts a batch's names in a summary of suite `drift` (`expectations.validate.
drift_summary`: name -> records that carried it), which every load path stores with the
batch's other validation results; finishing a run adds them up into `run_drift`.
"""

from __future__ import annotations

import html
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from expectations.validate import DRIFT_SUITE

# The key of a finished run's row (`warehouse.runs.finish_run`) listing its names first seen.
FIRST_SEEN = "drift_first_seen"

# Per source and name: the run that first saw it, when, and the records of the source's last
# run that carried it (0: the last run saw none), newest names first.
DRIFT_SQL = """
WITH last AS (SELECT source, arg_max(run_id, started_at) AS last_run FROM runs GROUP BY source),
seen AS (SELECT d.*, r.started_at FROM run_drift d JOIN runs r USING (run_id))
SELECT s.source, s.name, arg_min(s.run_id, s.started_at) AS first_run,
       min(s.started_at) AS first_seen_at, count(*) AS runs,
       coalesce(sum(s.count) FILTER (WHERE s.run_id = l.last_run), 0) AS last_run_records,
       sum(s.count) AS records
FROM seen s LEFT JOIN last l USING (source)
GROUP BY s.source, s.name
ORDER BY first_seen_at DESC, s.source, s.name
"""


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """A name no earlier run of the warehouse saw, and how many records of its run had it."""

    source: str
    name: str
    records: int

    def message(self) -> str:
        """`drift: crossref key 'new-key' seen for the first time (3 records)`."""
        kind, _, what = self.name.partition(" ")
        plural = "" if self.records == 1 else "s"
        return (
            f"drift: {self.source} {kind} {what!r} seen for the first time "
            f"({self.records} record{plural})"
        )


def settle_run(con: duckdb.DuckDBPyConnection, run_id: str) -> list[FirstSeen]:
    """Add up the run's drift summaries into `run_drift` (its rows replaced: finishing a run
    twice counts once) and return the names no other run saw, in name order."""
    counts: Counter[tuple[str, str]] = Counter()
    for source, failures in con.execute(
        "SELECT source, failures FROM validation_results WHERE run_id = ? AND suite = ?",
        [run_id, DRIFT_SUITE],
    ).fetchall():
        for name, records in json.loads(failures or "{}").items():
            counts[(source, name)] += int(records)
    con.execute("DELETE FROM run_drift WHERE run_id = ?", [run_id])
    if not counts:
        return []
    seen = set(
        con.execute(
            "SELECT DISTINCT source, name FROM run_drift WHERE run_id <> ?", [run_id]
        ).fetchall()
    )
    rows = [
        (run_id, source, name, records, (source, name) not in seen)
        for (source, name), records in sorted(counts.items())
    ]
    con.executemany("INSERT INTO run_drift VALUES (?, ?, ?, ?, ?)", rows)
    return [FirstSeen(source, name, records) for _, source, name, records, first in rows if first]


def first_seen_of(run: dict[str, Any]) -> list[FirstSeen]:
    """The names a finished run's row says it saw first (none for a row without the key)."""
    return [FirstSeen(*entry) for entry in run.get(FIRST_SEEN) or ()]


def warn_first_seen(
    logger: logging.Logger | logging.LoggerAdapter[Any], run: dict[str, Any]
) -> None:
    """Log one warning per name the finished `run` was the first to see."""
    for new in first_seen_of(run):
        logger.warning("%s", new.message())


def has_drift_table(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has `run_drift` (one opened read-only before it existed has not)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'run_drift'"
    ).fetchone()
    return bool(row and row[0])


def drift_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """`DRIFT_SQL`'s rows as dicts (none in a warehouse without `run_drift`)."""
    if not has_drift_table(con):
        return []
    cursor = con.execute(DRIFT_SQL)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def drift_section(db: Path) -> str:
    """The report's drift section: a table of every unknown name, or a line saying there is
    none."""
    from warehouse.store import Warehouse

    with Warehouse(db, read_only=True) as warehouse:
        rows = drift_rows(warehouse.con)
    about = (
        "Element, attribute and JSON key names that records carried and the parsers do not "
        "know: a source changed its format (NLM's yearly DTD, a new Crossref field). Each was "
        "logged as a warning when first seen; the records still loaded, and their raw payloads "
        "keep the new data."
    )
    if not rows:
        body = '<p class="about" id="drift-none">no drift: the parsers knew every name</p>'
    else:
        header = "".join(
            f"<th>{h}</th>"
            for h in ("source", "name", "first seen", "first run", "runs", "last run", "records")
        )
        cells = [
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(value))}</td>"
                for value in (
                    row["source"],
                    row["name"],
                    f"{row['first_seen_at']:%Y-%m-%d %H:%M}",
                    row["first_run"],
                    row["runs"],
                    row["last_run_records"],
                    row["records"],
                )
            )
            + "</tr>"
            for row in rows
        ]
        body = (
            f'<table id="drift-table"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(cells)}</tbody></table>"
            '<p class="about">"last run": records of the source\'s latest run that carried the '
            'name; "records": in all runs.</p>'
        )
    return f'<section id="drift"><h2>Drift</h2><p class="about">{about}</p>{body}</section>'
