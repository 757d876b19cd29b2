"""Loading whole files exactly once, for every way files come in (NLM's bulk files, `import`):
worker processes prepare files ahead (parse, validate, spool), and the one writer process loads
them in order, each file in one transaction with its row in the `bulk_files` ledger.

A file loaded is loaded exactly once; a file interrupted half-way (even by SIGKILL) leaves no
trace and is loaded by the next run; files already loaded when a later one fails stay loaded.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from expectations.validate import warm_up
from flows import progress
from flows.bulk import (
    CHUNK_SIZE,
    ParsedPart,
    PreparedFile,
    prepare,
    prepare_share,
    share_out,
    start_parse_worker,
    start_worker,
    validated_file,
)
from flows.jobs import FileToLoad, LocalFile, PrepareSettings
from flows.orchestration import run_logger
from flows.settings import Settings, bulk_memory_limit
from flows.summary import add_reasons
from processes import memory
from processes.writer import BulkWriter
from schemas.batch import LoadCounts
from schemas.errors import FatalError, MalformedPayloadError
from warehouse.derived import refresh_derived
from warehouse.drift import warn_first_seen
from warehouse.store import LedgerEntry, Warehouse

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

Job = TypeVar("Job", bound=FileToLoad)

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


def prepare_settings(settings: Settings) -> PrepareSettings:
    """What workers need of the settings; a spool folder of this run's own (see `spool_for`)."""
    return PrepareSettings(
        download_dir=settings.download_dir,
        spool_dir=spool_for(settings.download_dir / "spool"),
        batch_size=CHUNK_SIZE,
        max_failed_fraction=settings.max_failed_fraction,
        requests_per_second=FILE_RATE,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    )


def spool_for(root: Path) -> Path:
    """This process's spool folder under `root`, after removing those of processes that are
    gone (a killed run's spool is useless: the next run prepares its files again). Per process,
    so that two runs sharing a download folder never remove each other's."""
    if root.is_dir():
        for folder in root.iterdir():
            if folder.name.isdigit() and not _alive(int(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)
    return root / str(os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(slots=True)
class FilesOutcome:
    """What a run of file loads did: its `runs` row, one entry per file, quarantine reasons."""

    run: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)  # the loaded ones, in order
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    # Positions in `todo` of the files with nothing in them (refused: not loaded).
    refused: list[int] = field(default_factory=list)


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


def prepare_on_dask(job: FileToLoad, settings: PrepareSettings) -> PreparedFile:
    """`prepare` on a Dask worker, as a Prefect task run (`prepare-bulk-file`) per file."""
    start_worker()  # GC thresholds; Great Expectations' suites built once per process
    return prepare(job, settings)


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
    todo: Sequence[FileToLoad], submit: Callable[[FileToLoad], _Pending], ahead: int
) -> Iterator[PreparedFile]:
    """Prepared files in file order, with up to `ahead` more being prepared meanwhile; those
    still pending are cancelled when the loader stops early (an error, a failed file)."""
    pending: deque[_Pending] = deque()
    queue = iter(todo)
    try:
        for job in queue:
            pending.append(submit(job))
            if len(pending) >= ahead + 1:
                break
        while pending:
            ready = pending.popleft().result()
            for job in queue:  # keep the workers busy while the writer loads
                pending.append(submit(job))
                break
            yield ready
    finally:
        for future in pending:
            future.cancel()


def _splittable(job: FileToLoad) -> bool:
    """A file that `flows.bulk.share_out` can deal to several workers (PubMed XML on disk)."""
    return isinstance(job, LocalFile) and job.fmt == "pubmed"


@functools.cache
def _suites_warming() -> threading.Thread:
    """Build the validation suites in a thread of this process, once (~1.3 s of CPU): the
    shares of a split file are validated here, as one file, while workers parse."""
    thread = threading.Thread(target=warm_up, name="warm-up-validation", daemon=True)
    thread.start()
    return thread


