"""`biblioduck reparse`: read the stored raw payloads again with the current parsers and rules,
so that a parser or validation fix reaches an existing warehouse without fetching anything.

Current records: each payload is parsed and validated again; a record whose row now differs
is rewritten (a version with change 'reparsed', same payload); one that is equal is left
alone, so a second run changes nothing. A record that now fails validation, or whose id the
parser now reads differently, is left as it is and counted (the run's summary says how many):
dropping a stored record is a decision for a person. `--quarantined`: quarantined payloads
that no version of their id holds are validated again, and those that pass now load as new
versions (insert, or update of an older one; an older version than the stored one is stale).

Batches of `BATCH` records, each in one transaction with a checkpoint: an interrupted run
resumes after its last batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
from prefect import flow

from connectors.landing.parse import parse_landing_page
from connectors.oaipmh.parse import parse_stored_record
from expectations.validate import validate_batch
from flows import pipeline
from flows.orchestration import publish_summary, run_logger
from flows.settings import load_settings
from flows.summary import RUN_FIELDS, summary_markdown
from schemas.arrow import record_schema, records_table
from schemas.batch import LoadCounts, StateUpdate, ValidatedBatch
from schemas.errors import BiblioduckError, FatalError
from schemas.identifiers import normalise_doi
from schemas.record import Deletion, Record
from warehouse.derived import refresh_derived
from warehouse.prepare import decode_payload, prepare_batch
from warehouse.store import Warehouse

BATCH = 5000
SOURCES = ("pubmed", "crossref", "oai", "jats", "landing")


@dataclass(slots=True)
class Stored:
    """A stored payload to parse again, with the id it is stored under."""

    source_id: str
    endpoint: str | None
    raw: bytes


@dataclass(slots=True)
class ReparseCounts:
    """What one source's reparse found, beyond the load counts."""

    read: int = 0
    equal: int = 0
    now_failing: int = 0
    id_changed: int = 0
    unreadable: int = 0


def reparse_scope(quarantined: bool) -> str:
    """The sync_state key of a reparse's checkpoint."""
    return "reparse:quarantined" if quarantined else "reparse:records"


def _stored(
    con: duckdb.DuckDBPyConnection, source: str, quarantined: bool, after: str
) -> Iterator[list[Stored]]:
    """The payloads to parse again, by source id, in batches after `after`."""
    if quarantined:
        # Quarantined payloads no version of their id holds (one that loaded since is done).
        sql = (
            "SELECT DISTINCT q.source_id, NULL, p.encoding, p.payload, p.raw_bytes "
            "FROM quarantine q JOIN raw_payloads p USING (content_hash) "
            "WHERE q.source = ? AND q.source_id > ? AND NOT EXISTS (SELECT 1 FROM "
            "record_versions v WHERE v.source = q.source AND v.source_id = q.source_id "
            "AND v.content_hash = q.content_hash) ORDER BY q.source_id LIMIT ?"
        )
    else:
        sql = (
            "SELECT s.source_id, s.endpoint, p.encoding, p.payload, p.raw_bytes "
            "FROM source_records s JOIN raw_payloads p USING (content_hash) "
            "WHERE s.source = ? AND NOT s.deleted AND s.source_id > ? "
            "ORDER BY s.source_id LIMIT ?"
        )
    while True:
        rows = con.execute(sql, [source, after, BATCH]).fetchall()
        if not rows:
            return
        yield [Stored(r[0], r[1], decode_payload(r[2], r[3], r[4])) for r in rows]
        after = rows[-1][0]


def _parse(source: str, stored: Stored) -> Record | None:
    """The record a stored payload gives today; None when it gives none (counted)."""
    origin = f"stored {source} payload of {stored.source_id}"
    if source == "oai":
        parsed = parse_stored_record(
            stored.raw, endpoint=stored.endpoint, origin=origin, source_id=stored.source_id
        )
        return parsed if isinstance(parsed, Record) else None
    if source == "landing":
        # A page is read again as it was fetched: its final URL and the DOI it was asked for.
        page = parse_landing_page(
            stored.raw, url=stored.endpoint, expected_doi=normalise_doi(stored.source_id)
        )
        return page if isinstance(page, Record) else None
    items = pipeline.parse_payload(stored.raw, fmt=source, origin=origin)
    records = [item for item in items if isinstance(item, Record)]
    return records[0] if len(records) == 1 else None


