"""An OAI-PMH 2.0 emulator, as a WSGI app for `sandbox.server.serve`: several repositories
under one server, each at its own path.

- `GeneratedRepository`: a real implementation of the six verbs over items in memory
  (from/until at its granularity, sets with hierarchy, deleted records, resumption tokens with
  cursor/completeListSize/expirationDate that can be expired on demand, every OAI error), used
  for the Pure-like portal of `sandbox.pure_corpus`.
- `ReplayRepository`: recorded answers of real repositories, matched on the request's
  arguments: Zenodo (the scythe cassettes, whose ListRecords/ListIdentifiers token chains are
  answered by the real tokens found in the pages) and the 2003 DSpace files of pyoai.
- `StaticRepository`: the same body for every request (the deliberately broken files, an
  HTML page at a "wrong endpoint").

Errors go out with HTTP 200 as the spec says, or with any other status (Zenodo: 422), per
repository. A `sandbox.faults.FaultPlan` (the kit every emulator shares) makes requests
misbehave deterministically, counted per verb ("ListRecords", …) or over all ("any"): 503 with
Retry-After, a reset or truncated body, an answer of your choosing, or `Fault.expire()` (the
request's resumption token expires just before it is answered). Every request is recorded.

The items, formats and identity a repository serves are plain data (`sandbox.oai_records`);
`pure_repository()` serves the corpus of `sandbox.pure_corpus`.
"""

from __future__ import annotations

import datetime as dt
import functools
import http
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape, quoteattr

from werkzeug.wrappers import Request

from sandbox.faults import Fault, FaultPlan, RecordedRequest, RequestLog, request_params, respond
from sandbox.oai_records import OaiFormat, OaiItem, RepositoryIdentity
from sandbox.pure_corpus import FORMATS, PORTAL_HOST, SEED_IDENTIFIER, pure_items, set_names

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "BROKEN_BOGUS_PATH",
    "BROKEN_ENTITY_PATH",
    "DSPACE_PATH",
    "HTML_PATH",
    "PURE_PATH",
    "ZENODO_PATH",
    "GeneratedRepository",
    "OaiEmulator",
    "OaiFormat",
    "OaiItem",
    "ReplayRepository",
    "Reply",
    "Repository",
    "RepositoryIdentity",
    "StaticRepository",
    "build_emulator",
    "dspace_replay",
    "pure_repository",
    "static_file",
    "wrong_endpoint_page",
    "zenodo_replay",
]

