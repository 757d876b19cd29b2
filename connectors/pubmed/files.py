"""NLM's bulk PubMed files (yearly baseline and daily updates): list them from the plain HTML
directory pages and download them, resumably, verified against their `.md5` sidecars.

Only names of the form `pubmedYYnNNNN.xml.gz` sitting directly in the listed directory are ever
fetched; every other link on a listing is ignored (suspicious ones with a logged warning). A file
at `dest_dir/NAME` has always been verified against its sidecar: unverified bytes only ever live
in `dest_dir/NAME.part`, which a later run resumes with an HTTP `Range` request.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
import urllib3
from lxml import etree

from connectors.http import (
    RETRY_STATUSES,
    FatalHttpError,
    PoliteSession,
    TransientHttpError,
    host_throttle,
    parse_retry_after,
    redact,
    redact_url,
)
from schemas.errors import FatalError, MalformedPayloadError

__all__ = [
    "BULK_NAME_RE",
    "DEFAULT_BASE_URL",
    "DIRECTORIES",
    "SOURCE",
    "BulkFile",
    "BulkKind",
    "ChecksumMismatchError",
    "Md5SidecarError",
    "bulk_session",
    "download",
    "fetch_md5",
    "file_md5",
    "list_files",
    "listing_url",
    "parse_listing",
    "parse_md5_sidecar",
]

log = logging.getLogger(__name__)

SOURCE = "NLM PubMed bulk files"
DEFAULT_BASE_URL = "https://ftp.ncbi.nlm.nih.gov/pubmed"

BulkKind = Literal["baseline", "update"]
# The kind of a file is the directory NLM publishes it in.
DIRECTORIES: dict[BulkKind, str] = {"baseline": "baseline", "update": "updatefiles"}
_KIND_RANK: dict[str, int] = {"baseline": 0, "update": 1}

# Matched with `fullmatch` only: `$` alone would also accept a name followed by a newline.
BULK_NAME_RE = re.compile(r"pubmed(\d{2})n(\d{4})\.xml\.gz")

# `MD5(pubmed26n1334.xml.gz)= 3cf5…` as NLM writes it (OpenSSL's BSD-style digest line).
_SIDECAR_RE = re.compile(r"\s*MD5\((?P<name>[^()\s]+)\)\s*=\s*(?P<digest>[0-9A-Fa-f]{32})\s*")

_CHUNK_BYTES = 1024 * 1024
# A dropped connection that still moved the file forward resets the failure count (a 30 MB file
# over a flaky link may need many resumes); this caps the attempts of one download in total.
_TOTAL_ATTEMPTS_FACTOR = 4
_rng = random.Random()  # noqa: S311 (retry jitter, not cryptography)


class ChecksumMismatchError(FatalError):
    """A downloaded file's md5 differs from its sidecar; the bytes were deleted."""

    def __init__(self, name: str, url: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{SOURCE}: {name} downloaded from {redact_url(url)} has md5 {actual}, but its "
            f"sidecar says {expected}. The downloaded bytes were deleted. Run the download "
            "again later; if it keeps failing, the file or its .md5 on the server is "
            "inconsistent (NLM sometimes republishes a file) and needs a person to look."
        )
        self.name = name
        self.url = url
        self.expected = expected
        self.actual = actual


class Md5SidecarError(MalformedPayloadError):
    """A `.md5` sidecar is unreadable or names another file than the one it belongs to."""


@functools.total_ordering
@dataclass(frozen=True, slots=True, eq=True)
class BulkFile:
    """One NLM bulk file as a listing shows it. Ordered by year, then number (the order NLM's
    files must be applied in); constructing one with an inconsistent name, URL or kind raises
    `ValueError`, so a `BulkFile` is always safe to download.

    `year` is the two-digit year of the name (26 for `pubmed26n0001.xml.gz`)."""

    name: str
    kind: BulkKind
    year: int
    number: int
    url: str
    md5_url: str

    def __post_init__(self) -> None:
        match = BULK_NAME_RE.fullmatch(self.name)
        if match is None:
            raise ValueError(f"not an NLM bulk file name: {self.name!r}")
        if (self.year, self.number) != (int(match[1]), int(match[2])):
            raise ValueError(
                f"{self.name}: year/number {self.year}/{self.number} do not match the name"
            )
        if self.kind not in DIRECTORIES:
            raise ValueError(f"{self.name}: kind must be one of {list(DIRECTORIES)}")
        parts = urlsplit(self.url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
            or not parts.path.endswith("/" + self.name)
        ):
            raise ValueError(f"{self.name}: URL {self.url!r} does not point at this file")
        if self.md5_url != self.url + ".md5":
            raise ValueError(f"{self.name}: md5_url must be the file's URL + '.md5'")

    @classmethod
    def in_directory(cls, directory_url: str, name: str, kind: BulkKind) -> BulkFile:
        """The file `name` of the directory at `directory_url` (with or without trailing `/`)."""
        match = BULK_NAME_RE.fullmatch(name)
        if match is None:
            raise ValueError(f"not an NLM bulk file name: {name!r}")
        url = directory_url.rstrip("/") + "/" + name
        return cls(name, kind, int(match[1]), int(match[2]), url, url + ".md5")

    @property
    def sort_key(self) -> tuple[int, int, int, str]:
        """Year, number, then (for a total order) baseline before update and the URL."""
        return (self.year, self.number, _KIND_RANK[self.kind], self.url)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, BulkFile):
            return NotImplemented
        return self.sort_key < other.sort_key


