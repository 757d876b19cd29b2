"""A Crossref REST API emulator (`/works` with cursors and filters, `/works/{doi}`) as a WSGI app
over a corpus of work dicts (the demo's is `sandbox.crossref_corpus`), with deterministic faults
from a `sandbox.faults.FaultPlan`: every request is counted under the key "works" (so "works"
and "any" number the same requests), `Fault.expire()` kills every live cursor before the
request is answered, and a faulted status has no other effect (a cursor is not advanced).

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
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from sandbox.faults import Fault, FaultPlan, RecordedRequest, RequestLog, respond

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["CrossrefEmulator", "ManualClock", "work_list_envelope"]

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
        faults: what to break, and when (requests counted under "works"; also `self.faults`).
        rate_limit: (limit, interval) announced as x-rate-limit-limit/-interval, e.g. (50, "1s").
        concurrency_limit: announced as x-concurrency-limit.
        enforce_rate_limit: answer 429 to requests arriving faster than the announced rate
            (they are counted in `rate_violations` either way).
        rate_limit_retry_after: the Retry-After of those 429s (None: no header).
        cursor_max_uses: a cursor dies after serving this many continuation pages (the
            `cursor=*` page does not count); None: never.
        cursor_ttl: a cursor dies when `clock` moved more than this many seconds since its last
            use; None: never.
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
        rate_limit_retry_after: str | None = "1",
        cursor_max_uses: int | None = None,
        cursor_ttl: float | None = None,
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
        self.rate_limit_retry_after = rate_limit_retry_after
        self.cursor_max_uses = cursor_max_uses
        self.cursor_ttl = cursor_ttl
        self.clock = clock or ManualClock()
        self._log = RequestLog()
        self.rate_violations = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._scrolls: dict[str, _Scroll] = {}
        self._scroll_count = 0
        self._last_arrival: float | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        return self._log.entries()

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

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        path = request.path
        params = {name: request.args.getlist(name) for name in request.args}
        number, fault = self.faults.take("works", method=request.method)
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            too_fast = self._too_fast(arrived)
            self._last_arrival = arrived
        try:
            status, headers, body = self._answer(fault, path, params, environ, too_fast)
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
        self._log.record(
            request, key="works", number=number, arrived=arrived, status=status, fault=fault
        )
        return respond(environ, start_response, status, headers, body, fault, reasons=_REASONS)

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
        fault: Fault | None,
        path: str,
        params: dict[str, list[str]],
        environ: WSGIEnvironment,
        too_fast: bool,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if fault is not None and fault.kind == "expire":
            self.expire_cursors()
        if fault is not None and fault.kind == "answer":
            content_type = fault.content_type or "text/plain"
            return fault.status, [("content-type", content_type), *fault.headers], fault.body or b""
        injected, retry_after = None, self.rate_limit_retry_after
        if fault is not None and fault.replaces_answer:
            injected, retry_after = fault.status, fault.retry_after
        elif too_fast and self.enforce_rate_limit:
            injected = 429
        if injected is not None:
            headers = [("content-type", "text/plain")]
            if retry_after is not None:
                headers.append(("retry-after", retry_after))
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
        if self.cursor_max_uses is not None and scroll.uses >= self.cursor_max_uses:
            return True
        return self.cursor_ttl is not None and (
            self.clock.now() - scroll.last_used > self.cursor_ttl
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
