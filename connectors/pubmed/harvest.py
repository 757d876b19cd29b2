"""The incremental sync of a standing PubMed query as a `connectors.harvest.Harvest`: the window
by date (`datetype`: edat, mdat or pdat), slices planned under PubMed's paging limit, efetch pages
checkpointed by the slices already loaded. Paging (slices, retstart) stays here."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from pydantic import SecretStr

from connectors.harvest import HarvestPage, HttpSettings, Note, Outlook, Payload, Window
from connectors.http import PoliteSession
from connectors.pubmed.client import EutilsClient, QuerySlice
from connectors.pubmed.parse import iter_pubmed_records

__all__ = [
    "EARLIEST",
    "SOURCE",
    "EutilsSettings",
    "PubmedHarvest",
    "eutils_client",
    "plan_window",
    "sync_scope",
]

SOURCE = "pubmed"
EARLIEST = dt.date(1781, 1, 1)  # before the oldest PubMed record: "from the beginning"


class EutilsSettings(HttpSettings, Protocol):
    """What the E-utilities sync is configured with (`flows.settings.Settings` has it)."""

    @property
    def eutils_url(self) -> str: ...

    @property
    def ncbi_api_key(self) -> SecretStr | None: ...

    @property
    def ncbi_tool(self) -> str: ...

    @property
    def ncbi_email(self) -> str: ...

    @property
    def eutils_batch_size(self) -> int: ...

    @property
    def pubmed_datetype(self) -> str: ...


def eutils_client(settings: EutilsSettings) -> EutilsClient:
    """A client on its own polite session, at NCBI's rate for the key (10/s with one, else 3)."""
    api_key = settings.ncbi_api_key
    session = PoliteSession(
        source="PubMed E-utilities",
        requests_per_second=10.0 if api_key else 3.0,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
        secrets=[api_key.get_secret_value()] if api_key else [],
    )
    return EutilsClient(
        settings.eutils_url,
        tool=settings.ncbi_tool,
        email=settings.ncbi_email,
        api_key=api_key,
        session=session,
        batch_size=settings.eutils_batch_size,
    )


def sync_scope(query: str, datetype: str) -> str:
    """The sync_state key of one standing query."""
    return f"eutils:{datetype}:{query}"


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def plan_window(
    query: str,
    since: str | None,
    until: str | None,
    watermark: str | None,
    checkpoint: Mapping[str, Any] | None,
    *,
    today: dt.date | None = None,
) -> Window:
    """The window of a run: `since` (else the watermark, inclusive, else the beginning) to
    `until` (else today). An interrupted window is resumed exactly; `resume` is then the keys
    of the slices it loaded. A backfill of an older window does not move the watermark."""
    maxdate = _date(until) or today or dt.date.today()
    mindate = _date(since) or _date(watermark) or EARLIEST
    done: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    if checkpoint and checkpoint.get("unfinished"):
        # Loads are idempotent, so re-fetching the slice that was in progress duplicates nothing.
        mindate = dt.date.fromisoformat(checkpoint["mindate"])
        maxdate = dt.date.fromisoformat(checkpoint["maxdate"])
        done = tuple(checkpoint.get("done", []))
        notes = (
            (
                logging.INFO,
                f"resuming {query} {mindate}..{maxdate}: {len(done)} slices already loaded",
            ),
        )
    stored = _date(watermark)
    given = _date(since)
    joins = given is None or stored is None or given <= stored
    watermark_after = watermark
    if joins:
        watermark_after = max(filter(None, [maxdate, stored])).isoformat()
    return Window(
        mindate.isoformat(), maxdate.isoformat(), watermark, watermark_after, joins, done, notes
    )


class PubmedHarvest:
    """The sync of `query` (see `flows.pubmed.pubmed_sync`)."""

    source = SOURCE
    kind = "eutils-sync"
    name = title = "PubMed sync"
    summary_key = "pubmed-sync-summary"

    def __init__(
        self,
        settings: EutilsSettings,
        *,
        query: str,
        since: str | None = None,
        until: str | None = None,
        client: EutilsClient | None = None,
    ) -> None:
        self.query, self.since, self.until = query, since, until
        self.datetype = settings.pubmed_datetype
        self.scope = sync_scope(query, self.datetype)
        self.subject = repr(query)
        self.progress_label = f"PubMed {query!r}"
        self.client = client or eutils_client(settings)
        self._slices: list[QuerySlice] = []
        self._expected = 0

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        return plan_window(self.query, self.since, self.until, watermark, checkpoint)

    def run_parameters(self, window: Window) -> dict[str, Any]:
        return {
            "query": self.query,
            "since": window.since,
            "until": window.until,
            "datetype": self.datetype,
        }

    def prepare(self, window: Window) -> Outlook:
        """Split the query into slices of at most 10,000 hits (PubMed's paging limit)."""
        mindate, maxdate = _window_dates(window)
        self._slices = self.client.plan_slices(
            self.query, mindate=mindate, maxdate=maxdate, datetype=self.datetype
        )
        self._expected = sum(s.count for s in self._slices if s.key not in window.resume)
        note = (
            f"{self.query}: {self._expected} records in {len(self._slices)} slices "
            f"({mindate}..{maxdate}, {self.datetype})"
        )
        return Outlook(self._expected, (note,))

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        base = {
            "unfinished": True,
            "query": self.query,
            "datetype": self.datetype,
            "mindate": window.since,
            "maxdate": window.until,
        }
        finished = list(window.resume)
        for query_slice in self._slices:
            if query_slice.key in finished:
                continue
            for page in self.client.iter_pages(query_slice):
                if page.retstart + page.count >= query_slice.count:  # the slice's last page
                    finished = [*finished, query_slice.key]
                batch_id = f"efetch:{query_slice.key}:{page.retstart}"
                yield HarvestPage(
                    Payload(iter_pubmed_records, f"efetch {batch_id}", page.body),
                    page.count,
                    batch_id,
                    {**base, "done": finished},
                    expected=self._expected,
                )

    def completed(self, window: Window) -> str | None:
        return window.watermark_after

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        return {
            "query": f"`{self.query}`",
            "window": f"{window.since}..{window.until} ({self.datetype})",
        }

    def result(self, window: Window) -> dict[str, Any]:
        return {}

    def describe_error(self, error: BaseException) -> str:
        return str(error)


def _window_dates(window: Window) -> tuple[dt.date, dt.date]:
    assert window.since is not None and window.until is not None
    return dt.date.fromisoformat(window.since), dt.date.fromisoformat(window.until)
