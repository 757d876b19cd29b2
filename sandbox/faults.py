"""The emulator kit every sandbox server shares: one way to make requests misbehave (`Fault`,
`FaultPlan`), one request log (`RecordedRequest`, `RequestLog`) and one way to send an answer,
whole or broken (`respond`: delays, short bodies, truncation, chunking, TCP resets).

A plan is a list of rules. A rule names a key (what the emulator counts requests by: an
E-utilities endpoint, an OAI verb, a file name, or "works" for Crossref) or "any" (every
request, whatever its key), and a fault to apply either to numbered requests (`at`, counted
from 1 per key) or to the next `times` requests from now (`next`; `times=None`: every one).

    plan = FaultPlan()
    plan.at("efetch", 3, 7, fault=Fault.http_status(503))           # efetch #3 and #7
    plan.next("efetch", Fault.rate_limited(retry_after="1"))        # the next efetch from now
    plan.next("any", Fault.reset_mid_body(), times=2)               # the next two requests
    plan.next("pubmed26n1334.xml.gz", Fault.short_body(after_bytes=20_000))  # cut the next GET
    plan.next("pubmed26n1334.xml.gz.md5", Fault.wrong_md5(), times=None)      # lie for ever

The emulator calls `take(key)` once per request and gets the request's number and its fault.
Rules for the key come before rules for "any"; among those, the first added wins. A fault that
only touches a body (a reset, a short or truncated body) is never taken by a HEAD request.
Thread-safe and deterministic: the Nth request is the Nth the emulator received.
"""

from __future__ import annotations

import http
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from sandbox.server import ABORT_CONNECTION

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "ANY",
    "Fault",
    "FaultPlan",
    "RecordedRequest",
    "RequestLog",
    "request_params",
    "respond",
    "status_line",
]

ANY = "any"

