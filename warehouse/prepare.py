"""Preparing batches for the warehouse: Arrow tables and compressed payloads, built from
validated records. CPU work only (hashing, compressing, Arrow conversion), so worker processes
do it in parallel and hand the result (it pickles as Arrow buffers) to the single writer.

No deduplication happens here: validation (`expectations.validate.superseded_rows`) decides
which copy of an id one input loads, and which earlier copies are recorded as superseded.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from schemas.arrow import records_table
from schemas.batch import ValidatedBatch, ValidationSummary
from schemas.errors import FatalError
from schemas.record import Deletion, Record

# Payloads are compressed in the (parallel) workers: zstd level 1 keeps a PubMed record in
# ~27 % of its size at ~200 MB/s (measured on pubmed21n1298: zlib level 1 took twice as long
# for a larger result). Rows written before this kept "zlib"; `decode_payload` reads both.
PAYLOAD_ENCODING = "zstd"
_PAYLOAD_CODEC = pa.Codec("zstd", compression_level=1)


def encode_payload(raw: bytes) -> bytes:
    """`raw` compressed as stored in `raw_payloads.payload` (encoding `PAYLOAD_ENCODING`)."""
    compressed: bytes = _PAYLOAD_CODEC.compress(raw, asbytes=True)
    return compressed


def decode_payload(encoding: str, payload: bytes, raw_bytes: int | None) -> bytes:
    """The original bytes of a stored payload, whatever encoding it was stored with."""
    if encoding == "zstd":
        if raw_bytes is None:
            raise FatalError("a zstd payload without its raw_bytes size")
        decoded: bytes = _PAYLOAD_CODEC.decompress(
            payload, decompressed_size=raw_bytes, asbytes=True
        )
        return decoded
    if encoding == "zlib":
        return zlib.decompress(payload)
    return bytes(payload)


def content_hash(raw: bytes) -> str:
    """The identity of one payload version (128-bit BLAKE2b, hex)."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _record_hash(record: Record) -> str:
    if record.raw is not None:
        return content_hash(record.raw)
    # Parsers always keep the payload; this keeps hand-built records loadable and idempotent.
    return content_hash(repr(record).encode())


SUPERSEDED_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("source_version", pa.string()),
    ]
)


def _no_superseded() -> pa.Table:
    return SUPERSEDED_SCHEMA.empty_table()


@dataclass(slots=True)
class PreparedBatch:
    """A validated batch as Arrow tables, ready to apply. Building it is CPU work only
    (hashing, compressing payloads, Arrow conversion), so worker processes can do it in
    parallel and hand it (it pickles as Arrow buffers) to the single writer."""

    source: str
    batch_id: str
    fetched: int
    records: pa.Table  # record columns + content_hash, one row per source id
    payloads: pa.Table  # content_hash, source, payload (compressed), raw_bytes
    deletions: pa.Table  # source, source_id, reason
    quarantine: pa.Table  # source_id, row_in_batch, failed_expectations, content_hash
    summaries: list[ValidationSummary]
    # Copies of an id that a later copy in the same file replaced before they were loaded:
    # recorded as versions ('superseded', with their payloads), never silently dropped.
    superseded: pa.Table = field(default_factory=_no_superseded)
    # Re-parsed from stored payloads by newer code (`biblioduck reparse`): a record whose
    # payload is stored unchanged replaces its row anyway, as version change 'reparsed'.
    reparsed: bool = False


