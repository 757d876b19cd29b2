"""Preparing NLM bulk files in worker processes: download (md5-verified) → parse → validate →
Arrow batches spooled to disk. The single writer then loads each file's spool in file order.

Plain functions, picklable arguments: they run in `spawn`ed processes (never `fork`: the loading
process holds threads and an open DuckDB file), or inline when `workers` is 0.
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from connectors.pubmed.files import BulkFile, bulk_session, download
from expectations.validate import validate_batch
from flows import pipeline
from flows.summary import add_reasons
from warehouse.store import PreparedBatch, prepare_batch

SOURCE = "pubmed"


@dataclass(slots=True)
class PreparedFile:
    """One bulk file downloaded, validated and spooled as prepared batches, in order."""

    file: BulkFile
    md5: str
    size: int
    spool: list[Path]
    records: int = 0
    deletions: int = 0
    quarantined: int = 0
    download_seconds: float = 0.0
    prepare_seconds: float = 0.0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def batches(self) -> Iterator[PreparedBatch]:
        """The prepared batches, read back one at a time (memory holds one batch)."""
        for path in self.spool:
            with open(path, "rb") as handle:
                batch: PreparedBatch = pickle.load(handle)  # noqa: S301 - our own spool files
            yield batch

    def discard(self) -> None:
        for path in self.spool:
            path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class PrepareSettings:
    """What a worker needs (picklable; no secrets: the file server needs none)."""

    download_dir: Path
    spool_dir: Path
    batch_size: int
    max_failed_fraction: float
    requests_per_second: float
    max_attempts: int
    backoff_base: float
    keep_download: bool = False


def prepare_file(bulk_file: BulkFile, md5: str, settings: PrepareSettings) -> PreparedFile:
    """Download, verify, parse, validate and spool one file. Raises the connector's errors
    (ChecksumMismatchError, TransientHttpError, …) and BatchRejectedError unchanged."""
    pipeline.tune_gc()
    started = time.perf_counter()
    session = bulk_session(
        requests_per_second=settings.requests_per_second,
        max_attempts=settings.max_attempts,
        backoff_base=settings.backoff_base,
    )
    with session:
        path = download(bulk_file, settings.download_dir, session=session)
    downloaded = time.perf_counter()
    result = PreparedFile(file=bulk_file, md5=md5, size=path.stat().st_size, spool=[])
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    try:
        for number, (batch_id, items) in enumerate(
            pipeline.iter_file_batches(path, fmt="pubmed", batch_size=settings.batch_size)
        ):
            validated = validate_batch(
                items,
                source=SOURCE,
                batch_id=batch_id,
                max_failed_fraction=settings.max_failed_fraction,
            )
            prepared = prepare_batch(
                validated, source=SOURCE, batch_id=batch_id, fetched=len(items)
            )
            result.deletions += len(validated.deletions)
            result.records += len(items) - len(validated.deletions)
            result.quarantined += len(validated.quarantined)
            add_reasons(result.quarantine_reasons, pipeline.quarantine_reasons(validated))
            spooled = settings.spool_dir / f"{bulk_file.name}.{number:04d}.{os.getpid()}.pickle"
            with open(spooled, "wb") as handle:
                pickle.dump(prepared, handle, protocol=pickle.HIGHEST_PROTOCOL)
            result.spool.append(spooled)
    except BaseException:
        result.discard()
        raise
    finally:
        if not settings.keep_download:
            path.unlink(missing_ok=True)
    result.download_seconds = downloaded - started
    result.prepare_seconds = time.perf_counter() - downloaded
    return result


def clear_spool(spool_dir: Path) -> None:
    """Spool files of an interrupted run are useless (the run re-prepares its files)."""
    shutil.rmtree(spool_dir, ignore_errors=True)
