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
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, urljoin, urlsplit

from lxml import etree

from connectors.http import DOWNLOAD_CHUNK_BYTES, PoliteSession, redact, redact_url
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

# What a person should do when NLM's server refuses a request or the attempts run out.
_REFUSAL_ADVICE = {
    404: (
        "The file is not on the server: list the directory again (NLM removes update files "
        "when a new baseline is published) and check the base URL."
    ),
    401: "The server refuses this client; check the base URL and any proxy in between.",
    403: "The server refuses this client; check the base URL and any proxy in between.",
}
_DOWNLOAD_ADVICE = "If it keeps failing, check the network and NLM's service status."


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
    E-utilities clients) unless told otherwise, and NLM's meaning of a refusal in its
    messages; other keywords go to `PoliteSession`."""
    settings.setdefault("refusal_advice", _REFUSAL_ADVICE)
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
    chunk_bytes: int = DOWNLOAD_CHUNK_BYTES,
) -> Path:
    """Download `bulk_file` into `dest_dir` and return its path once its md5 matches the
    sidecar's.

    The body streams to `dest_dir/NAME.part` through `PoliteSession.download` (never held in
    memory); a dropped connection resumes with `Range: bytes=N-` (a server answering 200
    instead restarts from zero), as does a `.part` an earlier run left behind. Transient
    failures (429, 5xx, resets, timeouts) are retried by `session`'s policy. The verified file is
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
        fetch = functools.partial(
            polite.download, bulk_file.url, part, chunk_bytes=chunk_bytes, advice=_DOWNLOAD_ADVICE
        )
        fetch()
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
            fetch()
            actual = file_md5(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(bulk_file.name, bulk_file.url, expected, actual)
        os.replace(part, target)
        _fsync_directory(folder)
    log.info("%s: downloaded %s (md5 %s)", SOURCE, target, expected)
    return target


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


@contextlib.contextmanager
def _session_scope(session: PoliteSession | None) -> Iterator[PoliteSession]:
    """The caller's session, or a fresh one closed at the end."""
    if session is not None:
        yield session
        return
    with bulk_session() as own:
        yield own