def prepare_batch(
    batch: ValidatedBatch,
    *,
    source: str,
    batch_id: str,
    fetched: int,
    superseded: Sequence[Record] = (),
    reparsed: bool = False,
) -> PreparedBatch:
    """Turn a validated batch into Arrow tables. Its records carry each source id once (the
    last copy of the input); `superseded` are the earlier copies validation set aside, recorded
    as superseded versions with their payloads."""
    records = batch.records
    keys = set()
    for record in records:
        if record.source_id is None:
            raise FatalError(f"{source} batch {batch_id}: a record without id reached load")
        keys.add((record.source, record.source_id))
    if len(keys) < len(records):
        raise FatalError(
            f"{source} batch {batch_id}: a source id twice among the records to load "
            "(validation keeps the last copy: expectations.validate.superseded_rows)"
        )
    hashes = [_record_hash(r) for r in records]
    table = records_table(records).append_column("content_hash", pa.array(hashes, pa.string()))
    quarantined = batch.quarantined
    q_hashes = [content_hash(q.raw) if q.raw is not None else None for q in quarantined]
    old_hashes = [_record_hash(r) for r in superseded]
    payloads = _payloads_table(
        source,
        hashes + [h for h in q_hashes if h is not None] + old_hashes,
        [r.raw if r.raw is not None else b"" for r in records]
        + [q.raw for q in quarantined if q.raw is not None]
        + [r.raw if r.raw is not None else b"" for r in superseded],
    )
    return PreparedBatch(
        source=source,
        batch_id=batch_id,
        fetched=fetched,
        records=table,
        payloads=payloads,
        deletions=_deletions_table(batch.deletions),
        quarantine=_quarantine_table(
            [q.source_id for q in quarantined],
            [q.row_in_batch for q in quarantined],
            [q.failed_expectations for q in quarantined],
            q_hashes,
        ),
        summaries=list(batch.summaries),
        superseded=_superseded_table(superseded, old_hashes),
        reparsed=reparsed,
    )


def _superseded_table(records: Sequence[Record], hashes: list[str]) -> pa.Table:
    if not records:
        return SUPERSEDED_SCHEMA.empty_table()
    return pa.table(
        {
            "source": pa.array([r.source for r in records], pa.string()),
            "source_id": pa.array([r.source_id for r in records], pa.string()),
            "content_hash": pa.array(hashes, pa.string()),
            "source_version": pa.array([r.source_version for r in records], pa.string()),
        },
        schema=SUPERSEDED_SCHEMA,
    )


# Spelled out rather than taken from an empty `_payloads_table`: building an array from Python
# objects makes pyarrow import pandas (~45 MB), which this module's importers need not.
PAYLOADS_SCHEMA = pa.schema(
    [
        pa.field("content_hash", pa.string()),
        pa.field("source", pa.string()),
        pa.field("payload", pa.binary()),
        pa.field("raw_bytes", pa.int64()),
    ]
)


def _payloads_table(source: str, hashes: list[str], raws: list[bytes]) -> pa.Table:
    return pa.table(
        {
            "content_hash": pa.array(hashes, pa.string()),
            "source": pa.array([source] * len(hashes), pa.string()),
            "payload": pa.array([encode_payload(r) for r in raws], pa.binary()),
            "raw_bytes": pa.array([len(r) for r in raws], pa.int64()),
        },
        schema=PAYLOADS_SCHEMA,
    )


class BatchSource(Protocol):
    """A bulk file's prepared batches, in order, read anew at each call; without their
    payloads (empty tables) when `payloads` is false."""

    def __call__(self, *, payloads: bool = True) -> Iterable[PreparedBatch]: ...


def _deletions_table(deletions: list[Deletion]) -> pa.Table:
    reasons: dict[tuple[str, str], str | None] = {}
    for deletion in deletions:
        reasons[(deletion.source, deletion.source_id)] = deletion.reason
    return pa.table(
        {
            "source": pa.array([k[0] for k in reasons], pa.string()),
            "source_id": pa.array([k[1] for k in reasons], pa.string()),
            "reason": pa.array(list(reasons.values()), pa.string()),
        }
    )


def _quarantine_table(
    source_ids: list[str | None],
    rows: list[int],
    failures: list[list[str]],
    hashes: list[str | None],
) -> pa.Table:
    return pa.table(
        {
            "source_id": pa.array(source_ids, pa.string()),
            "row_in_batch": pa.array(rows, pa.int64()),
            "failed_expectations": pa.array(failures, pa.list_(pa.string())),
            "content_hash": pa.array(hashes, pa.string()),
        }
    )


FILE_ROW = "_row"  # a record's position in its bulk file, while it awaits file-level validation


