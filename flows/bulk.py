"""Preparing NLM bulk files in worker processes: download (md5-verified) → parse → Arrow
chunks spooled to disk → validate the whole file at once. The single writer then loads each
file's spool in file order, quarantining what validation failed as it reads the chunks.

Why chunks, and validation per file: a worker holds only one small chunk of parsed records at a
time (memory stays flat at any file size), while Great Expectations, whose cost is mostly fixed
per call (~0.15 s per suite), runs once per file over the few columns its suites read.

Plain functions, picklable arguments: they run in `spawn`ed processes (never `fork`: the loading
process holds threads and an open DuckDB file), or inline when `workers` is 0.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.pubmed.files import BulkFile, bulk_session, download
from expectations.validate import validate_frames, validation_frames, warm_up
from flows import memory, pipeline
from schemas.batch import ValidationSummary
from schemas.record import Deletion, Record
from warehouse.spool import SpooledFile, spool_chunk
from warehouse.store import prepare_chunk

SOURCE = "pubmed"
# Records per spooled chunk: what a worker holds as Python objects at a time (~6 MB of Arrow
# for a thousand of the larger, recent PubMed records; 5,000 as objects took ~150 MB).
CHUNK_SIZE = 1000


@dataclass(slots=True)
class PreparedFile:
    """One bulk file downloaded, spooled as prepared chunks in order, and validated."""

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
    # Validation of the whole file: failed critical expectations by file row, the rows a later
    # record with the same id supersedes, and one summary per suite.
    failed: dict[int, list[str]] = field(default_factory=dict)
    superseded: set[int] = field(default_factory=set)
    summaries: list[ValidationSummary] = field(default_factory=list)

    def spooled(self) -> SpooledFile:
        """What the writer needs of the file to load it."""
        return SpooledFile(self.spool, self.failed, self.superseded, self.summaries)

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


def start_worker() -> None:
    """Initialise a worker process: GC thresholds for batch work, validation suites built,
    and what is alive then kept out of the cycle collector's way."""
    memory.tune_gc()
    memory.return_freed_memory()
    warm_up()
    memory.freeze_long_lived()


def prepare_file(bulk_file: BulkFile, md5: str, settings: PrepareSettings) -> PreparedFile:
    """Download, verify, parse, spool and validate one file. Raises the connector's errors
    (ChecksumMismatchError, TransientHttpError, …) and BatchRejectedError unchanged."""
    memory.tune_gc()
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
    frames: dict[str, list[Any]] = {}
    last_row_of: dict[str, int] = {}  # source id -> the file row of its last record
    rows = 0
    try:
        for number, (batch_id, items) in enumerate(
            pipeline.iter_file_batches(path, fmt="pubmed", batch_size=settings.batch_size)
        ):
            records = [item for item in items if isinstance(item, Record)]
            deletions = [item for item in items if isinstance(item, Deletion)]
            for offset, record in enumerate(records):
                if record.source_id is not None:
                    last_row_of[record.source_id] = rows + offset
            for name, frame in validation_frames(records, source=SOURCE, first_row=rows).items():
                frames.setdefault(name, []).append(frame)
            chunk = prepare_chunk(
                records,
                deletions,
                source=SOURCE,
                batch_id=batch_id,
                fetched=len(items),
                first_row=rows,
            )
            rows += len(records)
            result.deletions += len(deletions)
            spooled = settings.spool_dir / f"{bulk_file.name}.{number:04d}.{os.getpid()}.spool"
            spool_chunk(chunk, spooled)
            result.spool.append(spooled)
            del items, records, chunk
        result.records = rows
        _validate_file(result, frames, last_row_of, settings)
    except BaseException:
        result.discard()
        raise
    finally:
        if not settings.keep_download:
            path.unlink(missing_ok=True)
    result.download_seconds = downloaded - started
    result.prepare_seconds = time.perf_counter() - downloaded
    memory.release_memory()  # a worker prepares file after file: no creeping footprint
    return result


def _validate_file(
    result: PreparedFile,
    frames: dict[str, list[Any]],
    last_row_of: dict[str, int],
    settings: PrepareSettings,
) -> None:
    """Validate the file's records as one batch: the last record per id counts (as the loader
    applies records in file order, an earlier one would be replaced at once)."""
    import pandas as pd

    from expectations.validate import ROW

    winners = set(last_row_of.values())
    whole = {}
    for name, parts in frames.items():
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if name == "records":
            ids = frame["source_id"]
            result.superseded = {
                int(row) for row in frame[ROW][ids.notna() & ~frame[ROW].isin(winners)]
            }
        whole[name] = frame
    if result.superseded:
        whole = {
            name: frame[~frame[ROW].isin(result.superseded)].reset_index(drop=True)
            for name, frame in whole.items()
        }
    result.failed, result.summaries = validate_frames(
        whole,
        records=result.records - len(result.superseded),
        source=SOURCE,
        batch_id=f"file:{result.file.name}",
        max_failed_fraction=settings.max_failed_fraction,
    )
    result.quarantined = len(result.failed)
    result.quarantine_reasons = pipeline.count_reasons(result.failed.values())


def clear_spool(spool_dir: Path) -> None:
    """Spool files of an interrupted run are useless (the run re-prepares its files)."""
    shutil.rmtree(spool_dir, ignore_errors=True)
