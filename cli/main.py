"""The `biblioduck` command line: demo, sync, backfill, import, status, query, search, index,
export, report, validation-docs, works, reparse, lake-maintenance, notify-failures.

Exit codes: 0 done; 1 the run failed (the message says why and what to do); 2 bad usage.
Every command takes `--db PATH` (default data/biblioduck.duckdb, or BIBLIODUCK_DB).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flows import orchestration
from schemas.errors import BiblioduckError, UsageError

app = typer.Typer(
    help="Sync bibliographic records (PubMed, …) into a DuckDB warehouse, and query it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sync_app = typer.Typer(help="Fetch what changed at a source and load it.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
backfill_app = typer.Typer(help="Load a source's history in bulk.", no_args_is_help=True)
app.add_typer(backfill_app, name="backfill")
works_app = typer.Typer(
    help="Canonical works: source records merged by DOI, PMID or PMCID.", no_args_is_help=True
)
app.add_typer(works_app, name="works")

# soft_wrap: long lines (paths, messages) stay whole, so scripts and people can read them.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="BIBLIODUCK_DB",
        help="The DuckDB warehouse file.",
        show_default=True,
    ),
]
DEFAULT_DB = Path("data/biblioduck.duckdb")

T = TypeVar("T")


def _quiet_prefect() -> None:
    # Prefect reads these at import; the CLI keeps its own output readable unless told otherwise.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Without a configured API, Prefect starts a temporary server, and gives it 20 s by default;
    # it takes 14-24 s on a loaded 2-core machine (seen: a run failing with "Timed out while
    # attempting to connect to ephemeral Prefect API server").
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # Runs without a Prefect API log to the `biblioduck` logger (flows.orchestration): on
    # stderr, at BIBLIODUCK_LOG_LEVEL (INFO shows each file and batch as it loads).
    logger = logging.getLogger("biblioduck")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("BIBLIODUCK_LOG_LEVEL", "WARNING").upper())
        logger.propagate = False


@contextmanager
def _progress_bar() -> Iterator[None]:
    from flows.progress import reporting_to

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
        disable=not errors.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def report(description: str, done: int, total: int | None) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=done, total=total)

        with reporting_to(report):
            yield


# `--debug`: unexpected errors show their traceback instead of one line.
_debug = False


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    global _debug
    _debug = debug
    orchestration.console_tracebacks = debug


def _run(action: Callable[[], T]) -> T:
    """Run a command body; turn errors into one message and exit code 1 (2 for a usage
    error). An error that is not the project's own is a bug: one line too, and its traceback
    with `--debug`."""
    try:
        return action()
    except UsageError as exc:
        errors.print(Text(f"error: {exc}", style="bold red"), soft_wrap=True)
        raise typer.Exit(2) from None
    except BiblioduckError as exc:
        errors.print(Text(f"error: {type(exc).__name__}: {exc}", style="bold red"), soft_wrap=True)
        raise typer.Exit(1) from None
    except (typer.Exit, typer.Abort):
        raise  # the command line's own way out, with its own exit code
    except Exception as exc:
        if _debug:
            raise
        errors.print(
            Text(
                f"error: unexpected {type(exc).__name__}: {exc} (a bug: run again with "
                "--debug for its traceback, and report it)",
                style="bold red",
            ),
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _cells(*values: object) -> list[Text]:
    """Table cells as plain text: values like PubMed's `all[sb]` are not rich markup."""
    return [Text("NULL" if v is None else str(v)) for v in values]


def _print_counts(title: str, result: dict[str, Any]) -> None:
    table = Table(title=Text(title), show_header=True)  # a query like all[sb] is not markup
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("fetched", "inserted", "updated", "unchanged", "stale", "deleted", "quarantined"):
        if key in result:
            table.add_row(*_cells(key, result[key]))
    console.print(table)


@app.command()
def demo(db: DbOption = DEFAULT_DB) -> None:
    """Start the local source emulators and sync the bundled demo corpus into the warehouse."""
    _quiet_prefect()
    from flows.demo import run_demo

    with _progress_bar():
        _run(lambda: run_demo(db, console=console))
    # The full-text index `search` reads (rebuilt only if the records changed).
    _say_index(_run(lambda: _refresh_index(db)))