ZENODO_PATH = "/zenodo/oai2d"
DSPACE_PATH = "/dspace/oai"
PURE_PATH = "/pure/ws/oai"
BROKEN_BOGUS_PATH = "/broken/bogus-element"
BROKEN_ENTITY_PATH = "/broken/undefined-entity"
HTML_PATH = "/wrong-endpoint/html"

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_XML = "text/xml; charset=utf-8"
_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ROOT_OPEN = (
    f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ '
    'http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">'
)
_VERBS = (
    "Identify",
    "ListMetadataFormats",
    "ListSets",
    "ListIdentifiers",
    "ListRecords",
    "GetRecord",
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WHOLE_DAY = {"from": "T00:00:00Z", "until": "T23:59:59Z"}
_TOKEN_IN_BODY = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# ---------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Reply:
    """What a repository answers: status, body, content type, extra headers."""

    status: int
    body: bytes
    content_type: str = _XML
    headers: list[tuple[str, str]] = field(default_factory=list)


class Repository(Protocol):
    """One repository behind a path of the emulator."""

    def answer(self, params: dict[str, list[str]], base_url: str) -> Reply:
        """The reply to one request (`params` as parsed, every value of repeated ones)."""
        ...

    def expire_tokens(self, token: str | None = None) -> int:
        """Expire `token`, or every live token; how many expired."""
        ...


def _envelope(base_url: str, request_attributes: Mapping[str, str], content: str) -> bytes:
    """A complete OAI-PMH response (responseDate is the real clock: nothing asserts on it)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attributes = "".join(
        f" {name}={quoteattr(value)}" for name, value in request_attributes.items()
    )
    return (
        f"{_PROLOG}{_ROOT_OPEN}<responseDate>{now}</responseDate>"
        f"<request{attributes}>{escape(base_url)}</request>{content}</OAI-PMH>"
    ).encode()


def _error(base_url: str, code: str, message: str, status: int) -> Reply:
    # The spec says: no attributes on <request> when the request was bad.
    content = f'<error code="{code}">{escape(message)}</error>'
    return Reply(status, _envelope(base_url, {}, content))


# ---------------------------------------------------------------------------------------------
# A generated repository
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _TokenState:
    verb: str
    prefix: str
    start: str | None
    end: str | None
    set_spec: str | None
    offset: int


class GeneratedRepository:
    """The six verbs over `items`, listed in (datestamp, identifier) order, `page_size` per
    page. `error_status` is the HTTP status errors go out with (200 per the spec).

    Items can change between requests (`upsert`, `delete`), as in a live repository: a
    resumption token keeps its position in the current list, not a snapshot.
    """

    def __init__(
        self,
        items: Iterable[OaiItem],
        *,
        identity: RepositoryIdentity,
        formats: Sequence[OaiFormat],
        sets: Sequence[tuple[str, str]] = (),
        page_size: int = 10,
        error_status: int = 200,
        token_lifetime: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        self.identity = identity
        self.formats = tuple(formats)
        self.sets = tuple(sets)
        self.page_size = page_size
        self.error_status = error_status
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._items: dict[str, OaiItem] = {item.identifier: item for item in items}
        self._tokens: dict[str, _TokenState] = {}
        self._serial = 0

    # -- changes ------------------------------------------------------------------------------

    @property
    def items(self) -> list[OaiItem]:
        """The items in list order (datestamp, identifier)."""
        with self._lock:
            return sorted(self._items.values(), key=lambda i: (i.datestamp, i.identifier))

    def upsert(self, item: OaiItem) -> None:
        """Add an item or replace the one with its identifier."""
        with self._lock:
            self._items[item.identifier] = item

    def delete(self, identifier: str, datestamp: str) -> None:
        """Mark an item deleted at `datestamp` (persistent deletion: the header stays)."""
        with self._lock:
            item = self._items[identifier]
            self._items[identifier] = OaiItem(identifier, datestamp, item.set_specs, True, {})

    def expire_tokens(self, token: str | None = None) -> int:
        """Expire one token, or all of them: later requests with them get badResumptionToken."""
        with self._lock:
            if token is None:
                count = len(self._tokens)
                self._tokens.clear()
                return count
            return 1 if self._tokens.pop(token, None) is not None else 0

    # -- protocol -----------------------------------------------------------------------------

    def answer(self, params: dict[str, list[str]], base_url: str) -> Reply:
        """One OAI-PMH request."""
        for name, values in params.items():
            if len(values) > 1:
                return self._fail(base_url, "badArgument", f"repeated argument: {name}")
        args = {name: values[0] for name, values in params.items()}
        verb = args.pop("verb", None)
        if verb not in _VERBS:
            text = "missing verb" if verb is None else f"illegal verb: {verb}"
            return self._fail(base_url, "badVerb", text)
        handler: Callable[[dict[str, str], str], Reply] = getattr(self, f"_{verb}")
        return handler(args, base_url)

    def _fail(self, base_url: str, code: str, message: str) -> Reply:
        return _error(base_url, code, message, self.error_status)

    def _unexpected(self, args: dict[str, str], allowed: set[str], base_url: str) -> Reply | None:
        extra = sorted(set(args) - allowed)
        if extra:
            return self._fail(base_url, "badArgument", f"illegal argument(s): {', '.join(extra)}")
        return None

    def _Identify(self, args: dict[str, str], base_url: str) -> Reply:
        if (bad := self._unexpected(args, set(), base_url)) is not None:
            return bad
        identity = self.identity
        earliest = identity.earliest_datestamp or min(
            (item.datestamp for item in self.items), default="1970-01-01T00:00:00Z"
        )
        content = (
            "<Identify>"
            f"<repositoryName>{escape(identity.repository_name)}</repositoryName>"
            f"<baseURL>{escape(base_url)}</baseURL>"
            "<protocolVersion>2.0</protocolVersion>"
            f"<adminEmail>{escape(identity.admin_email)}</adminEmail>"
            f"<earliestDatestamp>{earliest}</earliestDatestamp>"
            f"<deletedRecord>{identity.deleted_record}</deletedRecord>"
            f"<granularity>{identity.granularity}</granularity>"
            "<description><oai-identifier "
            'xmlns="http://www.openarchives.org/OAI/2.0/oai-identifier" '
            'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai-identifier '
            'http://www.openarchives.org/OAI/2.0/oai-identifier.xsd">'
            "<scheme>oai</scheme>"
            f"<repositoryIdentifier>{escape(identity.repository_identifier)}"
            "</repositoryIdentifier><delimiter>:</delimiter>"
            f"<sampleIdentifier>{escape(identity.sample_identifier)}</sampleIdentifier>"
            "</oai-identifier></description></Identify>"
        )
        return Reply(200, _envelope(base_url, {"verb": "Identify"}, content))

    def _ListMetadataFormats(self, args: dict[str, str], base_url: str) -> Reply:
        if (bad := self._unexpected(args, {"identifier"}, base_url)) is not None:
            return bad
        identifier = args.get("identifier")
        formats = self.formats
        if identifier is not None:
            with self._lock:
                item = self._items.get(identifier)
            if item is None:
                return self._fail(base_url, "idDoesNotExist", f"unknown identifier {identifier}")
            if item.deleted:
                return self._fail(base_url, "noMetadataFormats", f"{identifier} is deleted")
            formats = tuple(f for f in formats if f.prefix in item.metadata)
        content = "".join(
            "<metadataFormat>"
            f"<metadataPrefix>{escape(f.prefix)}</metadataPrefix>"
            f"<schema>{escape(f.schema)}</schema>"
            f"<metadataNamespace>{escape(f.namespace)}</metadataNamespace>"
            "</metadataFormat>"
            for f in formats
        )
        attributes = {"verb": "ListMetadataFormats", **args}
        return Reply(
            200,
            _envelope(
                base_url, attributes, f"<ListMetadataFormats>{content}</ListMetadataFormats>"
            ),
        )

    def _ListSets(self, args: dict[str, str], base_url: str) -> Reply:
        if (bad := self._unexpected(args, {"resumptionToken"}, base_url)) is not None:
            return bad
        if "resumptionToken" in args:
            # Every set fits on one page: no token was ever issued for ListSets.
            return self._fail(base_url, "badResumptionToken", "unknown resumptionToken")
        if not self.sets:
            return self._fail(base_url, "noSetHierarchy", "this repository has no sets")
        content = "".join(
            f"<set><setSpec>{escape(spec)}</setSpec><setName>{escape(name)}</setName></set>"
            for spec, name in self.sets
        )
        return Reply(
            200, _envelope(base_url, {"verb": "ListSets"}, f"<ListSets>{content}</ListSets>")
        )

    def _ListIdentifiers(self, args: dict[str, str], base_url: str) -> Reply:
        return self._list("ListIdentifiers", args, base_url)

    def _ListRecords(self, args: dict[str, str], base_url: str) -> Reply:
        return self._list("ListRecords", args, base_url)

    def _GetRecord(self, args: dict[str, str], base_url: str) -> Reply:
        if (bad := self._unexpected(args, {"identifier", "metadataPrefix"}, base_url)) is not None:
            return bad
        identifier, prefix = args.get("identifier"), args.get("metadataPrefix")
        if identifier is None or prefix is None:
            return self._fail(base_url, "badArgument", "identifier and metadataPrefix required")
        with self._lock:
            item = self._items.get(identifier)
        if item is None:
            return self._fail(base_url, "idDoesNotExist", f"unknown identifier {identifier}")
        if prefix not in {f.prefix for f in self.formats} or not (
            item.deleted or prefix in item.metadata
        ):
            return self._fail(
                base_url, "cannotDisseminateFormat", f"{prefix} is not available for {identifier}"
            )
        content = f"<GetRecord>{_record_xml(item, prefix)}</GetRecord>"
        return Reply(200, _envelope(base_url, {"verb": "GetRecord", **args}, content))

    def _list(self, verb: str, args: dict[str, str], base_url: str) -> Reply:
        token = args.get("resumptionToken")
        if token is not None:
            if len(args) > 1:
                return self._fail(base_url, "badArgument", "resumptionToken is exclusive")
            with self._lock:
                # Tokens can be used again until they expire: a client retrying a page whose
                # answer broke off (reset, 503) asks with the same token.
                state = self._tokens.get(token)
            if state is None or state.verb != verb:
                return self._fail(
                    base_url, "badResumptionToken", "The resumptionToken is invalid or expired."
                )
        else:
            allowed = {"metadataPrefix", "from", "until", "set"}
            if (bad := self._unexpected(args, allowed, base_url)) is not None:
                return bad
            prefix = args.get("metadataPrefix")
            if prefix is None:
                return self._fail(base_url, "badArgument", "metadataPrefix is required")
            if prefix not in {f.prefix for f in self.formats}:
                return self._fail(
                    base_url, "cannotDisseminateFormat", f"unknown metadataPrefix {prefix}"
                )
            problem, start, end = self._range(args.get("from"), args.get("until"))
            if problem is not None:
                return self._fail(base_url, "badArgument", problem)
            set_spec = args.get("set")
            if set_spec is not None and not self.sets:
                return self._fail(base_url, "noSetHierarchy", "this repository has no sets")
            state = _TokenState(verb, prefix, start, end, set_spec, 0)
        selected = self._select(state)
        if not selected:
            return self._fail(base_url, "noRecordsMatch", "")
        page = selected[state.offset : state.offset + self.page_size]
        element = "header" if verb == "ListIdentifiers" else "record"
        body = "".join(
            _header_xml(item) if element == "header" else _record_xml(item, state.prefix)
            for item in page
        )
        body += self._next_token(state, len(selected))
        attributes = {"verb": verb, **args}
        return Reply(200, _envelope(base_url, attributes, f"<{verb}>{body}</{verb}>"))

    def _range(
        self, start: str | None, end: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """(problem, from, until) normalised to seconds; a problem is a badArgument text."""
        seconds = self.identity.granularity.endswith("ssZ")
        shapes = []
        for value in (start, end):
            if value is None:
                continue
            if _DAY.match(value):
                shapes.append("day")
            elif _SECOND.match(value) and seconds:
                shapes.append("second")
            else:
                return (
                    f"bad datestamp {value!r} for granularity {self.identity.granularity}",
                    None,
                    None,
                )
        if len(set(shapes)) > 1:
            return "from and until must have the same granularity", None, None
        low = None if start is None else (start + "T00:00:00Z" if _DAY.match(start) else start)
        high = None if end is None else (end + "T23:59:59Z" if _DAY.match(end) else end)
        if low is not None and high is not None and low > high:
            return "from is later than until", None, None
        return None, low, high

    def _select(self, state: _TokenState) -> list[OaiItem]:
        def wanted(item: OaiItem) -> bool:
            # A day-granular datestamp is compared as that day's first second.
            stamp = item.datestamp + "T00:00:00Z" if _DAY.match(item.datestamp) else item.datestamp
            if state.start is not None and stamp < state.start:
                return False
            if state.end is not None and stamp > state.end:
                return False
            if state.set_spec is not None and not any(
                spec == state.set_spec or spec.startswith(state.set_spec + ":")
                for spec in item.set_specs
            ):
                return False
            return item.deleted or state.prefix in item.metadata

        return [item for item in self.items if wanted(item)]

    def _next_token(self, state: _TokenState, size: int) -> str:
        following = state.offset + self.page_size
        if state.offset == 0 and following >= size:
            return ""  # a list on one page has no token at all
        if following >= size:
            # The last page of a list: an empty token, as the spec asks.
            return f'<resumptionToken completeListSize="{size}" cursor="{state.offset}"/>'
        with self._lock:
            self._serial += 1
            token = f"pure-{self._serial:06d}"
            self._tokens[token] = _TokenState(
                state.verb, state.prefix, state.start, state.end, state.set_spec, following
            )
        expires = (dt.datetime.now(dt.UTC) + self.token_lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f'<resumptionToken expirationDate="{expires}" completeListSize="{size}" '
            f'cursor="{state.offset}">{token}</resumptionToken>'
        )


def _header_xml(item: OaiItem) -> str:
    status = ' status="deleted"' if item.deleted else ""
    specs = "".join(f"<setSpec>{escape(spec)}</setSpec>" for spec in item.set_specs)
    return (
        f"<header{status}><identifier>{escape(item.identifier)}</identifier>"
        f"<datestamp>{item.datestamp}</datestamp>{specs}</header>"
    )


def _record_xml(item: OaiItem, prefix: str) -> str:
    if item.deleted:
        return f"<record>{_header_xml(item)}</record>"
    metadata = item.metadata[prefix].decode()
    return f"<record>{_header_xml(item)}<metadata>{metadata}</metadata></record>"


# ---------------------------------------------------------------------------------------------
# Recorded repositories
# ---------------------------------------------------------------------------------------------


def _request_key(params: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """A request's arguments as a matching key: order-free, and a whole-day from/until written
    with a time (2026-04-01T00:00:00Z) equal to the day itself (2026-04-01)."""
    key = set()
    for name, value in params:
        whole_day = _WHOLE_DAY.get(name)
        key.add((name, value[:10] if whole_day and value.endswith(whole_day) else value))
    return frozenset(key)


class ReplayRepository:
    """Recorded answers, by request arguments. Requests nobody recorded are answered as the
    real repository would where that is known (an unknown or expired token:
    badResumptionToken; an unknown metadataPrefix: `unknown_prefix`), else 501 so that a test
    asking for something unrecorded fails loudly.

    `error_status` replaces the status of every OAI error answer (None: as recorded).
    """

    def __init__(
        self,
        answers: Mapping[frozenset[tuple[str, str]], Reply],
        *,
        name: str,
        bad_token: Reply,
        unknown_prefix: Reply | None = None,
        unknown_id: Reply | None = None,
        error_status: int | None = None,
    ) -> None:
        self.name = name
        self._answers = dict(answers)
        self._bad_token = bad_token
        self._unknown_prefix = unknown_prefix
        self._unknown_id = unknown_id
        self.error_status = error_status
        self._expired: set[str] = set()
        self._lock = threading.Lock()
        self._prefixes = {
            value for key in self._answers for name, value in key if name == "metadataPrefix"
        }

    @property
    def tokens(self) -> set[str]:
        """The resumption tokens this replay answers."""
        return {value for key in self._answers for name, value in key if name == "resumptionToken"}

    def expire_tokens(self, token: str | None = None) -> int:
        """Make one recorded token (or all of them) answer badResumptionToken from now on."""
        with self._lock:
            before = len(self._expired)
            self._expired.update(self.tokens if token is None else {token} & self.tokens)
            return len(self._expired) - before

    def answer(self, params: dict[str, list[str]], base_url: str) -> Reply:
        """The recorded answer to these arguments (see the class docstring)."""
        pairs = [(name, value) for name, values in params.items() for value in values]
        args = dict(pairs)
        token = args.get("resumptionToken")
        with self._lock:
            expired = token is not None and token in self._expired
        reply = None if expired else self._answers.get(_request_key(pairs))
        if reply is None:
            if token is not None:
                reply = self._bad_token
            elif args.get("metadataPrefix") not in (None, *self._prefixes):
                reply = self._unknown_prefix
            elif "identifier" in args and self._unknown_id is not None:
                reply = self._unknown_id
        if reply is None:
            text = f"{self.name} replay: nothing recorded for {sorted(pairs)}"
            return Reply(501, text.encode(), "text/plain; charset=utf-8")
        issued = _TOKEN_IN_BODY.search(reply.body)
        if issued is not None:
            # Serving a page again issues its token again: it is fresh, as a live one would be.
            with self._lock:
                self._expired.discard(issued.group(1).decode())
        if self.error_status is not None and b"<error " in reply.body:
            return Reply(self.error_status, reply.body, reply.content_type, list(reply.headers))
        return reply


@functools.cache
def _cassette_replies(path: Path) -> tuple[tuple[str, Reply], ...]:
    """(request URI, reply) of each interaction of a VCR cassette (Content-Type and
    Retry-After kept: Zenodo sends Retry-After on every answer, errors included). Read once
    per process: the ListRecords cassette is 850 kB of YAML."""
    import yaml  # test/demo-only dependency, present with the dev tools

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
    replies = []
    for interaction in data["interactions"]:
        response = interaction["response"]
        headers = {name.lower(): values for name, values in response["headers"].items()}
        body = response["body"].get("content") or response["body"].get("string") or ""
        extra = [("Retry-After", value) for value in headers.get("retry-after", [])]
        content_type = (headers.get("content-type") or [_XML])[0]
        replies.append(
            (
                interaction["request"]["uri"],
                Reply(response["status"], body.encode("utf-8"), content_type, extra),
            )
        )
    return tuple(replies)


def zenodo_replay(fixtures_dir: Path, *, error_status: int | None = None) -> ReplayRepository:
    """Zenodo's /oai2d from the oaipmh-scythe cassettes in `fixtures_dir/oaipmh`: Identify,
    ListMetadataFormats, ListSets, ListIdentifiers, ListRecords (oai_dc page 1 → 2 → 3 by the
    real tokens; datacite; from/until/set), GetRecord, and the 422 errors as recorded."""
    folder = fixtures_dir / "oaipmh"
    answers: dict[frozenset[tuple[str, str]], Reply] = {}
    errors: dict[str, Reply] = {}
    for cassette in sorted(folder.glob("oaipmh-scythe__cassette_*.yaml")):
        for uri, reply in _cassette_replies(cassette):
            if "zenodo.org" not in uri:
                continue  # the identify cassette also holds e-periodica and an HTML page
            answers[_request_key(parse_qsl(urlsplit(uri).query))] = reply
            code = re.search(rb'<error code="(\w+)"', reply.body)
            if code:
                errors.setdefault(code.group(1).decode(), reply)
    return ReplayRepository(
        answers,
        name="Zenodo",
        bad_token=errors["badResumptionToken"],
        unknown_prefix=errors["badArgument"],
        unknown_id=errors["idDoesNotExist"],
        error_status=error_status,
    )


# pyoai's fake1/mapping.txt: which request each 2003 DSpace response answered.
_DSPACE_FILES = (
    ("verb=Identify", "pyoai__dspace_eur_Identify_2003.xml"),
    (
        "from=2003-04-10T00%3A00%3A00Z&metadataPrefix=oai_dc&verb=ListIdentifiers",
        "pyoai__dspace_eur_ListIdentifiers_2003.xml",
    ),
    (
        "identifier=hdl%3A1765%2F315&metadataPrefix=oai_dc&verb=GetRecord",
        "pyoai__dspace_eur_GetRecord_2003.xml",
    ),
    (
        "from=2003-04-10T00%3A00%3A00Z&metadataPrefix=oai_dc&verb=ListRecords",
        "pyoai__dspace_eur_ListRecords_2003.xml",
    ),
)
_DSPACE_BASE = "http://dspace.ubib.eur.nl/oai/"


def dspace_replay(fixtures_dir: Path, *, error_status: int = 200) -> ReplayRepository:
    """Erasmus University's DSpace of April 2003 (OCLC OAICat): Identify, ListIdentifiers and
    ListRecords from 2003-04-10 (16 records, no resumption token), GetRecord hdl:1765/315.
    Its errors were not recorded: they are answered in OAICat's way (HTTP 200 by default)."""
    folder = fixtures_dir / "oaipmh"
    answers = {
        _request_key(parse_qsl(query)): Reply(200, (folder / name).read_bytes())
        for query, name in _DSPACE_FILES
    }
    return ReplayRepository(
        answers,
        name="DSpace 2003",
        bad_token=_error(_DSPACE_BASE, "badResumptionToken", "unknown token", error_status),
        unknown_prefix=_error(
            _DSPACE_BASE, "cannotDisseminateFormat", "unsupported metadataPrefix", error_status
        ),
        unknown_id=_error(_DSPACE_BASE, "idDoesNotExist", "unknown identifier", error_status),
    )


class StaticRepository:
    """The same answer to every request (a broken file, a page that is not OAI-PMH)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def answer(self, params: dict[str, list[str]], base_url: str) -> Reply:
        """Always `self.reply`."""
        return self.reply

    def expire_tokens(self, token: str | None = None) -> int:
        """Nothing to expire."""
        return 0


def static_file(path: Path, *, content_type: str = _XML) -> StaticRepository:
    """Serve one file for every request (pyoai's deliberately broken Identify answers)."""
    return StaticRepository(Reply(200, path.read_bytes(), content_type))


def wrong_endpoint_page(fixtures_dir: Path | None = None) -> StaticRepository:
    """An HTML page with HTTP 200, where an OAI-PMH endpoint was expected: the httpbun page of
    the identify cassette when the fixtures are there, else a portal's home page."""
    if fixtures_dir is not None:
        cassette = fixtures_dir / "oaipmh" / "oaipmh-scythe__cassette_identify.yaml"
        for uri, reply in _cassette_replies(cassette):
            if "httpbun" in uri:
                return StaticRepository(reply)
    page = (
        b'<!DOCTYPE html><html lang="en"><head><title>Research portal</title></head>'
        b"<body><h1>Research portal</h1><p>Find research outputs, projects and people.</p>"
        b"</body></html>"
    )
    return StaticRepository(Reply(200, page, "text/html; charset=utf-8"))


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------


class OaiEmulator:
    """The WSGI app: `repositories` maps a path (e.g. "/pure/ws/oai") to a repository; other
    paths answer 404. GET and POST (form) are both accepted, as the spec requires.

    Args:
        repositories: path → repository.
        faults: the misbehaviour plan (also `self.faults`), counted per verb and "any".
    """

    def __init__(
        self, repositories: Mapping[str, Repository], *, faults: FaultPlan | None = None
    ) -> None:
        self.repositories = {path.rstrip("/"): repo for path, repo in repositories.items()}
        self.faults = faults or FaultPlan()
        self._log = RequestLog()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        return self._log.entries()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received at one repository's path."""
        return [r for r in self.requests if r.path.rstrip("/") == path.rstrip("/")]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        path = request.path.rstrip("/")
        repository = self.repositories.get(path)
        if repository is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found"]
        params = request_params(request)
        verb = (params.get("verb") or ["?"])[0]
        number, fault = self.faults.take(verb, method=request.method)
        if fault is not None and fault.kind == "expire":
            for token in params.get("resumptionToken", []):
                repository.expire_tokens(token)
        if fault is not None and fault.replaces_answer:
            reply = _fault_reply(fault)
        else:
            reply = repository.answer(params, request.base_url)
        self._log.record(
            request, key=verb, number=number, arrived=arrived, status=reply.status, fault=fault
        )
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))]
        return respond(
            environ, start_response, reply.status, headers + reply.headers, reply.body, fault
        )


