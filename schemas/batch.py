"""What travels between validation and loading: one batch with its good records, its
quarantined rows, the validation summary and the sync state that says "done up to here"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.record import Deletion, Record


@dataclass(slots=True)
class QuarantinedRow:
    """A record that failed validation, kept with its reasons and its raw payload."""

    source: str
    source_id: str | None
    row_in_batch: int
    failed_expectations: list[str]
    raw: bytes | None


@dataclass(slots=True)
class ValidationSummary:
    """The outcome of one suite over one batch."""

    suite: str
    rows: int
    failed_rows: int
    success: bool
    failures: dict[str, int] = field(default_factory=dict)  # expectation -> failing rows
    # Great Expectations' result as JSON, lists cut (expectations.data_docs: the Data Docs).
    result: str | None = None


@dataclass(slots=True)
class ValidatedBatch:
    """A parsed batch split by validation into records to load and rows to quarantine."""

    records: list[Record]
    deletions: list[Deletion]
    quarantined: list[QuarantinedRow]
    summaries: list[ValidationSummary]
    # Earlier copies of ids the input carried twice: recorded as superseded versions.
    superseded: list[Record] = field(default_factory=list)

    @property
    def failed_rows(self) -> int:
        return len(self.quarantined)


@dataclass(slots=True)
class StateUpdate:
    """Sync state written in the same transaction as the batch it describes."""

    source: str
    scope: str
    watermark: str | None
    checkpoint: dict[str, Any] | None


@dataclass(slots=True)
class LoadCounts:
    """What one load did. `stale`: an older version than the stored one, skipped."""

    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    quarantined: int = 0

    def add(self, other: LoadCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
