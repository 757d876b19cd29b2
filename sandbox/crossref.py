"""A Crossref REST API emulator (`/works` with cursors and filters, `/works/{doi}`) as a WSGI app
over a corpus of work dicts, with switchable deterministic faults; and the generated Crossref
demo corpus, part of which shares DOIs with the PubMed demo corpus.

Answers are shaped like the recorded ones in `fixtures/crossref/` (envelope keys in the same
order, the same error bodies, plain-text "Resource not found.", gzip when asked, the rate-limit
headers). Behaviour taken from the recordings:

- A cursor is a server-side scroll over a snapshot of the result: `cursor=*` starts one, every
  page answers with the same `next-cursor` token, each successful use advances it; paging ends
  with a page without items. A dead cursor answers 404 with the `cursor-invalid` JSON body.
- Update-date filters (`from-update-date`, `until-update-date`) and `sort=updated|deposited`
  are about the work's `deposited` date-time; index-date filters and `sort=indexed` about
  `indexed`; pub-date filters about `issued`. Dates are compared by day (UTC), inclusive.

Not from a recording (Crossref's exact text unknown): the bodies of injected 429/503 answers,
and the 400 bodies for bad filters, rows or sort values (shaped like the recorded
validation-failure body).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from lxml import etree

from sandbox.corpus import DEMO_FIRST_DAY, DEMO_LAST_DAY, demo_corpus

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "CrossrefEmulator",
    "FaultPlan",
    "ManualClock",
    "SeenRequest",
    "crossref_demo_corpus",
    "work_list_envelope",
]

NOT_FOUND_TEXT = b"Resource not found."
MAX_ROWS = 1000
DEFAULT_ROWS = 20
_FILTER_FIELDS = {
    "update": "deposited",
    "deposit": "deposited",
    "index": "indexed",
    "created": "created",
    "pub": "issued",
}
_SORT_FIELDS = {
    "updated": "deposited",
    "deposited": "deposited",
    "indexed": "indexed",
    "created": "created",
    "issued": "issued",
    "published": "issued",
    "score": None,
    "relevance": None,
}
_PLAIN_FILTERS = ("type", "issn", "prefix", "member", "doi")
_DATE_FILTER = re.compile(r"^(from|until)-(update|deposit|index|created|pub)-date$")
_WORD = re.compile(r"\w+")


# ---------------------------------------------------------------------------------------------
# Controls
# ---------------------------------------------------------------------------------------------


class ManualClock:
    """The emulator's notion of time for cursor expiry: moves only when a test says so."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current reading (seconds)."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        with self._lock:
            self._now += seconds


