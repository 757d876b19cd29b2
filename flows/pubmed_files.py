"""Prefect flows for NLM's bulk PubMed files: the baseline backfill and the nightly updates.

Files apply in order (year, then number), each exactly once, in one transaction with its ledger
row; a file re-published with a new md5 is loaded again. Worker processes download, parse and
validate ahead (`workers`); the flow alone writes, in file order. On a cluster, files are
prepared as Prefect tasks by a `prefect-dask` DaskTaskRunner instead (`dask_address`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow

from connectors.pubmed.files import BulkFile, BulkKind, bulk_session, fetch_md5, list_files
from flows.file_loads import FILE_RATE, load_files
from flows.jobs import NlmFile
from flows.orchestration import publish_summary, run_logger
from flows.settings import Settings, load_settings
from flows.summary import RUN_FIELDS, summary_markdown
from processes import memory
from warehouse.store import LedgerEntry, Warehouse

SOURCE = "pubmed"


def files_to_load(
    files: list[BulkFile], ledger: dict[str, dict[str, Any]], md5_of: Callable[[BulkFile], str]
) -> list[NlmFile]:
    """The files that are new, or re-published with another md5, or failed before; in order."""
    todo = []
    for bulk_file in sorted(files):
        md5 = md5_of(bulk_file)
        known = ledger.get(bulk_file.name)
        if known and known["status"] == "loaded" and known["md5"] == md5:
            continue
        todo.append(NlmFile(bulk_file, md5))
    return todo


def _ledger_entry(job: NlmFile) -> LedgerEntry:
    return LedgerEntry(job.name, job.file.kind, job.file.year, job.file.number, job.md5)


def load_bulk_files(
    settings: Settings, kind: BulkKind, *, first: int | None, last: int | None, flow_kind: str
) -> dict[str, Any]:
    """List, compare with the ledger, prepare in parallel and load in order. Shared by flows."""
    logger = run_logger()
    memory.tune_gc()
    memory.return_freed_memory()
    base_url = settings.pubmed_files_url
    with bulk_session(
        requests_per_second=FILE_RATE,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    ) as session:
        files = list_files(base_url, kind, first=first, last=last, session=session)
        with Warehouse(settings.db) as warehouse:
            ledger = warehouse.ledger()
        todo = files_to_load(files, ledger, lambda f: fetch_md5(f, session=session))
    logger.info("%s: %d files listed, %d to load", kind, len(files), len(todo))
    started = time.perf_counter()
    outcome = load_files(
        settings,
        todo,
        _ledger_entry,
        source=SOURCE,
        flow_kind=flow_kind,
        parameters={"kind": kind, "first": first, "last": last, "files": len(todo)},
        label=f"{kind} files",
    )
    run = outcome.run
    publish_summary(
        key=f"pubmed-{kind}-files-summary",
        markdown=summary_markdown(
            f"PubMed {kind} files",
            run,
            {
                "files loaded": ", ".join(f["file"] for f in outcome.files)
                or "none (all up to date)"
            },
        ),
    )
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "files_listed": len(files),
        "files": outcome.files,
        "seconds": round(time.perf_counter() - started, 2),
        "quarantine_reasons": outcome.quarantine_reasons,
        **{k: run[k] for k in RUN_FIELDS if k not in ("run_id", "status")},
    }


@flow(name="pubmed-files-backfill", log_prints=True)
def pubmed_files_backfill(
    kind: str = "baseline",
    first: int | None = None,
    last: int | None = None,
    db: str | None = None,
    files_url: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Load NLM bulk files (`baseline` or `update`), numbers `first`..`last`, each exactly once."""
    if kind not in ("baseline", "update"):
        raise ValueError(f"kind must be baseline or update, not {kind!r}")
    settings = load_settings(
        db=db, pubmed_files_url=files_url, workers=workers, dask_address=dask_address
    )
    return load_bulk_files(settings, kind, first=first, last=last, flow_kind=f"{kind}-files")  # type: ignore[arg-type]


@flow(name="pubmed-updates-sync", log_prints=True)
def pubmed_updates_sync(
    db: str | None = None,
    files_url: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Nightly: load every update file the ledger does not have yet, in order."""
    settings = load_settings(
        db=db, pubmed_files_url=files_url, workers=workers, dask_address=dask_address
    )
    return load_bulk_files(settings, "update", first=None, last=None, flow_kind="update-files")
