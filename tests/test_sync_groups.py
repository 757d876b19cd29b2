"""How syncs take their pages: fetched ahead by a thread of their own (in order, errors raised
after the pages before them, fetching stops when the sync does) and loaded in groups of about
`records` records, a group ending early after a page with deletions."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from flows.tasks import Fetched, in_groups, prefetched


def _pages(sizes: list[int], deletions_at: frozenset[int] = frozenset()) -> list[Fetched[int]]:
    return [
        Fetched(number, size, f"page:{number}", None, ends_group=number in deletions_at)
        for number, size in enumerate(sizes)
    ]


def test_pages_group_by_records_and_a_page_with_deletions_ends_its_group():
    pages = _pages([40, 40, 40, 10, 60, 5], deletions_at=frozenset({3}))
    groups = [[f.page for f in group] for group in in_groups(pages, records=100)]
    assert groups == [[0, 1, 2], [3], [4, 5]]


def test_a_slow_source_commits_a_group_after_its_seconds():
    groups = list(in_groups(_pages([1, 1, 1]), records=100, seconds=0.0))
    assert [[f.page for f in group] for group in groups] == [[0], [1], [2]]


def test_prefetched_pages_come_in_order_from_another_thread():
    fetched_by: set[str] = set()

    def source() -> Iterator[int]:
        for number in range(100):
            fetched_by.add(threading.current_thread().name)
            yield number

    assert list(prefetched(source(), ahead=3)) == list(range(100))
    assert fetched_by == {"prefetch-pages"}


def test_an_error_of_the_source_comes_after_the_pages_before_it():
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("page 3 failed")

    seen = []
    with pytest.raises(ConnectionError, match="page 3 failed"):
        for page in prefetched(source(), ahead=10):
            seen.append(page)
    assert seen == [1, 2]


def test_fetching_stops_when_the_sync_stops():
    fetched = []

    def source() -> Iterator[int]:
        for number in range(1_000):
            fetched.append(number)
            yield number

    pages = prefetched(source(), ahead=2)
    assert next(pages) == 0
    pages.close()  # the sync stopped (an error while loading, say): the thread has ended
    assert len(fetched) <= 4
    assert not any(t.name == "prefetch-pages" for t in threading.enumerate())


def test_a_group_carrying_an_id_twice_loads_the_last_copy_and_records_the_earlier(
    warehouse_location,
):
    """Issue 15, item 4: two pages of one sync group with the same record (a source that
    updated it between pages) end as one row, and the earlier copy as a 'superseded' version
    with its payload, never dropped silently. The task is handed the warehouse's handle."""
    from dataclasses import dataclass

    from flows import pipeline
    from flows.tasks import load_page
    from schemas.batch import StateUpdate
    from tests.records_factory import make_record
    from warehouse.store import Warehouse, content_hash

    @dataclass(frozen=True)
    class Group:
        pages: tuple[list[pipeline.Item], ...]

        def items(self) -> list[pipeline.Item]:
            return [item for page in self.pages for item in page]

    earlier, later = make_record(3, title="Before"), make_record(3, title="After")
    state = StateUpdate("pubmed", "eutils:mdat:q", "2026-11-01", None)
    with Warehouse(warehouse_location) as warehouse:
        run_id = warehouse.start_run("pubmed", "test", {})
        outcome = load_page(
            warehouse.handle,
            Group(([earlier, make_record(4)], [later])),
            batch_id="efetch:q:0",
            run_id=run_id,
            state=state,
            max_failed_fraction=0.5,
            source="pubmed",
        )
        assert (outcome.counts.fetched, outcome.counts.inserted) == (3, 2)
        assert warehouse.con.execute(
            "SELECT source_id, title FROM source_records ORDER BY 1"
        ).fetchall() == [("3", "After"), ("4", "A title")]
        assert warehouse.con.execute(
            "SELECT change, content_hash, batch_id FROM record_versions "
            "WHERE source_id = '3' ORDER BY change"
        ).fetchall() == [
            ("insert", content_hash(later.raw), "efetch:q:0"),
            ("superseded", content_hash(earlier.raw), "efetch:q:0"),
        ]
        assert warehouse.raw_payload(content_hash(earlier.raw)) == earlier.raw
        assert warehouse.state("pubmed", "eutils:mdat:q") == ("2026-11-01", None)