@sync_app.command("pubmed")
def sync_pubmed(
    query: Annotated[str, typer.Option("--query", "-q", help="A PubMed search term.")],
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day (inclusive); default: the watermark."),
    ] = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day (inclusive); default: today."),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Sync the PubMed records matching QUERY (incremental from the last sync)."""
    _quiet_prefect()
    from flows.orchestration import run_flow
    from flows.pubmed import pubmed_sync

    with _progress_bar():
        result = _run(
            lambda: run_flow(
                pubmed_sync,
                query=query,
                since=since.date().isoformat() if since else None,
                until=until.date().isoformat() if until else None,
                db=str(db),
            )
        )
    _print_counts(f"PubMed sync {query!r} {result['window'][0]}..{result['window'][1]}", result)
    for name, count in sorted(result["quarantine_reasons"].items()):
        console.print(Text(f"  quarantined {count}: {name}"))


def _crossref_filters(given: list[str] | None) -> dict[str, str]:
    """`--filter NAME:VALUE` options as a dict (a value may hold colons: `prefix:10.1234`)."""
    filters: dict[str, str] = {}
    for text in given or []:
        name, colon, value = text.partition(":")
        if not colon or not name.strip() or not value.strip():
            errors.print(Text(f"error: --filter takes NAME:VALUE, not {text!r}", style="bold red"))
            raise typer.Exit(2)
        if name.strip() in filters:
            errors.print(Text(f"error: --filter {name.strip()} given twice", style="bold red"))
            raise typer.Exit(2)
        filters[name.strip()] = value.strip()
    return filters


@sync_app.command("crossref")
def sync_crossref(
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            "-f",
            help="A Crossref /works filter NAME:VALUE, repeatable (type:journal-article, "
            "prefix:10.1234, issn:1234-5679, member:7822, from-pub-date:2020).",
        ),
    ] = None,
    since: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="First update day (inclusive); default: the watermark."
        ),
    ] = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last update day (inclusive); default: today."),
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Crossref free-text query.")
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Sync the Crossref works matching the filters (incremental by update date)."""
    _quiet_prefect()
    from flows.crossref import checked_filters, crossref_sync

    filters = _run(lambda: checked_filters(_crossref_filters(filter_)))

    from flows.orchestration import run_flow

    with _progress_bar():
        result = _run(
            lambda: run_flow(
                crossref_sync,
                filters=filters or None,
                since=since.date().isoformat() if since else None,
                until=until.date().isoformat() if until else None,
                query=query,
                db=str(db),
            )
        )
    start, end = result["window"]
    _print_counts(f"Crossref sync {start or 'from the beginning'}..{end}", result)
    for name, count in sorted(result["quarantine_reasons"].items()):
        console.print(Text(f"  quarantined {count}: {name}"))


@sync_app.command("oai")
def sync_oai(
    endpoint: Annotated[
        str, typer.Argument(help="OAI-PMH base URL, e.g. https://zenodo.org/oai2d")
    ],
    prefix: Annotated[
        str,
        typer.Option(
            "--prefix", help="metadataPrefix: oai_dc, datacite, mods (Pure), oai_cerif_openaire."
        ),
    ] = "oai_dc",
    set_spec: Annotated[str | None, typer.Option("--set", help="Only this setSpec.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Day or datestamp (inclusive); default: the watermark.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Day or datestamp (inclusive); default: now.")
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Harvest an OAI-PMH repository (incremental from the last harvest)."""
    _quiet_prefect()
    from flows.oai import oai_harvest
    from flows.orchestration import run_flow

    with _progress_bar():
        result = _run(
            lambda: run_flow(
                oai_harvest,
                endpoint=endpoint,
                metadata_prefix=prefix,
                set=set_spec,
                since=since,
                until=until,
                db=str(db),
            )
        )
    start, end = result["window"]
    _print_counts(
        f"OAI-PMH {endpoint} ({prefix}) {start or 'the beginning'}..{end or 'now'}", result
    )
    for name, count in sorted(result["quarantine_reasons"].items()):
        console.print(Text(f"  quarantined {count}: {name}"))