def _stored_rows(
    con: duckdb.DuckDBPyConnection, source: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The stored rows of `ids`, with the columns of `record_schema()`, by source id."""
    columns = ", ".join(f'"{name}"' for name in record_schema().names)
    table = con.execute(
        f"SELECT {columns} FROM source_records WHERE source = ? AND NOT deleted "
        "AND source_id IN (SELECT unnest(?::VARCHAR[]))",
        [source, ids],
    ).fetch_arrow_table()
    return {row["source_id"]: row for row in table.cast(record_schema()).to_pylist()}


def _changed(con: duckdb.DuckDBPyConnection, source: str, records: list[Record]) -> list[Record]:
    """The records whose row differs from the stored one."""
    stored = _stored_rows(con, source, [r.source_id for r in records if r.source_id])
    fresh = records_table(records).to_pylist()
    return [
        record
        for record, row in zip(records, fresh, strict=True)
        if stored.get(row["source_id"]) != row
    ]


def _reparse_batch(
    warehouse: Warehouse,
    source: str,
    batch: list[Stored],
    *,
    quarantined: bool,
    batch_id: str,
    run_id: str,
    counts: ReparseCounts,
    max_failed_fraction: float,
) -> LoadCounts:
    records: list[Record | Deletion] = []
    for stored in batch:
        try:
            record = _parse(source, stored)
        except BiblioduckError:
            record = None
        if record is None:
            counts.unreadable += 1
        elif record.source_id != stored.source_id:
            counts.id_changed += 1
        else:
            records.append(record)
    counts.read += len(batch)
    validated = validate_batch(
        records, source=source, batch_id=batch_id, max_failed_fraction=max_failed_fraction
    )
    counts.now_failing += len(validated.quarantined)
    good = validated.records if quarantined else _changed(warehouse.con, source, validated.records)
    counts.equal += len(validated.records) - len(good)
    # Only what passes now is loaded: a stored record that fails now stays as it is, and a
    # quarantined payload that fails again keeps its quarantine row (no second one).
    prepared = prepare_batch(
        ValidatedBatch(records=good, deletions=[], quarantined=[], summaries=validated.summaries),
        source=source,
        batch_id=batch_id,
        fetched=len(good),
        reparsed=not quarantined,
    )
    checkpoint = {"after": batch[-1].source_id}
    state = StateUpdate(source, reparse_scope(quarantined), None, checkpoint)
    return warehouse.load(prepared, run_id=run_id, state=state)


@flow(name="reparse", log_prints=True)
def reparse(
    db: str | None = None, source: str | None = None, quarantined: bool = False
) -> dict[str, Any]:
    """Parse and validate stored payloads again with the current code (see the module)."""
    logger = run_logger()
    if source is not None and source not in SOURCES:
        raise FatalError(f"reparse: unknown source {source!r}; one of {', '.join(SOURCES)}")
    settings = load_settings(db=db)
    results: dict[str, Any] = {}
    with Warehouse(settings.db) as warehouse:
        for name in [source] if source else SOURCES:
            results[name] = _reparse_source(
                warehouse, name, quarantined, settings.max_failed_fraction, logger
            )
        if any(r["inserted"] or r["updated"] for r in results.values()):
            refresh_derived(
                warehouse.con,
                logger,
                max_records=settings.derive_max_records,
                run_id=[r["run_id"] for r in results.values()],
                memory_limit=settings.derive_memory_limit,
            )
    return {"quarantined": quarantined, "sources": results}


def _reparse_source(
    warehouse: Warehouse, source: str, quarantined: bool, max_failed_fraction: float, logger: Any
) -> dict[str, Any]:
    scope = reparse_scope(quarantined)
    _watermark, checkpoint = warehouse.state(source, scope)
    after = (checkpoint or {}).get("after", "")
    if after:
        logger.info("reparse of %s: resuming after %s", source, after)
    started = time.perf_counter()
    run_id = warehouse.start_run(source, "reparse", {"quarantined": quarantined, "after": after})
    counts = ReparseCounts()
    try:
        for number, batch in enumerate(_stored(warehouse.con, source, quarantined, after), 1):
            _reparse_batch(
                warehouse,
                source,
                batch,
                quarantined=quarantined,
                batch_id=f"reparse:{run_id}:{number}",
                run_id=run_id,
                counts=counts,
                max_failed_fraction=max_failed_fraction,
            )
        warehouse.save_state(StateUpdate(source, scope, None, None))
        run = warehouse.finish_run(run_id, status="completed")
    except Exception as exc:
        warehouse.finish_run(run_id, status="failed", error=str(exc))
        raise
    found = {
        "read": counts.read,
        "equal": counts.equal,
        "now failing validation (left as stored)": counts.now_failing,
        "id read differently (left as stored)": counts.id_changed,
        "no record in the payload (left as stored)": counts.unreadable,
    }
    publish_summary(
        key=f"reparse-{source}-summary",
        markdown=summary_markdown(f"Reparse of {source}", run, found),
        description=f"Reparse of stored {source} payloads",
    )
    return {
        **{k: run[k] for k in RUN_FIELDS},
        "read": counts.read,
        "equal": counts.equal,
        "now_failing": counts.now_failing,
        "id_changed": counts.id_changed,
        "unreadable": counts.unreadable,
        "seconds": round(time.perf_counter() - started, 2),
    }