# ---------------------------------------------------------------------------------------------
# Listings
# ---------------------------------------------------------------------------------------------


def listing_url(base_url: str, kind: BulkKind) -> str:
    """The listing URL of `kind` under `base_url` (`…/pubmed` → `…/pubmed/baseline/`)."""
    if kind not in DIRECTORIES:
        raise ValueError(f"kind must be one of {list(DIRECTORIES)}, not {kind!r}")
    return f"{base_url.rstrip('/')}/{DIRECTORIES[kind]}/"


def parse_listing(html: bytes, directory_url: str, kind: BulkKind) -> list[BulkFile]:
    """The bulk files an Apache-style index page links to, sorted by year then number.

    A link is taken only when it resolves to `directory_url` + a name matching `BULK_NAME_RE`
    (relative, `./`, root-relative or absolute to the same place): path tricks, other hosts,
    query strings and fragments are dropped with a warning, as are odd names that look like
    data files. `.md5` sidecars, README, stats pages and sorting links are ignored quietly. An
    empty list is a valid answer (NLM empties `updatefiles/` when a new baseline comes out).

    Raises:
        MalformedPayloadError: the page is not HTML with links at all (an error page, a proxy's
            login page, an empty body).
    """
    if kind not in DIRECTORIES:
        raise ValueError(f"kind must be one of {list(DIRECTORIES)}, not {kind!r}")
    if not directory_url.endswith("/"):
        directory_url += "/"
    where = redact_url(directory_url)
    # HTML parsing always recovers from broken markup; what we refuse is a page without links.
    # no_network: never fetch a DTD; HTML has no external entities to resolve.
    parser = etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
    root = etree.fromstring(html, parser) if html.strip() else None
    anchors = [] if root is None else [a for a in root.iter("a") if a.get("href") is not None]
    if not anchors:
        snippet = " ".join(html[:200].decode("utf-8", errors="replace").split())
        raise MalformedPayloadError(
            f"{SOURCE}: the listing at {where} has no links; it is not a directory index "
            f"(starts with: {redact(snippet)!r}). Check the base URL."
        )

    directory = urlsplit(directory_url)
    found: dict[str, BulkFile] = {}
    sidecars: set[str] = set()
    for anchor in anchors:
        href = anchor.get("href") or ""
        # Resolved against the directory we asked for, never a <base href> the page declares.
        target = urlsplit(urljoin(directory_url, href))
        name = target.path.rsplit("/", 1)[-1]
        if name.endswith(".md5") and BULK_NAME_RE.fullmatch(name[: -len(".md5")]):
            if _is_in_directory(target, directory, name):
                sidecars.add(name[: -len(".md5")])
            continue
        if BULK_NAME_RE.fullmatch(name) is None:
            # Only what poses as a data file is worth a warning; README, stats pages, sorting
            # and parent links are ordinary parts of the page.
            if "xml.gz" in href.lower():
                log.warning("%s: %s: ignoring link %r: not a bulk file name", SOURCE, where, href)
            continue
        if not _is_in_directory(target, directory, name):
            log.warning(
                "%s: %s: ignoring link %r: it points outside this directory", SOURCE, where, href
            )
            continue
        found.setdefault(name, BulkFile.in_directory(directory_url, name, kind))

    files = sorted(found.values())
    for bulk_file in files:
        if bulk_file.name not in sidecars:
            log.warning(
                "%s: %s lists %s without its .md5 sidecar; its download will fail the checksum "
                "step",
                SOURCE,
                where,
                bulk_file.name,
            )
    return files