@sync_app.command("landing")
def sync_landing(
    doi_file: Annotated[
        Path | None,
        typer.Option("--doi-file", help="DOIs to read, one a line (doi:…, doi.org URLs too)."),
    ] = None,
    from_works: Annotated[
        bool,
        typer.Option("--from-works", help="The works that lack an abstract or affiliations."),
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Load publishers' landing pages of DOIs (through doi.org, robots.txt honoured, one
    request at a time per host); each page's record joins its work by DOI."""
    _quiet_prefect()
    from flows.landing import landing_sync
    from flows.orchestration import run_flow

    if (doi_file is None) == (not from_works):
        errors.print(
            Text(
                "error: sync landing: give either --doi-file FILE or --from-works", style="bold red"
            )
        )
        raise typer.Exit(2)
    with _progress_bar():
        result = _run(
            lambda: run_flow(
                landing_sync,
                doi_file=str(doi_file) if doi_file is not None else None,
                from_works=from_works,
                db=str(db),
            )
        )
    _print_counts("Landing pages", result)
    for outcome, count in sorted(result.get("landing_outcomes", {}).items()):
        console.print(Text(f"  {outcome}: {count}"))
    for name, count in sorted(result["quarantine_reasons"].items()):
        console.print(Text(f"  quarantined {count}: {name}"))


@sync_app.command("pure-portal")
def sync_pure_portal(
    portal: Annotated[
        str,
        typer.Argument(help="Portal address, e.g. https://researchportal.bath.ac.uk"),
    ],
    since: Annotated[
        str | None, typer.Option(help="A year: stop at listing pages older than it.")
    ] = None,
    listing_only: Annotated[
        bool,
        typer.Option(
            "--listing-only", help="Keep to the listing: do not fetch each output's page."
        ),
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Sync a Pure research portal from its HTML pages (resumes after a failure)."""
    _quiet_prefect()
    from flows.orchestration import run_flow
    from flows.pure import pure_portal_sync

    with _progress_bar():
        result = _run(
            lambda: run_flow(
                pure_portal_sync,
                portal=portal,
                since=since,
                fetch_pages=not listing_only,
                db=str(db),
            )
        )
    _print_counts(f"Pure portal {portal} (published {since or 'any year'} or later)", result)
    for name, count in sorted(result["quarantine_reasons"].items()):
        console.print(Text(f"  quarantined {count}: {name}"))


def _print_files(title: str, result: dict[str, Any]) -> None:
    _print_counts(title, result)
    for entry in result["files"]:
        console.print(
            Text(
                f"{entry['file']}: {entry['records']} records, {entry['deletions']} deletions "
                f"({entry['inserted']} inserted, {entry['updated']} updated, "
                f"{entry['deleted']} deleted, {entry['quarantined']} quarantined); "
                f"download {entry['download_seconds']} s, parse+validate "
                f"{entry['prepare_seconds']} s, load {entry['load_seconds']} s"
            )
        )
    if not result["files"]:
        console.print(f"All {result['files_listed']} listed files are already loaded.")


WorkersOption = Annotated[
    int | None,
    typer.Option(
        help="Processes that download, parse and validate ahead (0: none; default: cores + 1)."
    ),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask",
        envvar="BIBLIODUCK_DASK_ADDRESS",
        help="Prepare files on Dask (prefect-dask): a scheduler address, or 'local'.",
    ),
]


@backfill_app.command("pubmed-files")
def backfill_pubmed_files(
    first: Annotated[int | None, typer.Option(help="First file number (inclusive).")] = None,
    last: Annotated[int | None, typer.Option(help="Last file number (inclusive).")] = None,
    kind: Annotated[str, typer.Option(help="baseline or update.")] = "baseline",
    workers: WorkersOption = None,
    dask: DaskOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Load NLM's PubMed baseline (or update) files in order, each exactly once."""
    if kind not in ("baseline", "update"):
        errors.print(
            Text(f"error: --kind must be baseline or update, not {kind!r}", style="bold red")
        )
        raise typer.Exit(2)
    _quiet_prefect()
    from flows.orchestration import run_flow
    from flows.pubmed_files import pubmed_files_backfill

    with _progress_bar():
        result = _run(
            lambda: run_flow(
                pubmed_files_backfill,
                kind=kind,
                first=first,
                last=last,
                db=str(db),
                workers=workers,
                dask_address=dask,
            )
        )
    _print_files(f"PubMed {kind} files", result)


@sync_app.command("pubmed-updates")
def sync_pubmed_updates(
    workers: WorkersOption = None, dask: DaskOption = None, db: DbOption = DEFAULT_DB
) -> None:
    """Load every PubMed update file the warehouse does not have yet (the nightly job)."""
    _quiet_prefect()
    from flows.orchestration import run_flow
    from flows.pubmed_files import pubmed_updates_sync

    with _progress_bar():
        result = _run(
            lambda: run_flow(pubmed_updates_sync, db=str(db), workers=workers, dask_address=dask)
        )
    _print_files("PubMed update files", result)


@app.command("import")
def import_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Files to load (plain or .gz), folders of them, or an uncompressed tar "
            "(Crossref's public data file)."
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="The files' format: pubmed, crossref, oai, jats, html (landing pages) or "
            "pure (saved Pure portal pages).",
        ),
    ] = "pubmed",
    workers: WorkersOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Load local files through the bulk path: in parallel, each file exactly once."""
    from flows.importing import check_import

    _run(lambda: check_import(files, fmt))  # before anything slow: exit 2 at once
    _quiet_prefect()
    from flows.orchestration import api_configured

    arguments: dict[str, Any] = {"fmt": fmt, "db": str(db), "workers": workers}
    paths = [str(f) for f in files]

    def say(entry: dict[str, Any]) -> None:
        """Each file's outcome as soon as it is known: files loaded before one that fails are
        reported too."""
        if entry["status"] == "refused":
            errors.print(
                Text(f"refused: {entry['file']}: no {fmt} record in it; nothing loaded"),
                style="yellow",
            )
        elif entry["status"] == "already loaded":
            console.print(
                Text(f"{entry['file']}: already loaded (as {entry['as']}); nothing to do")
            )
        else:
            console.print(
                Text(
                    f"{entry['file']}: {entry['fetched']} read, {entry['inserted']} inserted, "
                    f"{entry['updated']} updated, {entry['unchanged']} unchanged, "
                    + (f"{entry['stale']} stale, " if entry["stale"] else "")
                    + f"{entry['deleted']} deleted, {entry['quarantined']} quarantined"
                )
            )

    from flows.progress import reporting_files_to

    with _progress_bar(), reporting_files_to(say):
        if api_configured():  # a Prefect flow run
            from flows.imports import import_files
            from flows.orchestration import run_flow

            result = _run(lambda: run_flow(import_files, paths=paths, **arguments))
        else:  # without importing Prefect at all: a re-import of loaded files takes ~0.6 s
            from flows.importing import run_import

            result = _run(lambda: run_import(paths, **arguments))
    if result["refused"]:
        raise typer.Exit(1)


@app.command()
def reparse(
    source: Annotated[
        str | None, typer.Option("--source", help="pubmed, crossref or oai (default: all).")
    ] = None,
    quarantined: Annotated[
        bool,
        typer.Option(
            "--quarantined", help="Validate quarantined payloads again; load those that pass."
        ),
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Parse and validate the stored payloads again with this version's parsers and rules."""
    if source is not None and source not in ("pubmed", "crossref", "oai"):
        errors.print(Text(f"error: --source must be pubmed, crossref or oai, not {source!r}"))
        raise typer.Exit(2)
    _quiet_prefect()
    from flows.orchestration import run_flow
    from flows.reparse import reparse as reparse_flow

    result = _run(
        lambda: run_flow(reparse_flow, db=str(db), source=source, quarantined=quarantined)
    )
    table = Table(title=Text("Reparse" + (" of quarantined payloads" if quarantined else "")))
    for column in (
        "source",
        "read",
        "equal",
        "rewritten",
        "inserted",
        "still failing",
        "id changed",
        "unreadable",
    ):
        table.add_column(column, justify="right" if column != "source" else "left")
    for name, counts in result["sources"].items():
        table.add_row(
            *_cells(
                name,
                counts["read"],
                counts["equal"],
                counts["updated"],
                counts["inserted"],
                counts["now_failing"],
                counts["id_changed"],
                counts["unreadable"],
            )
        )
    console.print(table)


@app.command("lake-maintenance")
def lake_maintenance_command(
    keep_days: Annotated[
        int,
        typer.Option(
            "--keep-days", min=0, help="Keep snapshots this recent (how far --as-of reaches)."
        ),
    ] = 30,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Compact a DuckLake warehouse's small files and expire its old snapshots (weekly)."""
    _quiet_prefect()
    from flows.maintenance import lake_maintenance
    from flows.orchestration import run_flow

    result = _run(lambda: run_flow(lake_maintenance, db=str(db), keep_days=keep_days))
    if not result["lake"]:
        console.print(Text(f"{db} is a DuckDB file: nothing to do (it reuses its blocks)"))
        return
    steps = ", ".join(f"{name} {s:.1f} s" for name, s in result["seconds"].items())
    console.print(
        Text(
            f"lake maintenance: {result['files_before']} data files → {result['files_after']} "
            f"({result['bytes_before']:,} → {result['bytes_after']:,} bytes), "
            f"{result['snapshots_before']} snapshots → {result['snapshots_after']} "
            f"(older than {result['keep_days']} days expired); {steps}"
        )
    )


@works_app.command("build")
def works_build(db: DbOption = DEFAULT_DB) -> None:
    """Recompute every work from the current records (the demo does it after its syncs)."""
    from warehouse.store import Warehouse
    from warehouse.works import build_works

    def build() -> Any:
        from flows.settings import load_settings

        limit = load_settings().derive_memory_limit
        with Warehouse(db, memory_limit=limit) as warehouse:
            return build_works(warehouse.con)

    built = _run(build)
    console.print(
        Text(
            f"{built.records:,} current records are {built.works:,} works ({built.merged:,} "
            f"merged, {built.conflicts} shared identifiers not merged) in {built.seconds} s"
        )
    )


@works_app.command("show")
def works_show(
    ref: Annotated[str, typer.Argument(help="A work id (W…), or a DOI, PMID or PMCID.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """A work as merged: each field with the member it came from, its members, and its
    relations to other works (errata, retractions, comments, versions…)."""
    from warehouse.relations import work_relations_of
    from warehouse.store import Warehouse
    from warehouse.works import SURVIVORSHIP, describe_redirect, find_work, work_details

    def details() -> dict[str, Any]:
        with Warehouse(db, read_only=True) as warehouse:
            work_id = find_work(warehouse.con, ref)
            moved = describe_redirect(warehouse.con, ref)  # an old id a work no longer has
            if work_id is None:
                raise UsageError(
                    f"works show: {moved}"
                    if moved
                    else f"works show: no current record has {ref!r} (run `works build`?)"
                )
            relations = work_relations_of(warehouse.con, work_id)
            return {**work_details(warehouse.con, work_id), "moved": moved, "relations": relations}

    found = _run(details)
    if found["moved"]:
        console.print(Text(found["moved"]))
    work = found["work"]
    merged = Table(title=Text(f"Work {work['work_id']} ({work['member_count']} members)"))
    for column in ("field", "value", "from"):
        merged.add_column(column, overflow="fold")
    chosen = ["pub_date", "authors", *SURVIVORSHIP]
    for name in chosen:
        value = work.get(name)
        if name == "authors" and value is not None:
            value = "; ".join(a["name"] or "" for a in value)
        merged.add_row(*_cells(name, _shorten(value), work.get(f"{name}_from")))
    console.print(merged)
    members = Table(title=Text("Members"))
    for column in ("source", "source_id", "matched on", "kind", "title"):
        members.add_column(column, overflow="fold")
    for row in found["members"]:
        members.add_row(*_cells(*row))
    console.print(members)
    for scheme, value, carriers, reason in found["conflicts"]:
        console.print(
            Text(
                f"not merged: {scheme} {value} is also carried by {', '.join(carriers)} ({reason})"
            )
        )
    if found["relations"]:
        relations = Table(title=Text("Relations (inferred: only the related work's link says it)"))
        for column in ("relation", "related work", "title", "said by"):
            # ids and relation names whole; the title and the linking record give way
            whole = column in ("relation", "related work")
            relations.add_column(column, overflow="fold", no_wrap=whole)
        for r in found["relations"]:
            target = f"{r.target_scheme}:{r.target_id}" if r.target_id else r.citation
            related = r.related_work_id or f"{target} (not loaded)"
            said = f"{r.from_member} ({r.source_relation}{', inferred' if r.inferred else ''})"
            relations.add_row(*_cells(r.relation, related, _shorten(r.related_title, 60), said))
        console.print(relations)


def _shorten(value: object, limit: int = 200) -> object:
    text = str(value) if value is not None else None
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


@app.command("notify-failures")
def notify_failures_command(
    webhook_url: Annotated[
        str, typer.Argument(help="Where to post each failure (a Slack or Teams incoming webhook…).")
    ],
) -> None:
    """Have the Prefect server post every failed or crashed run to a webhook (an automation)."""
    _quiet_prefect()
    from flows.notifications import notify_failures

    created = _run(lambda: notify_failures(webhook_url))
    console.print(
        Text(
            f"automation {created['automation']} posts failed and crashed runs to the webhook "
            f"kept in block {created['block']}"
        )
    )


@app.command()
def status(db: DbOption = DEFAULT_DB) -> None:
    """Per source: records, deletions, quarantine, watermarks, the last runs, and drift (names
    the parsers met and do not know)."""
    from warehouse.status import warehouse_status

    report = _run(lambda: warehouse_status(db))
    table = Table(title=Text(f"biblioduck warehouse {db}"))
    for column in ("source", "records", "deleted", "quarantined", "last run", "status"):
        table.add_column(column)
    for row in report["sources"]:
        table.add_row(
            *_cells(
                *(
                    row[k]
                    for k in (
                        "source",
                        "records",
                        "deleted",
                        "quarantined",
                        "last_run",
                        "last_status",
                    )
                )
            )
        )
    console.print(table)
    if report["state"]:
        state = Table(title="sync state")
        for column in ("source", "scope", "watermark", "in progress"):
            state.add_column(column)
        for row in report["state"]:
            state.add_row(
                *_cells(
                    row["source"],
                    row["scope"],
                    row["watermark"] or "-",
                    "yes" if row["in_progress"] else "no",
                )
            )
        console.print(state)
    runs = Table(title="last runs")
    for column in ("run", "kind", "status", "fetched", "ins", "upd", "del", "quar", "seconds"):
        runs.add_column(column, overflow="fold")
    for run in report["runs"]:
        runs.add_row(
            *_cells(
                run["run_id"],
                run["kind"],
                run["status"],
                run["fetched"],
                run["inserted"],
                run["updated"],
                run["deleted"],
                run["quarantined"],
                f"{run['seconds']:.1f}" if run["seconds"] is not None else "-",
            )
        )
    console.print(runs)
    if report["files"]:
        files = Table(title="bulk files (ledger)")
        for column in ("file", "kind", "status", "records", "deletions", "quar", "load s", "md5"):
            files.add_column(column, overflow="fold")
        for row in report["files"]:
            files.add_row(
                *_cells(
                    row["name"],
                    row["kind"],
                    row["status"],
                    row["records"],
                    row["deletions"],
                    row["quarantined"],
                    f"{row['load_seconds']:.1f}" if row["load_seconds"] is not None else "-",
                    row["md5"],
                )
            )
        console.print(files)
    if report["drift"]:
        # Lines, not a table: names are long, and a table would cut them.
        console.print(Text("drift: names the parsers met and do not know (a format changed)"))
        for row in report["drift"]:
            console.print(
                Text(
                    f"  {row['source']} {row['name']}: first seen {row['first_seen_at']:%Y-%m-%d}"
                    f" (run {row['first_run']}); records carrying it: "
                    f"{row['last_run_records']} in the source's last run, {row['records']} in all"
                )
            )


LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        help="Rows to show at most (default: a screenful in table output, every row in csv "
        "and json).",
    ),
]
# Table cells longer than this are cut (`--format csv` or `json` gives them whole).
CELL_CHARS = 120


def _screenful() -> int:
    return max(10, console.size.height - 10)


def _cell_text(value: object) -> str:
    """A value as it reads: text, ISO dates (timestamps to the second), lists and structs as
    compact JSON; one line, cut at CELL_CHARS."""
    from warehouse.export import text_cell

    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    else:
        text = " ".join(text_cell(value).split())
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _columns_that_fit(columns: list[str], cells: list[list[str]]) -> int:
    """How many of the first columns a table shows: each needs the width of its header or its
    longest cell (at most 30 characters: longer ones wrap), and 3 for borders and padding."""
    room = console.size.width - 1
    shown = 0
    for i, name in enumerate(columns):
        longest = max((len(row[i]) for row in cells), default=0)
        room -= min(max(len(name), longest, 4), 30) + 3
        if room < 0 and shown:
            break
        shown += 1
    return shown


def _print_table(columns: list[str], rows: list[Any], left_out: int) -> None:
    cells = [[_cell_text(v) for v in row] for row in rows]
    shown = _columns_that_fit(columns, cells)
    table = Table()
    for column in columns[:shown]:
        table.add_column(Text(column), overflow="fold")
    for row, texts in zip(rows, cells, strict=True):
        table.add_row(
            *(
                Text("NULL", style="dim") if value is None else Text(text)
                for value, text in zip(row[:shown], texts[:shown], strict=True)
            )
        )
    console.print(table)
    if shown < len(columns):
        hidden = columns[shown:]
        console.print(
            Text(
                f"{len(hidden)} more column{'s' if len(hidden) > 1 else ''} not shown: "
                f"{', '.join(hidden)} (select fewer columns, or --format csv or json)",
                style="dim",
            )
        )
    if left_out:
        console.print(
            Text(
                f"{left_out} more row{'s' if left_out > 1 else ''} not shown (--limit N shows "
                "more; --format csv or json writes every row)",
                style="dim",
            )
        )


@app.command()
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL to run read-only, e.g. 'select * from records'; '-' reads it from standard "
            "input (SQL starting with '-', like a comment, also goes after '--')."
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    limit: LimitOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="On a DuckLake: read the warehouse as it was at a snapshot number, a time "
            "(2026-12-01T02:00:00+00:00) or the end of a run (its run_id).",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Run read-only SQL against the warehouse (views: records, record_authors, …).

    csv and json write lists and structs as JSON, dates and times as ISO 8601; a table shows
    a screenful of rows and the columns that fit, and says what it left out."""
    if sql == "-":
        sql = sys.stdin.read()
    if fmt not in ("table", "csv", "json"):
        errors.print(f"[bold red]error:[/] --format must be table, csv or json, not {fmt!r}")
        raise typer.Exit(2)
    from warehouse.export import json_row, text_cell
    from warehouse.status import read_only_query

    columns, rows = _run(lambda: read_only_query(db, sql, as_of=as_of))
    cap = limit if limit is not None else (_screenful() if fmt == "table" else None)
    left_out = max(0, len(rows) - cap) if cap is not None else 0
    if left_out:
        rows = rows[:cap]
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([text_cell(v) for v in row] for row in rows)
    elif fmt == "json":
        sys.stdout.write(
            json.dumps([json_row(columns, r) for r in rows], ensure_ascii=False, indent=1) + "\n"
        )
    else:
        _print_table(columns, rows, left_out)
        return
    if left_out:
        errors.print(Text(f"{left_out} more rows not written (--limit {cap})", style="dim"))


@app.command()
def search(
    words: Annotated[
        str, typer.Argument(help="What to look for, e.g. 'interleukin cancer therapy'.")
    ],
    source: Annotated[
        str | None, typer.Option("--source", help="Only records of this source (pubmed, …).")
    ] = None,
    year_from: Annotated[
        int | None, typer.Option("--year-from", help="Published in this year or later.")
    ] = None,
    year_to: Annotated[
        int | None, typer.Option("--year-to", help="Published in this year or earlier.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Hits to show.")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Full-text search of titles, abstracts and subject terms (MeSH, keywords), best first.

    BM25 ranking, English stemming and stop words, accents folded. The index is built at the
    end of each load (and by `biblioduck index`)."""
    if fmt not in ("table", "csv", "json"):
        errors.print(f"[bold red]error:[/] --format must be table, csv or json, not {fmt!r}")
        raise typer.Exit(2)
    if year_from is not None and year_to is not None and year_from > year_to:
        errors.print(Text("error: --year-from is after --year-to", style="bold red"))
        raise typer.Exit(2)
    from warehouse.search import search as run_search

    result = _run(
        lambda: run_search(
            db, words, source=source, year_from=year_from, year_to=year_to, limit=limit
        )
    )
    if result.stale:
        errors.print(Text(f"warning: {result.stale}", style="yellow"))
    if fmt == "table":
        _print_hits(result, words)
    else:
        _write_hits(result, fmt)


SEARCH_FIELDS = (
    "score",
    "work_id",
    "sources",
    "source",
    "source_id",
    "year",
    "journal",
    "title",
    "snippet",
)


def _write_hits(result: Any, fmt: str) -> None:
    """Search hits as csv or json on stdout (snippets plain; in csv, `sources` joined by
    spaces)."""
    rows = [
        (
            round(h.score, 4),
            h.work_id,
            h.sources,
            h.source,
            h.source_id,
            h.year,
            h.journal,
            h.title,
            h.snippet,
        )
        for h in result.hits
    ]
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(SEARCH_FIELDS)
        writer.writerows([f"{row[0]:.4f}", row[1], " ".join(row[2]), *row[3:]] for row in rows)
        return
    listed = [dict(zip(SEARCH_FIELDS, row, strict=True)) for row in rows]
    sys.stdout.write(json.dumps(listed, ensure_ascii=False, indent=1) + "\n")


def _print_hits(result: Any, words: str) -> None:
    """Search hits as a table, the matching words highlighted."""
    if not result.hits:
        console.print(Text(f"No work matches {words!r}."))
        return
    table = Table(
        caption=Text(
            f"{len(result.hits)} best of {result.documents} works indexed, "
            f"in {result.seconds * 1000:.0f} ms"
        )
    )
    table.add_column("score", justify="right")
    table.add_column("work", overflow="fold")
    table.add_column("title and where the words are", ratio=1)
    for hit in result.hits:
        # The work, and the record whose title is shown (with the other sources that hold it).
        record = Text(f"{hit.work_id or '(no work yet)'}\n", style="dim")
        others = [s for s in hit.sources if s != hit.source]
        record.append(f"{hit.source} {hit.source_id}" + (f" +{','.join(others)}" if others else ""))
        record.append(f"\n{hit.year or ''}")
        if hit.journal:
            journal = hit.journal if len(hit.journal) <= 40 else hit.journal[:39] + "…"
            record.append(f"\n{journal}", style="dim")
        text = Text(hit.title or "(no title)", style="bold")
        text.append("\n")
        last = 0
        for start, end in hit.matches:
            text.append(hit.snippet[last:start])
            text.append(f"**{hit.snippet[start:end]}**", style="bold yellow")
            last = end
        text.append(hit.snippet[last:])
        table.add_row(Text(f"{hit.score:.2f}"), record, text)
    console.print(table)


@app.command("index")
def index_command(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the records did not change.")
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """(Re)build the full-text index `search` reads, if the records changed since it was built.

    A load does this at its end; this is for a warehouse loaded before, or to force it."""
    result = _run(lambda: _refresh_index(db, force=force))
    _say_index(result)


def _refresh_index(db: Path, *, force: bool = False) -> dict[str, Any]:
    from schemas.errors import FatalError
    from warehouse.location import warehouse_exists
    from warehouse.search import refresh_search_index
    from warehouse.store import Warehouse

    if not warehouse_exists(db):
        raise FatalError(
            f"no warehouse at {db}: run `biblioduck demo` or a sync first, "
            "or point --db / BIBLIODUCK_DB at an existing file"
        )
    from flows.settings import load_settings

    with Warehouse(db, memory_limit=load_settings().derive_memory_limit) as warehouse:
        return refresh_search_index(warehouse.con, force=force)


def _say_index(result: dict[str, Any]) -> None:
    if result["rebuilt"]:
        console.print(
            Text(f"search index rebuilt: {result['documents']} works in {result['seconds']:.1f} s")
        )
    else:
        console.print(
            Text(f"search index up to date: {result['documents']} works, nothing changed")
        )


@app.command("export")
def export_command(
    relation: Annotated[
        str | None,
        typer.Argument(help="A table or view to export whole: records, record_authors, …"),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option("--to", help="The file (or, with --partition-by, folder) to write."),
    ] = None,
    sql: Annotated[
        str | None,
        typer.Option(
            "--query",
            help="Export what this SQL returns instead (read-only, as `query`); '-' reads it "
            "from standard input.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="parquet, csv or jsonl (default: from --to's suffix, else parquet)."
        ),
    ] = None,
    partition_by: Annotated[
        str | None,
        typer.Option(
            "--partition-by",
            help="Columns to split the export by, e.g. source,pub_year: a folder of "
            "col=value/ folders (Hive style).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --to if it exists.")
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a table, a view or a query's result to Parquet, CSV or JSON lines.

    Parquet keeps nested types (lists, structs); CSV and JSON lines write them as JSON. The
    SQL runs read-only, as `query`'s: only --to is written."""
    if to is None:
        errors.print(Text("error: export: --to PATH is required", style="bold red"))
        raise typer.Exit(2)
    if sql == "-":
        sql = sys.stdin.read()
    if fmt is None:
        suffix = to.suffix.lower().lstrip(".")
        fmt = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix, "parquet")
    columns = [c.strip() for c in partition_by.split(",")] if partition_by else []
    if any(not c for c in columns):
        errors.print(Text("error: export: --partition-by takes col,col", style="bold red"))
        raise typer.Exit(2)
    from warehouse.export import export

    with Progress(
        TextColumn("exporting"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    ) as bar:
        task = bar.add_task("export", total=None)
        result = _run(
            lambda: export(
                db,
                to,
                fmt=fmt,
                relation=relation,
                sql=sql,
                partition_by=columns,
                overwrite=overwrite,
                progress=lambda rows: bar.update(task, completed=rows),
            )
        )
    _say_exported(result, partitioned=bool(columns))


def _say_exported(result: dict[str, Any], *, partitioned: bool) -> None:
    size = result["bytes"] / 1e6
    files = f"{result['files']} files, " if partitioned else ""
    console.print(
        Text(
            f"exported {result['rows']:,} row{'' if result['rows'] == 1 else 's'} "
            f"({result['columns']} columns) to {result['path']} "
            f"as {result['format']}: {files}{size:.1f} MB in {result['seconds']:.1f} s"
        )
    )


@app.command("report")
def report_command(
    to: Annotated[
        Path | None,
        typer.Option(
            "--to", help="The HTML file to write (default: report.html beside the warehouse)."
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write one self-contained HTML file of plots of the warehouse (opens with no network).

    Every chart is one read-only query, as `query`'s; the file is replaced if it exists."""
    from warehouse.location import warehouse_folder
    from warehouse.report import describe_report, write_report

    target = to if to is not None else warehouse_folder(db) / "report.html"
    console.print(Text(describe_report(_run(lambda: write_report(db, target)))))


@app.command("validation-docs")
def validation_docs_command(
    run: Annotated[
        str | None,
        typer.Option("--run", help="Only this run's results (default: the latest runs')."),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="The folder to write (default: validation-docs beside the warehouse).",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write the kept validation results as Great Expectations Data Docs: a static site
    (index.html, a page per run and per result) that opens with no network.

    Kept are every suite run with a failing or warning expectation, and the first that passed
    per run and suite; the report links to the site."""
    from expectations.data_docs import describe_site, site_dir_for, write_site

    target = to if to is not None else site_dir_for(db)
    console.print(Text(describe_site(_run(lambda: write_site(db, target, run_id=run)))))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
