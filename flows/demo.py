"""`biblioduck demo`: the main job, offline. Local emulators of the sources (real HTTP on
127.0.0.1) serve the bundled corpus; the nightly flow syncs it into the warehouse; a summary says
what landed and how to query it. Running it again loads nothing new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flows.pubmed import EARLIEST, pubmed_sync
from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from warehouse.status import read_only_query

# Matches every record of the emulator's corpus, as it does on PubMed itself.
DEMO_QUERY = "all[sb]"

LANDED_SQL = """
SELECT source,
       count(*) AS records,
       min(pub_year) || '–' || max(pub_year) AS years,
       count(*) FILTER (WHERE abstract IS NOT NULL) AS with_abstract,
       sum(len(authors)) AS authors,
       sum(len(list_filter(subjects, lambda s: s.scheme = 'mesh'))) AS mesh_terms,
       count(DISTINCT journal) AS journals
FROM records GROUP BY source ORDER BY source
"""

EXAMPLES = [
    'biblioduck query "select pmid, pub_date, title from records order by pub_date desc limit 5"',
    'biblioduck query "select a.name, count(*) n from records, unnest(authors) t(a) '
    'group by 1 order by n desc limit 5"',
    "biblioduck query --format csv \"select * from record_subjects where scheme = 'mesh'\"",
    "biblioduck status",
]


def run_demo(db: Path, *, console: Console) -> dict[str, Any]:
    """Serve the demo corpus on loopback, sync it, print what landed; return the sync result."""
    corpus = demo_corpus()
    console.print(f"biblioduck demo: serving {len(corpus)} generated PubMed records on 127.0.0.1")
    with serve(EutilsEmulator(corpus)) as base_url:
        result = pubmed_sync(query=DEMO_QUERY, db=str(db), eutils_url=base_url)

    start, end = result["window"]
    window = f"up to {end}" if start == EARLIEST.isoformat() else f"{start}..{end}"
    counts = Table(title=f"PubMed sync of the demo corpus ({window})")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for key in ("fetched", "inserted", "updated", "unchanged", "deleted", "quarantined"):
        counts.add_row(key, Text(str(result[key])))
    counts.add_row("seconds", f"{result['seconds']:.1f}")
    console.print(counts)
    if result["inserted"] == 0 and result["updated"] == 0:
        console.print("Nothing new since the last sync: the warehouse is unchanged.")
    for name, count in sorted(result["quarantine_reasons"].items()):
        console.print(Text(f"  quarantined {count} record(s): {name}"))

    columns, rows = read_only_query(db, LANDED_SQL)
    landed = Table(title=f"What is in {db} (view `records`)")
    for column in columns:
        landed.add_column(column)
    for row in rows:
        landed.add_row(*(Text(str(v)) for v in row))
    console.print(landed)
    console.print(
        "Query it (or open the file with any DuckDB client, e.g. `duckdb " + str(db) + "`):"
    )
    for example in EXAMPLES:
        console.print(Text(f"  .venv/bin/{example}"), soft_wrap=True)
    return result
