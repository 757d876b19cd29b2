"""The enrichment sync of landing pages as a `connectors.harvest.Harvest`: a list of DOIs (a
file, or the works that lack an abstract or affiliations), each resolved and its page read,
one page per `HarvestPage`, resumable: the checkpoint is the index of the next DOI in the list,
kept with a digest of the list so that a different list starts from its beginning.

A DOI whose page cannot be had for a reason that asking again will not change (403, 404, not
HTML, robots.txt, a redirect loop, over the size cap) or whose page states no metadata is
counted by reason and passed over: one publisher must not stop the enrichment of the others.
Transient failures (429 or 5xx past the session's retries) end the run; the next run resumes
at the DOI that failed. There is no watermark: the list is the window."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from connectors.harvest import HarvestPage, HttpSettings, Note, Outlook, Payload, Window
from connectors.http import FatalHttpError
from connectors.landing.client import (
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_REQUESTS_PER_SECOND,
    LandingClient,
    LandingFetchError,
    landing_session,
)
from connectors.landing.parse import SOURCE, NoRecord, iter_landing_records, parse_landing_page
from schemas.errors import UsageError
from schemas.identifiers import normalise_doi
from schemas.record import Deletion, Record

__all__ = ["LandingHarvest", "LandingSettings", "landing_client", "read_doi_file"]


class LandingSettings(HttpSettings, Protocol):
    """What the landing client is configured with (for `flows.settings.Settings` to have)."""

    @property
    def landing_doi_resolver(self) -> str | None: ...

    @property
    def landing_requests_per_second(self) -> float: ...

    @property
    def landing_max_page_bytes(self) -> int: ...


def landing_client(settings: LandingSettings) -> LandingClient:
    """A client on its own polite session (its rate is per host)."""
    session = landing_session(
        requests_per_second=settings.landing_requests_per_second or DEFAULT_REQUESTS_PER_SECOND,
        max_attempts=settings.http_max_attempts,
        backoff_base=settings.http_backoff_base,
        max_page_bytes=settings.landing_max_page_bytes or DEFAULT_MAX_PAGE_BYTES,
    )
    return LandingClient(session, resolver=settings.landing_doi_resolver)


def read_doi_file(path: str | Path) -> list[str]:
    """The DOIs of a file, one a line (a bare DOI, `doi:…` or a doi.org URL), normalised, in
    order, repeats dropped; blank lines and `#` comments skipped. `UsageError` names the
    lines that hold no DOI (before any work starts)."""
    dois: dict[str, None] = {}
    bad: list[str] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        doi = normalise_doi(text)
        if doi is None:
            bad.append(f"line {number}: {text[:60]!r}")
        else:
            dois.setdefault(doi, None)
    if bad:
        raise UsageError(f"{path}: not a DOI on {len(bad)} line(s): {'; '.join(bad[:5])}")
    return list(dois)


def _list_digest(dois: Sequence[str]) -> str:
    return hashlib.blake2b("\n".join(dois).encode(), digest_size=8).hexdigest()


def _nothing(_body: bytes, *, origin: str) -> Iterable[Record | Deletion]:
    """The parse of a DOI whose page gave no record: its page still carries the checkpoint."""
    return ()


class LandingHarvest:
    """One run over a list of DOIs (see the module docstring)."""

    source = SOURCE
    kind = "landing-enrichment"
    name = title = "Landing pages"
    summary_key = "landing-sync-summary"

    def __init__(
        self,
        settings: LandingSettings,
        *,
        dois: Sequence[str],
        label: str = "DOI list",
        client: LandingClient | None = None,
    ) -> None:
        self.dois = list(dict.fromkeys(d for d in map(normalise_doi, dois) if d is not None))
        self.digest = _list_digest(self.dois)
        self.scope = f"dois:{self.digest}"
        self.subject = f"{label} ({len(self.dois)} DOIs)"
        self.progress_label = f"landing pages of {label}"
        self.client = client or landing_client(settings)
        self.outcomes: Counter[str] = Counter()

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        start = 0
        notes: list[Note] = []
        if checkpoint and checkpoint.get("list") == self.digest:
            start = int(checkpoint.get("next", 0))
            notes.append((logging.INFO, f"resuming {self.subject} at DOI {start + 1}"))
        return Window(None, None, watermark, watermark, True, start, tuple(notes))

    def run_parameters(self, window: Window) -> dict[str, Any]:
        return {"dois": len(self.dois), "list": self.digest, "resume_at": window.resume}

    def prepare(self, window: Window) -> Outlook:
        return Outlook(expected=len(self.dois) - int(window.resume or 0))

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        for index in range(int(window.resume or 0), len(self.dois)):
            doi = self.dois[index]
            checkpoint = {"list": self.digest, "next": index + 1}
            batch_id = f"landing:{run_id}:{index}"
            try:
                page = self.client.fetch_doi(doi)
            except LandingFetchError as error:
                self.outcomes[error.kind] += 1
                yield HarvestPage(Payload(_nothing, doi, b""), 0, batch_id, checkpoint)
                continue
            except FatalHttpError as error:
                self.outcomes[f"http_{error.status}" if error.status else "refused"] += 1
                yield HarvestPage(Payload(_nothing, doi, b""), 0, batch_id, checkpoint)
                continue
            # Parsed here only to count what has no record; the load parses it again (~2 ms).
            parsed = parse_landing_page(
                page.body, url=page.url, expected_doi=doi, content_type=page.content_type
            )
            if isinstance(parsed, NoRecord):
                self.outcomes["no_record"] += 1
                yield HarvestPage(Payload(_nothing, doi, b""), 0, batch_id, checkpoint)
                continue
            self.outcomes["mismatch" if parsed.unreadable else "record"] += 1
            parse = functools.partial(
                iter_landing_records,
                url=page.url,
                expected_doi=doi,
                content_type=page.content_type,
            )
            yield HarvestPage(
                Payload(parse, f"{doi} ({page.url})", page.body), 1, batch_id, checkpoint
            )

    def completed(self, window: Window) -> str | None:
        return window.watermark_after

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        counted = ", ".join(f"{kind} {n}" for kind, n in sorted(self.outcomes.items()))
        return {"DOIs": self.subject, "pages": counted or "none"}

    def result(self, window: Window) -> dict[str, Any]:
        return {"landing_outcomes": dict(self.outcomes)}

    def describe_error(self, error: BaseException) -> str:
        return str(error)
