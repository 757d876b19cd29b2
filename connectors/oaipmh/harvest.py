"""The incremental ListRecords harvest of one OAI-PMH repository (endpoint + metadataPrefix + set)
as a `connectors.harvest.Harvest`: the window of datestamps, pages checkpointed by the datestamp
a later harvest may resume from, and the watermark: the largest datestamp seen. Resumption
tokens (and lists restarted after they expire) stay inside the client. Its records and
deletions are those of its metadataPrefix (`source_id` `<identifier>#<metadataPrefix>`): the
harvest of another format of the same repository neither replaces nor deletes them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.harvest import HarvestPage, HttpSettings, Note, Outlook, Window
from connectors.http import PoliteSession
from connectors.oaipmh.client import OaiClient, OaiPage, format_datestamp
from connectors.oaipmh.parse import SOURCE
from schemas.errors import FatalError
from schemas.record import Deletion, Record

__all__ = [
    "OaiHarvest",
    "OaiSettings",
    "checked_datestamp",
    "checked_endpoint",
    "checked_prefix",
    "harvest_scope",
    "oai_client",
    "plan_window",
]


class OaiSettings(HttpSettings, Protocol):
    """What an OAI-PMH harvest is configured with (`flows.settings.Settings` has it)."""

    @property
    def oai_requests_per_second(self) -> float: ...


def oai_client(settings: HttpSettings, endpoint: str, requests_per_second: float) -> OaiClient:
    """A client for `endpoint` on its own polite session (retries and backoff as configured).
    OAI-PMH states no rate limit, and many repositories are small institutional servers: the
    configured rate is slow (`oai_requests_per_second`, default 1)."""
    name = f"OAI-PMH {endpoint}"
    session = PoliteSession(
        source=name,
        requests_per_second=requests_per_second,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
    )
    return OaiClient(endpoint, session=session, name=name)


def harvest_scope(repository: str, metadata_prefix: str, set_spec: str | None) -> str:
    """The sync_state key of one standing harvest: repository, metadataPrefix and set."""
    scope = f"ListRecords {repository} metadataPrefix={metadata_prefix}"
    return f"{scope} set={set_spec}" if set_spec else scope


def checked_datestamp(value: str | None, name: str) -> str | None:
    """`since`/`until` as given (stripped; None when blank); `FatalError` when neither a day
    nor a datestamp."""
    if value is None or not value.strip():
        return None
    try:
        format_datestamp(value, seconds=True)
    except ValueError:
        raise FatalError(
            f"OAI-PMH harvest: {name} must be a day (YYYY-MM-DD) or a datestamp "
            f"(YYYY-MM-DDThh:mm:ssZ), not {value!r}"
        ) from None
    return value.strip()


# OAI-PMH 2.0, section 3.4: a metadataPrefix is made of URI unreserved characters (RFC 2396).
_PREFIX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")


def checked_prefix(metadata_prefix: str) -> str:
    """A metadataPrefix as the protocol allows it; `FatalError` otherwise (it is part of each
    record's `source_id`, after a `#` that no prefix may hold)."""
    if not _PREFIX.fullmatch(metadata_prefix):
        raise FatalError(
            "OAI-PMH harvest: a metadataPrefix is letters, digits and -_.!~*'() only "
            f"(e.g. oai_dc, datacite, mods), not {metadata_prefix!r}"
        )
    return metadata_prefix


def checked_endpoint(endpoint: str) -> str:
    """The base URL of an endpoint; `FatalError` when it is not one."""
    base = endpoint.strip().rstrip("?")
    if not base.startswith(("http://", "https://")) or "?" in base:
        raise FatalError(
            f"OAI-PMH harvest: the endpoint must be an http(s) base URL without a query "
            f"string (e.g. https://zenodo.org/oai2d), not {endpoint!r}"
        )
    return base


def latest(*stamps: str | None) -> str | None:
    """The latest of datestamps. Those of one repository share a granularity and sort as text;
    a day sorts before the datestamps of that day, which errs towards listing a little more,
    never less."""
    return max((s for s in stamps if s), default=None)


@dataclass(frozen=True, slots=True)
class Resume:
    """Where an interrupted harvest resumes (`from`), and the largest datestamp it had seen."""

    resume_from: str | None
    max_datestamp: str | None


def plan_window(
    since: str | None,
    until: str | None,
    watermark: str | None,
    checkpoint: Mapping[str, Any] | None,
    *,
    label: str,
) -> Window:
    """The window of a harvest: `since` (else the watermark, inclusive, else the beginning) to
    `until` (else no bound). An interrupted window is resumed when no window is given, or the
    same one (`resume`: a `Resume`). A backfill of an older window does not move the watermark;
    a window that starts after it would leave a gap, so it does not move it either."""
    start, end = since or watermark, until
    resume = Resume(None, None)
    notes: list[Note] = []
    if checkpoint and checkpoint.get("unfinished"):
        window = (checkpoint.get("since"), checkpoint.get("until"))
        if (since is None and until is None) or window == (start, end):
            start, end = window
            resume = Resume(checkpoint.get("resume_from"), checkpoint.get("max_datestamp"))
            begin = resume.resume_from or start or "the beginning"
            notes.append((logging.INFO, f"resuming {label} from {begin}"))
        else:
            # Its watermark never moved, so the next incremental harvest covers its window.
            notes.append(
                (
                    logging.WARNING,
                    f"{label}: not resuming the interrupted window {window[0] or 'the beginning'}"
                    f"..{window[1] or 'now'}; this run's window replaces it",
                )
            )
    if start and end and start[:10] > end[:10]:
        said = "since" if since else "the stored watermark"
        raise FatalError(f"OAI-PMH harvest of {label}: {said} {start} is after until {end}")
    joins = watermark is None or start is None or start <= watermark
    return Window(start, end, watermark, watermark, joins, resume, tuple(notes))


@dataclass(frozen=True, slots=True)
class _NewRecords:
    """A ListRecords answer as a `connectors.harvest.Parsable`: its records and deletions not
    yielded before in this harvest."""

    page: OaiPage

    def items(self) -> list[Record | Deletion]:
        return self.page.records()


class OaiHarvest:
    """The harvest of one repository (see `flows.oai.oai_harvest`)."""

    source = SOURCE
    kind = "oai-harvest"
    title = "OAI-PMH harvest"
    summary_key = "oai-harvest-summary"

    def __init__(
        self,
        settings: OaiSettings,
        *,
        endpoint: str,
        metadata_prefix: str = "oai_dc",
        set_spec: str | None = None,
        since: str | None = None,
        until: str | None = None,
        repository: str | None = None,
        requests_per_second: float | None = None,
        client: OaiClient | None = None,
    ) -> None:
        self.endpoint = checked_endpoint(endpoint)
        self.metadata_prefix = checked_prefix(metadata_prefix)
        self.set_spec = set_spec or None
        self.since = checked_datestamp(since, "since")
        self.until = checked_datestamp(until, "until")
        self.scope = harvest_scope(repository or self.endpoint, metadata_prefix, self.set_spec)
        in_set = f", set {self.set_spec}" if self.set_spec else ""
        self.name = self.subject = self.progress_label = (
            f"OAI-PMH {self.endpoint} ({metadata_prefix}{in_set})"
        )
        rate = requests_per_second or settings.oai_requests_per_second
        self.client = client or oai_client(settings, self.endpoint, rate)
        self.number = self.restarts = 0  # pages, and list restarts after expired tokens
        self.seen_max: str | None = None  # the largest datestamp seen

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        return plan_window(self.since, self.until, watermark, checkpoint, label=self.name)

    def run_parameters(self, window: Window) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "metadata_prefix": self.metadata_prefix,
            "set": self.set_spec,
            "since": window.since,
            "until": window.until,
            "resume_from": window.resume.resume_from,
        }

    def prepare(self, window: Window) -> Outlook:
        return Outlook()

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        resume: Resume = window.resume
        self.seen_max = resume.max_datestamp
        base = {
            "unfinished": True,
            "endpoint": self.endpoint,
            "metadata_prefix": self.metadata_prefix,
            "set": self.set_spec,
            "since": window.since,
            "until": window.until,
        }
        for page in self.client.list_record_pages(
            self.metadata_prefix,
            from_=resume.resume_from or window.since,
            until=window.until,
            set_=self.set_spec,
        ):
            self.number, self.restarts = page.number, page.restarts
            self.seen_max = latest(self.seen_max, page.max_datestamp)
            new = page.new_headers
            announced = page.token.complete_list_size if page.token else None
            yield HarvestPage(
                _NewRecords(page),
                len(new),
                f"oai:{run_id}:{page.number}",
                {**base, "resume_from": page.resume_from, "max_datestamp": self.seen_max},
                ends_group=any(header.deleted for header in new),
                expected=announced,
            )

    def completed(self, window: Window) -> str | None:
        if not window.joins:
            return window.watermark
        return latest(window.watermark, window.resume.max_datestamp, self.seen_max)

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        return {
            "repository": f"`{self.endpoint}`",
            "metadataPrefix": f"`{self.metadata_prefix}`",
            "set": f"`{self.set_spec}`" if self.set_spec else "all records",
            "window": f"{window.since or 'the beginning'}..{window.until or 'now'} "
            "(datestamps, inclusive)",
            "pages": f"{self.number} ({self.restarts} list restarts after expired tokens)",
            "watermark": watermark or "-",
        }

    def result(self, window: Window) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "metadata_prefix": self.metadata_prefix,
            "set": self.set_spec,
            "pages": self.number,
            "restarts": self.restarts,
        }

    def describe_error(self, error: BaseException) -> str:
        return f"{type(error).__name__}: {error}"
