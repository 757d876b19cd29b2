"""A Crossref public-data-file part (`{"items": [...]}`) is read work by work (issue 15): a
part larger than the document cap loads, memory holds a piece and a work, and a cut or
broken part is refused naming the work, as the whole-document decoder refused it."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from connectors.crossref import iter_crossref_records
from connectors.crossref.items import ITEMS_OPENING, OPENING_PEEK, ItemsReader
from connectors.payload import PayloadTooLargeError, open_payload
from schemas.errors import MalformedPayloadError

PAGES = [f"crossref/habanero__works_cursor_page{n}.json" for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def real_works(fixtures_dir: Path) -> list[dict[str, Any]]:
    works = []
    for page in PAGES:
        works += json.loads((fixtures_dir / page).read_bytes())["message"]["items"]
    assert len(works) == 60
    return works


def _part(works: list[dict[str, Any]], *, indent: int | None = None) -> bytes:
    return json.dumps({"items": works}, ensure_ascii=False, indent=indent).encode()


def _fingerprint(records: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.source_id, r.title, len(r.authors), r.raw, r.unreadable, r.dropped) for r in records]


def test_a_part_past_the_document_cap_streams_to_the_same_records(
    real_works: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    many = [dict(w, DOI=f"{w['DOI']}.{copy}") for copy in range(40) for w in real_works]
    part = _part(many, indent=1)  # ~4 MB, non-ASCII text across the 1 MiB pieces
    expected = _fingerprint(list(iter_crossref_records(json.dumps(many).encode(), origin="a")))
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", str(256 << 10))
    assert len(part) > 16 * (256 << 10)
    assert _fingerprint(list(iter_crossref_records(part, origin="part"))) == expected
    assert _fingerprint(list(iter_crossref_records(gzip.compress(part), origin="gz"))) == expected
    # An API page of the same size is one document: refused at the cap, as before.
    page = json.dumps({"message-type": "work-list", "message": {"items": many}}).encode()
    with pytest.raises(PayloadTooLargeError, match="BIBLIODUCK_MAX_DOCUMENT_BYTES"):
        list(iter_crossref_records(page, origin="page"))


def test_memory_holds_a_piece_and_a_work_not_the_part(real_works: list[dict[str, Any]]) -> None:
    many = [dict(w, DOI=f"{w['DOI']}.{copy}") for copy in range(400) for w in real_works]
    raw = _part(many)
    part = gzip.compress(raw)  # 24,000 works
    del many
    tracemalloc.start()
    try:
        with open_payload(part, "part") as stream:
            stream.read(ITEMS_OPENING.match(stream.peek(OPENING_PEEK)).end())  # type: ignore[union-attr]
            count = sum(1 for _ in ItemsReader(stream, "part"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 24_000
    # json.loads of the whole part holds it as text and ~5x its size in objects; here a few
    # 1 MiB pieces (bytes, text, the text joined to the rest of a work) and one work.
    assert len(raw) > 40 << 20
    assert peak < 16 << 20, f"{peak:,} bytes"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"items": [{"DOI": "10.1/a"}, {"DOI": "10.1/b"', "the file ends inside work 1"),
        (b'{"items": [{"DOI": "10.1/a"}, {"DOI": "10.1/', "the file ends inside work 1"),
        (b'{"items": [{"DOI": "10.1/a"}, {"ok": fals', "the file ends inside work 1"),
        (b'{"items": [{"DOI": "10.1/a"},', "ends inside the items list"),
        (b'{"items": [{"DOI": "10.1/a"}, {"DOI": 10.1/b}, {}]}', "work 1 is not JSON"),
        (b'{"items": [{"DOI": "10.1/a"} {"DOI": "10.1/b"}]}', "expected ',' or ']' after work 0"),
        (b'{"items": [{"DOI": "10.1/a"}, 12]}', "work 1 is a JSON int"),
        (b'{"items": [{"DOI": "10.1/a"}]]', "after the items list"),
        (b'{"items": [{"DOI": "10.1/a"}], "next": }', "after the items list"),
        (b'{"items": [', "ends inside the items list"),
    ],
)
def test_a_cut_or_broken_part_is_refused_naming_the_work(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayloadError, match=message):
        list(iter_crossref_records(body, origin="part.json"))


def test_members_after_the_items_and_an_empty_part_are_fine() -> None:
    body = b'\xef\xbb\xbf {"items" : [ {"DOI": "10.1/A", "type": "other"} ], "x": [1, {"y": 2}]}'
    assert [r.source_id for r in iter_crossref_records(body, origin="p")] == ["10.1/a"]
    assert list(iter_crossref_records(b'{"items": []}', origin="p")) == []


def test_a_broken_work_is_refused_without_reading_the_rest() -> None:
    # A syntax error far from the end of what is read is broken JSON, not a work cut by a
    # piece boundary: refused at once, not after reading on to the file cap.
    tail = b", ".join([b'{"DOI": "10.1/x"}'] * 200_000)
    body = b'{"items": [{"DOI": "10.1/a", "x": tru}, ' + tail + b"]}"
    with pytest.raises(MalformedPayloadError, match="work 0 is not JSON"):
        list(iter_crossref_records(body, origin="p"))


def test_one_work_past_the_document_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", str(1 << 20))
    huge = json.dumps({"DOI": "10.1/x", "abstract": "a" * (3 << 20)}).encode()
    with pytest.raises(PayloadTooLargeError, match="work 0 is more than 1,048,576 bytes"):
        list(iter_crossref_records(b'{"items": [' + huge + b"]}", origin="p"))


def test_whitespace_past_the_document_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", str(1 << 20))
    bomb = gzip.compress(b'{"items": [' + b" " * (8 << 20) + b"]}")
    with pytest.raises(PayloadTooLargeError, match="bytes of whitespace between two works"):
        list(iter_crossref_records(bomb, origin="p"))
