"""Preparing files in worker processes: NLM bulk files (downloaded, md5-verified) and local
files of any format (`biblioduck import`) → parse → Arrow chunks spooled to disk → validate
the whole file at once. The single writer then loads each
file's spool in file order, quarantining what validation failed as it reads the chunks.

Why chunks, and validation per file: a worker holds only one small chunk of parsed records at a
time (memory stays flat at any file size), while Great Expectations, whose cost is mostly fixed
per call (~0.15 s per suite), runs once per file over the few columns its suites read.

Plain functions, picklable arguments: they run in `spawn`ed processes (never `fork`: the loading
process holds threads and an open DuckDB file), or inline when `workers` is 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expectations.validate import validate_file, validation_frames, warm_up
from flows import pipeline
from flows.jobs import FileToLoad, LocalFile, PrepareSettings
from processes import memory
from processes.writer import die_with_parent
from schemas.batch import ValidationSummary
from schemas.record import Deletion, Record
from warehouse.prepare import prepare_chunk
from warehouse.spool import SpooledFile, spool_chunk

# Records per spooled chunk: what a worker holds as Python objects at a time (~6 MB of Arrow
# for a thousand of the larger, recent PubMed records; 5,000 as objects took ~150 MB).
CHUNK_SIZE = 1000


@dataclass(slots=True)
class PreparedFile:
    """One file spooled as prepared chunks in order, and validated."""

    name: str
    source: str
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


def start_worker() -> None:
    """Initialise a worker process: it dies with the process that started it (a killed run
    leaves no worker behind), GC thresholds for batch work, validation suites built, and what
    is alive then kept out of the cycle collector's way."""
    die_with_parent(os.getppid())
    memory.tune_gc()
    memory.return_freed_memory()
    warm_up()
    memory.freeze_long_lived()


def prepare(job: FileToLoad, settings: PrepareSettings) -> PreparedFile:
    """Open the job's bytes (an NLM file is downloaded first), then parse, spool and validate
    them: what a worker process is handed (a module-level function)."""
    memory.tune_gc()
    with job.opened(settings) as opened:
        prepared = prepare_path(
            opened.payload, name=job.name, fmt=job.fmt, md5=job.md5, settings=settings
        )
    prepared.download_seconds = opened.fetch_seconds
    return prepared


@dataclass(slots=True)
class ParsedPart:
    """What parsing (part of) a file leaves before validation: its spooled chunks in order
    and the validation frames of their records."""

    name: str
    source: str
    md5: str
    first_row: int
    spool: list[Path] = field(default_factory=list)
    frames: dict[str, list[Any]] = field(default_factory=dict)
    records: int = 0
    deletions: int = 0
    seconds: float = 0.0

    def add(self, batch_id: str, items: list[pipeline.Item], settings: PrepareSettings) -> None:
        """Spool one chunk of consecutive items and keep its validation frames."""
        rows = self.first_row + self.records
        records = [item for item in items if isinstance(item, Record)]
        deletions = [item for item in items if isinstance(item, Deletion)]
        frames = validation_frames(records, source=self.source, first_row=rows)
        for suite, frame in frames.items():
            self.frames.setdefault(suite, []).append(frame)
        chunk = prepare_chunk(
            records,
            deletions,
            source=self.source,
            batch_id=batch_id,
            fetched=len(items),
            first_row=rows,
        )
        # Named by content and place: file names may repeat in one run (an import of two
        # folders), contents do not (a content given twice loads once).
        spooled = settings.spool_dir / f"{self.md5}.{rows:09d}.{os.getpid()}.spool"
        spool_chunk(chunk, spooled)
        self.spool.append(spooled)
        self.records += len(records)
        self.deletions += len(deletions)

    def discard(self) -> None:
        for path in self.spool:
            path.unlink(missing_ok=True)


def prepare_path(
    payload: Path | bytes, *, name: str, fmt: str, md5: str, settings: PrepareSettings
) -> PreparedFile:
    """Parse, spool and validate a file (at a path, or its bytes) in format `fmt` (its
    records' source). Raises the parser's errors (MalformedPayloadError, …) and
    BatchRejectedError unchanged."""
    started = time.perf_counter()
    size = len(payload) if isinstance(payload, bytes) else payload.stat().st_size
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    parsed = ParsedPart(name=name, source=pipeline.source_of(fmt), md5=md5, first_row=0)
    try:
        batches = pipeline.iter_file_batches(
            payload, name=name, fmt=fmt, batch_size=settings.batch_size
        )
        for batch_id, items in batches:
            parsed.add(batch_id, items, settings)
            del items
        result = validated_file([parsed], size=size, settings=settings)
    except BaseException:
        parsed.discard()
        raise
    result.prepare_seconds = time.perf_counter() - started
    memory.release_memory()  # a worker prepares file after file: no creeping footprint
    return result