class _SharedFile:
    """A file whose shares several workers parse; validated here as one file. A file the
    splitter will not cut is prepared whole by one worker; a share that fails to parse makes
    the file parsed whole here, so its error names the file's own lines."""

    def __init__(
        self, job: LocalFile, pool: ProcessPoolExecutor, settings: PrepareSettings
    ) -> None:
        from connectors.pubmed.split import NotSplittable

        self.job, self.settings = job, settings
        self.started = time.perf_counter()
        self.futures: list[Future[ParsedPart]] = []
        self.whole: Future[PreparedFile] | None = None
        try:
            for share in share_out(job, settings):
                self.futures.append(pool.submit(prepare_share, share, settings))
        except NotSplittable as refusal:
            run_logger().info("%s is prepared whole: %s", job.name, refusal)
            self._discard_shares()
            self.whole = pool.submit(prepare, job, settings)
            return
        # Only now: a thread building suites would take this process's GIL from the cutting,
        # which the workers wait for.
        _suites_warming()

    def _discard_shares(self) -> None:
        """Cancel the shares submitted; wait for those running and remove what they spooled."""
        for future in self.futures:
            future.cancel()
        for future in self.futures:
            if not future.cancelled() and future.exception() is None:
                future.result().discard()
        self.futures = []

    def result(self) -> PreparedFile:
        if self.whole is not None:
            return self.whole.result()
        parsed: list[ParsedPart] = []
        try:
            parsed = [future.result() for future in self.futures]
        except MalformedPayloadError:
            for part in parsed:
                part.discard()
            return prepare(self.job, self.settings)  # raises the file's own error
        except BaseException:
            for part in parsed:
                part.discard()
            raise
        _suites_warming().join()
        try:
            result = validated_file(
                parsed, size=self.job.path.stat().st_size, settings=self.settings
            )
        except BaseException:
            for part in parsed:
                part.discard()
            raise
        result.prepare_seconds = time.perf_counter() - self.started
        return result

    def cancel(self) -> Any:
        for future in self.futures:
            future.cancel()
        if self.whole is not None:
            self.whole.cancel()


def prepared_in_order(
    todo: Sequence[FileToLoad],
    settings: PrepareSettings,
    workers: int,
    dask_address: str | None = None,
    split: bool = False,
) -> Iterator[PreparedFile]:
    """Prepared files in file order: in this process (`workers` 0), in `workers` processes,
    or as Prefect tasks on a Dask cluster (`dask_address`), `workers` files ahead. With
    `split`, each PubMed file is dealt to all workers in shares (see `_SharedFile`)."""
    if dask_address is not None:
        from prefect import task
        from prefect.cache_policies import NO_CACHE

        prepare_task = task(name="prepare-bulk-file", cache_policy=NO_CACHE)(prepare_on_dask)
        with dask_task_runner(dask_address, workers) as runner:

            def on_dask(job: FileToLoad) -> _Pending:
                parameters = {"job": job, "settings": settings}
                return _OnDask(runner.submit(prepare_task, parameters))

            yield from _in_order(todo, on_dask, max(1, workers))
        return
    if workers == 0:
        for job in todo:
            yield prepare(job, settings)
        return
    context = multiprocessing.get_context("spawn")
    splitting = split and any(_splittable(job) for job in todo)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=start_parse_worker if splitting else start_worker,
    ) as pool:

        def in_pool(job: FileToLoad) -> _Pending:
            if splitting and isinstance(job, LocalFile) and _splittable(job):
                return _SharedFile(job, pool, settings)
            return pool.submit(prepare, job, settings)

        yield from _in_order(todo, in_pool, workers)