def _is_in_directory(target: SplitResult, directory: SplitResult, name: str) -> bool:
    return (
        target.scheme.lower() == directory.scheme.lower()
        and target.netloc.lower() == directory.netloc.lower()
        and target.path == directory.path + name
        and not target.query
        and not target.fragment
    )


def bulk_session(*, requests_per_second: float = 3.0, **settings: Any) -> PoliteSession:
    """A polite session for NLM's file server: 3 requests per second (what NCBI asks of
    E-utilities clients) unless told otherwise; other keywords go to `PoliteSession`."""
    return PoliteSession(source=SOURCE, requests_per_second=requests_per_second, **settings)


def list_files(
    base_url: str,
    kind: BulkKind,
    *,
    first: int | None = None,
    last: int | None = None,
    session: PoliteSession | None = None,
) -> list[BulkFile]:
    """The bulk files of one kind under `base_url` (NLM: `https://ftp.ncbi.nlm.nih.gov/pubmed`),
    in application order, optionally only numbers `first` to `last` (both inclusive).

    Raises:
        FatalHttpError / TransientHttpError: the listing could not be fetched.
        MalformedPayloadError: the answer is not a directory listing.
    """
    if first is not None and last is not None and first > last:
        raise ValueError(f"first ({first}) is after last ({last})")
    url = listing_url(base_url, kind)
    with _session_scope(session) as polite:
        html = polite.request("GET", url)
    files = parse_listing(html, url, kind)
    return [
        bulk_file
        for bulk_file in files
        if (first is None or bulk_file.number >= first)
        and (last is None or bulk_file.number <= last)
    ]


# ---------------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------------


