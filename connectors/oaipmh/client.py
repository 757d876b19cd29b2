"""An OAI-PMH 2.0 harvesting client on the shared `PoliteSession`: the six verbs, resumption
tokens kept inside generators, from/until at the repository's granularity, OAI errors as typed
exceptions whatever HTTP status carries them, and lists that survive expired tokens.

Callers iterate pages (`list_record_pages`: raw bytes plus a checkpoint) or records
(`list_records`: `Record`s and `Deletion`s). A list whose token expires (`badResumptionToken`)
restarts inside the generator from its watermark and skips what it already yielded (identifier
+ datestamp); `noRecordsMatch` is an empty list. Transient HTTP failures (503 with Retry-After,
429, resets) are the session's business: it waits and retries.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from connectors.http import FatalHttpError, PoliteSession
from connectors.oaipmh.envelope import (
    MetadataFormat,
    OaiHeader,
    OaiSet,
    RepositoryInfo,
    ResumptionToken,
    parse_identify,
    parse_metadata_formats,
    parse_response,
    parse_sets,
    record_headers,
    resumption_token,
    verb_element,
)
from connectors.oaipmh.errors import BadResumptionToken, NoRecordsMatch, NoSetHierarchy
from connectors.oaipmh.parse import parse_records, records_from_response
from schemas.errors import MalformedPayloadError
from schemas.record import Deletion, Record

__all__ = ["DateLike", "OaiClient", "OaiPage", "format_datestamp"]

log = logging.getLogger(__name__)

DateLike = dt.date | dt.datetime | str

_ACCEPT = {"Accept": "text/xml, application/xml;q=0.9, */*;q=0.1"}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECOND = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})Z$")


def format_datestamp(value: DateLike, *, seconds: bool, end_of_day: bool = False) -> str:
    """A from/until argument at the repository's granularity.

    `seconds` is whether the repository's granularity is YYYY-MM-DDThh:mm:ssZ. Datetimes are
    converted to UTC (naive ones are taken as UTC); a day-granular repository gets the day (an
    inclusive `from` then lists a little more, never less). A plain day for a seconds-granular
    repository becomes its first second, or its last with `end_of_day` (for `until`, which is
    inclusive), so that from and until always share one granularity as the protocol requires.
    Strings must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (a datestamp as repositories give it).
    """
    if isinstance(value, str):
        text = value.strip()
        match = _SECOND.match(text)
        if match:
            return text if seconds else match.group(1)
        if not _DAY.match(text):
            raise ValueError(f"not an OAI-PMH datestamp: {value!r} (YYYY-MM-DD[Thh:mm:ssZ])")
        day = dt.date.fromisoformat(text)
        return _format_day(day, seconds=seconds, end_of_day=end_of_day)
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
        if seconds:
            return moment.replace(microsecond=0).isoformat() + "Z"
        return moment.date().isoformat()
    return _format_day(value, seconds=seconds, end_of_day=end_of_day)


def _format_day(day: dt.date, *, seconds: bool, end_of_day: bool) -> str:
    if not seconds:
        return day.isoformat()
    return f"{day.isoformat()}T{'23:59:59' if end_of_day else '00:00:00'}Z"


@dataclass(frozen=True, slots=True)
class OaiPage:
    """One answer of a list request (ListRecords or ListIdentifiers).

    `body` is the raw response; `headers` every header on it in order; `repeated` the
    (identifier, datestamp) keys this harvest yielded before (a list restarted after an
    expired token lists some again: `records()` and `new_headers` leave them out); `parsed`
    the new records of a ListRecords page, read from the same parse of the response as its
    headers (a page is parsed once).

    Checkpoint: `resume_from` is a datestamp from which a later harvest (inclusive `from`)
    misses nothing that this one had not yet yielded when the page was produced: the largest
    datestamp seen so far while the repository lists in datestamp order, else the harvest's
    own start (None: the beginning) until the list is complete. `max_datestamp` is the largest
    datestamp on this page alone.
    """

    endpoint: str
    verb: str
    metadata_prefix: str | None
    number: int
    request: str
    body: bytes = field(repr=False)
    headers: tuple[OaiHeader, ...]
    repeated: frozenset[tuple[str, str]]
    max_datestamp: str | None
    resume_from: str | None
    token: ResumptionToken | None
    restarts: int = 0
    parsed: tuple[Record | Deletion, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """Whether this is the last page of the list."""
        return self.token is None or self.token.value is None

    @property
    def new_headers(self) -> tuple[OaiHeader, ...]:
        """The headers not yielded before in this harvest."""
        return tuple(h for h in self.headers if h.key not in self.repeated)

    def records(self) -> list[Record | Deletion]:
        """The page's new records, parsed (ListRecords pages only)."""
        if self.parsed is not None:
            return list(self.parsed)
        return parse_records(
            self.body,
            origin=self.request,
            endpoint=self.endpoint,
            skip=self.repeated,
            metadata_prefix=self.metadata_prefix,
        )


