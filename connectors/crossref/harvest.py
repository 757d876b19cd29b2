"""The incremental `/works` sync of Crossref by update (deposit) date as a
`connectors.harvest.Harvest`: the window (`plan_window`), the filters a sync may take
(`checked_filters`), the client on its polite session (`crossref_client`), and the pages with
their checkpoints. Cursors stay here, and so does the check that the last cursor delivered
every work it announced (else `RestartWindow`: the window is read again)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from connectors.crossref.client import WORK_FILTERS, Checkpoint, CrossrefClient
from connectors.crossref.parse import SOURCE, iter_crossref_records
from connectors.harvest import (
    HarvestPage,
    HttpSettings,
    Note,
    Outlook,
    Payload,
    RestartWindow,
    Window,
)
from connectors.http import PoliteSession
from schemas.errors import FatalError

__all__ = [
    "POLITE_REQUESTS_PER_SECOND",
    "PUBLIC_REQUESTS_PER_SECOND",
    "WINDOW_FILTERS",
    "CrossrefHarvest",
    "CrossrefSettings",
    "checked_filters",
    "crossref_client",
    "plan_window",
    "sync_scope",
]

# The window of a sync is set by `since`/`until`; filters that would move it are refused.
WINDOW_FILTERS = frozenset(
    {"from-update-date", "until-update-date", "from-index-date", "until-index-date"}
)
# Crossref's polite pool allows 10 requests/s (the public pool 5); the rate its answers announce
# lowers this, never raises it.
POLITE_REQUESTS_PER_SECOND = 10.0
PUBLIC_REQUESTS_PER_SECOND = 5.0


class CrossrefSettings(HttpSettings, Protocol):
    """What the Crossref client is configured with (`flows.settings.Settings` has it)."""

    @property
    def crossref_url(self) -> str: ...

    @property
    def crossref_mailto(self) -> str | None: ...

    @property
    def ncbi_email(self) -> str: ...

    @property
    def crossref_rows(self) -> int: ...


def crossref_client(settings: CrossrefSettings) -> CrossrefClient:
    """A client on its own polite session, identified by the configured contact address."""
    mailto = settings.crossref_mailto or settings.ncbi_email
    session = PoliteSession(
        source="Crossref REST API",
        requests_per_second=POLITE_REQUESTS_PER_SECOND if mailto else PUBLIC_REQUESTS_PER_SECOND,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    )
    return CrossrefClient(session, base_url=settings.crossref_url, mailto=mailto)


def sync_scope(filters: Mapping[str, str], query: str | None) -> str:
    """The sync_state key of one standing harvest: its filters (sorted) and query."""
    chosen = ",".join(f"{name}:{filters[name]}" for name in sorted(filters))
    return f"works:filter={chosen};query={query or ''}"


def checked_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """The filters of a sync as strings; raises `FatalError` for unknown names and for the
    date filters that `since`/`until` own. (The CLI calls it before starting a flow.)"""
    chosen = {str(k): str(v) for k, v in (filters or {}).items()}
    window = sorted(set(chosen) & WINDOW_FILTERS)
    if window:
        raise FatalError(
            f"Crossref sync: filter(s) {', '.join(window)} set the sync window; "
            "use since/until (--since/--until) instead"
        )
    unknown = sorted(set(chosen) - WORK_FILTERS)
    if unknown:
        raise FatalError(
            f"Crossref sync: unknown /works filter(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(WORK_FILTERS - WINDOW_FILTERS))
        )
    return chosen


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FatalError(
            f"Crossref sync: {name} must be a date (YYYY-MM-DD), not {value!r}"
        ) from None


def plan_window(
    since: str | None,
    until: str | None,
    watermark: str | None,
    checkpoint: Mapping[str, Any] | None,
    *,
    label: str,
    today: dt.date | None = None,
) -> Window:
    """The window of a run from its parameters and the scope's stored state (`resume`: the
    interrupted run's `Checkpoint`, or None).

    An interrupted run is resumed when no window is given, or the same one. The watermark
    never moves backwards, and moves only when the window joins on to it and starts no later
    than an interrupted window it replaces: otherwise the next incremental sync would skip
    what lies before this window."""
    stored = _date(watermark, "the stored watermark")
    maxdate = _date(until, "until") or today or dt.date.today()
    mindate = _date(since, "since") or stored
    resume: Checkpoint | None = None
    replaces: tuple[str | None, str] | None = None
    if checkpoint and checkpoint.get("unfinished"):
        interrupted = (checkpoint["since"], checkpoint["until"])
        asked = (mindate.isoformat() if mindate else None, maxdate.isoformat())
        if (since is None and until is None) or interrupted == asked:
            mindate = _date(interrupted[0], "the checkpoint's since")
            maxdate = _date(interrupted[1], "the checkpoint's until") or maxdate
            resume = Checkpoint.from_state(checkpoint["resume"])
        else:
            replaces = interrupted
    if mindate is not None and mindate > maxdate:
        start = f"since {mindate}" if since else f"the watermark of {label} ({mindate})"
        raise FatalError(
            f"Crossref sync: {start} is after until {maxdate}; give since to backfill an "
            "older window"
        )
    joins = stored is None or mindate is None or mindate <= stored
    if replaces is not None and mindate is not None:
        replaced_since = _date(replaces[0], "the checkpoint's since")
        joins = joins and replaced_since is not None and mindate <= replaced_since
    watermark_after = watermark
    if joins:
        watermark_after = max(filter(None, [maxdate, stored])).isoformat()
    notes: list[Note] = []
    if resume is not None:
        notes.append(
            (
                logging.INFO,
                f"resuming {label} {mindate or 'the beginning'}..{maxdate} from "
                f"{resume.resume_from or 'the beginning'}",
            )
        )
    if replaces is not None:
        notes.append(
            (
                logging.WARNING,
                f"Crossref: not resuming the interrupted window {replaces[0] or 'the beginning'}"
                f"..{replaces[1]} of {label}; this run's window replaces it, and the watermark "
                f"stays at {watermark or 'the beginning'} unless this window covers it",
            )
        )
    return Window(
        mindate.isoformat() if mindate else None,
        maxdate.isoformat(),
        watermark,
        watermark_after,
        joins,
        resume,
        tuple(notes),
    )


class CrossrefHarvest:
    """The `/works` sync of `filters` and `query` (see `flows.crossref.crossref_sync`)."""

    source = SOURCE
    kind = "works-sync"
    name = title = "Crossref sync"
    summary_key = "crossref-sync-summary"

    def __init__(
        self,
        settings: CrossrefSettings,
        *,
        filters: Mapping[str, str] | None = None,
        since: str | None = None,
        until: str | None = None,
        query: str | None = None,
        client: CrossrefClient | None = None,
    ) -> None:
        self.filters = checked_filters(filters)
        self.query = query or None
        self.since, self.until = since, until
        self.scope = sync_scope(self.filters, self.query)
        self.label = self.subject = self.scope.removeprefix("works:")
        self.progress_label = f"Crossref {self.label}"
        self.rows = settings.crossref_rows
        self.client = client or crossref_client(settings)
        self.number = self.restarts = 0  # pages, and cursor restarts
        self._delivered = 0  # works the current cursor delivered
        self._announced: int | None = None  # works the current cursor announced

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        return plan_window(self.since, self.until, watermark, checkpoint, label=self.label)

    def run_parameters(self, window: Window) -> dict[str, Any]:
        resume: Checkpoint | None = window.resume
        return {
            "filters": self.filters,
            "query": self.query,
            "since": window.since,
            "until": window.until,
            "resume_from": resume.to_state()["resume_from"] if resume else None,
        }

    def prepare(self, window: Window) -> Outlook:
        return Outlook()

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        assert window.until is not None
        filters = {**self.filters, "until-update-date": window.until}
        if window.since is not None:
            filters["from-update-date"] = window.since
        base = {
            "unfinished": True,
            "filters": self.filters,
            "query": self.query,
            "since": window.since,
            "until": window.until,
        }
        seen = started_at = 0  # works fetched; when the current cursor started
        for page in self.client.iter_work_pages(
            filters=filters, query=self.query, rows=self.rows, resume=window.resume
        ):
            if page.restarts != self.restarts or self.number == 0:
                self.restarts, self._delivered, started_at = page.restarts, 0, seen
            self.number = page.number
            self._delivered += page.items
            self._announced = page.total_results
            seen += page.items
            yield HarvestPage(
                Payload(iter_crossref_records, f"{page.origin} (page {page.number})", page.body),
                page.items,
                f"works:{run_id}:{page.number}",
                {**base, "resume": page.checkpoint.to_state()},
                expected=started_at + (page.total_results or 0),
            )

    def completed(self, window: Window) -> str | None:
        shortfall = max(0, (self._announced or 0) - self._delivered)
        if shortfall:
            # A response lost after Crossref's scroll had advanced (a body cut off, retried by
            # the session) skips works no cursor can give again, and later pages moved the
            # checkpoint past them: read the whole window again (loads are idempotent).
            raise RestartWindow(
                f"Crossref sync of {self.label}: Crossref announced {self._announced} works "
                f"for the last cursor but delivered {self._delivered}; a response was lost "
                "after the cursor had advanced. Nothing loaded is lost and the watermark "
                f"stays at {window.watermark or 'the beginning'}: run the sync again to read "
                "the window again."
            )
        return window.watermark_after

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        return {
            "filters": f"`{self.label}`",
            "window": f"{window.since or 'the beginning'}..{window.until} (update date)",
            "pages": f"{self.number} ({self.restarts} cursor restarts)",
        }

    def result(self, window: Window) -> dict[str, Any]:
        return {"pages": self.number, "cursor_restarts": self.restarts}

    def describe_error(self, error: BaseException) -> str:
        return str(error)
