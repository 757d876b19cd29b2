"""Spooled chunks read back as written, and without their payloads when a pass needs none
(the loader's second pass: DuckDB holds what it scans until its row group is written)."""

from __future__ import annotations

from schemas.record import Deletion
from tests.records_factory import make_record
from warehouse.spool import read_chunk, spool_chunk
from warehouse.store import PAYLOADS_SCHEMA, decode_payload, prepare_chunk


def test_a_chunk_reads_back_whole_or_without_its_payloads(tmp_path):
    records = [make_record(7), make_record(8, title="Second")]
    chunk = prepare_chunk(
        records,
        [Deletion("pubmed", "9")],
        source="pubmed",
        batch_id="file:pubmed26n0001.xml.gz",
        fetched=3,
        first_row=100,
    )
    path = tmp_path / "pubmed26n0001.xml.gz.0000.spool"
    spool_chunk(chunk, path)

    whole = read_chunk(path)
    assert whole.rows.equals(chunk.rows)
    assert whole.deletions.equals(chunk.deletions)
    assert whole.payloads.equals(chunk.payloads)
    assert [
        decode_payload("zstd", p, n)
        for p, n in zip(
            whole.payloads.column("payload").to_pylist(),
            whole.payloads.column("raw_bytes").to_pylist(),
            strict=True,
        )
    ] == [r.raw for r in records]
    assert (whole.source, whole.batch_id, whole.fetched) == (
        "pubmed",
        "file:pubmed26n0001.xml.gz",
        3,
    )

    bare = read_chunk(path, payloads=False)
    assert bare.rows.equals(chunk.rows)
    assert bare.deletions.equals(chunk.deletions)
    assert bare.payloads.num_rows == 0
    assert bare.payloads.schema == PAYLOADS_SCHEMA


def test_a_chunk_read_back_maps_its_buffers_instead_of_copying_them(tmp_path):
    """The writer reads every spooled record twice; its large Arrow buffers are the mapped
    file's pages (the old in-band pickle allocated a copy of each, then Arrow wrapped it)."""
    import tracemalloc

    records = [make_record(n, title="T" * 2000) for n in range(500)]
    chunk = prepare_chunk(records, [], source="pubmed", batch_id="file:x", fetched=500, first_row=0)
    path = tmp_path / "x.0000.spool"
    spool_chunk(chunk, path)
    tracemalloc.start()
    try:
        whole = read_chunk(path)
        allocated, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert whole.rows.equals(chunk.rows)
    assert whole.payloads.equals(chunk.payloads)
    assert whole.rows.nbytes > 1_000_000
    # Small buffers are read (a mapping costs more than copying them): a fraction of the size.
    assert allocated < (whole.rows.nbytes + whole.payloads.nbytes) / 4, allocated