@dataclass(slots=True)
class _Progress:
    """What a list harvest has seen: the watermark and the keys needed to skip repeats."""

    start: str | None
    running_max: str | None = None
    ordered: bool = True
    seen: set[tuple[str, str]] = field(default_factory=set)

    def observe(self, headers: list[OaiHeader]) -> tuple[int, frozenset[tuple[str, str]]]:
        """Count the new headers; return (how many were new, the keys that were repeats)."""
        new = 0
        repeated: set[tuple[str, str]] = set()
        for header in headers:
            if header.key in self.seen:
                repeated.add(header.key)
                continue
            new += 1
            self.seen.add(header.key)
            if self.running_max is not None and header.datestamp < self.running_max:
                self.ordered = False
            if self.running_max is None or header.datestamp > self.running_max:
                self.running_max = header.datestamp
        if self.ordered and self.running_max is not None:
            # In datestamp order no restart goes below the running maximum: older keys can
            # never be listed again, so memory stays at one datestamp's worth of keys.
            floor = self.running_max
            self.seen = {key for key in self.seen if key[1] >= floor}
        return new, frozenset(repeated)

    def resume_point(self, *, complete: bool) -> str | None:
        """The inclusive `from` that misses nothing not yet yielded (see `OaiPage`)."""
        if self.running_max is not None and (self.ordered or complete):
            return self.running_max
        return self.start


