"""The polite HTTP session every connector uses, and the only place that talks HTTP: per-host
rate limit (shared by this machine's processes, optionally following the rate a service
announces in its headers), retries with backoff that honour `Retry-After`, timeouts, a
response-size cap, resumable downloads to a file, and secret redaction in logs and errors.

Only transient failures (429, 408, 500/502/503/504, dropped or reset connections, timeouts,
truncated bodies) are retried; they end in `TransientHttpError` when attempts run out. Every
other non-2xx answer raises `FatalHttpError` at once. Every URL, form and body snippet that is
logged or put in an exception goes through `redact` first.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import fcntl
import logging
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, quote_plus, urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from schemas.errors import FatalError, TransientError

__all__ = [
    "DOWNLOAD_CHUNK_BYTES",
    "RETRY_STATUSES",
    "FatalHttpError",
    "HostThrottle",
    "HttpReply",
    "PoliteSession",
    "RateLimit",
    "SecretRedactingFilter",
    "TransientHttpError",
    "host_throttle",
    "install_log_redaction",
    "redact",
    "redact_url",
    "register_secret",
]

log = logging.getLogger(__name__)

# 408 and 429 say "not now"; the 5xx listed say "the service or a proxy in front of it is
# struggling". Other 5xx (501 Not Implemented, 505…) do not get better by asking again.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

DEFAULT_USER_AGENT = f"biblioduck/0.1 python-requests/{requests.__version__}"
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
_SNIPPET_CHARS = 300
_ERROR_BODY_BYTES = 64 * 1024
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# A dropped download that still moved the file forward resets the failure count (a 30 MB file
# over a flaky link may need many resumes); this caps one request's attempts in total.
_TOTAL_ATTEMPTS_FACTOR = 4
_MASK = "***"

# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------

# Parameter names whose values are secrets. Matched as whole names: `query_key` (an NCBI
# history handle) is not `key`. `mailto`/`email` are contact identity, not secrets: kept visible.
SECRET_PARAM_NAMES = (
    "api_key",
    "api-key",
    "apikey",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "signature",
    "sig",
)
_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_PARAM_NAMES, key=len, reverse=True))
# name=value in query strings, form bodies and free text (`api_key=abc&…`, `token=abc `).
_PARAM_RE = re.compile(rf"(?i)(?<![\w-])({_NAMES})=([^&\s\"'<>;,()\[\]{{}}]*)")
# "name": "value" / 'name': 'value' in JSON and Python reprs (NCBI's 429 body has "api-key").
_QUOTED_RE = re.compile(rf"(?i)([\"'](?:{_NAMES})[\"']\s*:\s*[\"'])([^\"']*)([\"'])")
# Authorization headers as they appear in reprs and debug output.
_AUTH_RE = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)?\s*)([^\s\"',}]+)"
)
# user:password@ in URLs.
_USERINFO_RE = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)")

# Literal secret values, process-wide: the logging filter must know them without a reference
# to any session. Values shorter than this are not registered (they would mask ordinary text).
_MIN_SECRET_LENGTH = 4
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a literal secret (an API key…) so `redact` masks it wherever it appears, also in
    its URL-encoded forms. Process-wide and permanent: a secret stays masked once seen."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _SECRETS_LOCK:
        _SECRETS.update({value, quote(value, safe=""), quote_plus(value)})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secret values in arbitrary text: `name=value` pairs and quoted `"name": "value"`
    pairs for the secret parameter names, Authorization values, URL passwords, every registered
    secret and every value in `secrets`. E-mail addresses stay visible."""
    if not text:
        return text
    with _SECRETS_LOCK:
        literals = set(_SECRETS)
    for value in secrets:
        if value and len(value) >= _MIN_SECRET_LENGTH:
            literals.update({value, quote(value, safe=""), quote_plus(value)})
    # Longest first, so a secret is masked whole before any shorter encoded form of it.
    for value in sorted(literals, key=len, reverse=True):
        if value in text:
            text = text.replace(value, _MASK)
    text = _PARAM_RE.sub(lambda m: f"{m.group(1)}={_MASK}" if m.group(2) else m.group(0), text)
    text = _QUOTED_RE.sub(lambda m: f"{m.group(1)}{_MASK}{m.group(3)}", text)
    text = _AUTH_RE.sub(lambda m: f"{m.group(1)}{_MASK}", text)
    return _USERINFO_RE.sub(lambda m: f"{m.group(1)}{_MASK}{m.group(3)}", text)


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """A URL safe to print: secret query parameters and a userinfo password masked, the rest
    (including `email`/`mailto`) unchanged."""
    return redact(url, secrets)