@dataclass
class FaultPlan:
    """Deterministic faults. Request numbers count every request the emulator receives, from 1.

    - `statuses`: request number → HTTP status to answer instead (429, 503…), with
      `retry_after` as the Retry-After header (None: no header). The request has no other
      effect: a cursor is not advanced by a faulted request.
    - `cursor_max_uses`: a cursor dies after serving this many continuation pages (the
      `cursor=*` page does not count).
    - `cursor_ttl`: a cursor dies when the `ManualClock` moved more than this many seconds
      since its last use.
    - `expire_cursors_at`: before answering these request numbers, every live cursor dies.
    """

    statuses: Mapping[int, int] = field(default_factory=dict)
    retry_after: str | None = "1"
    cursor_max_uses: int | None = None
    cursor_ttl: float | None = None
    expire_cursors_at: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the emulator saw it: `arrived` is `time.monotonic()` at arrival."""

    number: int
    method: str
    path: str
    params: dict[str, list[str]]
    user_agent: str | None
    arrived: float
    status: int


@dataclass
class _Scroll:
    items: list[dict[str, Any]]
    rows: int
    position: int
    uses: int
    last_used: float
    query: str | None


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------


class CrossrefEmulator:
    """A WSGI Crossref REST API over `works` (Crossref work dicts; DOIs matched ignoring case).

    Args:
        works: the corpus, in the emulator's natural (unsorted) order.
        faults: what to break, and when.
        rate_limit: (limit, interval) announced as x-rate-limit-limit/-interval, e.g. (50, "1s").
        concurrency_limit: announced as x-concurrency-limit.
        enforce_rate_limit: answer 429 to requests arriving faster than the announced rate
            (they are counted in `rate_violations` either way).
        clock: the clock cursor TTLs are measured on.

    `requests` records every request; `max_in_flight` the most requests served at once.
    """

    def __init__(
        self,
        works: Iterable[Mapping[str, Any]],
        *,
        faults: FaultPlan | None = None,
        rate_limit: tuple[int, str] = (50, "1s"),
        concurrency_limit: int = 3,
        enforce_rate_limit: bool = False,
        clock: ManualClock | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._works: dict[str, dict[str, Any]] = {}
        for work in works:
            self.put(work)
        self.faults = faults or FaultPlan()
        self.rate_limit = rate_limit
        self.concurrency_limit = concurrency_limit
        self.enforce_rate_limit = enforce_rate_limit
        self.clock = clock or ManualClock()
        self.requests: list[SeenRequest] = []
        self.rate_violations = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._scrolls: dict[str, _Scroll] = {}
        self._scroll_count = 0
        self._last_arrival: float | None = None

    # -- corpus and cursor control --------------------------------------------------------

    def put(self, work: Mapping[str, Any]) -> None:
        """Add or replace a work (by DOI): what a new deposit does."""
        with self._lock:
            self._works[str(work["DOI"]).lower()] = dict(work)

    def expire_cursors(self) -> None:
        """Kill every live cursor now (what a few idle minutes do to real ones)."""
        with self._lock:
            self._scrolls.clear()

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        arrived = time.monotonic()
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        with self._lock:
            number = len(self.requests) + 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            too_fast = self._too_fast(arrived)
            self._last_arrival = arrived
        try:
            status, headers, body = self._answer(number, path, params, environ, too_fast)
        finally:
            with self._lock:
                self._in_flight -= 1
        headers = self._common_headers(params, environ) + headers
        if (
            status == 200
            and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
            and _header_value(headers, "content-type") == "application/json"
        ):
            body = gzip.compress(body, mtime=0)
            headers.append(("content-encoding", "gzip"))
        headers.append(("content-length", str(len(body))))
        with self._lock:
            self.requests.append(
                SeenRequest(
                    number=number,
                    method=environ.get("REQUEST_METHOD", "GET"),
                    path=path,
                    params=params,
                    user_agent=environ.get("HTTP_USER_AGENT"),
                    arrived=arrived,
                    status=status,
                )
            )
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [body]

    def _too_fast(self, arrived: float) -> bool:
        limit, interval = self.rate_limit
        if self._last_arrival is None:
            return False
        spacing = _interval_seconds(interval) / limit
        # 2 ms of slack for scheduling noise between the client's clock and ours.
        too_fast = arrived - self._last_arrival < spacing - 0.002
        if too_fast:
            self.rate_violations += 1
        return too_fast

    def _common_headers(
        self, params: Mapping[str, list[str]], environ: WSGIEnvironment
    ) -> list[tuple[str, str]]:
        polite = bool(params.get("mailto")) or "mailto:" in environ.get("HTTP_USER_AGENT", "")
        limit, interval = self.rate_limit
        return [
            ("access-control-allow-origin", "*"),
            ("vary", "Accept-Encoding"),
            ("x-api-pool", "polite" if polite else "public"),
            ("x-concurrency-limit", str(self.concurrency_limit)),
            ("x-rate-limit-interval", interval),
            ("x-rate-limit-limit", str(limit)),
        ]

    def _answer(
        self,
        number: int,
        path: str,
        params: dict[str, list[str]],
        environ: WSGIEnvironment,
        too_fast: bool,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        faults = self.faults
        if number in faults.expire_cursors_at:
            self.expire_cursors()
        injected = faults.statuses.get(number)
        if injected is None and too_fast and self.enforce_rate_limit:
            injected = 429
        if injected is not None:
            headers = [("content-type", "text/plain")]
            if faults.retry_after is not None:
                headers.append(("retry-after", faults.retry_after))
            return injected, headers, _REASONS.get(injected, "Error").encode()
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return 405, [("content-type", "text/plain")], b"Method not allowed."
        if path.rstrip("/") == "/works":
            return self._list_works(params)
        if path.startswith("/works/"):
            return self._one_work(path[len("/works/") :], params)
        return 404, [("content-type", "text/plain")], NOT_FOUND_TEXT

    # -- /works/{doi} ---------------------------------------------------------------------

    def _one_work(
        self, doi: str, params: Mapping[str, list[str]]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if any(name == "query" or name.startswith("query.") for name in params):
            # Byte for byte the recorded answer (habanero__error_400_parameter_not_allowed).
            return _json_error(
                400,
                "validation-failure",
                "parameter-not-allowed",
                "query.*",
                "This route does not support field query parameters",
            )
        with self._lock:
            work = self._works.get(doi.lower())
        if work is None:
            return 404, [("content-type", "text/plain")], NOT_FOUND_TEXT
        message = {**work, "score": 1}
        document = {
            "status": "ok",
            "message-type": "work",
            "message-version": "1.0.0",
            "message": message,
        }
        return 200, [("content-type", "application/json")], _dumps(document)

    # -- /works ---------------------------------------------------------------------------

    def _list_works(
        self, params: Mapping[str, list[str]]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        rows_text = _last(params, "rows")
        rows = DEFAULT_ROWS
        if rows_text is not None:
            if not rows_text.isdigit() or not 0 <= int(rows_text) <= MAX_ROWS:
                return _json_error(
                    400,
                    "validation-failure",
                    "integer-not-valid",
                    rows_text,
                    f"Integer specified as {rows_text} but must be a positive integer less "
                    f"than or equal to {MAX_ROWS}.",
                )
            rows = int(rows_text)
        cursor = _last(params, "cursor")
        if cursor is not None and cursor != "*":
            return self._continue_scroll(cursor)
        selected = self._select(params)
        if isinstance(selected, tuple):
            return selected
        query = _last(params, "query")
        if cursor == "*":
            with self._lock:
                self._scroll_count += 1
                token = _cursor_token(self._scroll_count)
                scroll = _Scroll(selected, rows, 0, 0, self.clock.now(), query)
                self._scrolls[token] = scroll
                page = self._advance(scroll, counts_as_use=False)
            return _ok(work_list_envelope(page, len(selected), rows, query, next_cursor=token))
        offset_text = _last(params, "offset") or "0"
        offset = int(offset_text) if offset_text.isdigit() else 0
        page = [_scored(w, query) for w in selected[offset : offset + rows]]
        return _ok(work_list_envelope(page, len(selected), rows, query, start_index=offset))

    def _continue_scroll(self, token: str) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            scroll = self._scrolls.get(token)
            if scroll is not None and self._expired(scroll):
                del self._scrolls[token]
                scroll = None
            page = self._advance(scroll, counts_as_use=True) if scroll is not None else []
        if scroll is None:
            # The recorded body (habanero__error_404_cursor_invalid), with this token.
            return _json_error(
                404,
                "resource-failure",
                "cursor-invalid",
                token,
                "Cursor specified but it is invalid",
            )
        return _ok(
            work_list_envelope(
                page, len(scroll.items), scroll.rows, scroll.query, next_cursor=token
            )
        )

    def _expired(self, scroll: _Scroll) -> bool:
        faults = self.faults
        if faults.cursor_max_uses is not None and scroll.uses >= faults.cursor_max_uses:
            return True
        return faults.cursor_ttl is not None and (
            self.clock.now() - scroll.last_used > faults.cursor_ttl
        )

    def _advance(self, scroll: _Scroll, *, counts_as_use: bool) -> list[dict[str, Any]]:
        page = scroll.items[scroll.position : scroll.position + scroll.rows]
        scroll.position += len(page)
        scroll.uses += 1 if counts_as_use else 0
        scroll.last_used = self.clock.now()
        return [_scored(w, scroll.query) for w in page]

    def _select(
        self, params: Mapping[str, list[str]]
    ) -> list[dict[str, Any]] | tuple[int, list[tuple[str, str]], bytes]:
        """The works matching filter and query, in sort order; or an error answer."""
        conditions: dict[str, list[str]] = {}
        for text in params.get("filter", []):
            for part in text.split(","):
                name, _colon, value = part.partition(":")
                conditions.setdefault(name.strip(), []).append(value.strip())
        tests: list[Callable[[Mapping[str, Any]], bool]] = []
        for name, values in conditions.items():
            made = _filter_test(name, values)
            if isinstance(made, tuple):
                return made
            tests.append(made)
        words = [w.lower() for w in _WORD.findall(_last(params, "query") or "")]
        with self._lock:
            works = list(self._works.values())
        selected = [
            w for w in works if all(t(w) for t in tests) and (not words or _matches(w, words))
        ]
        sort = _last(params, "sort")
        if sort is not None:
            if sort not in _SORT_FIELDS:
                return _json_error(
                    400,
                    "validation-failure",
                    "sort-field-not-valid",
                    sort,
                    f"Sort field {sort} is not valid. Valid sort fields are: "
                    + ", ".join(sorted(_SORT_FIELDS)),
                )
            date_field = _SORT_FIELDS[sort]
            if date_field is not None:
                selected.sort(key=lambda w: (_stamp_key(w, date_field), w["DOI"].lower()))
                if _last(params, "order") == "desc":
                    selected.reverse()
        return selected


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of header `name` (case-insensitive) in a WSGI header list."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def work_list_envelope(
    items: Sequence[Mapping[str, Any]],
    total: int,
    rows: int,
    query: str | None,
    *,
    next_cursor: str | None = None,
    start_index: int = 0,
) -> dict[str, Any]:
    """A `work-list` response document with the recorded key order."""
    message: dict[str, Any] = {"facets": {}}
    if next_cursor is not None:
        message["next-cursor"] = next_cursor
    message["total-results"] = total
    message["items"] = list(items)
    message["items-per-page"] = rows
    message["query"] = {"start-index": start_index, "search-terms": query}
    return {
        "status": "ok",
        "message-type": "work-list",
        "message-version": "1.0.0",
        "message": message,
    }


def _ok(document: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    return 200, [("content-type", "application/json")], _dumps(document)


def _json_error(
    status: int, message_type: str, problem: str, value: str, text: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    document = {
        "status": "failed",
        "message-type": message_type,
        "message": [{"type": problem, "value": value, "message": text}],
    }
    return status, [("content-type", "application/json")], _dumps(document)


def _dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _scored(work: Mapping[str, Any], query: str | None) -> dict[str, Any]:
    return {**work, "score": 1.0 if query else 0.0}


def _cursor_token(number: int) -> str:
    # Base64 like the real scroll ids, starting with bytes that encode to "+/", which a client
    # must percent-encode (an unencoded "+" arrives as a space).
    return base64.b64encode(b"\xfb\xff\xbfbiblioduck-scroll-" + str(number).encode()).decode()


def _last(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _interval_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if match is None:
        raise ValueError(f"not an interval: {text!r}")
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2) or "s"]
    return float(match.group(1)) * unit


def _stamp_key(work: Mapping[str, Any], date_field: str) -> str:
    value = work.get(date_field)
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("date-time"), str):
        return value["date-time"]
    day = _day_of(value)
    return day.isoformat() if day else ""


def _day_of(value: Any) -> dt.date | None:
    """The (UTC) day of a Crossref date object: its date-time, else its full date-parts."""
    if not isinstance(value, dict):
        return None
    text = value.get("date-time")
    if isinstance(text, str):
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()
    parts = value.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        first = parts[0]
        if first[0] is None:
            return None
        return dt.date(int(first[0]), int(_at(first, 1) or 1), int(_at(first, 2) or 1))
    return None


def _at(values: list[Any], index: int) -> Any:
    return values[index] if len(values) > index else None


def _period(text: str, *, end: bool) -> dt.date:
    """The first (or last) day of "YYYY", "YYYY-MM" or "YYYY-MM-DD"."""
    parts = [int(p) for p in text.split("-")]
    if len(parts) == 3:
        return dt.date(*parts)
    if len(parts) == 2:
        first = dt.date(parts[0], parts[1], 1)
        if not end:
            return first
        following = dt.date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
        return following - dt.timedelta(days=1)
    if len(parts) == 1:
        return dt.date(parts[0], 12, 31) if end else dt.date(parts[0], 1, 1)
    raise ValueError(text)


def _filter_test(
    name: str, values: list[str]
) -> Callable[[Mapping[str, Any]], bool] | tuple[int, list[tuple[str, str]], bytes]:
    """A predicate for one filter (repeated values: any of them), or a 400 answer."""
    date_match = _DATE_FILTER.match(name)
    if date_match is not None:
        bound, kind = date_match.groups()
        try:
            days = [_period(v, end=bound == "until") for v in values]
        except ValueError:
            return _json_error(
                400,
                "validation-failure",
                "date-not-valid",
                ",".join(values),
                f"Date specified as {','.join(values)} but must be of the form YYYY, "
                "YYYY-MM or YYYY-MM-DD",
            )
        date_field = _FILTER_FIELDS[kind]

        def within(work: Mapping[str, Any]) -> bool:
            day = _day_of(work.get(date_field))
            if day is None:
                return False
            if bound == "from":
                return any(day >= limit for limit in days)
            return any(day <= limit for limit in days)

        return within
    if name in _PLAIN_FILTERS:
        wanted = {v.lower() for v in values}

        def matches(work: Mapping[str, Any]) -> bool:
            if name == "type":
                return str(work.get("type", "")).lower() in wanted
            if name == "issn":
                return any(str(i).lower() in wanted for i in work.get("ISSN", []))
            if name == "prefix":
                return str(work.get("prefix", "")).lower() in wanted
            if name == "member":
                return str(work.get("member", "")).lower() in wanted
            return str(work.get("DOI", "")).lower() in wanted

        return matches
    valid = sorted(
        [*_PLAIN_FILTERS, *(f"{b}-{k}-date" for k in _FILTER_FIELDS for b in ("from", "until"))]
    )
    return _json_error(
        400,
        "validation-failure",
        "filter-not-available",
        name,
        f"Filter {name} specified but there is no such filter for this route. Valid filters "
        f"for this route are: {', '.join(valid)}",
    )


def _matches(work: Mapping[str, Any], words: list[str]) -> bool:
    text = " ".join(
        [
            *work.get("title", []),
            *work.get("container-title", []),
            *(
                " ".join(str(p.get(k, "")) for k in ("given", "family", "name"))
                for p in work.get("author", [])
            ),
        ]
    ).lower()
    found = set(_WORD.findall(text))
    return all(word in found for word in words)


# ---------------------------------------------------------------------------------------------
# The demo corpus
# ---------------------------------------------------------------------------------------------

_SHARED_EVERY = 8  # every 8th PubMed demo record is also in Crossref (same DOI)
_OWN_WORKS = 100
_BURST_DAY = dt.date(2025, 3, 3)  # many deposits on one day: cursor restarts repeat a day

_PUBLISHERS = (
    ("10.1234", "312", "Example University Press"),
    ("10.5555", "7822", "Sandbox Scientific Publishing"),
    ("10.4321", "1965", "Loopback Academic"),
)
_GIVEN = ("Ana", "Björn", "Chidi", "Dana", "Élodie", "Farid", "Grete", "Hana", "Ivo", "Jun")
_FAMILY = ("Abara", "Berg", "Castro", "Dahl", "Eze", "Fischer", "Gómez", "Hoang", "Ito", "Jansen")
_TOPICS = (
    "graph neural networks",
    "soil microbiomes",
    "urban heat islands",
    "protein folding",
    "coral bleaching",
    "battery degradation",
    "language acquisition",
    "glacier retreat",
)
_SUBJECTS = ("General Medicine", "Computer Science Applications", "Ecology", "Biochemistry")
_FUNDERS = (
    ("10.13039/501100000780", "European Commission"),
    ("10.13039/100000001", "National Science Foundation"),
    (None, "Sandbox Foundation"),
)


def crossref_demo_corpus(seed: int = 20240102) -> list[dict[str, Any]]:
    """About 150 Crossref works, generated deterministically (the same on every call).

    Every 8th PubMed demo record (`sandbox.corpus.demo_corpus`) reappears here with the same
    DOI, title, journal, volume/issue/pages, authors and year, as Crossref would describe it;
    the others are books, chapters, proceedings papers, datasets, preprints, corrections and
    retractions (with `update-to`/`updated-by`), a SICI DOI, year-only and `[[null]]` dates,
    a family-only author, and one consortium paper with 1,200 authors. Deposit dates spread
    over the PubMed demo window; a dozen share one day."""
    rng = random.Random(seed)
    works = [_from_pubmed(rng, record.xml) for record in demo_corpus()[::_SHARED_EVERY]]
    works.extend(_own_works(rng, works))
    return works


def _stamp(moment: dt.datetime) -> dict[str, Any]:
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    return {
        "date-parts": [[moment.year, moment.month, moment.day]],
        "date-time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timestamp": int(moment.timestamp() * 1000),
    }


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
        seconds=rng.randrange(86400)
    )


def _demo_day(rng: random.Random) -> dt.date:
    return DEMO_FIRST_DAY + dt.timedelta(days=rng.randrange((DEMO_LAST_DAY - DEMO_FIRST_DAY).days))


def _lifecycle(rng: random.Random, deposited_day: dt.date) -> dict[str, Any]:
    """created ≤ deposited ≤ indexed, all inside the demo window."""
    deposited = _moment(rng, deposited_day)
    created = deposited - dt.timedelta(days=rng.randrange(0, 60), seconds=rng.randrange(3600))
    indexed = min(
        deposited + dt.timedelta(days=rng.randrange(0, 20), seconds=rng.randrange(86400)),
        dt.datetime.combine(DEMO_LAST_DAY, dt.time(23, 59, 59), tzinfo=dt.UTC),
    )
    created = max(created, dt.datetime.combine(DEMO_FIRST_DAY, dt.time(), tzinfo=dt.UTC))
    return {"created": _stamp(created), "deposited": _stamp(deposited), "indexed": _stamp(indexed)}


def _person(rng: random.Random, *, sequence: str, orcid: bool = False) -> dict[str, Any]:
    person: dict[str, Any] = {}
    if orcid:
        digits = "".join(str(rng.randrange(10)) for _ in range(15))
        person["ORCID"] = f"https://orcid.org/0000-{digits[3:7]}-{digits[7:11]}-{digits[11:15]}"
        person["authenticated-orcid"] = rng.random() < 0.5
    person.update(
        {
            "given": rng.choice(_GIVEN),
            "family": rng.choice(_FAMILY),
            "sequence": sequence,
            "affiliation": [{"name": f"Department of {rng.choice(_SUBJECTS)}, Sandbox University"}]
            if rng.random() < 0.6
            else [],
        }
    )
    return person


def _from_pubmed(rng: random.Random, xml: bytes) -> dict[str, Any]:
    """The Crossref description of a PubMed demo record (the same article)."""
    article = etree.fromstring(xml)
    doi = article.findtext(".//ArticleIdList/ArticleId[@IdType='doi']")
    title_element = article.find(".//ArticleTitle")
    # Crossref keeps inline markup in titles as given: <i>Candida auris</i>.
    title = (
        (title_element.text or "")
        + "".join(etree.tostring(child, encoding="unicode") for child in title_element)
        if title_element is not None
        else ""
    )
    journal = article.findtext(".//Journal/Title") or ""
    abbrev = article.findtext(".//Journal/ISOAbbreviation")
    issns = [
        ((e.get("IssnType") or "").lower(), e.text) for e in article.iterfind(".//Journal/ISSN")
    ]
    year = int(article.findtext(".//JournalIssue/PubDate/Year") or 2024)
    month_text = article.findtext(".//JournalIssue/PubDate/Month")
    month = _MONTHS.get((month_text or "")[:3].lower()) or (
        int(month_text) if month_text and month_text.isdigit() else None
    )
    authors = []
    for index, element in enumerate(article.iterfind(".//AuthorList/Author")):
        sequence = "first" if index == 0 else "additional"
        collective = element.findtext("CollectiveName")
        if collective:
            authors.append({"name": collective, "sequence": sequence, "affiliation": []})
            continue
        person: dict[str, Any] = {}
        orcid = element.findtext("Identifier[@Source='ORCID']")
        if orcid:
            person["ORCID"] = f"https://orcid.org/{orcid}"
            person["authenticated-orcid"] = False
        if element.findtext("ForeName"):
            person["given"] = element.findtext("ForeName")
        person["family"] = element.findtext("LastName")
        person["sequence"] = sequence
        person["affiliation"] = [
            {"name": _text_of(affiliation)}
            for affiliation in element.iterfind("AffiliationInfo/Affiliation")
        ]
        authors.append(person)
    abstract = " ".join(_text_of(e) for e in article.iterfind(".//Abstract/AbstractText"))
    pages = article.findtext(".//Pagination/MedlinePgn")
    parts = [year] + ([month] if month else [])
    deposited_day = _demo_day(rng)
    work: dict[str, Any] = {
        **_lifecycle(rng, deposited_day),
        "reference-count": 0,
        "publisher": "Sandbox Scientific Publishing",
        "issue": article.findtext(".//JournalIssue/Issue"),
        "DOI": doi,
        "type": "journal-article",
        "page": pages,
        "source": "Crossref",
        "is-referenced-by-count": rng.randrange(0, 400),
        "title": [title],
        "prefix": doi.split("/", 1)[0] if doi else None,
        "volume": article.findtext(".//JournalIssue/Volume"),
        "author": authors,
        "member": "7822",
        "container-title": [journal],
        "short-container-title": [abbrev] if abbrev else [],
        "language": "en",
        "issued": {"date-parts": [parts]},
        "published-print": {"date-parts": [parts]},
        "ISSN": [value for _kind, value in issns],
        "issn-type": [{"type": kind, "value": value} for kind, value in issns],
        "URL": f"https://doi.org/{doi}",
        "resource": {"primary": {"URL": f"https://publisher.example.org/{doi}"}},
    }
    if abstract:
        work["abstract"] = f"<jats:title>Abstract</jats:title><jats:p>{_escape(abstract)}</jats:p>"
    return {key: value for key, value in work.items() if value is not None}


def _text_of(element: etree._Element) -> str:
    return "".join(str(part) for part in element.itertext())


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _own_works(rng: random.Random, shared: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The works only Crossref has, one kind after another (see `crossref_demo_corpus`)."""
    kinds = (
        "journal-article",
        "book-chapter",
        "proceedings-article",
        "dataset",
        "posted-content",
        "journal-article",
    )
    made: list[dict[str, Any]] = []
    for index in range(_OWN_WORKS):
        prefix, member, publisher = _PUBLISHERS[index % len(_PUBLISHERS)]
        kind = kinds[index % len(kinds)]
        topic = rng.choice(_TOPICS)
        day = _BURST_DAY if index % 8 == 3 else _demo_day(rng)
        doi = f"{prefix}/demo.{2024 + index % 3}.{index:04d}"
        year = 2018 + rng.randrange(8)
        work: dict[str, Any] = {
            **_lifecycle(rng, day),
            "publisher": publisher,
            "DOI": doi,
            "type": kind,
            "source": "Crossref",
            "is-referenced-by-count": rng.randrange(0, 120),
            "prefix": prefix,
            "member": member,
            "language": "en",
            "URL": f"https://doi.org/{doi}",
            "resource": {
                "primary": {"URL": f"https://{publisher.split()[0].lower()}.example.org/{index}"}
            },
            "title": [f"{topic.capitalize()} in practice, part {index}"],
            "issued": {"date-parts": [[year, rng.randrange(1, 13), rng.randrange(1, 29)]]},
            "author": [
                _person(rng, sequence="first" if n == 0 else "additional", orcid=n == 0)
                for n in range(rng.randrange(1, 6))
            ],
        }
        _dress(rng, work, kind, index, topic, year, made, shared)
        made.append(work)
    _add_special_cases(rng, made)
    yield from made