def _fault_reply(fault: Fault) -> Reply:
    if fault.kind == "answer":
        content_type = fault.content_type or "text/html; charset=UTF-8"
        return Reply(fault.status, fault.body or b"", content_type, list(fault.headers))
    status = 429 if fault.kind == "rate_limit" else fault.status
    phrase = http.HTTPStatus(status).phrase
    page = (
        f"<!DOCTYPE html><html><head><title>{status} {phrase}</title></head><body>"
        f"<h1>{phrase}</h1><p>The repository is busy harvesting for someone else. "
        "Please try again later.</p></body></html>"
    ).encode()
    headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
    return Reply(status, page, "text/html; charset=utf-8", headers)


def pure_repository(*, page_size: int = 10, error_status: int = 200) -> GeneratedRepository:
    """The Pure-like portal's OAI-PMH repository over `sandbox.pure_corpus.pure_items()`."""
    items = pure_items()
    return GeneratedRepository(
        items,
        identity=RepositoryIdentity(
            repository_name="Sandbox University Research Portal",
            admin_email=f"pure-support@{PORTAL_HOST}",
            repository_identifier=PORTAL_HOST,
            sample_identifier=SEED_IDENTIFIER,
        ),
        formats=FORMATS,
        sets=set_names(items),
        page_size=page_size,
        error_status=error_status,
    )


