"""Prefect flows for NLM's bulk PubMed files: the baseline backfill and the nightly updates.

Files apply in order (year, then number), each exactly once, in one transaction with its ledger
row; a file re-published with a new md5 is loaded again. Worker processes download, parse and
validate ahead (`workers`); the flow alone writes, in file order. On a cluster, files are
prepared as Prefect tasks by a `prefect-dask` DaskTaskRunner instead (`dask_address`).
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner

from connectors.pubmed.files import BulkFile, BulkKind, bulk_session, fetch_md5, list_files
from expectations.validate import warm_up
from flows import memory, progress
from flows.bulk import (
    CHUNK_SIZE,
    PreparedFile,
    PrepareSettings,
    clear_spool,
    prepare_file,
    start_worker,
)
from flows.settings import Settings, load_settings
from flows.summary import add_reasons, summary_markdown
from flows.writer import BulkWriter
from schemas.batch import LoadCounts
from schemas.errors import FatalError
from warehouse.store import LedgerEntry, Warehouse

SOURCE = "pubmed"
FILE_RATE = 5.0  # requests/s to NLM's file server (listings and md5 sidecars are tiny)
# DuckDB holds a transaction's appended rows in memory until it commits, except whole row groups,
# which it writes out as they fill. A file loads in one transaction, so small row groups are what
# bound the loader's memory whatever the file's size (the default, 122,880 rows, held a whole file:
# ~1 GB for 20,788 recent records). Measured on eight baseline files (203,232 records, `python -m
# benchmarks loader`): 2,048 rows cost the loader 2.6x the CPU of 16,384 (each row group is
# compressed and written on its own, and the many small ones spilled to temporary files), for no
# less memory; 16,384 load 41,576 recent records in one file at an 80 MB limit.
BULK_ROW_GROUP_SIZE = 16_384
# The loader's DuckDB on one thread: its statements are small appends and key lookups, and its
# second thread mostly split row groups (a larger file: 1,566 MB against 1,124) and took a core
# from the workers (loader CPU 49.9 s against 34.3 s for the same eight files at 2,048 rows).
BULK_DUCKDB_THREADS = 1


def _prepare_settings(settings: Settings) -> PrepareSettings:
    return PrepareSettings(
        download_dir=settings.download_dir,
        spool_dir=settings.download_dir / "spool",
        batch_size=CHUNK_SIZE,
        max_failed_fraction=settings.max_failed_fraction,
        requests_per_second=FILE_RATE,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    )


def files_to_load(
    files: list[BulkFile], ledger: dict[str, dict[str, Any]], md5_of: Callable[[BulkFile], str]
) -> list[tuple[BulkFile, str]]:
    """The files that are new, or re-published with another md5, or failed before; in order."""
    todo = []
    for bulk_file in sorted(files):
        md5 = md5_of(bulk_file)
        known = ledger.get(bulk_file.name)
        if known and known["status"] == "loaded" and known["md5"] == md5:
            continue
        todo.append((bulk_file, md5))
    return todo


class _Pending(Protocol):
    """A file being prepared elsewhere: a process pool's future or a Prefect task's."""

    def result(self) -> PreparedFile: ...

    def cancel(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class _OnDask:
    """A Prefect task's future on Dask, cancellable like a process pool's."""

    future: Any  # prefect_dask's PrefectDaskFuture (imported only when Dask is used)

    def result(self) -> PreparedFile:
        return self.future.result()

    def cancel(self) -> Any:
        return self.future.wrapped_future.cancel()


@task(name="prepare-bulk-file", cache_policy=NO_CACHE)
def prepare_file_task(bulk_file: BulkFile, md5: str, settings: PrepareSettings) -> PreparedFile:
    """`prepare_file` as a Prefect task, for a Dask cluster: one task run per file."""
    start_worker()  # GC thresholds; Great Expectations' suites built once per process
    return prepare_file(bulk_file, md5, settings)


def dask_task_runner(address: str, workers: int) -> TaskRunner[Any]:
    """prefect-dask's DaskTaskRunner on a scheduler at `address`, or on a local cluster of
    `workers` processes (one thread each: parsing holds the GIL) when `address` is 'local'."""
    try:
        from prefect_dask import DaskTaskRunner
    except ModuleNotFoundError as exc:
        raise FatalError(
            f"BIBLIODUCK_DASK_ADDRESS is {address!r} but prefect-dask is not installed "
            "(pip install prefect-dask, or `make install`)"
        ) from exc
    if address == "local":
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": max(1, workers),
                "threads_per_worker": 1,
                "processes": True,
                "host": "127.0.0.1",
                "dashboard_address": None,
            }
        )
    return DaskTaskRunner(address=address)


def _in_order(
    todo: list[tuple[BulkFile, str]], submit: Callable[[BulkFile, str], _Pending], ahead: int
) -> Iterator[PreparedFile]:
    """Prepared files in file order, with up to `ahead` more being prepared meanwhile; those
    still pending are cancelled when the loader stops early (an error, a failed file)."""
    pending: deque[_Pending] = deque()
    queue = iter(todo)
    try:
        for bulk_file, md5 in queue:
            pending.append(submit(bulk_file, md5))
            if len(pending) >= ahead + 1:
                break
        while pending:
            ready = pending.popleft().result()
            for bulk_file, md5 in queue:  # keep the workers busy while the writer loads
                pending.append(submit(bulk_file, md5))
                break
            yield ready
    finally:
        for future in pending:
            future.cancel()


def _prepared_in_order(
    todo: list[tuple[BulkFile, str]],
    prepare: PrepareSettings,
    workers: int,
    dask_address: str | None = None,
) -> Iterator[PreparedFile]:
    """Prepared files in file order: in this process (`workers` 0), in `workers` processes,
    or as Prefect tasks on a Dask cluster (`dask_address`), `workers` files ahead."""
    if dask_address is not None:
        with dask_task_runner(dask_address, workers) as runner:

            def on_dask(bulk_file: BulkFile, md5: str) -> _Pending:
                parameters = {"bulk_file": bulk_file, "md5": md5, "settings": prepare}
                return _OnDask(runner.submit(prepare_file_task, parameters))

            yield from _in_order(todo, on_dask, max(1, workers))
        return
    if workers == 0:
        for bulk_file, md5 in todo:
            yield prepare_file(bulk_file, md5, prepare)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=start_worker
    ) as pool:

        def in_pool(bulk_file: BulkFile, md5: str) -> _Pending:
            return pool.submit(prepare_file, bulk_file, md5, prepare)

        yield from _in_order(todo, in_pool, workers)


def load_bulk_files(
    settings: Settings, kind: BulkKind, *, first: int | None, last: int | None, flow_kind: str
) -> dict[str, Any]:
    """List, compare with the ledger, prepare in parallel and load in order. Shared by flows."""
    logger = get_run_logger()
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
    prepare = _prepare_settings(settings)
    clear_spool(prepare.spool_dir)
    totals = LoadCounts()
    loaded: list[dict[str, Any]] = []
    reasons: dict[str, int] = {}
    started = time.perf_counter()
    workers = min(settings.workers, max(1, len(todo))) if settings.workers else 0
    if not workers and settings.dask_address is None:
        warm_up()  # this process prepares the files: its suites are long-lived too
    with (
        BulkWriter(
            settings.db,
            memory_limit=settings.bulk_memory_limit,
            row_group_size=BULK_ROW_GROUP_SIZE,
            threads=BULK_DUCKDB_THREADS,
        ) as writer,
        memory.long_lived_frozen(),
    ):
        run_id = writer.start_run(
            SOURCE, flow_kind, {"kind": kind, "first": first, "last": last, "files": len(todo)}
        )
        try:
            prepared_files = _prepared_in_order(todo, prepare, workers, settings.dask_address)
            for index, prepared in enumerate(prepared_files):
                entry = LedgerEntry(
                    name=prepared.file.name,
                    kind=kind,
                    year=prepared.file.year,
                    number=prepared.file.number,
                    md5=prepared.md5,
                    size=prepared.size,
                    download_seconds=prepared.download_seconds,
                    prepare_seconds=prepared.prepare_seconds,
                )
                load_started = time.perf_counter()
                try:
                    counts = writer.load_file(
                        entry,
                        prepared,
                        run_id=run_id,
                        progress=_progress_logger(prepared, logger),
                    )
                finally:
                    prepared.discard()
                memory.release_memory()
                totals.add(counts)
                add_reasons(reasons, prepared.quarantine_reasons)
                loaded.append(
                    {
                        "file": prepared.file.name,
                        "records": prepared.records,
                        "deletions": prepared.deletions,
                        **counts.as_dict(),
                        "download_seconds": round(prepared.download_seconds, 2),
                        "prepare_seconds": round(prepared.prepare_seconds, 2),
                        "load_seconds": round(time.perf_counter() - load_started, 2),
                    }
                )
                elapsed = time.perf_counter() - started
                logger.info(
                    "loaded %s (%d/%d): %d records, %d deletions applied, %.0f records/s overall",
                    prepared.file.name,
                    index + 1,
                    len(todo),
                    prepared.records,
                    counts.deleted,
                    totals.fetched / elapsed if elapsed else 0.0,
                )
                progress.report(f"{kind} files", index + 1, len(todo))
            run = writer.finish_run(run_id, status="completed")
        except Exception as exc:
            logger.error("bulk load stopped: %s", exc)
            if writer.alive:  # else the run stays 'running', as after a kill
                # Files go in order, so the one that failed is the first not loaded.
                if len(loaded) < len(todo):
                    failed, md5 = todo[len(loaded)]
                    writer.mark_file_failed(
                        LedgerEntry(failed.name, kind, failed.year, failed.number, md5),
                        run_id=run_id,
                        error=str(exc),
                    )
                writer.finish_run(run_id, status="failed", error=str(exc))
            raise
        finally:
            clear_spool(prepare.spool_dir)
    create_markdown_artifact(
        key=f"pubmed-{kind}-files-summary",
        markdown=summary_markdown(
            f"PubMed {kind} files",
            run,
            {"files loaded": ", ".join(f["file"] for f in loaded) or "none (all up to date)"},
        ),
    )
    return {
        "run_id": run_id,
        "status": run["status"],
        "files_listed": len(files),
        "files": loaded,
        "seconds": round(time.perf_counter() - started, 2),
        "quarantine_reasons": reasons,
        **{
            k: run[k]
            for k in (
                "fetched",
                "inserted",
                "updated",
                "unchanged",
                "stale",
                "deleted",
                "quarantined",
            )
        },
    }


def _progress_logger(prepared: PreparedFile, logger: Any) -> Callable[[int], None]:
    """Notes each batch of a file as it is applied (progress for people and tests)."""
    total = prepared.records + prepared.deletions

    def log(applied: int) -> None:
        logger.info("applied %d of %d items of %s", applied, total, prepared.file.name)

    return log


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