def _dress(
    rng: random.Random,
    work: dict[str, Any],
    kind: str,
    index: int,
    topic: str,
    year: int,
    earlier: Sequence[Mapping[str, Any]],
    shared: Sequence[Mapping[str, Any]],
) -> None:
    """The fields particular to each kind of work."""
    if kind == "journal-article":
        work["container-title"] = ["Journal of Sandbox Studies"]
        work["short-container-title"] = ["J Sandbox Stud"]
        work["ISSN"] = ["1234-5679", "2345-678X"]
        work["issn-type"] = [
            {"type": "print", "value": "1234-5679"},
            {"type": "electronic", "value": "2345-678X"},
        ]
        work["volume"], work["issue"] = str(year - 2000), str(rng.randrange(1, 13))
        first = rng.randrange(1, 900)
        work["page"] = f"{first}-{first + rng.randrange(3, 25)}"
        work["subject"] = rng.sample(_SUBJECTS, 2)
        work["abstract"] = (
            "<jats:title>Abstract</jats:title><jats:sec><jats:title>Background</jats:title>"
            f"<jats:p>We studied {topic} with <jats:italic>care</jats:italic>.</jats:p>"
            "</jats:sec><jats:sec><jats:title>Results</jats:title>"
            f"<jats:p>Effects were small (p &lt; 0.05) in {rng.randrange(20, 900)} sites.</jats:p>"
            "</jats:sec>"
        )
        work["license"] = [
            {
                "start": {"date-parts": [[year, 1, 1]]},
                "content-version": "vor",
                "delay-in-days": 0,
                "URL": "https://creativecommons.org/licenses/by/4.0/",
            }
        ]
        funder_doi, funder_name = rng.choice(_FUNDERS)
        funder: dict[str, Any] = {
            "name": funder_name,
            "award": [f"AW-{rng.randrange(1000, 9999)}" for _ in range(rng.randrange(0, 3))],
        }
        if funder_doi:
            funder["DOI"] = funder_doi
        work["funder"] = [funder]
        cited = [*rng.sample(list(shared), 2), *earlier[-2:]]
        work["reference"] = [
            {"key": f"ref{n}", "doi-asserted-by": "crossref", "DOI": c["DOI"]}
            for n, c in enumerate(cited, 1)
        ] + [{"key": f"ref{len(cited) + 1}", "unstructured": f"Anonymous. Notes on {topic}. 1999."}]
        work["reference-count"] = len(work["reference"])
        if index % 12 == 5:
            work["subtitle"] = ["a <i>field</i> guide"]
    elif kind == "book-chapter":
        work["container-title"] = [f"Handbook of {topic.title()}"]
        work["ISBN"] = ["978-1-23456-789-7", "9781234567904"]
        work["isbn-type"] = [
            {"type": "print", "value": "978-1-23456-789-7"},
            {"type": "electronic", "value": "9781234567904"},
        ]
        work["issued"] = {"date-parts": [[year]]}  # books: year only
        work["editor"] = [_person(rng, sequence="first"), _person(rng, sequence="additional")]
        first = rng.randrange(1, 400)
        work["page"] = f"{first}-{first + 30}"
    elif kind == "proceedings-article":
        work["container-title"] = [f"Proceedings of the Sandbox Conference on {topic.title()}"]
        work["event"] = {"name": f"SandboxConf {year}", "location": "Loopback, Localhost"}
        if index % 4 == 2:
            work["issued"] = {"date-parts": [[None]]}
    elif kind == "dataset":
        work["institution"] = [{"name": "Sandbox Data Archive", "acronym": ["SDA"]}]
        work["description"] = f"Measurements of {topic} at {rng.randrange(3, 40)} stations."
        work["container-title"] = ["Sandbox Data Archive"]
    else:  # posted-content
        work["subtype"] = "preprint"
        work["group-title"] = "SandboxRxiv"
        work["posted"] = work["issued"]
        if earlier:
            target = rng.choice([w for w in earlier if w["type"] == "journal-article"] or earlier)
            work["relation"] = {
                "is-preprint-of": [
                    {"id-type": "doi", "id": target["DOI"], "asserted-by": "subject"}
                ]
            }