def parse_md5_sidecar(text: bytes | str, expected_name: str) -> str:
    """The lower-case hex digest in a sidecar `MD5(NAME)= <32 hex>` for the file `expected_name`.

    Raises:
        Md5SidecarError: the text is not one such line, or it names another file.
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    match = _SIDECAR_RE.fullmatch(text)
    if match is None:
        shown = " ".join(text[:120].split())
        raise Md5SidecarError(
            f"{SOURCE}: the .md5 sidecar of {expected_name} is not 'MD5({expected_name})= "
            f"<32 hex digits>': {shown!r}. Check the server's file, then retry."
        )
    if match["name"] != expected_name:
        raise Md5SidecarError(
            f"{SOURCE}: the .md5 sidecar of {expected_name} is for {match['name']!r}; refusing "
            "to verify one file with another's checksum. The server's files are inconsistent."
        )
    return match["digest"].lower()


def fetch_md5(bulk_file: BulkFile, *, session: PoliteSession | None = None) -> str:
    """The md5 NLM publishes for `bulk_file` (its sidecar, fetched and parsed)."""
    with _session_scope(session) as polite:
        body = polite.request("GET", bulk_file.md5_url)
    return parse_md5_sidecar(body, bulk_file.name)


def file_md5(path: Path) -> str:
    """The lower-case hex md5 of a file on disk, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def download(
    bulk_file: BulkFile,
    dest_dir: Path | str,
    *,
    session: PoliteSession | None = None,
    chunk_bytes: int = _CHUNK_BYTES,
) -> Path:
    """Download `bulk_file` into `dest_dir` and return its path once its md5 matches the
    sidecar's.

    The body streams to `dest_dir/NAME.part` (never held in memory); a dropped connection
    resumes with `Range: bytes=N-` (a server answering 200 instead restarts from zero), as does
    a `.part` an earlier run left behind. Transient failures (429, 5xx, resets, timeouts) are
    retried with backoff, using `session`'s attempts, backoff and throttle. The verified file is
    renamed into place atomically. An existing `NAME` whose md5 still matches the sidecar is
    returned without downloading; one that does not match is deleted and downloaded again.

    Raises:
        ChecksumMismatchError: the downloaded bytes do not match the sidecar (they are deleted).
        Md5SidecarError: the sidecar is unreadable or names another file.
        TransientHttpError: the attempts ran out; what arrived stays in `NAME.part` for the next
            run to resume.
        FatalHttpError: the server refused the request (404: the file is gone; NLM removes
            update files when a new baseline comes out).
        FatalError: `dest_dir` cannot be written.
    """
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    folder = Path(dest_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / bulk_file.name
    part = folder / (bulk_file.name + ".part")
    with _session_scope(session) as polite:
        expected = fetch_md5(bulk_file, session=polite)
        if target.is_file():
            actual = file_md5(target)
            if actual == expected:
                log.info("%s: %s is already downloaded and verified", SOURCE, target)
                return target
            log.warning(
                "%s: %s has md5 %s but the sidecar says %s; deleting it and downloading again",
                SOURCE,
                target,
                actual,
                expected,
            )
            target.unlink()
        inherited = part.is_file() and part.stat().st_size > 0
        _fetch_to_part(bulk_file, part, polite, chunk_bytes)
        actual = file_md5(part)
        if actual != expected and inherited:
            # The .part of an earlier run may hold bytes of another version of the file: its
            # prefix is trusted only as far as the checksum confirms it.
            log.warning(
                "%s: %s resumed from an earlier run's %s has md5 %s, not %s; downloading it "
                "again from the start",
                SOURCE,
                bulk_file.name,
                part.name,
                actual,
                expected,
            )
            part.unlink()
            _fetch_to_part(bulk_file, part, polite, chunk_bytes)
            actual = file_md5(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(bulk_file.name, bulk_file.url, expected, actual)
        os.replace(part, target)
        _fsync_directory(folder)
    log.info("%s: downloaded %s (md5 %s)", SOURCE, target, expected)
    return target


class _Retry(Exception):
    """One attempt failed in a way worth another (internal to `_fetch_to_part`)."""

    def __init__(self, what: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(what)
        self.what = what
        self.status = status
        self.retry_after = retry_after


def _fetch_to_part(
    bulk_file: BulkFile, part: Path, polite: PoliteSession, chunk_bytes: int
) -> None:
    """Bring `part` to the complete file, resuming from its current size."""
    throttle = host_throttle(bulk_file.url)
    interval = 1.0 / polite.requests_per_second
    described = f"download of {bulk_file.name} from {redact_url(bulk_file.url)}"
    failures = 0  # consecutive failed attempts without progress
    attempts = 0
    with requests.Session() as http:
        http.headers["User-Agent"] = polite.user_agent
        while True:
            attempts += 1
            offset = part.stat().st_size if part.exists() else 0
            throttle.wait(interval)
            try:
                if _attempt(http, bulk_file, part, offset, polite.timeout, chunk_bytes):
                    return
                failures = 0  # a partial 206 by the server's choice: go on from the new offset
                continue
            except _Retry as failed:
                problem = failed
            progressed = (part.stat().st_size if part.exists() else 0) > offset
            failures = 1 if progressed else failures + 1
            delay = _retry_delay(polite, problem, failures, attempts, bulk_file, part, described)
            log.warning(
                "%s: %s: %s; retrying in %.2f s (%d attempt(s) so far)",
                SOURCE,
                described,
                problem.what,
                delay,
                attempts,
            )
            if delay > 0:
                time.sleep(delay)


def _retry_delay(
    polite: PoliteSession,
    problem: _Retry,
    failures: int,
    attempts: int,
    bulk_file: BulkFile,
    part: Path,
    described: str,
) -> float:
    """Seconds to wait before the next attempt, or raise `TransientHttpError` when there is
    none: the same full-jitter backoff and `Retry-After` rules as `PoliteSession`."""
    kept = part.stat().st_size if part.exists() else 0
    resume = (
        f"The {kept} bytes received so far are kept in {part}; running the download again "
        "resumes from there."
        if kept
        else "Run the download again later."
    )
    if failures >= polite.max_attempts or attempts >= polite.max_attempts * _TOTAL_ATTEMPTS_FACTOR:
        raise TransientHttpError(
            f"{SOURCE}: {described} failed after {attempts} attempt(s): {problem.what}. "
            f"{resume} If it keeps failing, check the network and NLM's service status.",
            status=problem.status,
            retry_after=problem.retry_after,
            attempts=attempts,
        )
    ceiling = min(polite.backoff_cap, polite.backoff_base * 2 ** (failures - 1))
    jitter = _rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
    if problem.retry_after is None:
        return jitter
    if problem.retry_after > polite.backoff_cap:
        raise TransientHttpError(
            f"{SOURCE}: {described}: {problem.what}; the server asked to wait "
            f"{problem.retry_after:.0f} s, more than the {polite.backoff_cap:.0f} s this "
            f"session waits. {resume}",
            status=problem.status,
            retry_after=problem.retry_after,
            attempts=attempts,
        )
    return max(problem.retry_after, jitter)


def _attempt(
    http: requests.Session,
    bulk_file: BulkFile,
    part: Path,
    offset: int,
    timeout: tuple[float, float],
    chunk_bytes: int,
) -> bool:
    """One GET appending to `part` from `offset`; True when the file is complete."""
    # identity: the .gz must arrive byte for byte as published, never re-encoded in transit.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    described = f"GET {redact_url(bulk_file.url)}"
    try:
        response = http.get(bulk_file.url, headers=headers, stream=True, timeout=timeout)
    except requests.exceptions.SSLError as exc:
        raise FatalHttpError(
            f"{SOURCE}: {described}: TLS failed ({_cause(exc)}). Check the URL and the "
            "system's certificates; retrying will not help."
        ) from None
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.TooManyRedirects,
    ) as exc:
        raise FatalHttpError(
            f"{SOURCE}: {described}: unusable request ({_cause(exc)}). Check the base URL."
        ) from None
    except requests.exceptions.RequestException as exc:
        raise _Retry(f"connection failed ({_cause(exc)})") from None

    with response:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _Retry(
                f"HTTP {status} {response.reason or ''}".rstrip(),
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 416:
            total = _content_range(response.headers.get("Content-Range"))[2]
            if offset and total == offset:
                return True  # the .part already holds the whole file
            _truncate(part)
            raise _Retry(f"the server refused to resume at byte {offset}; restarting", status=416)
        if status == 206:
            start, _end, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                _truncate(part)
                raise _Retry(
                    f"asked for bytes from {offset}, got Content-Range "
                    f"{response.headers.get('Content-Range')!r}; restarting from zero",
                    status=206,
                )
            append = True
        elif status == 200:
            if offset:
                log.info(
                    "%s: %s ignored the Range header; restarting %s from zero",
                    SOURCE,
                    redact_url(bulk_file.url),
                    bulk_file.name,
                )
            append, total = False, _content_length(response)
        else:
            raise FatalHttpError(
                f"{SOURCE}: {described} was refused: HTTP {status} {response.reason or ''}".rstrip()
                + f". {_advice(status)}",
                status=status,
            )
        _stream_body(response, part, append, chunk_bytes, described)

    size = part.stat().st_size
    if total is None or size == total:
        return True  # no total announced: a cleanly ended body is the whole file
    if size > total:
        _truncate(part)
        raise _Retry(f"received {size} bytes of a {total}-byte file; restarting from zero")
    if size == offset:
        raise _Retry(f"the server sent no bytes from {offset} on", status=status)
    return False  # a 206 for part of the rest, by the server's choice: ask for more


def _stream_body(
    response: requests.Response, part: Path, append: bool, chunk_bytes: int, described: str
) -> None:
    """Copy the response body to `part` as it arrives, in the bytes the server sent."""
    declared = _content_length(response)
    received = 0
    try:
        handle = part.open("ab" if append else "wb")
    except OSError as exc:
        raise _disk_error(part, exc) from exc
    with handle:
        # read1 hands over whatever has arrived (up to chunk_bytes) at once, so a connection
        # reset loses nothing already received: read(n) would drop its partly filled buffer.
        raw = response.raw
        while True:
            try:
                chunk: bytes = raw.read1(chunk_bytes, decode_content=False)
            except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException) as exc:
                raise _Retry(_broke_off(received, declared, exc)) from None
            except OSError as exc:  # a socket error urllib3 did not wrap
                raise _Retry(_broke_off(received, declared, exc)) from None
            if not chunk:
                break
            try:
                handle.write(chunk)
            except OSError as exc:
                raise _disk_error(part, exc) from exc
            received += len(chunk)
        try:
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as exc:
            raise _disk_error(part, exc) from exc
    if declared is not None and received != declared:
        raise _Retry(f"the body broke off after {received} of {declared} bytes ({described})")


def _broke_off(received: int, declared: int | None, exc: BaseException) -> str:
    of = f" of {declared}" if declared is not None else ""
    return f"the body broke off after {received}{of} bytes ({_cause(exc)})"


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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


def _truncate(part: Path) -> None:
    try:
        part.unlink(missing_ok=True)
    except OSError as exc:
        raise _disk_error(part, exc) from exc


def _disk_error(part: Path, exc: OSError) -> FatalError:
    return FatalError(
        f"{SOURCE}: cannot write {part}: {exc}. Free disk space or choose another "
        "destination directory."
    )


def _fsync_directory(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cause(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return redact(text if len(text) <= 300 else text[:297] + "...")


def _advice(status: int) -> str:
    if status == 404:
        return (
            "The file is not on the server: list the directory again (NLM removes update files "
            "when a new baseline is published) and check the base URL."
        )
    if status in (401, 403):
        return "The server refuses this client; check the base URL and any proxy in between."
    return "Retrying will not help; check the base URL and the request."


@contextlib.contextmanager
def _session_scope(session: PoliteSession | None) -> Iterator[PoliteSession]:
    """The caller's session, or a fresh one closed at the end."""
    if session is not None:
        yield session
        return
    with bulk_session() as own:
        yield own
