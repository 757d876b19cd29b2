"""The polite HTTP session every connector uses: per-host rate limit, retries with backoff that
honour `Retry-After`, timeouts, a response-size cap, and secret redaction in logs and errors.

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
from urllib.parse import quote, quote_plus, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from schemas.errors import FatalError, TransientError

__all__ = [
    "RETRY_STATUSES",
    "FatalHttpError",
    "HostThrottle",
    "HttpReply",
    "PoliteSession",
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
_ERROR_BODY_BYTES = 8192
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


class HostThrottle:
    """Spaces request starts to one host: each request waits until `interval` seconds after the
    previous one began, whichever thread — or, with a `shared` file, whichever process on this
    machine — sent it (NCBI counts requests per second from one address or key, whatever the
    number of flows sending them).

    A minimum interval rather than a token bucket: NCBI counts requests per second and a
    bucket's burst would overrun it. Slots are reserved under a lock (a thread lock, and an
    exclusive lock on the shared file holding the next free moment) and slept outside it, so
    concurrent callers queue in order without holding the lock while they wait."""

    def __init__(self, shared: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._shared = shared

    def wait(self, interval: float) -> float:
        """Block until this caller may start a request; returns the seconds waited."""
        with self._lock:
            # Wall-clock time when processes share the slot (their monotonic clocks differ).
            now = time.time() if self._shared is not None else time.monotonic()
            slot = max(now, self._next_free)
            if self._shared is not None:
                slot = _reserve_shared(self._shared, now, slot, interval)
            self._next_free = slot + interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)
        return delay


def _reserve_shared(shared: Path, now: float, slot: float, interval: float) -> float:
    """The slot after the one the last process on this machine reserved in `shared`; this one
    then reserved. Without a usable file (read-only, a full disk), this process's own slot."""
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
            if reserved - now <= max(60.0, 10 * interval):
                slot = max(slot, reserved)
            handle.seek(0)
            handle.truncate()
            handle.write(repr(slot + interval).encode())
            handle.flush()
    except OSError as exc:
        log.warning("the shared request throttle %s is unusable (%s)", shared, exc)
    return slot


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
    """A response that retrying will not fix: other 4xx, an over-size body, a bad URL, TLS."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete 2xx response: its status, headers, whole body, the redacted final URL and the
    number of attempts it took."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    attempts: int = 1


class _Retryable(Exception):
    """One attempt failed in a way worth retrying (internal to the retry loop)."""

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


@dataclass(slots=True)
class _Attempt:
    """What the retry loop knows about the previous failure, for the final message."""

    problem: _Retryable | None = None
    count: int = 0


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
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        for secret in secrets:
            register_secret(secret)
        install_log_redaction()

    # -- public ---------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Mask this literal value too (e.g. an API key the session did not know at creation)."""
        register_secret(value)

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
    ) -> HttpReply:
        """Send a request, retrying transient failures, and return the complete 2xx reply.

        `params` go in the query string, `data` (a mapping: form-encoded; bytes: as is) in the
        body. `validate`, when given, inspects each 2xx reply; raising `TransientError` there
        makes the reply count as a failed attempt (retried like a 503: for bodies that say
        "try again" with a 200), any other exception propagates unchanged.

        Raises:
            TransientHttpError: the attempts ran out on transient failures, or the server asked
                to wait longer than `backoff_cap`.
            FatalHttpError: a non-retryable status, an over-size body, an unusable URL.
        """
        described = self.describe(method, url, params=params, data=data)
        throttle = host_throttle(url)
        interval = 1.0 / self.requests_per_second
        state = _Attempt()
        while True:
            state.count += 1
            throttle.wait(interval)
            try:
                reply = self._attempt(method, url, params, data, headers, described, state.count)
                if validate is not None:
                    try:
                        validate(reply)
                    except TransientError as problem:
                        raise _Retryable(str(problem), status=reply.status) from None
                return reply
            except _Retryable as problem:
                state.problem = problem
                delay = self._next_delay(state, described)
                log.warning(
                    "%s: %s: %s; retrying in %.2f s (attempt %d of %d)",
                    self.source,
                    described,
                    problem.what,
                    delay,
                    state.count + 1,
                    self.max_attempts,
                )
                if delay > 0:
                    time.sleep(delay)

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

    # -- internals ------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.user_agent
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _next_delay(self, state: _Attempt, described: str) -> float:
        """How long to wait before the next attempt, or raise when there is none."""
        problem = state.problem
        assert problem is not None
        if state.count >= self.max_attempts:
            raise TransientHttpError(
                f"{self.source}: {described} failed after {state.count} attempt(s): "
                f"{problem.what}. {problem.advice or _ADVICE_SERVER}",
                status=problem.status,
                retry_after=problem.retry_after,
                attempts=state.count,
            ) from None
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (state.count - 1))
        jitter = self._rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
        if problem.retry_after is None:
            return jitter
        if problem.retry_after > self.backoff_cap:
            raise TransientHttpError(
                f"{self.source}: {described}: {problem.what}; the service asked to wait "
                f"{problem.retry_after:.0f} s, more than the {self.backoff_cap:.0f} s this "
                f"session waits. Retry after that time. {problem.advice}".rstrip(),
                status=problem.status,
                retry_after=problem.retry_after,
                attempts=state.count,
            ) from None
        # Never earlier than the server asked; the jitter still spreads concurrent clients.
        return max(problem.retry_after, jitter)

    def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        data: FormData,
        headers: Mapping[str, str] | None,
        described: str,
        attempt: int,
    ) -> HttpReply:
        started = time.monotonic()
        try:
            response = self._session().request(
                method,
                url,
                params=params,
                data=data,
                headers=dict(headers) if headers else None,
                timeout=self.timeout,
                stream=True,
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

        with response:
            status = response.status_code
            reason = response.reason or ""
            if status in RETRY_STATUSES:
                snippet = _snippet(_read_some(response))
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise _Retryable(
                    f"HTTP {status} {reason}".rstrip() + (f" ({snippet})" if snippet else ""),
                    status=status,
                    retry_after=retry_after,
                    advice=_ADVICE_RATE if status == 429 else _ADVICE_SERVER,
                )
            if not 200 <= status < 300:
                snippet = _snippet(_read_some(response))
                raise FatalHttpError(
                    f"{self.source}: {described} was refused: HTTP {status} {reason}".rstrip()
                    + (f" ({snippet})" if snippet else "")
                    + f". {_advice_for_status(status)}",
                    status=status,
                )
            body = self._read_body(response, described)
            log.debug(
                "%s: %s -> HTTP %d, %d bytes in %.3f s (attempt %d)",
                self.source,
                described,
                status,
                len(body),
                time.monotonic() - started,
                attempt,
            )
            return HttpReply(
                status=status,
                headers=CaseInsensitiveDict(response.headers),
                body=body,
                url=redact_url(response.url),
                attempts=attempt,
            )

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
                f"the response body broke off after {received} bytes"
                + (f" of {declared}" if declared is not None and not encoded else "")
                + f" ({_redacted_cause(exc)})",
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