@dataclass(slots=True)
class PreparedChunk:
    """Consecutive records of a bulk file as Arrow, before the file is validated as a whole:
    every record (with its content hash and its row in the file), their payloads, and the
    chunk's deletions. Small (a thousand records), so workers spool them as they parse."""

    source: str
    batch_id: str
    fetched: int
    rows: pa.Table  # record columns + content_hash + FILE_ROW
    payloads: pa.Table
    deletions: pa.Table


def prepare_chunk(
    records: list[Record],
    deletions: list[Deletion],
    *,
    source: str,
    batch_id: str,
    fetched: int,
    first_row: int,
) -> PreparedChunk:
    """Arrow tables of one chunk; `records[i]` is row `first_row + i` of its file."""
    hashes = [_record_hash(r) for r in records]
    table = (
        records_table(records)
        .append_column("content_hash", pa.array(hashes, pa.string()))
        .append_column(FILE_ROW, pa.array(range(first_row, first_row + len(records)), pa.int64()))
    )
    return PreparedChunk(
        source=source,
        batch_id=batch_id,
        fetched=fetched,
        rows=table,
        payloads=_payloads_table(
            source, hashes, [r.raw if r.raw is not None else b"" for r in records]
        ),
        deletions=_deletions_table(deletions),
    )


def finish_chunk(
    chunk: PreparedChunk,
    *,
    failed: dict[int, list[str]],
    superseded: set[int],
    summaries: list[ValidationSummary],
) -> PreparedBatch:
    """The batch to apply once the whole file is validated: records that failed a critical
    expectation (`failed`, by file row) go to quarantine (`row_in_batch` is then the row in
    the file), and records that a later record of the same id in the file supersedes
    (`superseded`) are recorded as superseded versions, not loaded."""
    rows = chunk.rows.column(FILE_ROW).to_pylist()
    keep = [row not in failed and row not in superseded for row in rows]
    # A superseded copy is never validated (the file's last copy of an id is), so none fails.
    replaced = [row in superseded for row in rows]
    bad = [index for index, row in enumerate(rows) if row in failed]
    source_ids = chunk.rows.column("source_id").to_pylist()
    hashes = chunk.rows.column("content_hash").to_pylist()
    return PreparedBatch(
        source=chunk.source,
        batch_id=chunk.batch_id,
        fetched=chunk.fetched,
        records=kept(chunk.rows, keep).drop_columns([FILE_ROW]),
        payloads=chunk.payloads,
        deletions=chunk.deletions,
        quarantine=_quarantine_table(
            [source_ids[i] for i in bad],
            [rows[i] for i in bad],  # the record's row in its file
            [failed[rows[i]] for i in bad],
            [hashes[i] for i in bad],
        ),
        summaries=summaries,
        superseded=(
            chunk.rows.filter(pa.array(replaced, pa.bool_()))
            .select(SUPERSEDED_SCHEMA.names)
            .cast(SUPERSEDED_SCHEMA)
            if any(replaced)
            else SUPERSEDED_SCHEMA.empty_table()
        ),
    )


def merge_batches(batches: list[PreparedBatch]) -> PreparedBatch:
    """Consecutive prepared batches of one source as one (named after the first). Their
    records carry each id once (a file's superseded copies were set aside by validation)."""
    first = batches[0]
    if len(batches) == 1:
        return first
    return PreparedBatch(
        source=first.source,
        batch_id=first.batch_id,
        fetched=sum(b.fetched for b in batches),
        records=pa.concat_tables([b.records for b in batches]),
        payloads=pa.concat_tables([b.payloads for b in batches]),
        deletions=pa.concat_tables([b.deletions for b in batches]),
        quarantine=pa.concat_tables([b.quarantine for b in batches]),
        summaries=[s for b in batches for s in b.summaries],
        superseded=pa.concat_tables([b.superseded for b in batches]),
    )


def kept(table: pa.Table, keep: list[bool]) -> pa.Table:
    """`table`'s rows where `keep` is true; `table` itself when all are, the usual case, since
    a filter copies every column (whole batches of records, twice per batch of a bulk load)."""
    return table if all(keep) else table.filter(pa.array(keep, pa.bool_()))