class SecretRedactingFilter(logging.Filter):
    """Rewrites each log record's message (and formatted traceback) through `redact`.

    urllib3 logs the full request line at DEBUG (`"GET /path?api_key=… HTTP/1.1" 200`); this
    filter makes that safe. Logger filters do not apply to records propagated from child
    loggers, so `install_log_redaction` puts it on each logger that emits them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = SecretRedactingFilter()
_FILTERED_LOGGER_PREFIXES = ("urllib3", "requests", "connectors")
_KNOWN_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "requests",
    "connectors",
    __name__,
)


def install_log_redaction() -> None:
    """Attach the redacting filter to the urllib3/requests loggers and ours (idempotent)."""
    names = set(_KNOWN_LOGGERS)
    names.update(
        name
        for name in list(logging.root.manager.loggerDict)
        if name.split(".", 1)[0] in _FILTERED_LOGGER_PREFIXES
    )
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# ---------------------------------------------------------------------------------------------
# Rate limit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A rate limit a service announced in its response headers (None: not announced)."""

    limit: int | None = None
    interval: float | None = None  # seconds
    concurrency: int | None = None

    @property
    def requests_per_second(self) -> float | None:
        """limit / interval, when both are known."""
        if self.limit and self.interval:
            return self.limit / self.interval
        return None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit:
        """The limit in `X-Rate-Limit-Limit` / `X-Rate-Limit-Interval` (Crossref's, also spelt
        `X-RateLimit-…`) and `X-Concurrency-Limit`; unreadable values count as absent."""
        limit = _positive_int(headers.get("x-rate-limit-limit") or headers.get("x-ratelimit-limit"))
        interval = _interval_seconds(
            headers.get("x-rate-limit-interval") or headers.get("x-ratelimit-interval")
        )
        return cls(limit, interval, _positive_int(headers.get("x-concurrency-limit")))


_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _positive_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip()) or None


def _interval_seconds(value: str | None) -> float | None:
    """Seconds from an interval header ("1s"; also "500ms", "1m", a bare number)."""
    match = _INTERVAL_RE.match(value or "")
    if match is None:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()] or None


class HostThrottle:
    """Spaces request starts to one host: each request waits until `interval` seconds after the
    previous one began, whichever thread — or, with a `shared` file, whichever process on this
    machine — sent it (NCBI counts requests per second from one address or key, whatever the
    number of flows sending them). `answered` also counts the interval from an answer's
    arrival, for services whose announced limit is measured where they receive requests.

    A minimum interval rather than a token bucket: NCBI counts requests per second and a
    bucket's burst would overrun it. Slots are reserved under a lock (a thread lock, and an
    exclusive lock on the shared file holding the next free moment) and slept outside it, so
    concurrent callers queue in order without holding the lock while they wait."""

    def __init__(self, shared: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._shared = shared

    def _now(self) -> float:
        # Wall-clock time when processes share the slot (their monotonic clocks differ).
        return time.time() if self._shared is not None else time.monotonic()

    def wait(self, interval: float) -> float:
        """Block until this caller may start a request; returns the seconds waited."""
        with self._lock:
            now = self._now()
            slot = max(now, self._next_free)
            if self._shared is not None:
                mine = slot
                slot = _update_shared(
                    self._shared, now, interval, lambda reserved: max(mine, reserved) + interval
                )
                slot -= interval
            self._next_free = slot + interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)
        return delay

    def answered(self, interval: float) -> None:
        """An answer arrived now: the next request starts `interval` seconds after it at the
        earliest. (A client cannot know when its request reached the service, only that it had
        by the time the answer came back: this is the spacing the service sees at worst.)"""
        with self._lock:
            now = self._now()
            self._next_free = max(self._next_free, now + interval)
            if self._shared is not None:
                until = self._next_free
                self._next_free = _update_shared(
                    self._shared, now, interval, lambda reserved: max(until, reserved)
                )


