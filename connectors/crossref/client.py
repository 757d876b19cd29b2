"""Crossref REST API transport on the shared `PoliteSession`: `/works` deep paging by cursor,
resumable from a date watermark, and look-ups by DOI. Yields raw pages with their checkpoint;
turning them into records is `connectors.crossref.parse`.

How a harvest stays complete (see `CrossrefClient.iter_work_pages`):

- Every harvest pages through `/works` sorted ascending by the date its filters are about:
  `deposited` for `from-update-date`/`until-update-date` ("updated" is, per Crossref, the same
  as deposited), `indexed` for `from-index-date`/`until-index-date` (which also moves when a
  citation count changes). So after a page whose last work has date-time T, every work of an
  earlier day has been seen: restarting with `from-…-date` = T's day loses nothing.
- Cursors expire minutes after their last use (Crossref answers 404 `cursor-invalid`). The
  client then starts a new cursor from that watermark. The works of the watermark day that
  were already yielded come again: these are the only duplicates, and loads are idempotent by
  content hash.
- If the server ever returns works out of that order, the watermark stops advancing for the
  rest of the harvest (a restart then repeats more, but still loses nothing).
- Crossref's cursor is a server-side scroll: the same token comes back on every page and the
  server advances on each successful use. A response lost after the server advanced (a body
  cut off mid-way, retried by the session) therefore skips a page that no client can ask for
  again; `WorkPage.total_results` lets a caller compare what it counted with what Crossref
  announced.

Politeness: `mailto` goes in every query string and in the User-Agent (the polite pool). The
client has the session follow the rate Crossref announces (`x-rate-limit-limit` /
`x-rate-limit-interval`, never above the session's own; see
`PoliteSession.follow_rate_limit_headers`): the next request waits interval/limit seconds after
the previous answer. Requests are sent one at a time, which any `x-concurrency-limit` allows.
429 and 503 are retried by the session, honouring `Retry-After`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors.crossref.parse import (
    CrossrefApiError,
    CrossrefNotFoundError,
    CrossrefProblem,
    normalise_doi,
    read_api_error,
    read_work_list,
)
from connectors.http import FatalHttpError, HttpReply, PoliteSession, RateLimit
from schemas.errors import TransientError

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ROWS",
    "WORK_FILTERS",
    "Checkpoint",
    "CrossrefClient",
    "CursorRestartError",
    "RateLimit",
    "WorkPage",
    "WorkReply",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.crossref.org"
MAX_ROWS = 1000  # Crossref's ceiling for `rows`
WORK_FILTERS = frozenset(
    {
        "from-update-date",
        "until-update-date",
        "from-index-date",
        "until-index-date",
        "from-pub-date",
        "until-pub-date",
        "from-deposit-date",
        "until-deposit-date",
        "from-created-date",
        "until-created-date",
        "type",
        "issn",
        "isbn",
        "prefix",
        "member",
        "doi",
        "has-abstract",
        "has-references",
        "has-orcid",
        "has-funder",
        "funder",
        "update-type",
    }
)
# Which work field a date filter is about, and the filter that restarts a harvest there.
_WATERMARKS = {
    "deposited": ("from-update-date", ("from-update-date", "until-update-date")),
    "indexed": ("from-index-date", ("from-index-date", "until-index-date")),
}
_FAILED = re.compile(r'\s*\{"status"\s*:\s*"(?:failed|error)"')
_MESSAGE_TYPE = re.compile(r'"message-type"\s*:\s*"([^"]*)"')
_PROBLEM = re.compile(
    r'\{"type"\s*:\s*"(?P<type>[^"]*)"\s*,\s*"value"\s*:\s*"(?P<value>[^"]*)"'
    r'(?:\s*,\s*"message"\s*:\s*"(?P<message>[^"]*?)(?P<cut>\.\.\.$)?)?'
)

FilterValue = str | int | dt.date | Sequence[str | int | dt.date]


class CursorRestartError(TransientError):
    """The cursor kept expiring without the watermark moving: more works share one day than
    one cursor lives long enough to page through (or the service is struggling)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a harvest may resume without losing works.

    `date_field` is "deposited" (update-date harvests) or "indexed" (index-date harvests);
    `resume_from` is the day to restart at (inclusive; it re-reads that day); `max_seen` the
    greatest date-time of `date_field` seen so far (ISO text, for reports and the next sync's
    lower bound)."""

    date_field: str
    resume_from: dt.date | None
    max_seen: str | None = None

    @property
    def from_filter(self) -> str:
        """The filter that restarts a harvest at `resume_from`."""
        return _WATERMARKS[self.date_field][0]

    def to_state(self) -> dict[str, str | None]:
        """A JSON-ready form for the warehouse's sync state."""
        return {
            "date_field": self.date_field,
            "resume_from": self.resume_from.isoformat() if self.resume_from else None,
            "max_seen": self.max_seen,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Checkpoint:
        """The inverse of `to_state`."""
        field_name = state.get("date_field")
        if field_name not in _WATERMARKS:
            raise ValueError(f"not a Crossref checkpoint date field: {field_name!r}")
        resume = state.get("resume_from")
        return cls(
            date_field=str(field_name),
            resume_from=dt.date.fromisoformat(resume) if resume else None,
            max_seen=state.get("max_seen"),
        )


@dataclass(frozen=True, slots=True)
class WorkPage:
    """One `/works` page as Crossref sent it, with what a caller needs to commit it.

    `body` is the whole work-list response (decoded from gzip); `items` its number of works;
    `checkpoint` is safe to store once this page is loaded; `number` counts pages over the
    whole harvest (restarts included); `restarts` is how many new cursors were started before
    this page; `total_results` is Crossref's count for the current cursor's query."""

    body: bytes
    items: int
    checkpoint: Checkpoint
    number: int
    restarts: int
    total_results: int | None
    origin: str


@dataclass(frozen=True, slots=True)
class WorkReply:
    """The answer for one DOI: the `work` response body, or the reason there is none."""

    doi: str
    body: bytes | None
    problem: CrossrefNotFoundError | None = None

    @property
    def found(self) -> bool:
        """True when Crossref has the work (`body` is set)."""
        return self.body is not None


class _Progress:
    """A harvest's watermark, and the order check that makes it safe to claim.

    Pages must come in ascending order of the checkpoint's date field; while they do, the
    checkpoint moves to the day of the latest work seen. Once a page breaks the order, it
    stays where it is for the rest of the harvest."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self._previous: tuple[int, str] | None = None
        self._ordered = True

    def new_cursor(self) -> None:
        """A restarted cursor re-reads the watermark day: its first works are older."""
        self._previous = None

    def observe(self, items: Sequence[Mapping[str, Any]], origin: str) -> Checkpoint:
        """Take in one page's works; return the checkpoint that holds once it is loaded."""
        checkpoint = self.checkpoint
        keys = [key for item in items if (key := _date_key(item, checkpoint.date_field))]
        if not keys:
            return checkpoint
        in_order = keys == sorted(keys) and (self._previous is None or keys[0] >= self._previous)
        if self._ordered and not in_order:
            self._ordered = False
            log.warning(
                "Crossref: %s returned works out of %s order; the watermark stays at %s for "
                "the rest of this harvest",
                origin,
                checkpoint.date_field,
                checkpoint.resume_from or "the start",
            )
        latest = max(keys)
        self._previous = latest if self._previous is None else max(self._previous, latest)
        max_seen = max(filter(None, [checkpoint.max_seen, latest[1]]))
        resume_from = checkpoint.resume_from
        if self._ordered:
            day = _day_of(latest[1])
            resume_from = day if resume_from is None else max(resume_from, day)
        self.checkpoint = Checkpoint(checkpoint.date_field, resume_from, max_seen)
        return self.checkpoint


class CrossrefClient:
    """Crossref REST API client.

    Args:
        session: a `PoliteSession` used by this client alone: the client has it follow the
            rate limit Crossref announces, which is written into its `requests_per_second`
            (never above the value it started with).
        base_url: the API root (the sandbox emulator passes its own).
        mailto: the contact address of the polite pool, sent as `mailto=` and in the
            User-Agent. Crossref asks every client for one.
        max_restarts: new cursors allowed in a row without the watermark moving.
    """

    def __init__(
        self,
        session: PoliteSession,
        *,
        base_url: str = DEFAULT_BASE_URL,
        mailto: str | None = None,
        max_restarts: int = 3,
    ) -> None:
        if max_restarts < 0:
            raise ValueError("max_restarts must not be negative")
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._mailto = mailto.strip() if mailto and mailto.strip() else None
        self._max_restarts = max_restarts
        session.follow_rate_limit_headers()
        agent = session.user_agent
        if self._mailto is not None:
            agent = f"{agent} (mailto:{self._mailto})"
        else:
            log.warning(
                "Crossref: no mailto configured; requests go to the public pool, which is "
                "slower and less reliable than the polite pool"
            )
        self._headers = {"User-Agent": agent}

    @property
    def rate_limit(self) -> RateLimit:
        """The limits Crossref announced in its last answer's headers."""
        return self._session.rate_limit

    # -- /works ---------------------------------------------------------------------------

    def iter_work_pages(
        self,
        *,
        filters: Mapping[str, FilterValue] | None = None,
        query: str | None = None,
        rows: int = MAX_ROWS,
        resume: Checkpoint | None = None,
    ) -> Iterator[WorkPage]:
        """Page through `/works` by cursor, restarting expired cursors from the watermark.

        `filters` are Crossref `/works` filters (names in `WORK_FILTERS`; a sequence gives the
        filter several times, dates may be `datetime.date`); `query` is free text; `rows` the
        page size (1..1000). `resume` (a stored `Checkpoint`) moves the start of the
        watermark's date filter forward to its `resume_from`.

        Yields one `WorkPage` per non-empty page; the harvest ends when the current cursor
        has delivered Crossref's `total-results` works, or at an empty page.
        Raises `CursorRestartError` when cursors keep expiring without progress,
        `CrossrefApiError` when Crossref refuses the request (bad filter…), and the
        session's `TransientHttpError`/`FatalHttpError` for other failures."""
        if not 1 <= rows <= MAX_ROWS:
            raise ValueError(f"rows must be between 1 and {MAX_ROWS}, not {rows}")
        chosen = dict(filters or {})
        date_field, from_filter, start = _harvest_start(chosen, resume)
        progress = _Progress(Checkpoint(date_field, start, resume.max_seen if resume else None))
        url = f"{self._base_url}/works"
        cursor = "*"
        current_from = start
        number = restarts = stalled = scrolled = 0
        progress_mark = start
        while True:
            params = self._works_params(chosen, from_filter, current_from, query, rows, cursor)
            origin = f"Crossref {self._session.describe('GET', url, params=params)}"
            try:
                reply = self._get(url, params, origin)
            except CrossrefApiError as refusal:
                if cursor == "*" or not refusal.cursor_invalid:
                    raise
                resume_from = progress.checkpoint.resume_from
                if resume_from != progress_mark:
                    progress_mark, stalled = resume_from, 0
                if stalled >= self._max_restarts:
                    raise CursorRestartError(
                        f"{origin}: the cursor expired {stalled + 1} times in a row without "
                        f"getting past {resume_from or 'the start'}; narrow the filters (type, "
                        "prefix, member) or retry later"
                    ) from None
                stalled += 1
                restarts += 1
                current_from, cursor = resume_from, "*"
                progress.new_cursor()
                log.warning(
                    "Crossref: the cursor expired after page %d; starting a new one from %s "
                    "(the works of that day come again)",
                    number,
                    current_from or "the start",
                )
                continue
            work_list = read_work_list(reply.body, origin=origin)
            if not work_list.items:
                return
            scrolled = len(work_list.items) + (scrolled if cursor != "*" else 0)
            checkpoint = progress.observe(work_list.items, origin)
            number += 1
            yield WorkPage(
                body=reply.body,
                items=len(work_list.items),
                checkpoint=checkpoint,
                number=number,
                restarts=restarts,
                total_results=work_list.total_results,
                origin=origin,
            )
            # A cursor pages through a snapshot of `total-results` works: once they are all
            # seen the harvest is complete, without asking for the empty page (which a cursor
            # that died meanwhile could not give).
            if work_list.next_cursor is None or (
                work_list.total_results is not None and scrolled >= work_list.total_results
            ):
                return
            cursor = work_list.next_cursor

    def _works_params(
        self,
        filters: Mapping[str, FilterValue],
        from_filter: str,
        current_from: dt.date | None,
        query: str | None,
        rows: int,
        cursor: str,
    ) -> dict[str, str | int]:
        pairs: list[str] = []
        for name, value in filters.items():
            if name == from_filter:
                continue
            values: Sequence[str | int | dt.date] = (
                value if isinstance(value, list | tuple) else [value]  # type: ignore[list-item]
            )
            pairs.extend(f"{name}:{_filter_text(v)}" for v in values)
        if current_from is not None:
            pairs.insert(0, f"{from_filter}:{current_from.isoformat()}")
        date_field = next(f for f, (name, _) in _WATERMARKS.items() if name == from_filter)
        params: dict[str, str | int] = {}
        if pairs:
            params["filter"] = ",".join(pairs)
        if query:
            params["query"] = query
        params.update({"sort": date_field, "order": "asc", "rows": rows, "cursor": cursor})
        if self._mailto is not None:
            params["mailto"] = self._mailto
        return params

    # -- /works/{doi} ---------------------------------------------------------------------

    def works_by_doi(self, dois: Iterable[str]) -> Iterator[WorkReply]:
        """One `WorkReply` per DOI, in order: the `work` body, or `problem` set to a
        `CrossrefNotFoundError` when Crossref answers 404. Other failures raise (they would
        fail every DOI alike). A blank DOI raises `ValueError` when reached."""
        for given in dois:
            doi = normalise_doi(given)
            if doi is None:
                raise ValueError(f"not a DOI: {given!r}")
            url = f"{self._base_url}/works/{quote(doi, safe='/')}"
            params: dict[str, str | int] = {}
            if self._mailto is not None:
                params["mailto"] = self._mailto
            origin = f"Crossref {self._session.describe('GET', url, params=params)}"
            try:
                reply = self._get(url, params, origin)
            except CrossrefNotFoundError as missing:
                yield WorkReply(doi=doi, body=None, problem=missing)
                continue
            yield WorkReply(doi=doi, body=reply.body)

    # -- transport ------------------------------------------------------------------------

    def _get(self, url: str, params: Mapping[str, str | int], origin: str) -> HttpReply:
        try:
            return self._session.fetch("GET", url, params=params, headers=self._headers)
        except FatalHttpError as error:
            refusal = _refusal_of(error, origin)
            if refusal is not None:
                raise refusal from None
            raise


def _watermark_field(filters: Mapping[str, FilterValue]) -> str:
    about = [name for name, (_, names) in _WATERMARKS.items() if set(names) & set(filters)]
    if len(about) > 1:
        raise ValueError(
            "use either update-date or index-date filters, not both: a harvest follows one "
            "date to be resumable"
        )
    return about[0] if about else "deposited"


def _as_date(value: FilterValue | None, name: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None
    raise ValueError(f"{name} takes one date, not {value!r}")


def _filter_text(value: str | int | dt.date) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _date_key(item: Mapping[str, Any], date_field: str) -> tuple[int, str] | None:
    """(milliseconds, date-time text) of a work's `date_field`, None when it has none."""
    stamp = item.get(date_field)
    if not isinstance(stamp, dict):
        return None
    text = stamp.get("date-time")
    millis = stamp.get("timestamp")
    if not isinstance(text, str):
        return None
    if not isinstance(millis, int):
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        millis = int(when.timestamp() * 1000)
    return millis, text


def _day_of(date_time: str) -> dt.date:
    return dt.datetime.fromisoformat(date_time.replace("Z", "+00:00")).astimezone(dt.UTC).date()


def _refusal_of(
    error: FatalHttpError, origin: str
) -> CrossrefApiError | CrossrefNotFoundError | None:
    """What Crossref said in a refused request's body (the start the session keeps in
    `FatalHttpError.body`), as a typed error (None: unknown)."""
    if not error.body:
        return None
    text = error.body.decode("utf-8", "replace")
    refusal = read_api_error(text, origin=origin, status=error.status)
    if refusal is not None or not _FAILED.match(text):
        return refusal
    # A JSON error body cut short (the session keeps its first 64 KiB): take what can be read
    # of it.
    problems = [
        CrossrefProblem(kind, value, message + ("..." if cut else ""))
        for kind, value, message, cut in (
            (m.group("type"), m.group("value"), m.group("message") or "", m.group("cut"))
            for m in _PROBLEM.finditer(text)
        )
    ]
    kind = _MESSAGE_TYPE.search(text)
    return CrossrefApiError(origin, kind.group(1) if kind else None, problems, status=error.status)


def _harvest_start(
    chosen: Mapping[str, FilterValue], resume: Checkpoint | None
) -> tuple[str, str, dt.date | None]:
    """(date field, its from- filter, the first day) of a harvest: the filter's day, moved
    forward to a resumed checkpoint's. ValueError for unknown filters or a checkpoint about
    another date field."""
    unknown = sorted(set(chosen) - WORK_FILTERS)
    if unknown:
        raise ValueError(
            f"unknown Crossref /works filter(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(WORK_FILTERS))
        )
    date_field = _watermark_field(chosen)
    from_filter = _WATERMARKS[date_field][0]
    start = _as_date(chosen.get(from_filter), from_filter)
    if resume is not None:
        if resume.date_field != date_field:
            raise ValueError(
                f"the checkpoint is about {resume.date_field!r}, these filters about {date_field!r}"
            )
        if resume.resume_from is not None and (start is None or resume.resume_from > start):
            start = resume.resume_from
    return date_field, from_filter, start