def load_files(
    settings: Settings,
    todo: Sequence[Job],
    entry_of: Callable[[Job], LedgerEntry],
    *,
    source: str,
    flow_kind: str,
    parameters: dict[str, Any],
    label: str,
) -> FilesOutcome:
    """Prepare `todo` ahead (workers, or Dask) and load each file in order, in one transaction
    with its ledger row (`entry_of`). A file with nothing in it is refused: not loaded, named
    in `refused`. The first file that fails stops the run (marked failed in the ledger; the
    files before it stay loaded) and its error is raised."""
    logger = run_logger()
    prepare = prepare_settings(settings)
    # Fewer PubMed files than workers: each is dealt in shares to a worker per usable core.
    few = settings.dask_address is None and 0 < len(todo) < settings.workers
    split = few and any(_splittable(job) for job in todo)
    workers = min(settings.workers, max(1, len(todo))) if settings.workers else 0
    if split:
        workers = min(settings.workers, len(os.sched_getaffinity(0)))
    if not workers and settings.dask_address is None:
        warm_up()  # this process prepares the files: its suites are long-lived too
    totals = LoadCounts()
    started = time.perf_counter()
    with (
        BulkWriter(
            settings.db,
            memory_limit=bulk_memory_limit(settings),
            row_group_size=BULK_ROW_GROUP_SIZE,
            threads=BULK_DUCKDB_THREADS,
        ) as writer,
        memory.long_lived_frozen(),
    ):
        run_id = writer.start_run(source, flow_kind, parameters)
        outcome = FilesOutcome(run={})
        position = 0  # of the file being prepared or loaded, in `todo`
        try:
            for prepared in prepared_in_order(todo, prepare, workers, settings.dask_address, split):
                job = todo[position]
                if not prepared.records and not prepared.deletions:
                    prepared.discard()
                    outcome.refused.append(position)
                    logger.warning("%s: no %s record in it; nothing loaded", job.name, source)
                    progress.file_outcome({"file": job.name, "status": "refused"})
                    position += 1
                    continue
                counts, row = _load_one(writer, prepared, entry_of(job), run_id, logger)
                totals.add(counts)
                add_reasons(outcome.quarantine_reasons, prepared.quarantine_reasons)
                outcome.files.append({"file": row["file"], "position": position, **row})
                progress.file_outcome({**outcome.files[-1], "status": "loaded"})
                position += 1
                elapsed = time.perf_counter() - started
                logger.info(
                    "loaded %s (%d/%d): %d records, %d deletions applied, %.0f records/s overall",
                    prepared.name,
                    position,
                    len(todo),
                    prepared.records,
                    counts.deleted,
                    totals.fetched / elapsed if elapsed else 0.0,
                )
                progress.report(label, position, len(todo))
            outcome.run = writer.finish_run(run_id, status="completed")
            warn_first_seen(logger, outcome.run)
        except Exception as exc:
            logger.error("%s stopped: %s", label, exc)
            if writer.alive:  # else the run stays 'running', as after a kill
                # Files go in order: the one that failed is the one at `position`.
                if position < len(todo):
                    writer.mark_file_failed(entry_of(todo[position]), run_id=run_id, error=str(exc))
                warn_first_seen(logger, writer.finish_run(run_id, status="failed", error=str(exc)))
            raise
        finally:
            shutil.rmtree(prepare.spool_dir, ignore_errors=True)
    if _changed_records(outcome.run):
        with Warehouse(settings.db) as warehouse:
            refresh_derived(
                warehouse.con,
                logger,
                max_records=settings.derive_max_records,
                run_id=run_id,
                memory_limit=settings.derive_memory_limit,
            )
    return outcome


def _changed_records(run: dict[str, Any]) -> bool:
    return any(run.get(key) for key in ("inserted", "updated", "deleted"))


def _load_one(
    writer: BulkWriter, prepared: PreparedFile, entry: LedgerEntry, run_id: str, logger: Any
) -> tuple[LoadCounts, dict[str, Any]]:
    """Load one prepared file with its ledger `entry` (through the writer, the warehouse's one
    door); its spool is removed whatever happens. Returns its counts and its row of the
    outcome (without its position)."""
    entry.size = prepared.size
    entry.download_seconds = prepared.download_seconds
    entry.prepare_seconds = prepared.prepare_seconds
    load_started = time.perf_counter()
    try:
        counts = writer.load_file(
            entry, prepared, run_id=run_id, progress=_progress_logger(prepared, logger)
        )
    finally:
        prepared.discard()
    memory.release_memory()
    row = {
        "file": prepared.name,
        "records": prepared.records,
        "deletions": prepared.deletions,
        **counts.as_dict(),
        "download_seconds": round(prepared.download_seconds, 2),
        "prepare_seconds": round(prepared.prepare_seconds, 2),
        "load_seconds": round(time.perf_counter() - load_started, 2),
    }
    return counts, row


def _progress_logger(prepared: PreparedFile, logger: Any) -> Callable[[int], None]:
    """Notes each batch of a file as it is applied (progress for people and tests)."""
    total = prepared.records + prepared.deletions

    def log(applied: int) -> None:
        logger.info("applied %d of %d items of %s", applied, total, prepared.name)

    return log
