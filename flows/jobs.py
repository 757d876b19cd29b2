"""The files a load works through, as a worker process is handed them: an NLM bulk file to
download, a local file, a member of a tar. Light on purpose: `biblioduck import` plans with
them, and a re-import of files
loaded already must not pay for importing parsers. A job only opens its bytes;
`flows.bulk.prepare` parses, validates and spools them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import MalformedPayloadError

if TYPE_CHECKING:
    from connectors.pubmed.files import BulkFile


@dataclass(frozen=True, slots=True)
class PrepareSettings:
    """What a worker needs to open and prepare a file (picklable; no secrets: the file server
    needs none)."""

    download_dir: Path
    spool_dir: Path
    batch_size: int
    max_failed_fraction: float
    requests_per_second: float
    max_attempts: int
    backoff_base: float
    keep_download: bool = False


@dataclass(frozen=True, slots=True)
class Opened:
    """A job's bytes, ready to parse (a path or the bytes), and the seconds fetching took."""

    payload: Path | bytes
    fetch_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class NlmFile:
    """An NLM bulk file to download and prepare (`md5`: its sidecar's)."""

    file: BulkFile
    md5: str
    fmt: str = "pubmed"

    @property
    def name(self) -> str:
        return self.file.name

    @contextmanager
    def opened(self, settings: PrepareSettings) -> Iterator[Opened]:
        """The file downloaded and verified (deleted afterwards unless kept). Raises the
        connector's errors (ChecksumMismatchError, TransientHttpError, …) unchanged."""
        from connectors.pubmed.files import bulk_session, download

        started = time.perf_counter()
        session = bulk_session(
            requests_per_second=settings.requests_per_second,
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
        )
        with session:
            path = download(self.file, settings.download_dir, session=session)
        try:
            yield Opened(path, time.perf_counter() - started)
        finally:
            if not settings.keep_download:
                path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file on this machine to prepare as it is (`biblioduck import`): `name` is what the
    ledger calls it (its path inside a folder given, as a tar names its members); `md5`: its
    content's."""

    path: Path
    name: str
    fmt: str
    md5: str

    @contextmanager
    def opened(self, settings: PrepareSettings) -> Iterator[Opened]:
        yield Opened(self.path)


@dataclass(frozen=True, slots=True)
class TarMember:
    """A file inside an uncompressed tar (Crossref's public data file), read in place:
    `size` bytes from `offset` of the archive; `name` is the member's."""

    archive: Path
    name: str
    offset: int
    size: int
    fmt: str
    md5: str

    @contextmanager
    def opened(self, settings: PrepareSettings) -> Iterator[Opened]:
        with open(self.archive, "rb") as handle:
            handle.seek(self.offset)
            payload = handle.read(self.size)
        if len(payload) != self.size:
            raise MalformedPayloadError(
                f"{self.archive}: member {self.name} is cut short ({len(payload)} of "
                f"{self.size} bytes)"
            )
        yield Opened(payload)


FileToLoad = NlmFile | LocalFile | TarMember