def _add_special_cases(rng: random.Random, works: list[dict[str, Any]]) -> None:
    """Corrections and a retraction of earlier works, a SICI DOI, a family-only author, the
    1,200-author consortium paper (replacing generated works, so the count stays fixed)."""
    articles = [w for w in works if w["type"] == "journal-article"]
    for position, (kind, label) in zip(
        (12, 42, 72),
        (("correction", "Correction"), ("retraction", "Retraction"), ("erratum", "Erratum")),
        strict=True,
    ):
        notice = works[position]
        target = articles[len(articles) - 1 - position // 10]
        notice["type"] = "journal-article"
        notice["title"] = [f"{label}: {target['title'][0]}"]
        notice["update-to"] = [
            {
                "updated": notice["deposited"],
                "DOI": target["DOI"],
                "type": kind,
                "source": "publisher",
                "label": label,
            }
        ]
        target.setdefault("updated-by", []).append(
            {
                "updated": notice["deposited"],
                "DOI": notice["DOI"],
                "type": kind,
                "source": "publisher",
                "label": label,
            }
        )
    sici = works[20]
    sici["DOI"] = "10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D"
    sici["URL"] = "https://doi.org/10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D"
    sici["prefix"] = "10.1002"
    sici["issued"] = {"date-parts": [[1997, 6]]}
    works[30]["author"] = [{"family": "Okonkwo", "sequence": "first", "affiliation": []}]
    consortium = works[48]
    consortium["type"] = "journal-article"
    consortium["title"] = ["Genome-wide analysis of sandbox phenotypes in 1,200 volunteers"]
    consortium["author"] = [
        {"name": "The Sandbox Genomes Consortium", "sequence": "first", "affiliation": []}
    ] + [_person(rng, sequence="additional", orcid=n % 10 == 0) for n in range(1199)]
