"""The one path every record takes, as plain functions: parse → validate → load.

Flows compose these (as Prefect tasks); tests and the CLI can call them directly. Nothing here
knows HTTP or SQL: connectors fetch, `expectations` validates, `warehouse` loads.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from connectors.crossref.parse import iter_crossref_records
from connectors.jats.parse import iter_jats_records
from connectors.landing.parse import iter_landing_records
from connectors.oaipmh.parse import iter_oai_records
from connectors.pubmed.parse import iter_pubmed_records
from connectors.pure.parse import iter_pure_records
from expectations.validate import validate_batch
from schemas.batch import LoadCounts, StateUpdate, ValidatedBatch
from schemas.record import Deletion, Record
from warehouse.prepare import prepare_batch
from warehouse.store import Warehouse

Item = Record | Deletion
Parser = Callable[..., Iterator[Item]]

# Formats `biblioduck import` understands: name -> streaming parser (bytes/path -> items).
PARSERS: dict[str, Parser] = {
    "pubmed": iter_pubmed_records,
    "crossref": iter_crossref_records,
    "oai": iter_oai_records,
    "jats": iter_jats_records,
    "html": iter_landing_records,
    "pure": iter_pure_records,
}
# The source a format's records carry, where it is not the format's own name (a saved landing
# page is a `landing` record).
SOURCE_OF_FORMAT = {"html": "landing"}


def source_of(fmt: str) -> str:
    """The source the records of files in format `fmt` carry."""
    return SOURCE_OF_FORMAT.get(fmt, fmt)


# Records per validate+load batch when reading files: bounds memory on 30,000-record files.
FILE_BATCH_SIZE = 5000


@dataclass(slots=True)
class BatchOutcome:
    """What one batch did, with the validation details a summary may want."""

    batch_id: str
    counts: LoadCounts
    quarantine_reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class Payloads:
    """Fetched bytes in one format, parsed only when a task asks (`items`): a page of a
    list, or a few single-record answers, each with where it came from."""

    fmt: str
    parts: tuple[tuple[str, bytes], ...]  # (origin, body)

    @classmethod
    def one(cls, fmt: str, origin: str, body: bytes) -> Payloads:
        return cls(fmt, ((origin, body),))

    def items(self) -> list[Item]:
        return [
            item
            for origin, body in self.parts
            for item in parse_payload(body, fmt=self.fmt, origin=origin)
        ]


def parse_payload(
    payload: bytes | str | os.PathLike[str] | BinaryIO, *, fmt: str, origin: str
) -> list[Item]:
    """Parse one page (or small file) completely."""
    return list(PARSERS[fmt](payload, origin=origin))


def process_items(
    warehouse: Warehouse,
    items: list[Item],
    *,
    source: str,
    batch_id: str,
    run_id: str | None,
    state: StateUpdate | None = None,
    max_failed_fraction: float = 0.5,
) -> BatchOutcome:
    """Validate one parsed batch and load it, state included, in one transaction. The batch
    is one input (a page, a sync group of pages, a few answers): an id it carries twice loads
    its last copy, and the earlier ones are recorded as superseded."""
    validated = validate_batch(
        items, source=source, batch_id=batch_id, max_failed_fraction=max_failed_fraction
    )
    prepared = prepare_batch(
        validated,
        source=source,
        batch_id=batch_id,
        fetched=len(items),
        superseded=validated.superseded,
    )
    counts = warehouse.load(prepared, run_id=run_id, state=state)
    reasons = quarantine_reasons(validated)
    return BatchOutcome(batch_id=batch_id, counts=counts, quarantine_reasons=reasons)


def quarantine_reasons(validated: ValidatedBatch) -> dict[str, int]:
    """How many of a batch's quarantined rows failed each expectation."""
    return count_reasons(row.failed_expectations for row in validated.quarantined)


def count_reasons(failures: Iterable[list[str]]) -> dict[str, int]:
    """How many rows failed each expectation, from each failing row's expectation names."""
    reasons: dict[str, int] = {}
    for names in failures:
        for name in names:
            reasons[name] = reasons.get(name, 0) + 1
    return reasons


def chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of at most `size` items, streaming."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def iter_file_batches(
    payload: Path | bytes, *, name: str, fmt: str, batch_size: int = FILE_BATCH_SIZE
) -> Iterator[tuple[str, list[Item]]]:
    """(batch_id, items) for a file (its path, or its bytes) named `name`, streamed in batches
    so memory stays flat.

    Records that appear after a deletion of the same id in a later batch still lose to it,
    because batches load in file order."""
    parser = PARSERS[fmt]
    for number, chunk in enumerate(chunked(parser(payload, origin=name), batch_size)):
        yield f"file:{name}:{number}", chunk