def _update_shared(
    shared: Path, now: float, interval: float, update: Callable[[float], float]
) -> float:
    """Replace the next free moment the processes on this machine share in `shared` by
    `update(it)` and return the new value. Without a usable file (read-only, a full disk),
    `update` of nothing: this process's own view."""
    try:
        with open(shared, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            handle.seek(0)
            text = handle.read().strip()
            try:
                reserved = float(text) if text else 0.0
            except ValueError:
                reserved = 0.0
            # A slot far ahead is a stale file or a clock set back: not worth waiting for.
            if reserved - now > max(60.0, 10 * interval):
                reserved = 0.0
            value = update(reserved)
            handle.seek(0)
            handle.truncate()
            handle.write(repr(value).encode())
            handle.flush()
            return value
    except OSError as exc:
        log.warning("the shared request throttle %s is unusable (%s)", shared, exc)
    return update(0.0)


def _throttle_folder() -> Path:
    """Where the throttles shared by this machine's processes keep their next free moment."""
    configured = os.environ.get("BIBLIODUCK_THROTTLE_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"biblioduck-throttle-{os.getuid()}"


_THROTTLES: dict[str, HostThrottle] = {}
_THROTTLES_LOCK = threading.Lock()


def host_throttle(url: str) -> HostThrottle:
    """The throttle for the host (and port) of `url`, shared by this machine's processes."""
    parts = urlsplit(url)
    key = f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    with _THROTTLES_LOCK:
        throttle = _THROTTLES.get(key)
        if throttle is None:
            folder = _throttle_folder()
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                shared: Path | None = folder / re.sub(r"[^A-Za-z0-9.-]+", "_", key)
            except OSError as exc:
                log.warning("request throttles are per process: %s is unusable (%s)", folder, exc)
                shared = None
            throttle = _THROTTLES[key] = HostThrottle(shared)
        return throttle


# ---------------------------------------------------------------------------------------------
# Errors and replies
# ---------------------------------------------------------------------------------------------


class TransientHttpError(TransientError):
    """Retries ran out (or the server asked for a longer wait than the cap) on a transient
    failure. `status` is the last HTTP status (None for network errors)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.attempts = attempts


class FatalHttpError(FatalError):
    """A response that retrying will not fix: other 4xx, an over-size body, a bad URL, TLS.

    `body` is the start of a refused answer's body (at most 64 KiB, secrets masked; None when
    there was no answer), for callers that read the service's own error document."""

    def __init__(
        self, message: str, *, status: int | None = None, body: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete 2xx response (or, from `fetch(..., follow_redirects=False)`, a 3xx redirect
    with its `Location`): its status, headers, whole body, the redacted final URL and the
    number of attempts it took."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    attempts: int = 1


class _Retryable(Exception):
    """One attempt failed in a way worth retrying (internal to `PoliteSession._retrying`)."""

    def __init__(
        self,
        what: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        advice: str = "",
    ) -> None:
        super().__init__(what)
        self.what = what
        self.status = status
        self.retry_after = retry_after
        self.advice = advice


_ADVICE_RATE = (
    "The service is rate-limiting this client: lower requests_per_second (NCBI: 3/s, 10/s with "
    "an api_key), make sure no other process shares the limit, and retry later."
)
_ADVICE_SERVER = (
    "The service is failing or overloaded; run the same command again later: it resumes "
    "where it stopped"
)
_ADVICE_NETWORK = (
    "Check network access to the service and its status page; retry later, or raise the "
    "timeout if the service is slow."
)
_ADVICE_DOWNLOAD = "If it keeps failing, check the network and the service's status."


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date. None when
    absent or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------

Validator = Callable[[HttpReply], None]
_T = TypeVar("_T")
FormData = Mapping[str, str | int | Sequence[str]] | bytes | None


class PoliteSession:
    """HTTP for one source, polite by construction.

    Args:
        source: the human name of the source, used in every message ("PubMed E-utilities").
        requests_per_second: the most requests this process may start per second to any one
            host (shared by every session and thread talking to that host).
        max_attempts: attempts per request in total, the first included.
        backoff_base: the first retry waits up to this many seconds; each next one doubles it
            (full jitter: a uniformly random wait between 0 and the doubled value).
        backoff_cap: no single wait exceeds this; a `Retry-After` beyond it fails at once with
            `TransientHttpError` (sleeping for an hour inside a task helps no one).
        timeout: (connect, read) seconds; read is the longest silence between two reads.
        max_response_bytes: a larger (decoded) body fails with `FatalHttpError`.
        user_agent: sent on every request; sources that want contact details get them here.
        secrets: literal values masked wherever this module prints anything.
        rng: the jitter's random source (tests pass a seeded one).
        refusal_advice: what to tell a person when the service refuses a request with a given
            status (e.g. what a 404 means for this source), instead of the generic advice.
        follow_rate_headers: obey the rate the service announces in its response headers (see
            `follow_rate_limit_headers`).

    One retry policy for every request, `download` included: only transient failures (the
    `RETRY_STATUSES`, dropped or reset connections, timeouts, truncated bodies) are retried,
    with full-jitter exponential backoff and never earlier than `Retry-After` says; at most
    `max_attempts` failures in a row (a download that moved forward starts counting again) and
    4 × `max_attempts` attempts in all.

    A session keeps one `requests.Session` per thread (they are not thread-safe); share one
    `PoliteSession` between the threads of a connector freely.
    """

    def __init__(
        self,
        *,
        source: str,
        requests_per_second: float,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        user_agent: str = DEFAULT_USER_AGENT,
        secrets: Sequence[str] = (),
        rng: random.Random | None = None,
        refusal_advice: Mapping[int, str] | None = None,
        follow_rate_headers: bool = False,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if backoff_base < 0 or backoff_cap < 0:
            raise ValueError("backoff_base and backoff_cap must not be negative")
        self.source = source
        self.requests_per_second = requests_per_second
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.user_agent = user_agent
        self.refusal_advice = dict(refusal_advice or {})
        self.rate_limit = RateLimit()
        self._follows_rate_headers = False
        self._ceiling = requests_per_second
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        for secret in secrets:
            register_secret(secret)
        install_log_redaction()
        if follow_rate_headers:
            self.follow_rate_limit_headers()

    # -- public ---------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Mask this literal value too (e.g. an API key the session did not know at creation)."""
        register_secret(value)

    def follow_rate_limit_headers(self) -> None:
        """From now on, obey the rate limit the service announces in its answers.

        Each 2xx answer's `X-Rate-Limit-Limit`/`X-Rate-Limit-Interval` (Crossref's headers; see
        `RateLimit.from_headers`) sets `rate_limit` and lowers `requests_per_second` to
        limit/interval — never above the rate the session had when this was called. And the
        host's throttle then counts each interval from the previous answer's arrival, not only
        from the previous request's start. Idempotent."""
        if not self._follows_rate_headers:
            self._follows_rate_headers = True
            self._ceiling = self.requests_per_second

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: FormData = None,
        headers: Mapping[str, str] | None = None,
        validate: Validator | None = None,
    ) -> bytes:
        """Send a request and return its complete body (see `fetch`)."""
        return self.fetch(
            method, url, params=params, data=data, headers=headers, validate=validate
        ).body

    def fetch(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: FormData = None,
        headers: Mapping[str, str] | None = None,
        validate: Validator | None = None,
        follow_redirects: bool = True,
    ) -> HttpReply:
        """Send a request, retrying transient failures, and return the complete 2xx reply.

        `params` go in the query string, `data` (a mapping: form-encoded; bytes: as is) in the
        body. `validate`, when given, inspects each 2xx reply; raising `TransientError` there
        makes the reply count as a failed attempt (retried like a 503: for bodies that say
        "try again" with a 200), any other exception propagates unchanged.

        `follow_redirects` False: a redirect (301, 302, 303, 307, 308 with a `Location`) is
        not followed but returned as the reply (`validate` is not called on it), for callers
        that take each hop themselves (each host's rate and robots.txt first, their own bound
        on the chain).

        Raises:
            TransientHttpError: the attempts ran out on transient failures, or the server asked
                to wait longer than `backoff_cap`.
            FatalHttpError: a non-retryable status, an over-size body, an unusable URL.
        """
        described = self.describe(method, url, params=params, data=data)

        def attempt(count: int) -> HttpReply:
            reply = self._attempt(
                method,
                url,
                params,
                data,
                headers,
                described,
                count,
                follow_redirects=follow_redirects,
            )
            if validate is not None and not (300 <= reply.status < 400):
                try:
                    validate(reply)
                except TransientError as problem:
                    raise _Retryable(str(problem), status=reply.status) from None
            return reply

        return self._retrying(url, described, attempt)

    def download(
        self,
        url: str,
        dest: Path | str,
        *,
        expected_size: int | None = None,
        chunk_bytes: int = DOWNLOAD_CHUNK_BYTES,
        advice: str = _ADVICE_DOWNLOAD,
    ) -> Path:
        """Bring the file `dest` to the complete body of a GET of `url`, streaming it to disk
        (never held in memory) byte for byte as sent (`Accept-Encoding: identity`).

        Bytes already in `dest` are resumed from with `Range: bytes=N-`, as is a connection
        dropped mid-way; a server answering 200 instead rewrites the file from zero, a 416
        whose `Content-Range` total equals `dest`'s size means it was complete. Retries follow
        the session's policy, a failure count starting again whenever the file grew. A size
        announced by the server (or `expected_size`, when the server announces none) decides
        when the file is complete; without either, a body that ended cleanly is. `advice` ends
        the message when the attempts run out. The body is not subject to
        `max_response_bytes`; error bodies are read up to 64 KiB.

        Raises:
            TransientHttpError: the attempts ran out; what arrived stays in `dest`, for the
                next call to resume.
            FatalHttpError: the server refused the request, or announced another size than
                `expected_size`.
            FatalError: `dest` cannot be written.
        """
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        dest = Path(dest)
        name = urlsplit(url).path.rsplit("/", 1)[-1] or dest.name
        described = redact(f"download of {name} from {url}")

        def size() -> int:
            return dest.stat().st_size if dest.exists() else 0

        def remedy(_problem: _Retryable) -> str:
            kept = size()
            if not kept:
                return f"Run the download again later. {advice}"
            return (
                f"The {kept} bytes received so far are kept in {dest}; running the download "
                f"again resumes from there. {advice}"
            )

        def attempt(_count: int) -> bool | None:
            return self._download_attempt(url, dest, size(), expected_size, chunk_bytes)

        self._retrying(url, described, attempt, progress=size, remedy=remedy)
        return dest

    def describe(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: FormData = None,
    ) -> str:
        """The request as messages show it: method, redacted URL and a redacted form summary."""
        full_url = url
        if params:
            full_url = requests.Request(method, url, params=dict(params)).prepare().url or url
        text = f"{method.upper()} {full_url}"
        if isinstance(data, Mapping) and data:
            fields = []
            for name, value in data.items():
                shown = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
                shown = str(shown)
                if len(shown) > 60:
                    shown = shown[:57] + "..."
                fields.append(f"{name}={shown}")
            text += " [form: " + "&".join(fields) + "]"
        elif isinstance(data, bytes) and data:
            text += f" [{len(data)}-byte body]"
        text = redact(text)
        return text if len(text) <= 500 else text[:497] + "..."

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> PoliteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the retry policy -----------------------------------------------------------------

    def _retrying(
        self,
        url: str,
        described: str,
        attempt: Callable[[int], _T | None],
        *,
        progress: Callable[[], int] | None = None,
        remedy: Callable[[_Retryable], str] | None = None,
    ) -> _T:
        """Call `attempt(number)`, each call after the host throttle's wait, until it returns
        a result; `_Retryable` failures are retried per the session's policy.

        `attempt` returning None means "progress, not done": the next call follows at once,
        with the failure count reset. `progress()` measures progress across a failure (a
        download's size): a failure that made some starts the count again. `remedy(problem)`
        ends the message when there is no next attempt."""
        throttle = host_throttle(url)
        count = failures = 0
        while True:
            count += 1
            before = progress() if progress is not None else 0
            throttle.wait(1.0 / self.requests_per_second)
            problem: _Retryable | None = None
            result: _T | None = None
            try:
                result = attempt(count)
            except _Retryable as failed:
                problem = failed
            finally:
                if self._follows_rate_headers:
                    throttle.answered(1.0 / self.requests_per_second)
            if problem is None:
                if result is not None:
                    return result
                failures = 0
                continue
            moved = progress is not None and progress() > before
            failures = 1 if moved else failures + 1
            delay = self._next_delay(problem, count, failures, described, remedy)
            log.warning(
                "%s: %s: %s; retrying in %.2f s (attempt %d, failure %d of %d in a row)",
                self.source,
                described,
                problem.what,
                delay,
                count + 1,
                failures,
                self.max_attempts,
            )
            if delay > 0:
                time.sleep(delay)

    def _next_delay(
        self,
        problem: _Retryable,
        count: int,
        failures: int,
        described: str,
        remedy: Callable[[_Retryable], str] | None,
    ) -> float:
        """How long to wait before the next attempt, or raise when there is none."""
        then = remedy(problem) if remedy is not None else problem.advice or _ADVICE_SERVER
        if failures >= self.max_attempts or count >= self.max_attempts * _TOTAL_ATTEMPTS_FACTOR:
            raise TransientHttpError(
                f"{self.source}: {described} failed after {count} attempt(s): "
                f"{problem.what}. {then}",
                status=problem.status,
                retry_after=problem.retry_after,
                attempts=count,
            ) from None
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (failures - 1))
        jitter = self._rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
        if problem.retry_after is None:
            return jitter
        if problem.retry_after > self.backoff_cap:
            raise TransientHttpError(
                f"{self.source}: {described}: {problem.what}; the service asked to wait "
                f"{problem.retry_after:.0f} s, more than the {self.backoff_cap:.0f} s this "
                f"session waits. Retry after that time. {then}",
                status=problem.status,
                retry_after=problem.retry_after,
                attempts=count,
            ) from None
        # Never earlier than the server asked; the jitter still spreads concurrent clients.
        return max(problem.retry_after, jitter)

    def _observe_rate_headers(self, headers: Mapping[str, str]) -> None:
        announced = RateLimit.from_headers(headers)
        if announced == self.rate_limit:
            return
        self.rate_limit = announced
        rate = announced.requests_per_second
        new_rate = min(self._ceiling, rate) if rate else self._ceiling
        if new_rate != self.requests_per_second:
            log.info(
                "%s announces %s requests per %s s (concurrency %s): %.2f requests/s",
                self.source,
                announced.limit,
                announced.interval,
                announced.concurrency,
                new_rate,
            )
        self.requests_per_second = new_rate

    # -- one attempt ----------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.user_agent
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _send(
        self,
        method: str,
        url: str,
        described: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: FormData = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> requests.Response:
        """Send one request (the body not read yet); network failures as `_Retryable`."""
        try:
            return self._session().request(
                method,
                url,
                params=params,
                data=data,
                headers=dict(headers) if headers else None,
                timeout=self.timeout,
                stream=True,
                allow_redirects=follow_redirects,
            )
        except requests.exceptions.SSLError as exc:
            raise FatalHttpError(
                f"{self.source}: {described}: TLS failed ({_redacted_cause(exc)}). Check the "
                "URL and the system's certificates; retrying will not help."
            ) from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidHeader,
        ) as exc:
            raise FatalHttpError(
                f"{self.source}: {described}: unusable request ({_redacted_cause(exc)}). "
                "Check the configured base URL."
            ) from None
        except requests.exceptions.ConnectTimeout as exc:
            raise _Retryable(
                f"timed out connecting after {self.timeout[0]:g} s ({_redacted_cause(exc)})",
                advice=_ADVICE_NETWORK,
            ) from None
        except requests.exceptions.Timeout as exc:
            raise _Retryable(
                f"timed out waiting {self.timeout[1]:g} s for the response "
                f"({_redacted_cause(exc)})",
                advice=_ADVICE_NETWORK,
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise _Retryable(
                f"connection failed ({_redacted_cause(exc)})", advice=_ADVICE_NETWORK
            ) from None
        except requests.exceptions.TooManyRedirects as exc:
            raise FatalHttpError(
                f"{self.source}: {described}: redirect loop ({_redacted_cause(exc)})."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise _Retryable(
                f"request failed ({_redacted_cause(exc)})", advice=_ADVICE_NETWORK
            ) from None

    def _check_status(self, response: requests.Response, described: str, *, quote: bool) -> None:
        """Raise `_Retryable` for a transient status, `FatalHttpError` for any other non-2xx.
        `quote`: put the start of the error body in the message."""
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = response.reason or ""
        body = _read_some(response)
        snippet = _snippet(body) if quote else ""
        quoted = f" ({snippet})" if snippet else ""
        if status in RETRY_STATUSES:
            raise _Retryable(
                f"HTTP {status} {reason}".rstrip() + quoted,
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                advice=_ADVICE_RATE if status == 429 else _ADVICE_SERVER,
            )
        advice = self.refusal_advice.get(status) or _advice_for_status(status)
        raise FatalHttpError(
            f"{self.source}: {described} was refused: HTTP {status} {reason}".rstrip()
            + f"{quoted}. {advice}",
            status=status,
            body=_redact_bytes(body),
        )

    def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        data: FormData,
        headers: Mapping[str, str] | None,
        described: str,
        attempt: int,
        *,
        follow_redirects: bool = True,
    ) -> HttpReply:
        started = time.monotonic()
        response = self._send(
            method,
            url,
            described,
            params=params,
            data=data,
            headers=headers,
            follow_redirects=follow_redirects,
        )
        with response:
            # Not following, a redirect is the answer asked for, not a refusal.
            if follow_redirects or not response.is_redirect:
                self._check_status(response, described, quote=True)
            body = self._read_body(response, described)
            status = response.status_code
            log.debug(
                "%s: %s -> HTTP %d, %d bytes in %.3f s (attempt %d)",
                self.source,
                described,
                status,
                len(body),
                time.monotonic() - started,
                attempt,
            )
            reply = HttpReply(
                status=status,
                headers=CaseInsensitiveDict(response.headers),
                body=body,
                url=redact_url(response.url),
                attempts=attempt,
            )
        if self._follows_rate_headers:
            self._observe_rate_headers(reply.headers)
        return reply

    def _read_body(self, response: requests.Response, described: str) -> bytes:
        declared = _declared_length(response)
        encoded = "content-encoding" in response.headers
        if declared is not None and not encoded and declared > self.max_response_bytes:
            raise FatalHttpError(self._too_large(described, declared))
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                received += len(chunk)
                if received > self.max_response_bytes:
                    raise FatalHttpError(self._too_large(described, received))
                chunks.append(chunk)
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ConnectionError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise _Retryable(
                _broke_off(received, None if encoded else declared, exc),
                status=response.status_code,
                advice=_ADVICE_NETWORK,
            ) from None
        # urllib3 enforces Content-Length too; this guards against a transport that does not.
        if declared is not None and not encoded and received != declared:
            raise _Retryable(
                f"truncated body: {received} of {declared} bytes announced by Content-Length",
                status=response.status_code,
                advice=_ADVICE_NETWORK,
            )
        return b"".join(chunks)

    def _too_large(self, described: str, size: int) -> str:
        return (
            f"{self.source}: {described}: the response is larger than the "
            f"{self.max_response_bytes}-byte cap ({size} bytes so far). Ask for smaller pages "
            "or raise max_response_bytes."
        )

    def _download_attempt(
        self,
        url: str,
        dest: Path,
        offset: int,
        expected_size: int | None,
        chunk_bytes: int,
    ) -> bool | None:
        """One GET writing to `dest` from `offset`: True when the file is complete, None when
        the server sent only part of the rest (by its choice: ask for more)."""
        # identity: the file must arrive byte for byte as published, never re-encoded.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        described = self.describe("GET", url)
        with self._send("GET", url, described, headers=headers) as response:
            status = response.status_code
            if status == 416:
                total = _content_range(response.headers.get("Content-Range"))[2]
                if offset and (total or expected_size) == offset:
                    return True  # `dest` already holds the whole file
                self._discard(dest)
                raise _Retryable(
                    f"the server refused to resume at byte {offset}; restarting", status=416
                )
            self._check_status(response, described, quote=False)
            if status == 206:
                start, _end, total = _content_range(response.headers.get("Content-Range"))
                if start != offset:
                    self._discard(dest)
                    raise _Retryable(
                        f"asked for bytes from {offset}, got Content-Range "
                        f"{response.headers.get('Content-Range')!r}; restarting from zero",
                        status=206,
                    )
            elif status == 200:
                if offset:
                    log.info(
                        "%s: %s ignored the Range header; restarting %s from zero",
                        self.source,
                        redact_url(url),
                        dest.name,
                    )
                offset, total = 0, _declared_length(response)
            else:
                raise FatalHttpError(
                    f"{self.source}: {described} answered HTTP {status} "
                    f"{response.reason or ''}".rstrip()
                    + ", not the file. Check the URL.",
                    status=status,
                )
            if expected_size is not None and total is not None and total != expected_size:
                raise FatalHttpError(
                    f"{self.source}: {described}: the server announces a {total}-byte file, "
                    f"not the {expected_size} bytes expected. The file changed on the server "
                    "or the expected size is wrong; retrying will not help.",
                    status=status,
                )
            total = expected_size if total is None else total
            self._stream_to(response, dest, offset, chunk_bytes)

        size = dest.stat().st_size
        if total is None or size == total:
            return True  # no total announced: a cleanly ended body is the whole file
        if size > total:
            self._discard(dest)
            raise _Retryable(f"received {size} bytes of a {total}-byte file; restarting from zero")
        if size == offset:
            raise _Retryable(f"the server sent no bytes from {offset} on", status=status)
        return None

    def _stream_to(
        self, response: requests.Response, dest: Path, offset: int, chunk_bytes: int
    ) -> None:
        """Write the response body to `dest` from `offset` on, as it arrives."""
        declared = _declared_length(response)
        received = 0
        try:
            handle = dest.open("ab" if offset else "wb")
        except OSError as exc:
            raise self._disk_error(dest, exc) from exc
        with handle:
            # read1 hands over whatever has arrived (up to chunk_bytes) at once, so a
            # connection reset loses nothing already received: read(n) would drop its buffer.
            while True:
                try:
                    chunk: bytes = response.raw.read1(chunk_bytes, decode_content=False)
                except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException) as exc:
                    raise _Retryable(_broke_off(received, declared, exc)) from None
                except OSError as exc:  # a socket error urllib3 did not wrap
                    raise _Retryable(_broke_off(received, declared, exc)) from None
                if not chunk:
                    break
                try:
                    handle.write(chunk)
                except OSError as exc:
                    raise self._disk_error(dest, exc) from exc
                received += len(chunk)
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise self._disk_error(dest, exc) from exc
        if declared is not None and received != declared:
            raise _Retryable(f"the body broke off after {received} of {declared} bytes")

    def _discard(self, dest: Path) -> None:
        try:
            dest.unlink(missing_ok=True)
        except OSError as exc:
            raise self._disk_error(dest, exc) from exc

    def _disk_error(self, dest: Path, exc: OSError) -> FatalError:
        return FatalError(
            f"{self.source}: cannot write {dest}: {exc}. Free disk space or choose another "
            "destination directory."
        )


_CONTENT_RANGE_RE = re.compile(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", re.IGNORECASE)


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """(start, end, total) of `bytes START-END/TOTAL` or `bytes */TOTAL`; None where absent."""
    match = _CONTENT_RANGE_RE.fullmatch(value or "")
    if match is None:
        return None, None, None
    start = int(match[1]) if match[1] else None
    end = int(match[2]) if match[2] else None
    total = int(match[3]) if match[3] != "*" else None
    return start, end, total


def _broke_off(received: int, declared: int | None, exc: BaseException) -> str:
    of = f" of {declared}" if declared is not None else ""
    return f"the body broke off after {received}{of} bytes ({_redacted_cause(exc)})"


def _redact_bytes(body: bytes) -> bytes:
    # Latin-1 maps every byte to one character and back: only masked secrets change.
    return redact(body.decode("latin-1")).encode("latin-1")


def _declared_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _read_some(response: requests.Response) -> bytes:
    """The start of an error body (for the message); a broken one is not worth an exception."""
    try:
        data = b""
        for chunk in response.iter_content(chunk_size=_ERROR_BODY_BYTES):
            data += chunk
            if len(data) >= _ERROR_BODY_BYTES:
                break
        return data[:_ERROR_BODY_BYTES]
    except requests.exceptions.RequestException:
        return b""


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", errors="replace").split())
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 3] + "..."
    return redact(text)


def _redacted_cause(exc: BaseException) -> str:
    # requests' messages embed the full URL ("Max retries exceeded with url: /x?api_key=…"),
    # hence redaction, and `from None` at every raise: a chained cause would print it unmasked.
    text = f"{type(exc).__name__}: {exc}"
    if len(text) > 300:
        text = text[:297] + "..."
    return redact(text)


def _advice_for_status(status: int) -> str:
    if status in (401, 403):
        return "Check the credentials (api_key/token) and that they allow this request."
    if status == 404:
        return "Check the configured base URL and the identifier asked for."
    if status in (413, 414):
        return "The request is too large: send fewer identifiers per request."
    if 400 <= status < 500:
        return (
            "The request is malformed or not allowed: check the parameters; retrying will not help."
        )
    return "The service cannot handle this request; retrying will not help."
