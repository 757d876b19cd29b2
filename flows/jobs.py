"""The files a load works through, as a worker process is handed them: an NLM bulk file to
download, a local file, a member of a tar. Light on purpose (each `prepare` imports the
parsing machinery when it runs): `biblioduck import` plans with them, and a re-import of files
loaded already must not pay for importing parsers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import MalformedPayloadError

if TYPE_CHECKING:
    from connectors.pubmed.files import BulkFile
    from flows.bulk import PreparedFile, PrepareSettings


@dataclass(frozen=True, slots=True)
class NlmFile:
    """An NLM bulk file to download and prepare (`md5`: its sidecar's)."""

    file: BulkFile
    md5: str

    @property
    def name(self) -> str:
        return self.file.name

    def prepare(self, settings: PrepareSettings) -> PreparedFile:
        """Download, verify, parse, spool and validate the file. Raises the connector's errors
        (ChecksumMismatchError, TransientHttpError, …) and BatchRejectedError unchanged."""
        from connectors.pubmed.files import bulk_session, download
        from flows.bulk import prepare_path

        started = time.perf_counter()
        session = bulk_session(
            requests_per_second=settings.requests_per_second,
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
        )
        with session:
            path = download(self.file, settings.download_dir, session=session)
        downloaded = time.perf_counter()
        try:
            result = prepare_path(
                path, name=self.name, fmt="pubmed", md5=self.md5, settings=settings
            )
        finally:
            if not settings.keep_download:
                path.unlink(missing_ok=True)
        result.download_seconds = downloaded - started
        return result


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file on this machine to prepare as it is (`biblioduck import`): `name` is what the
    ledger calls it (its path inside a folder given, as a tar names its members); `md5`: its
    content's."""

    path: Path
    name: str
    fmt: str
    md5: str

    def prepare(self, settings: PrepareSettings) -> PreparedFile:
        from flows.bulk import prepare_path

        return prepare_path(
            self.path, name=self.name, fmt=self.fmt, md5=self.md5, settings=settings
        )


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

    def prepare(self, settings: PrepareSettings) -> PreparedFile:
        from flows.bulk import prepare_path

        with open(self.archive, "rb") as handle:
            handle.seek(self.offset)
            payload = handle.read(self.size)
        if len(payload) != self.size:
            raise MalformedPayloadError(
                f"{self.archive}: member {self.name} is cut short ({len(payload)} of "
                f"{self.size} bytes)"
            )
        return prepare_path(payload, name=self.name, fmt=self.fmt, md5=self.md5, settings=settings)


FileToLoad = NlmFile | LocalFile | TarMember
