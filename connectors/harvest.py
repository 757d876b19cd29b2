"""What a sync reads from a source, as the source's own connector says it: the `Harvest` protocol
that `connectors.pubmed.harvest`, `connectors.crossref.harvest` and `connectors.oaipmh.harvest`
implement and `flows.sync.run_sync` runs.

A harvest is built for one run, from typed settings and the run's parameters, with its own
polite session. It plans the run's window from the stored state (`plan`), does what must come
before the first page (`prepare`), yields pages (`pages`: the payload to parse, its record
count, batch id and the checkpoint to save with it) and says where the watermark goes once the
window is complete (`completed`). Paging internals (retstart and slices, cursors, resumption
tokens) stay inside it. Pure of Prefect and of the warehouse: the runner owns both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.errors import TransientError
from schemas.record import Deletion, Record

__all__ = [
    "Harvest",
    "HarvestPage",
    "HttpSettings",
    "Note",
    "Outlook",
    "Parsable",
    "Payload",
    "RestartWindow",
    "Window",
]

# A line for the run's log: (logging level, message).
Note = tuple[int, str]


class HttpSettings(Protocol):
    """The settings every connector's session takes (`flows.settings.Settings` has them)."""

    @property
    def http_max_attempts(self) -> int: ...

    @property
    def http_backoff_base(self) -> float: ...


class Parsable(Protocol):
    """A fetched page, not yet parsed: parsed once, by the task that loads it."""

    def items(self) -> list[Record | Deletion]:
        """The page's records and deletions, parsed."""
        ...


@dataclass(frozen=True, slots=True)
class Payload:
    """Fetched bytes and the connector's parser for them (`origin` names them in messages)."""

    parse: Callable[..., Iterable[Record | Deletion]]
    origin: str
    body: bytes = field(repr=False)

    def items(self) -> list[Record | Deletion]:
        return list(self.parse(self.body, origin=self.origin))


@dataclass(frozen=True, slots=True)
class Window:
    """What one run reads, from its parameters and the scope's stored state.

    `since`/`until` as the source writes them (ISO days, OAI-PMH datestamps; None: from the
    beginning, or no bound); `watermark` the stored one (each page's state keeps it until the
    window is complete); `watermark_after` where it goes then, as far as the plan knows
    (`Harvest.completed` has the last word); `joins` whether the window joins on to the
    watermark (only then may it move it); `resume` the source's own resume point of an
    interrupted run (None: start at the beginning of the window); `notes` lines for the log.
    """

    since: str | None
    until: str | None
    watermark: str | None
    watermark_after: str | None
    joins: bool = True
    resume: Any = None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class Outlook:
    """What a harvest knows before its first page: the records it expects (a progress total,
    when known up front) and lines for the run's log."""

    expected: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HarvestPage:
    """One fetched page as a sync loads it: its `payload` (parsed when loaded), its records as
    the source counts them, its batch id, the `checkpoint` to save with it (where a failed run
    resumes once it is loaded), whether it must end its load group (`ends_group`: a page with
    deletions), and the records the run expects as known at this page (progress)."""

    payload: Parsable
    records: int
    batch_id: str
    checkpoint: dict[str, Any]
    ends_group: bool = False
    expected: int | None = None


class RestartWindow(TransientError):
    """The window must be read again from its start (Crossref's cursor lost works): the runner
    clears the checkpoint, keeps the watermark, and fails the run with this message."""


class Harvest(Protocol):
    """One run's reading of one source (see the module docstring).

    Names: `source` (the warehouse's), `scope` (the sync_state key), `kind` (the run row's),
    `name` (the log's), `title` and `subject` (the summary artifact's: "<title> of <subject>"),
    `summary_key` (the artifact's key) and `progress_label` (the progress bar's)."""

    source: str
    scope: str
    kind: str
    name: str
    title: str
    subject: str
    summary_key: str
    progress_label: str

    def plan(self, watermark: str | None, checkpoint: Mapping[str, Any] | None) -> Window:
        """The run's window from the stored state; `FatalError` for an impossible one."""
        ...

    def run_parameters(self, window: Window) -> dict[str, Any]:
        """The run row's parameters."""
        ...

    def prepare(self, window: Window) -> Outlook:
        """What comes before the first page (PubMed plans its query's slices)."""
        ...

    def pages(self, window: Window, run_id: str) -> Iterator[HarvestPage]:
        """The window's pages, from its resume point (a generator: fetching happens as the
        runner consumes it, on a thread of its own)."""
        ...

    def completed(self, window: Window) -> str | None:
        """The new watermark once every page is loaded; `RestartWindow` when the window must
        be read again."""
        ...

    def summary_rows(self, window: Window, watermark: str | None) -> dict[str, Any]:
        """The summary's rows after the run's counters (`watermark`: the new one)."""
        ...

    def result(self, window: Window) -> dict[str, Any]:
        """The flow result's keys beyond the runner's own."""
        ...

    def describe_error(self, error: BaseException) -> str:
        """A failure as the run row and the log say it."""
        ...