def build_emulator(
    fixtures_dir: Path | None = None,
    *,
    faults: FaultPlan | None = None,
    error_status: int | None = None,
    page_size: int = 10,
) -> tuple[OaiEmulator, GeneratedRepository]:
    """The emulator with every repository: the Pure-like portal at `PURE_PATH` always (it is
    generated, for the demo), and when `fixtures_dir` (…/shared/fixtures) is given the Zenodo
    and DSpace replays, the two broken files and the wrong-endpoint page. `error_status`
    sets the HTTP status of OAI errors everywhere (None: each repository's own: 200 for the
    Pure-like portal and DSpace, 422 for Zenodo as recorded). Returns the app and the portal
    (to change or expire its tokens)."""
    portal = pure_repository(page_size=page_size, error_status=error_status or 200)
    repositories: dict[str, Repository] = {PURE_PATH: portal}
    if fixtures_dir is not None:
        folder = fixtures_dir / "oaipmh"
        repositories[ZENODO_PATH] = zenodo_replay(fixtures_dir, error_status=error_status)
        repositories[DSPACE_PATH] = dspace_replay(fixtures_dir, error_status=error_status or 200)
        repositories[BROKEN_BOGUS_PATH] = static_file(folder / "pyoai__broken_bogus_element.xml")
        repositories[BROKEN_ENTITY_PATH] = static_file(
            folder / "pyoai__broken_undefined_entity.xml"
        )
        repositories[HTML_PATH] = wrong_endpoint_page(fixtures_dir)
    else:
        repositories[HTML_PATH] = wrong_endpoint_page(None)
    return OaiEmulator(repositories, faults=faults), portal