def validated_file(
    parts: list[ParsedPart], *, size: int, settings: PrepareSettings
) -> PreparedFile:
    """One file from the parsed parts of it, in order, validated as a whole."""
    first = parts[0]
    result = PreparedFile(name=first.name, source=first.source, md5=first.md5, size=size, spool=[])
    frames: dict[str, list[Any]] = {}
    for part in parts:
        result.spool += part.spool
        result.records += part.records
        result.deletions += part.deletions
        for suite, pieces in part.frames.items():
            frames.setdefault(suite, []).extend(pieces)
    # The whole file, in file order: the last copy of an id is validated and loaded, the
    # earlier ones are recorded as superseded (`expectations.validate.superseded_rows`).
    validation = validate_file(
        frames,
        records=result.records,
        source=result.source,
        batch_id=f"file:{result.name}",
        max_failed_fraction=settings.max_failed_fraction,
    )
    result.failed = validation.failed
    result.superseded = validation.superseded
    result.summaries = validation.summaries
    result.quarantined = len(result.failed)
    result.quarantine_reasons = pipeline.count_reasons(result.failed.values())
    return result


@dataclass(frozen=True, slots=True)
class FileShare:
    """Consecutive fragments of one PubMed file (`connectors.pubmed.split`: each a document of
    its own), parsed by one worker while others parse the rest of the file. `fragments` are
    (path, fragment number) in order; `first_row` is the file row of the share's first
    record. Fragment files are removed as they are read."""

    name: str
    md5: str
    fragments: tuple[tuple[Path, int], ...]
    first_row: int

    def prepare(self, settings: PrepareSettings) -> ParsedPart:
        """Parse and spool the share (validation waits for the whole file)."""
        started = time.perf_counter()
        parsed = ParsedPart(name=self.name, source="pubmed", md5=self.md5, first_row=self.first_row)
        try:
            for path, number in self.fragments:
                items = list(pipeline.PARSERS["pubmed"](path, origin=self.name))
                path.unlink()
                # One chunk per fragment: a fragment holds `CHUNK_SIZE` records, so the
                # batches are those of the file parsed whole.
                parsed.add(f"file:{self.name}:{number}", items, settings)
                del items
        except BaseException:
            parsed.discard()
            raise
        parsed.seconds = time.perf_counter() - started
        memory.release_memory()
        return parsed


def prepare_share(share: FileShare, settings: PrepareSettings) -> ParsedPart:
    """`share.prepare(settings)`, for a worker process."""
    memory.tune_gc()
    return share.prepare(settings)


def start_parse_worker() -> None:
    """Initialise a worker that parses shares of a file: as `start_worker`, without building
    the validation suites (the file is validated once, where its shares meet; a worker that is
    handed a whole file builds them when it first validates)."""
    die_with_parent(os.getppid())
    memory.tune_gc()
    memory.return_freed_memory()
    memory.freeze_long_lived()


# Fragments (of CHUNK_SIZE records) per share of a split file: shares go to workers as soon
# as they are cut, so parsing starts while the file is still being cut.
FRAGMENTS_PER_SHARE = 5


def share_out(job: LocalFile, settings: PrepareSettings) -> Iterator[FileShare]:
    """Cut a PubMed file into fragments of `settings.batch_size` records (written to the
    spool folder) and yield them in shares of consecutive fragments, as they are cut. Raises
    `NotSplittable` for a file the splitter will not cut, possibly after yielding shares:
    those are void (prepare the file whole)."""
    from connectors.pubmed.split import split_pubmed_xml

    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    pending: list[tuple[Path, int]] = []
    first_row = 0
    try:
        fragments = split_pubmed_xml(
            job.path, origin=job.name, records_per_fragment=settings.batch_size
        )
        for fragment in fragments:
            if not pending:
                first_row = fragment.first_record
            path = settings.spool_dir / f"{job.md5}.{fragment.number:06d}.fragment.xml"
            path.write_bytes(fragment.data)
            pending.append((path, fragment.number))
            if len(pending) == FRAGMENTS_PER_SHARE:
                yield FileShare(job.name, job.md5, tuple(pending), first_row)
                pending = []
        if pending:
            yield FileShare(job.name, job.md5, tuple(pending), first_row)
    except BaseException:
        for path, _number in pending:
            path.unlink(missing_ok=True)
        raise