# How a body goes out: whole; "short_body" (full Content-Length announced, part sent, clean
# close); "reset" (part sent, then a TCP reset); "truncated" (part sent with a Content-Length
# that matches it: only a check of the payload sees it); "chunked" (no Content-Length, 1 KiB
# chunks). "Part" is `after_bytes`, or half the body when that is None.
_DELIVERIES = ("whole", "short_body", "reset", "truncated", "chunked")
_BODY_ONLY = frozenset({"short_body", "reset", "truncated"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One way to misbehave on one request. Build with the class methods.

    `kind` says what the emulator does instead of (or before) its normal answer, and is what the
    request log records: "status" (an error page of the emulator's own style), "rate_limit"
    (a 429 as the source sends it), "answer" (exactly `status`, `body`, `content_type`,
    `headers`), "expire" (the server-side state the request names - WebEnv, resumption token,
    cursors - expires first), "wrong_md5" and "ignore_range" (the NLM file server's sidecar lies;
    `Range` is ignored), or a delivery ("reset", "short_body", "truncated") applied to the
    normal answer."""

    kind: str
    status: int = 200
    body: bytes | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    retry_after: str | None = None
    delivery: str = "whole"
    after_bytes: int | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.delivery not in _DELIVERIES:
            raise ValueError(f"unknown delivery {self.delivery!r}")
        if self.after_bytes is not None and self.after_bytes < 0:
            raise ValueError("after_bytes must be >= 0")

    @classmethod
    def http_status(cls, status: int, *, retry_after: str | None = None) -> Fault:
        """Answer `status` with the emulator's error page (and `Retry-After` when given)."""
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def rate_limited(cls, *, retry_after: str = "0") -> Fault:
        """Answer 429 as the source does when its rate limit is exceeded."""
        return cls("rate_limit", status=429, retry_after=retry_after)

    @classmethod
    def answer(
        cls,
        status: int,
        body: bytes = b"ok",
        *,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        delivery: str = "whole",
        delay: float = 0.0,
    ) -> Fault:
        """Answer exactly this (an HTML maintenance page, a JSON error with HTTP 200…),
        delivered as `delivery` says, after `delay` seconds."""
        return cls(
            "answer",
            status=status,
            body=body,
            content_type=content_type,
            headers=tuple((headers or {}).items()),
            delivery=delivery,
            delay=delay,
        )

    @classmethod
    def reset_mid_body(cls, *, after_bytes: int | None = None) -> Fault:
        """Send the headers and part of the normal body (half by default), then a TCP reset."""
        return cls("reset", delivery="reset", after_bytes=after_bytes)

    @classmethod
    def short_body(cls, *, after_bytes: int | None = None) -> Fault:
        """Announce the full Content-Length, send part of the body (half by default), close
        cleanly."""
        return cls("short_body", delivery="short_body", after_bytes=after_bytes)

    @classmethod
    def truncated(cls) -> Fault:
        """Send half the normal body with a Content-Length that matches it: HTTP sees nothing
        wrong, only a check of the payload can."""
        return cls("truncated", delivery="truncated")

    @classmethod
    def expire(cls) -> Fault:
        """Expire the server-side state this request relies on before answering it."""
        return cls("expire")

    @classmethod
    def wrong_md5(cls) -> Fault:
        """A checksum sidecar answers a well-formed but wrong digest."""
        return cls("wrong_md5")

    @classmethod
    def ignore_range(cls) -> Fault:
        """A file is answered with 200 and all its bytes, whatever `Range` asked."""
        return cls("ignore_range")

    @property
    def replaces_answer(self) -> bool:
        """Whether the emulator answers the fault instead of the request."""
        return self.kind in ("status", "rate_limit", "answer")


@dataclass(slots=True)
class _Rule:
    key: str
    fault: Fault
    numbers: set[int] | None  # None: a countdown of `remaining` requests
    remaining: int | None = None  # None with numbers None: for ever


class FaultPlan:
    """Which requests misbehave (see the module's docstring). Methods return the plan, to chain."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._rules: list[_Rule] = []

    def at(self, key: str, *numbers: int, fault: Fault) -> FaultPlan:
        """Make the requests with these numbers (1-based, per key; over all for "any")
        misbehave."""
        if not numbers or min(numbers) < 1:
            raise ValueError("request numbers start at 1")
        with self._lock:
            self._rules.append(_Rule(key, fault, set(numbers)))
        return self

    def next(self, key: str, fault: Fault, *, times: int | None = 1) -> FaultPlan:
        """Make the next `times` requests for `key` (from now on) misbehave; None: all of them."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        with self._lock:
            self._rules.append(_Rule(key, fault, None, times))
        return self

    def count(self, key: str) -> int:
        """How many requests `key` ("any" for all) has received so far."""
        with self._lock:
            return self._counts.get(key, 0)

    def take(self, key: str, *, method: str = "GET") -> tuple[int, Fault | None]:
        """Count one request for `key`; its number (per key) and its fault, if any (the
        emulator's side of the plan)."""
        with self._lock:
            number = self._counts[key] = self._counts.get(key, 0) + 1
            overall = number if key == ANY else self._counts.get(ANY, 0) + 1
            self._counts[ANY] = overall
            ordered = [(key, number)] if key == ANY else [(key, number), (ANY, overall)]
            for rule_key, rule_number in ordered:
                fault = self._pop(rule_key, rule_number, method)
                if fault is not None:
                    return number, fault
            return number, None

    def _pop(self, key: str, number: int, method: str) -> Fault | None:
        for rule in self._rules:
            if rule.key != key or (method == "HEAD" and rule.fault.delivery in _BODY_ONLY):
                continue
            if rule.numbers is not None:
                if number not in rule.numbers:
                    continue
                rule.numbers.discard(number)
                if not rule.numbers:
                    self._rules.remove(rule)
            elif rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
            return rule.fault
        return None


# ---------------------------------------------------------------------------------------------
# The request log
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as an emulator saw it. `key` is what the fault plan counted it by and `number`
    its number there; `arrived` is `time.monotonic()` on arrival; `query` and `form` keep every
    value of repeated parameters; `fault` is the kind of the fault it met, if any."""

    key: str
    number: int
    method: str
    path: str
    query_string: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    arrived: float
    status: int
    fault: str | None

    @property
    def endpoint(self) -> str:
        """The key, named as the E-utilities and OAI-PMH emulators count (endpoint, verb)."""
        return self.key

    @property
    def params(self) -> dict[str, list[str]]:
        """The query-string parameters (as the Crossref emulator calls them)."""
        return self.query

    @property
    def user_agent(self) -> str | None:
        """The User-Agent header, if sent."""
        return self.headers.get("User-Agent")

    @property
    def range_header(self) -> str | None:
        """The Range header as sent (None when absent)."""
        return self.headers.get("Range")

    @property
    def name(self) -> str:
        """The last path segment (a file name, `NAME.md5`, or a directory name)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def param(self, name: str) -> str | None:
        """The first value of `name` from the form, else from the query string."""
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else None


class RequestLog:
    """Every request an emulator received, in the order they were logged. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def record(
        self,
        request: Request,
        *,
        key: str,
        number: int,
        arrived: float,
        status: int,
        fault: Fault | None,
    ) -> None:
        """Log what a werkzeug request carried (every emulator logs the same facts)."""
        form = {name: request.form.getlist(name) for name in request.form}
        entry = RecordedRequest(
            key=key,
            number=number,
            method=request.method,
            path=request.path,
            query_string=request.query_string.decode("latin-1"),
            query={name: request.args.getlist(name) for name in request.args},
            form=form,
            headers=dict(request.headers.items()),
            body=b"" if form else request.get_data(),
            arrived=arrived,
            status=status,
            fault=fault.kind if fault is not None else None,
        )
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[RecordedRequest]:
        """A copy of the log."""
        with self._lock:
            return list(self._entries)


# ---------------------------------------------------------------------------------------------
# Answers, whole or broken
# ---------------------------------------------------------------------------------------------


def request_params(request: Request) -> dict[str, list[str]]:
    """Parameters from the query string and a form body merged (every value of repeated ones),
    as the E-utilities and OAI-PMH servers read them."""
    params: dict[str, list[str]] = {}
    for source in (request.args, request.form):
        for name in source:
            params.setdefault(name, []).extend(source.getlist(name))
    return params


def status_line(status: int, reasons: Mapping[int, str] | None = None) -> str:
    """`200 OK`: the reason from `reasons`, else the standard phrase, else "Status"."""
    reason = (reasons or {}).get(status)
    if reason is None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
    return f"{status} {reason}"


def respond(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes | Iterable[bytes],
    fault: Fault | None = None,
    *,
    reasons: Mapping[int, str] | None = None,
) -> Iterable[bytes]:
    """Start the response and return its body, delivered as `fault` says (whole without one).
    `headers` carry the true Content-Length; a truncation rewrites it, chunking drops it."""
    delivery = fault.delivery if fault is not None else "whole"
    if fault is not None and fault.delay:
        time.sleep(fault.delay)
    announced = _content_length(headers)
    if delivery == "truncated":
        whole = body if isinstance(body, bytes) else b"".join(body)
        body = whole[: _part(fault, len(whole))]
        headers = _with_length(headers, len(body))
    elif delivery == "chunked":
        whole = body if isinstance(body, bytes) else b"".join(body)
        headers = _with_length(headers, None)
        body = [whole[i : i + 1024] for i in range(0, len(whole), 1024)]
    start_response(status_line(status, reasons), headers)
    chunks: Iterable[bytes] = [body] if isinstance(body, bytes) else body
    if delivery in ("short_body", "reset") and announced is not None:
        return _cut(environ, chunks, _part(fault, announced), announced, fault)
    return chunks


def _part(fault: Fault | None, size: int) -> int:
    if fault is None or fault.after_bytes is None:
        return size // 2
    return min(size, fault.after_bytes)


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value)
    return None


def _with_length(headers: list[tuple[str, str]], length: int | None) -> list[tuple[str, str]]:
    kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return kept if length is None else [*kept, ("Content-Length", str(length))]


def _cut(
    environ: WSGIEnvironment,
    chunks: Iterable[bytes],
    limit: int,
    announced: int,
    fault: Fault | None,
) -> Iterator[bytes]:
    """The first `limit` bytes of `chunks`; then, for a reset, a TCP reset. A clean cut simply
    ends the body early: werkzeug closes every connection after a response, so the client sees
    fewer bytes than Content-Length announced."""
    sent = 0
    try:
        for chunk in chunks:
            if sent >= limit:
                break
            piece = chunk[: limit - sent]
            sent += len(piece)
            if piece:
                yield piece
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if (
        fault is not None
        and fault.delivery == "reset"
        and (sent < announced or fault.after_bytes is None)
    ):
        environ[ABORT_CONNECTION] = True
        # Werkzeug treats ConnectionError from the body as a dropped connection (no error
        # log); the server's handler then closes the socket with an RST (see sandbox.server).
        raise ConnectionResetError("sandbox: connection reset on purpose")


def html_fault_answer(fault: Fault) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a web site sends for `fault` in place of a page (status, headers, body): its own
    answer, or a short HTML page of the status, with Retry-After where the fault has one."""
    headers = list(fault.headers)
    if fault.retry_after is not None:
        headers.append(("Retry-After", fault.retry_after))
    if fault.kind == "answer":
        if fault.content_type is not None:
            headers.append(("Content-Type", fault.content_type))
        return fault.status, headers, fault.body or b""
    headers.append(("Content-Type", "text/html; charset=utf-8"))
    return fault.status, headers, f"<html><body>{fault.status}</body></html>".encode()