class OaiClient:
    """An OAI-PMH repository at `base_url` (e.g. https://zenodo.org/oai2d, https://…/ws/oai).

    Args:
        base_url: the endpoint, without query string.
        session: the polite HTTP session (default: one at `requests_per_second`).
        name: how messages name the repository (default "OAI-PMH <base_url>").
        granularity: the datestamp granularity, to skip asking Identify for it.
        restart_expired_lists: on `badResumptionToken`, restart the list from its watermark
            inside the generator (default); False raises `BadResumptionToken` with
            `resume_from` set, for callers that restart themselves.
        max_restarts: consecutive restarts that bring nothing new before giving up (with
            `BadResumptionToken`): when every token expires and more records share the
            watermark's datestamp than fit on a page, no restart can get further.
        requests_per_second: for the default session (OAI-PMH has no stated limit: be slow).
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: PoliteSession | None = None,
        name: str | None = None,
        granularity: str | None = None,
        restart_expired_lists: bool = True,
        max_restarts: int = 3,
        requests_per_second: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("?")
        self.name = name or f"OAI-PMH {self.base_url}"
        self.session = session or PoliteSession(
            source=self.name, requests_per_second=requests_per_second
        )
        self.restart_expired_lists = restart_expired_lists
        self.max_restarts = max_restarts
        self._granularity = granularity
        self._identity: RepositoryInfo | None = None

    # -- verbs --------------------------------------------------------------------------------

    def identify(self) -> RepositoryInfo:
        """The repository's Identify answer (asked once, then remembered)."""
        if self._identity is None:
            root, _body, described = self._call({"verb": "Identify"})
            self._identity = parse_identify(root, source=self.name, request=described)
        return self._identity

    def list_metadata_formats(self, identifier: str | None = None) -> list[MetadataFormat]:
        """The formats the repository (or one item) offers."""
        params = {"verb": "ListMetadataFormats"}
        if identifier is not None:
            params["identifier"] = identifier
        root, _body, described = self._call(params)
        return parse_metadata_formats(root, source=self.name, request=described)

    def list_sets(self) -> Iterator[OaiSet]:
        """Every set, following resumption tokens; nothing when the repository has no sets."""
        params = {"verb": "ListSets"}
        previous: str | None = None
        while True:
            try:
                root, _body, described = self._call(params)
            except NoSetHierarchy:
                return
            container = verb_element(root, "ListSets", source=self.name, request=described)
            yield from parse_sets(container)
            token = resumption_token(container)
            if token is None or token.value is None:
                return
            self._check_token_moves(token.value, previous, described)
            previous = token.value
            params = {"verb": "ListSets", "resumptionToken": token.value}

    def list_record_pages(
        self,
        metadata_prefix: str,
        from_: DateLike | None = None,
        until: DateLike | None = None,
        set_: str | None = None,
    ) -> Iterator[OaiPage]:
        """ListRecords answers one page at a time (see `OaiPage` for the checkpoint)."""
        return self._pages("ListRecords", metadata_prefix, from_, until, set_)

    def list_records(
        self,
        metadata_prefix: str,
        from_: DateLike | None = None,
        until: DateLike | None = None,
        set_: str | None = None,
    ) -> Iterator[Record | Deletion]:
        """Every record (and deletion) of the selection, each version once, in list order."""
        for page in self.list_record_pages(metadata_prefix, from_, until, set_):
            yield from page.records()

    def list_identifier_pages(
        self,
        metadata_prefix: str,
        from_: DateLike | None = None,
        until: DateLike | None = None,
        set_: str | None = None,
    ) -> Iterator[OaiPage]:
        """ListIdentifiers answers one page at a time."""
        return self._pages("ListIdentifiers", metadata_prefix, from_, until, set_)

    def list_identifiers(
        self,
        metadata_prefix: str,
        from_: DateLike | None = None,
        until: DateLike | None = None,
        set_: str | None = None,
    ) -> Iterator[OaiHeader]:
        """Every header of the selection (deleted ones flagged), each version once."""
        for page in self.list_identifier_pages(metadata_prefix, from_, until, set_):
            yield from page.new_headers

    def get_record(self, identifier: str, metadata_prefix: str) -> Record | Deletion:
        """One record by its OAI identifier (`IdDoesNotExist` when unknown)."""
        params = {"verb": "GetRecord", "identifier": identifier, "metadataPrefix": metadata_prefix}
        root, _body, described = self._call(params)
        records = records_from_response(
            root, origin=described, endpoint=self.base_url, metadata_prefix=metadata_prefix
        )
        if len(records) != 1:
            raise MalformedPayloadError(
                f"{self.name}: {described} answered {len(records)} records instead of one"
            )
        return records[0]

    # -- lists --------------------------------------------------------------------------------

    def datestamp_argument(self, value: DateLike, *, end_of_day: bool = False) -> str:
        """`value` as a from/until argument for this repository (asks Identify if needed)."""
        if self._granularity is None:
            self._granularity = self.identify().granularity or "YYYY-MM-DD"
        seconds = self._granularity.endswith("ssZ")
        return format_datestamp(value, seconds=seconds, end_of_day=end_of_day)

    def _pages(
        self,
        verb: str,
        metadata_prefix: str,
        from_: DateLike | None,
        until: DateLike | None,
        set_: str | None,
    ) -> Iterator[OaiPage]:
        base = {"verb": verb, "metadataPrefix": metadata_prefix}
        start = None if from_ is None else self.datestamp_argument(from_)
        if start is not None:
            base["from"] = start
        if until is not None:
            base["until"] = self.datestamp_argument(until, end_of_day=True)
        if set_ is not None:
            base["set"] = set_
        progress = _Progress(start=start)
        params = dict(base)
        number = restarts = fruitless = 0
        previous_token: str | None = None
        while True:
            try:
                root, body, described = self._call(params)
            except NoRecordsMatch:
                return  # an empty selection (or nothing left after a restart)
            except BadResumptionToken as error:
                if "resumptionToken" not in params:
                    raise
                error.resume_from = progress.resume_point(complete=False)
                if not self.restart_expired_lists or fruitless >= self.max_restarts:
                    raise
                params = dict(base)
                if error.resume_from is not None:
                    params["from"] = self.datestamp_argument(error.resume_from)
                restarts += 1
                fruitless += 1
                previous_token = None
                log.warning(
                    "%s: the resumption token expired after %d page(s); restarting the list "
                    "from %s (restart %d)",
                    self.name,
                    number,
                    error.resume_from or "the beginning",
                    restarts,
                )
                continue
            container = verb_element(root, verb, source=self.name, request=described)
            headers = record_headers(container, source=f"{self.name}: {described}")
            new, repeated = progress.observe(headers)
            if new:
                fruitless = 0
            token = resumption_token(container)
            complete = token is None or token.value is None
            number += 1
            parsed = None
            if verb == "ListRecords":
                # Pages after the first echo only their token: the format is the harvest's.
                found = records_from_response(
                    root,
                    origin=described,
                    endpoint=self.base_url,
                    skip=repeated,
                    metadata_prefix=metadata_prefix,
                )
                parsed = tuple(found)
            yield OaiPage(
                endpoint=self.base_url,
                verb=verb,
                metadata_prefix=metadata_prefix,
                number=number,
                request=described,
                body=body,
                headers=tuple(headers),
                repeated=repeated,
                max_datestamp=max((h.datestamp for h in headers), default=None),
                resume_from=progress.resume_point(complete=complete),
                token=token,
                restarts=restarts,
                parsed=parsed,
            )
            if token is None or token.value is None:
                return
            self._check_token_moves(token.value, previous_token, described)
            previous_token = token.value
            params = {"verb": verb, "resumptionToken": token.value}

    def _check_token_moves(self, token: str, previous: str | None, described: str) -> None:
        # A repository that hands back the token it was given would page forever.
        if token == previous:
            raise MalformedPayloadError(
                f"{self.name}: {described} answered the resumptionToken it was asked with; "
                "the list cannot advance (a repository bug)"
            )

    # -- transport ----------------------------------------------------------------------------

    def _call(self, params: dict[str, str]) -> tuple[etree._Element, bytes, str]:
        """GET one request; the checked `<OAI-PMH>` root, the body and the request as text."""
        described = self.session.describe("GET", self.base_url, params=params)
        try:
            reply = self.session.fetch("GET", self.base_url, params=params, headers=_ACCEPT)
        except FatalHttpError as refused:
            if refused.status is None or not 400 <= refused.status < 500:
                raise
            # Zenodo answers OAI errors with 422: read them as OAI errors, not HTTP failures.
            answer = self._error_body(refused)
            if answer is None:
                raise
            try:
                # Raises the typed OAI error when the body carries one.
                parse_response(answer[1], source=self.name, request=described, status=answer[0])
            except MalformedPayloadError:
                raise refused from None
            raise  # OAI XML without an <error>: the HTTP failure stands
        root = parse_response(
            reply.body,
            source=self.name,
            request=described,
            status=reply.status,
            content_type=reply.headers.get("Content-Type"),
        )
        return root, reply.body, described

    @staticmethod
    def _error_body(refused: FatalHttpError) -> tuple[int, bytes] | None:
        # The start of the refused body the session keeps (Zenodo's OAI error comes in it).
        if refused.body is None or refused.status is None:
            return None
        return refused.status, refused.body
