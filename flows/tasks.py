"""Prefect tasks every flow shares: load fetched pages (parse, validate, load), in groups. A
page's records are consumed inside its task (made there too, but for OAI-PMH pages, which
their client parses once while reading their resumption token); Prefect never walks them:
every task argument is handed over `quote`d (see `flows.orchestration`)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from prefect.cache_policies import NO_CACHE

from flows import pipeline
from flows.orchestration import tracked_task
from schemas.batch import StateUpdate
from warehouse.store import WarehouseHandle


class Page(Protocol):
    """What a connector fetched, not yet parsed: one page, or a few single-record answers."""

    def items(self) -> list[pipeline.Item]:
        """The page's records and deletions, parsed."""
        ...


P = TypeVar("P")

# A slow source (one OAI-PMH request a second) still commits its progress this often.
GROUP_SECONDS = 30.0
# Pages a sync fetches ahead of the one it loads (`prefetched`): a group's worth at most of
# the smallest pages (OAI-PMH's 100 records), a few MB.
PREFETCH_PAGES = 50


@dataclass(frozen=True, slots=True)
class Fetched(Generic[P]):
    """A page as a sync fetched it: its records (as the source counts them), where the sync
    stands once it is loaded (`state`), and whether it must end its group (`ends_group`: a
    page with deletions, which apply after the records of their batch)."""

    page: P
    records: int
    batch_id: str
    state: StateUpdate | None
    ends_group: bool = False


def in_groups(
    pages: Iterable[Fetched[P]], *, records: int, seconds: float = GROUP_SECONDS
) -> Iterator[list[Fetched[P]]]:
    """Consecutive pages in groups of about `records` records (`Settings.sync_group_records`:
    Great Expectations' cost is per call, ~0.13 s per suite, so 1,000-work Crossref pages
    spent 0.4 ms per work in it page by page), each loaded in one transaction with the state
    of its last page: a failed run resumes after the last group loaded, and loads nothing
    twice. A group also ends after `seconds`, and after a page with deletions."""
    group: list[Fetched[P]] = []
    counted = 0
    started = time.monotonic()
    for fetched in pages:
        if not group:
            started = time.monotonic()
        group.append(fetched)
        counted += fetched.records
        if counted >= records or fetched.ends_group or time.monotonic() - started >= seconds:
            yield group
            group, counted = [], 0
    if group:
        yield group


def prefetched(pages: Iterable[P], *, ahead: int) -> Iterator[P]:
    """`pages` in order, fetched by a thread of their own up to `ahead` pages ahead, so that a
    sync waits for its source while it validates and loads, not after. The fetching thread
    is the only one to use the source's session; an error it meets is raised here, in order,
    after the pages fetched before it; when the consumer stops early, it stops too."""
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=max(1, ahead))
    stopped = threading.Event()
    done = object()

    def offer(item: tuple[bool, Any]) -> bool:
        while not stopped.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not offer((True, page)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer((False, error))
            return
        offer((True, done))

    thread = threading.Thread(target=fetch, name="prefetch-pages", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stopped.set()
        thread.join()


@tracked_task(name="load-page", cache_policy=NO_CACHE)
def load_page(
    warehouse: WarehouseHandle,
    page: Page,
    *,
    batch_id: str,
    run_id: str,
    state: StateUpdate | None,
    max_failed_fraction: float,
    source: str,
) -> pipeline.BatchOutcome:
    """Parse one page (or a sync group of pages), validate it and load it, with `state`, in
    one transaction. The task is handed the warehouse's handle, never its live connection:
    it opens what it needs (the flow's own warehouse, when this process holds it open). An
    id the group carries twice loads its last copy; the earlier ones are recorded as
    superseded (`expectations.validate.superseded_rows`)."""
    with warehouse.open() as opened:
        return pipeline.process_items(
            opened,
            page.items(),
            source=source,
            batch_id=batch_id,
            run_id=run_id,
            state=state,
            max_failed_fraction=max_failed_fraction,
        )
