"""`biblioduck demo`: the main job, offline. Local emulators of the sources (real HTTP on
127.0.0.1) serve the bundled corpus; the nightly flow syncs it into the warehouse; a summary says
what landed and how to query it. Running it again loads nothing new."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from expectations.data_docs import describe_site, site_dir_for, write_site
from flows.crossref import crossref_sync
from flows.oai import SEED_QUERY, oai_harvest
from flows.orchestration import run_flow
from flows.pubmed import pubmed_sync
from flows.pure import pure_portal_sync
from sandbox.corpus import demo_corpus
from sandbox.crossref import CrossrefEmulator
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.oaipmh import PURE_PATH
from sandbox.oaipmh import build_emulator as build_oai_emulator
from sandbox.pure_pages import PortalPages
from sandbox.server import serve
from warehouse.location import warehouse_folder
from warehouse.report import describe_report, write_report
from warehouse.status import read_only_query
from warehouse.store import Warehouse
from warehouse.works import build_works

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
    'biblioduck query "select work_id, sources, doi, pmid, title, title_from from works '
    'where member_count > 1 limit 5"',
    "biblioduck status",
]


@dataclass(frozen=True, slots=True)
class DemoSource:
    """One emulated source of the demo: what it serves and the flow that syncs it."""

    name: str
    describe: str
    sync: Callable[[Path], dict[str, Any]]


def _pubmed(db: Path) -> dict[str, Any]:
    with serve(EutilsEmulator(demo_corpus())) as base_url:
        return run_flow(pubmed_sync, query=DEMO_QUERY, db=str(db), eutils_url=base_url)


def _crossref(db: Path) -> dict[str, Any]:
    with serve(CrossrefEmulator(crossref_demo_corpus())) as base_url:
        return run_flow(crossref_sync, db=str(db), crossref_url=base_url)


DEMO_OAI_REPOSITORY = "sandbox-pure-portal"


def _oai(db: Path) -> dict[str, Any]:
    app, _portal = build_oai_emulator()
    with serve(app) as base_url:
        return run_flow(
            oai_harvest,
            endpoint=base_url + PURE_PATH,
            metadata_prefix="mods",
            db=str(db),
            repository=DEMO_OAI_REPOSITORY,  # one watermark, whatever port the emulator gets
            requests_per_second=50.0,
        )


PORTAL_PAGES_PATH = "/pure-portal"


def _pure_pages(db: Path) -> dict[str, Any]:
    """The same portal's HTML pages (listing and one page per output, the seed's among them):
    each output joins its OAI-PMH record in one work."""
    app, _portal = build_oai_emulator()
    with serve(DispatcherMiddleware(app, {PORTAL_PAGES_PATH: PortalPages()})) as base_url:
        return run_flow(
            pure_portal_sync,
            portal=base_url + PORTAL_PAGES_PATH,
            db=str(db),
            repository=DEMO_OAI_REPOSITORY,
            requests_per_second=50.0,
        )


SOURCES = [
    DemoSource("PubMed", "400 generated PubMed records (E-utilities emulator)", _pubmed),
    DemoSource("Crossref", "150 generated Crossref works, 50 sharing DOIs with PubMed", _crossref),
    DemoSource("Pure portal", "a Pure-like research portal over OAI-PMH (with the seed)", _oai),
    DemoSource("Pure pages", "the same portal's HTML pages (the seed's page)", _pure_pages),
]

COUNTS = ("fetched", "inserted", "updated", "unchanged", "deleted", "quarantined")


def _print_seed(db: Path, console: Console) -> None:
    """The record the project was started from, as `records` holds it (flows.oai.SEED_QUERY)."""
    columns, rows = read_only_query(db, SEED_QUERY)
    if not rows:
        return
    seed = Table(title="The seed record, from `records`", show_lines=True)
    seed.add_column("fact")
    seed.add_column("value")
    for name, value in zip(columns, rows[0], strict=True):
        text = str(value)
        seed.add_row(name, Text(text if len(text) <= 300 else text[:297] + "…"))
    console.print(seed)


def run_demo(db: Path, *, console: Console) -> dict[str, Any]:
    """Serve each demo corpus on loopback, sync it with its flow, print what landed."""
    results: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        console.print(f"biblioduck demo: syncing {source.describe} from 127.0.0.1")
        results[source.name] = source.sync(db)

    counts = Table(title="What this run did")
    counts.add_column("what")
    for name in results:
        counts.add_column(name, justify="right")
    for key in COUNTS:
        counts.add_row(key, *(Text(str(r.get(key, 0))) for r in results.values()))
    counts.add_row("seconds", *(Text(f"{r['seconds']:.1f}") for r in results.values()))
    console.print(counts)
    if not any(r["inserted"] or r["updated"] or r.get("deleted") for r in results.values()):
        console.print("Nothing new since the last sync: the warehouse is unchanged.")
    for name, result in results.items():
        for reason, count in sorted(result["quarantine_reasons"].items()):
            console.print(Text(f"  {name}: quarantined {count} record(s): {reason}"))

    with Warehouse(db) as warehouse:
        built = build_works(warehouse.con)
        reasons = warehouse.con.execute(
            "SELECT matched_on, count(*) FROM work_members WHERE matched_on <> 'alone' "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    why = ", ".join(f"{count} by {reason}" for reason, count in reasons) or "none"
    console.print(
        Text(
            f"Works: {built.records:,} current records are {built.works:,} works; "
            f"{built.merged:,} of them hold more than one record (records matched: {why}); "
            f"{built.conflicts} shared identifier(s) not merged (table work_conflicts). "
            "View `works`; `biblioduck works show ID|DOI|PMID` says why."
        )
    )

    columns, rows = read_only_query(db, LANDED_SQL)
    landed = Table(title=Text(f"What is in {db} (view `records`)"))
    for column in columns:
        landed.add_column(column)
    for row in rows:
        landed.add_row(*(Text(str(v)) for v in row))
    console.print(landed)
    _print_seed(db, console)
    console.print(
        f"Query it (or open the file with any DuckDB client, e.g. `.venv/bin/duckdb -readonly "
        f"{db}`):"
    )
    for example in EXAMPLES:
        console.print(Text(f"  .venv/bin/{example}"), soft_wrap=True)
    # The plots of what landed, beside the warehouse (`biblioduck report` writes it anew).
    report = write_report(db, warehouse_folder(db) / "report.html")
    console.print(Text(describe_report(report)), soft_wrap=True)
    # The validation results as Great Expectations Data Docs, which the report links to.
    site = write_site(db, site_dir_for(db))
    console.print(Text(describe_site(site)), soft_wrap=True)
    return {"sources": results, "report": report["path"], "validation_docs": str(site.index)}
