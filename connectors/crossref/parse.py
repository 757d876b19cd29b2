"""Crossref JSON (REST API envelopes, bare work objects, JSON-lines dumps) → canonical `Record`s.

Pure functions: bytes (or already-decoded work dicts) in, records out; no I/O besides reading a
file path handed in. Error bodies are never records: `{"status": "failed", …}` raises
`CrossrefApiError` naming what Crossref said, the plain-text "Resource not found." raises
`CrossrefNotFoundError`, anything else that is not Crossref JSON raises `MalformedPayloadError`.

Mapping choices that are not obvious from the field names:

- `source_id` and `doi` are the DOI in the one normal form of `schemas.identifiers`
  (lower-cased, resolver prefix removed, every other character kept: SICI DOIs keep `<>;()`);
  a `DOI` that is not `10.<digits>/<suffix>` gives None (validation quarantines the work).
- `source_version` is `indexed.date-time` (else `deposited.date-time`, else None): Crossref
  re-indexes a work whenever anything in its JSON changes, citation counts included, so the
  indexed time orders every distinct payload, while `deposited` only moves with the publisher's
  deposits and would give two different payloads (two citation counts) the same version.
- `raw` is the work serialised deterministically (`sort_keys`, no ASCII escaping, compact)
  WITHOUT `score`: the score is the relevance of the work to the query that fetched it, not a
  fact of the work, and keeping it would make the same version fetched by two queries two
  payloads (two content hashes, a spurious update).
- Titles: `title[0]`, with `subtitle[0]` appended as "Title: Subtitle" (a single space instead
  of ": " when the title already ends in `: ; ? ! .`). `title` is plain text (tags removed,
  HTML entities decoded, whitespace runs collapsed); `title_markup` is the joined text as
  given, only when it holds markup tags. `original-title[0]` → `vernacular_title`.
- `journal` = `container-title[0]` (the book for a chapter, the proceedings for a paper),
  `journal_abbrev` = `short-container-title[0]`, both as plain text.
- ISSN by `issn-type`: `issn_print`, `issn_electronic`; `issn` = print, else electronic, else
  the first of `ISSN`; all "1234-567X", one with a wrong check digit skipped. ISBNs (hyphens
  removed, check digit verified, else dropped) and the landing page (`resource.primary.URL`,
  scheme "url") go to `identifiers` after the DOI.
- `pages` = `page` as given, split at its first dash into `first_page`/`last_page` (end pages
  are not expanded); `article-number` → `elocation`. The literal string "null" that some
  deposits carry in `volume`/`issue`/`page` counts as missing.
- Dates from `date-parts`: `issued` → pub_date/pub_year/pub_date_precision (year, month, day;
  "range" when an end part is given), `pub_date_raw` = the JSON text of the parts
  (`[[2012,3]]`, `[[null]]`); `[[null]]` gives no date. An impossible month falls back to the
  year, an impossible day to the month. `dates` holds published_print, published_online,
  published_other, posted, accepted, approved, content_created (raw: the parts' JSON), then
  received/revised/accepted from the publisher's `assertion`s (raw: their text), then
  created, deposited, indexed (raw: their `date-time`, day precision), in that order.
- People: `author` (role author) then `editor` (role editor), in source order, positions 1-based
  per role. `given`/`family` make "Given Family"; a `name` without given/family is an
  organisation → `collective`. Entries with no name at all (seen in deposits) are skipped.
  ORCID URLs become bare 0000-0000-0000-000X (None when the check digit is wrong);
  affiliations are their `name`s. `sequence` ("first"/"additional") is not kept apart: source
  order is the author order.
- Abstract: the JATS string → plain text, one paragraph per `p`/`title`/list item separated
  by blank lines, a leading "Abstract" heading dropped, a section title joined to its first
  paragraph as "Title: text". One `AbstractSection` (kind "abstract"); a dataset's
  `description` becomes a second section of kind "description" (not part of `abstract`).
- `subject` → Subject(scheme "crossref_subject"); `language` → `languages`; `license` = the URL
  of the first licence with content-version "vor", else of the first licence.
- `funder` → one Grant per award number (agency = funder name); a funder without awards gives
  one Grant without grant_id; exact duplicates are dropped.
- `reference` → Reference per entry in order: citation = `unstructured`, else assembled as
  "author. year. title. journal/series. volume(issue):first-page"; identifiers DOI and ISBN.
- Links: `update-to` entries → relation = the update type as given ("correction",
  "retraction"; this work updates the target), `updated-by` entries → "has-<type>" (the target
  updates this work), `relation` entries → relation = the Crossref relation name
  ("has-review", "is-version-of"), target scheme = its `id-type`.
- `is-referenced-by-count` → Metric("citations", value, "crossref", as_of = the indexed date).
- `publication_types` = [type]; `output_type` = [type, subtype] (subtype when given).
- A value no column holds drops its field and the work still loads (one bad field must not
  lose the page), named in `Record.dropped` for validation to count as a warning: a number
  beyond 64 bits, digits `int()` refuses ("²", 5,000 of them), a JSON type where another is
  expected (an `author` string, `date-parts` that are not a list of lists).
- A work that cannot be represented faithfully is kept apart whole, with the reason in
  `Record.unreadable` (validation quarantines it; its neighbours load): text that is not
  valid Unicode (bytes that are not UTF-8, a lone surrogate escape such as `\\ud800`) and
  `NaN`/`Infinity`, which Python's decoder takes but JSON does not allow. The XML parsers
  refuse the same bytes; a JSON work can be cut out of its page, so only it is lost.
- Only a document that is not JSON, or nested too deeply to decode, is refused (malformed).
- Drift: each key of a work that the API's work schema does not have is named in
  `Record.unknown` ("key new-key"; `connectors.crossref.vocabulary`).
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from connectors.crossref.items import ITEMS_OPENING, OPENING_PEEK, ItemsReader
from connectors.crossref.vocabulary import unknown_keys
from connectors.payload import (
    GZIP_MAGIC,
    Source,
    open_payload,
    read_document,
    read_line,
    read_whole,
)
from schemas.errors import FatalError, MalformedPayloadError
from schemas.identifiers import normalise_doi, normalise_isbn, normalise_issn, normalise_orcid
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Grant,
    Identifier,
    Link,
    Metric,
    Record,
    Reference,
    Subject,
)

__all__ = [
    "SOURCE",
    "CrossrefApiError",
    "CrossrefNotFoundError",
    "CrossrefProblem",
    "WorkList",
    "iter_crossref_records",
    "jats_to_text",
    "normalise_doi",
    "parse_date_parts",
    "parse_work",
    "raw_work_bytes",
    "read_api_error",
    "read_work_list",
]

SOURCE = "crossref"
Work = Mapping[str, Any]

_NOT_FOUND_TEXT = "Resource not found."
# A surrogate code point in decoded text: a byte that is not UTF-8 (decoded with
# `surrogateescape`) or a lone `\ud800`-`\udfff` escape. Either makes a work unreadable.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A markup tag: `<name …>`, `</name>`, `<prefix:name/>`. Requiring a letter right after `<`
# leaves text such as "p < 0.05" (which Crossref abstracts carry unescaped) alone.
_TAG = re.compile(r"<(/?)([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)(?:\s[^<>]*)?(/?)>")
_WHITESPACE = re.compile(r"\s+")
_PAGE_RANGE = re.compile(r"(.+?)\s*[-–—]\s*(.+)")
_PAGE_LIST_SEPARATORS = re.compile(r"[,;]")
_TITLE_ENDS = (":", ";", "?", "!", ".")
# JATS elements that end a paragraph of the plain-text abstract.
_BLOCK_TAGS = frozenset(
    {"p", "title", "sec", "list", "list-item", "abstract", "trans-abstract", "disp-quote"}
)
_PART_DATES = (
    ("published-print", "published_print"),
    ("published-online", "published_online"),
    ("published-other", "published_other"),
    ("posted", "posted"),
    ("accepted", "accepted"),
    ("approved", "approved"),
    ("content-created", "content_created"),
)
_STAMP_DATES = (("created", "created"), ("deposited", "deposited"), ("indexed", "indexed"))
_ASSERTION_DATES = frozenset({"received", "revised", "accepted"})
# The largest value of the warehouse's (and Arrow's) BIGINT columns.
_INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrossrefProblem:
    """One entry of a Crossref error body's `message` list."""

    type: str | None
    value: str | None
    message: str | None


class CrossrefApiError(FatalError):
    """Crossref answered `{"status": "failed" | "error", …}`: the request was refused.

    `message_type` is Crossref's (validation-failure, resource-failure, exception…),
    `problems` its list of (type, value, message); `status` the HTTP status when known."""

    def __init__(
        self,
        origin: str,
        message_type: str | None,
        problems: Sequence[CrossrefProblem],
        *,
        status: int | None = None,
    ) -> None:
        said = "; ".join(
            ": ".join(
                part
                for part in (
                    (p.type or "") + (f" ({_shorten(p.value)})" if p.value else ""),
                    p.message or "",
                )
                if part
            )
            for p in problems
        )
        super().__init__(
            f"{origin}: Crossref refused the request"
            + (f" (HTTP {status})" if status is not None else "")
            + f": {message_type or 'failure'}"
            + (f": {said}" if said else "")
        )
        self.origin = origin
        self.message_type = message_type
        self.problems = tuple(problems)
        self.status = status

    @property
    def cursor_invalid(self) -> bool:
        """True when Crossref says the deep-paging cursor is unknown or expired."""
        return any(p.type == "cursor-invalid" for p in self.problems)


class CrossrefNotFoundError(FatalError):
    """Crossref's plain-text "Resource not found." (an unknown DOI or route)."""

    def __init__(self, origin: str) -> None:
        super().__init__(
            f"{origin}: Crossref answered {_NOT_FOUND_TEXT!r}: no such work (or route) in "
            "Crossref; check the DOI"
        )
        self.origin = origin


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_api_error(
    body: bytes | str, *, origin: str, status: int | None = None
) -> CrossrefApiError | CrossrefNotFoundError | None:
    """The error a Crossref error body describes, or None when `body` is not one."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped == _NOT_FOUND_TEXT:
        return CrossrefNotFoundError(origin)
    if not stripped.startswith("{"):
        return None
    try:
        document = _json_loads(stripped).value
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.get("status") in (None, "ok"):
        return None
    return _api_error(document, origin, status)


def _api_error(document: Mapping[str, Any], origin: str, status: int | None) -> CrossrefApiError:
    message = document.get("message")
    entries = message if isinstance(message, list) else [message]
    problems = []
    for entry in entries:
        if isinstance(entry, Mapping):
            problems.append(
                CrossrefProblem(
                    type=_str_or_none(entry.get("type") or entry.get("name")),
                    value=_str_or_none(entry.get("value")),
                    message=_str_or_none(entry.get("message") or entry.get("description")),
                )
            )
        elif entry is not None:
            problems.append(CrossrefProblem(type=None, value=None, message=str(entry)))
    return CrossrefApiError(
        origin, _str_or_none(document.get("message-type")), problems, status=status
    )


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkList:
    """A `work-list` message: its works, the next deep-paging cursor and the result count."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    total_results: int | None
    items_per_page: int | None = None
    facets: dict[str, Any] = field(default_factory=dict)


def read_work_list(body: bytes, *, origin: str) -> WorkList:
    """Decode one `/works` response (`message-type: work-list`).

    Raises `CrossrefApiError`/`CrossrefNotFoundError` for Crossref error bodies and
    `MalformedPayloadError` for anything else that is not a work list."""
    document = _load_json_document(body, origin).value
    if not isinstance(document, dict) or document.get("message-type") != "work-list":
        kind = document.get("message-type") if isinstance(document, dict) else None
        raise MalformedPayloadError(
            f"{origin}: expected a Crossref work-list, got "
            + (f"message-type {kind!r}" if kind else f"a JSON {type(document).__name__}")
        )
    message = document.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("items"), list):
        raise MalformedPayloadError(f"{origin}: the work-list has no `message.items` list")
    items = message["items"]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedPayloadError(
                f"{origin}: item {index} of the work-list is a JSON {type(item).__name__}, "
                "not a work object"
            )
    total = message.get("total-results")
    per_page = message.get("items-per-page")
    return WorkList(
        items=items,
        next_cursor=_str_or_none(message.get("next-cursor")),
        total_results=total if isinstance(total, int) else None,
        items_per_page=per_page if isinstance(per_page, int) else None,
        facets=facets if isinstance(facets := message.get("facets"), dict) else {},
    )


def iter_crossref_records(source: Source, *, origin: str) -> Iterator[Record]:
    """Yield one `Record` per work in a Crossref payload, in order.

    Accepted forms: the API envelope (`work-list` with `items`, or a single `work`), a bare
    work object, a JSON array of works, `{"items": [...]}` (the public data file), and
    JSON-lines (one work per line, the dump form). `source` is bytes, a path or a binary file;
    gzip is detected by its magic bytes. JSON-lines are streamed line by line and the public
    data file's parts work by work (`connectors.crossref.items`); the other forms (API pages,
    single works) are one JSON document, decoded whole under the document cap.

    Raises `CrossrefApiError`/`CrossrefNotFoundError` for Crossref error bodies and
    `MalformedPayloadError` (naming the line, for JSON-lines) for broken payloads. A work
    that cannot be represented faithfully comes as a `Record` with `unreadable` set."""
    with open_payload(source, origin) as stream:
        opening = ITEMS_OPENING.match(stream.peek(OPENING_PEEK)[:OPENING_PEEK])
        if opening is not None:  # a public-data-file part: its works streamed one by one
            stream.read(opening.end())
            for item, suspect in ItemsReader(stream, origin):
                yield _record_of(item, suspect)
            return
        first = read_line(stream, origin)
        first_object = _json_object_of(first)
        if first_object is not None:
            following = [read_line(stream, origin)]
            while following[-1] and not following[-1].strip():
                following.append(read_line(stream, origin))
            if following[-1]:
                # A complete object on the first line and more after it: JSON-lines, streamed
                # (the lines already read are replayed so line numbers stay true).
                lines = itertools.chain([first, *following], _lines(stream, origin))
                yield from _iter_json_lines(lines, origin)
                return
            document: _Decoded = first_object  # one document on one line: decoded once
        else:
            document = _load_json_document(first + read_document(stream, origin), origin)
    error = _status_error(document.value, origin) if isinstance(document.value, dict) else None
    if error is not None:
        raise error
    for index, item in enumerate(_works_of(document.value, origin)):
        if not isinstance(item, dict):
            raise MalformedPayloadError(
                f"{origin}: work {index} is a JSON {type(item).__name__}, not a work object"
            )
        yield _record_of(item, document.suspect)


def _lines(stream: IO[bytes], origin: str) -> Iterator[bytes]:
    while line := read_line(stream, origin):
        yield line


@dataclass(slots=True)
class _Decoded:
    """A decoded JSON document, and whether any of it may be unreadable: text that held
    surrogates (bytes that are not UTF-8, lone surrogate escapes) or a NaN/Infinity. Only
    then is each work searched for them, so a clean page pays one regex scan."""

    value: Any
    suspect: bool


def _decode_text(body: bytes) -> str:
    """UTF-8 text of a payload, each byte that is not UTF-8 kept as a surrogate
    (`surrogateescape`) for the work that holds it to be found and quarantined: replacing
    it with U+FFFD would load a guess, refusing the page would lose its good works."""
    return body.decode("utf-8", errors="surrogateescape").lstrip("\ufeff")


def _printable(text: str) -> str:
    """`text` safe to print: surrogates as `\\udcxx` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _load_json_document(body: bytes, origin: str) -> _Decoded:
    if body[:2] == GZIP_MAGIC:
        body = read_whole(body, origin)  # under the document cap
    text = _decode_text(body)
    if text.strip() == _NOT_FOUND_TEXT:
        raise CrossrefNotFoundError(origin)
    try:
        return _json_loads(text)  # an error body's status is read from the document
    except json.JSONDecodeError as problem:
        start = _printable(" ".join(text[:80].split()))
        raise MalformedPayloadError(
            f"{origin}: not Crossref JSON ({problem.msg} at line {problem.lineno}, column "
            f"{problem.colno}); the body starts with {start!r}"
        ) from None


def _works_of(document: Any, origin: str) -> list[Any]:
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        raise MalformedPayloadError(
            f"{origin}: a JSON {type(document).__name__} is not a Crossref work or work list"
        )
    if "message-type" in document or "status" in document:
        kind = document.get("message-type")
        message = document.get("message")
        if kind == "work-list" and isinstance(message, dict):
            items = message.get("items")
            if isinstance(items, list):
                return items
        if kind == "work" and isinstance(message, dict):
            return [message]
        raise MalformedPayloadError(
            f"{origin}: a Crossref {_printable(str(kind or 'unknown'))} message is not a work "
            "or work list"
        )
    if isinstance(document.get("items"), list):
        return document["items"]
    if "DOI" in document or "type" in document:
        return [document]
    raise MalformedPayloadError(
        f"{origin}: a JSON object without DOI, type or items is not a Crossref work"
    )


def _json_loads(text: str) -> _Decoded:
    """`json.loads`, with a document nested too deeply to decode reported as a decode error.

    Python's decoder recurses once per nesting level, so 100,000 `[` raise RecursionError, not
    a decode error. No Crossref work nests more than a few levels: such a document is refused
    as not Crossref JSON, like any other undecodable one."""
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)  # NaN, Infinity, -Infinity: Python's extension, not JSON
        return float(name)

    try:
        document = json.loads(text, parse_constant=constant)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply to decode", text, 0) from None
    suspect = bool(constants) or bool(_SURROGATE.search(text) or _SURROGATE_ESCAPE.search(text))
    return _Decoded(document, suspect)


def _json_object_of(line: bytes) -> _Decoded | None:
    """The JSON object that `line` is, or None."""
    text = _decode_text(line).strip()
    if not text.startswith("{"):
        return None
    try:
        decoded = _json_loads(text)
    except json.JSONDecodeError:
        return None
    return decoded if isinstance(decoded.value, dict) else None


def _iter_json_lines(lines: Iterable[bytes], origin: str) -> Iterator[Record]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            decoded = _json_loads(_decode_text(line))
        except json.JSONDecodeError as problem:
            raise MalformedPayloadError(
                f"{origin}: line {number} is not JSON ({problem.msg} at column {problem.colno})"
            ) from None
        item = decoded.value
        if not isinstance(item, dict):
            raise MalformedPayloadError(
                f"{origin}: line {number} is a JSON {type(item).__name__}, not a work object"
            )
        error = _status_error(item, origin)
        if error is not None:
            raise error
        yield _record_of(item, decoded.suspect)


def _record_of(item: Work, suspect: bool) -> Record:
    """`parse_work(item)`, or, when the work holds what no column can faithfully hold, a
    record carrying only its id, its raw payload and the reason (for quarantine)."""
    reason = _unreadable_reason(item) if suspect else None
    if reason is None:
        return parse_work(item)
    doi = item.get("DOI")
    readable_doi = isinstance(doi, str) and not _SURROGATE.search(doi)
    source_id = normalise_doi(doi) if readable_doi else None
    # ASCII escapes keep the evidence storable: surrogates cannot be encoded as UTF-8.
    raw = json.dumps(item, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()
    record = Record(source=SOURCE, source_id=source_id, raw=raw, unreadable=reason)
    record.doi = source_id
    return record


def _unreadable_reason(item: Work) -> str | None:
    """Why `item` cannot be represented faithfully ("NaN in is-referenced-by-count"), naming
    the first such value by its path, or None. Iterative: a work may nest as deeply as the
    decoder allowed."""
    stack: list[tuple[str, Any]] = [("", item)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return f"text that is not valid UTF-8 in {path or 'the work'}"
        elif isinstance(node, float) and not math.isfinite(node):
            name = "NaN" if math.isnan(node) else ("Infinity" if node > 0 else "-Infinity")
            return f"{name} (not allowed in JSON) in {path or 'the work'}"
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                if _SURROGATE.search(key):
                    return f"a key that is not valid UTF-8 in {path or 'the work'}"
                stack.append((f"{path}.{key}" if path else key, value))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", value) for i, value in reversed(list(enumerate(node))))
    return None


def _status_error(item: Mapping[str, Any], origin: str) -> CrossrefApiError | None:
    if item.get("status") not in (None, "ok"):
        return _api_error(item, origin, None)
    return None


# ---------------------------------------------------------------------------------------------
# One work
# ---------------------------------------------------------------------------------------------


def raw_work_bytes(item: Work) -> bytes:
    """The stored payload of one work version: deterministic JSON without `score`."""
    kept = {key: value for key, value in item.items() if key != "score"}
    return json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def parse_work(item: Work) -> Record:
    """A `Record` from one Crossref work object (the API's `message` or one dump line)."""
    doi = normalise_doi(_str_or_none(item.get("DOI")))
    record = Record(source=SOURCE, source_id=doi, raw=raw_work_bytes(item))
    record.doi = doi
    record.source_version = _date_time(item.get("indexed")) or _date_time(item.get("deposited"))
    record.identifiers = parse_identifiers(item, doi)

    record.title, record.title_markup = parse_title(item)
    record.vernacular_title = plain_text(_first(item.get("original-title")))
    record.abstract_sections = parse_abstract_sections(item)
    record.abstract = next((s.text for s in record.abstract_sections if s.kind == "abstract"), None)
    record.authors = parse_people(item.get("author"), "author") + parse_people(
        item.get("editor"), "editor"
    )

    record.journal = plain_text(_first(item.get("container-title")))
    record.journal_abbrev = plain_text(_first(item.get("short-container-title")))
    record.issn_print, record.issn_electronic, record.issn = parse_issns(item)
    record.publisher = _scalar(item.get("publisher"))
    record.volume = _scalar(item.get("volume"))
    record.issue = _scalar(item.get("issue"))
    record.pages = _scalar(item.get("page"))
    record.first_page, record.last_page = split_pages(record.pages)
    record.elocation = _scalar(item.get("article-number"))

    issued = item.get("issued")
    date, precision, raw, year = parse_date_parts(issued)
    record.pub_date, record.pub_date_precision, record.pub_date_raw = date, precision, raw
    record.pub_year = year
    record.dates = parse_dates(item)

    language = _scalar(item.get("language"))
    record.languages = [language] if language is not None else []
    work_type = _scalar(item.get("type"))
    record.publication_types = [work_type] if work_type is not None else []
    subtype = _scalar(item.get("subtype"))
    record.output_type = record.publication_types + ([subtype] if subtype is not None else [])

    record.subjects = [
        Subject(scheme="crossref_subject", term=term)
        for term in (_scalar(s) for s in _list(item.get("subject")))
        if term is not None
    ]
    record.metrics = parse_metrics(item)
    record.links = parse_links(item)
    record.references = parse_references(item.get("reference"))
    record.grants = parse_grants(item.get("funder"))
    record.license = parse_license(item.get("license"))
    record.dropped = dropped_fields(item)
    record.unknown = unknown_keys(item)
    return record


# The JSON shape of each work field `parse_work` reads: a value of another shape is dropped by
# the readers (no column holds it) and named by `dropped_fields`, for validation to count.
_TEXT_LISTS = ("title", "subtitle", "original-title", "short-container-title", "container-title")
_OBJECT_LISTS = (
    "author", "editor", "reference", "funder", "license", "assertion", "issn-type", "isbn-type",
    "update-to", "updated-by",
)  # fmt: skip
_SCALARS = (
    "DOI", "type", "subtype", "publisher", "language", "volume", "issue", "page",
    "article-number", "abstract", "description",
)  # fmt: skip
_DATE_OBJECTS = ("issued", *(key for key, _kind in _PART_DATES))
_OBJECTS = ("relation", "resource", *(key for key, _kind in _STAMP_DATES))
_LISTS = ("subject", "ISSN", "ISBN")


def dropped_fields(item: Work) -> list[str]:
    """Each field of `item` whose value has a JSON type its reader cannot use, e.g.
    "author: a JSON string, not a list" or "issued.date-parts: …". Empty for a sound work."""
    dropped: list[str] = []

    def wrong(path: str, value: Any, wanted: str) -> None:
        dropped.append(f"{path}: a JSON {_json_type(value)}, not {wanted}")

    for key in (*_TEXT_LISTS, *_OBJECT_LISTS, *_LISTS):
        value = item.get(key)
        if value is not None and not isinstance(value, list):
            wrong(key, value, "a list")
        elif key in _OBJECT_LISTS and value:
            for index, entry in enumerate(value):
                if not isinstance(entry, dict):
                    wrong(f"{key}[{index}]", entry, "an object")
    for key in _SCALARS:
        value = item.get(key)
        if isinstance(value, dict | list):
            wrong(key, value, "a string")
    for key in (*_DATE_OBJECTS, *_OBJECTS):
        value = item.get(key)
        if value is not None and not isinstance(value, dict):
            wrong(key, value, "an object")
        elif key in _DATE_OBJECTS and value is not None and "date-parts" in value:
            parts = value["date-parts"]
            if not isinstance(parts, list) or not parts or not isinstance(parts[0], list):
                wrong(f"{key}.date-parts", parts, "a list of lists")
            elif parts[0] and parts[0][0] is not None and _int_or_none(parts[0][0]) is None:
                wrong(f"{key}.date-parts[0][0]", parts[0][0], "a year")
    count = item.get("is-referenced-by-count")
    if count is not None and _int_or_none(count) is None:
        dropped.append(
            f"is-referenced-by-count: {_shorten(_printable(repr(count)))} is not a count a "
            "64-bit integer holds"
        )
    return dropped


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# --- small readers ---------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(value: Any) -> str | None:
    """The first non-blank string of a Crossref string list (title, container-title…)."""
    for entry in _list(value):
        if isinstance(entry, str) and entry.strip():
            return entry
    return None


def _scalar(value: Any) -> str | None:
    """A stripped string value; None when missing, blank, or the deposit artefact "null"."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    if not text or text == "null":
        return None
    return text


def plain_text(value: str | None) -> str | None:
    """Markup removed, entities decoded, whitespace runs collapsed; None when blank."""
    if value is None:
        return None
    text = _WHITESPACE.sub(" ", html.unescape(_TAG.sub("", value))).strip()
    return text or None


# --- field groups ----------------------------------------------------------------------------


def parse_identifiers(item: Work, doi: str | None) -> list[Identifier]:
    """DOI, then ISBNs (isbn-type order, else ISBN), then the landing page URL; de-duplicated."""
    candidates: list[tuple[str, str | None]] = [("doi", doi)]
    typed = [
        entry.get("value") for entry in _list(item.get("isbn-type")) if isinstance(entry, dict)
    ]
    for value in typed or _list(item.get("ISBN")):
        candidates.append(("isbn", normalise_isbn(_scalar(value))))
    resource = item.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("primary"), dict):
        candidates.append(("url", _scalar(resource["primary"].get("URL"))))
    identifiers: list[Identifier] = []
    seen: set[tuple[str, str]] = set()
    for scheme, value in candidates:
        if value is not None and (scheme, value) not in seen:
            seen.add((scheme, value))
            identifiers.append(Identifier(scheme, value))
    return identifiers


def parse_title(item: Work) -> tuple[str | None, str | None]:
    """(plain title, title with markup or None) from `title[0]` and `subtitle[0]`."""
    title = _first(item.get("title"))
    subtitle = _first(item.get("subtitle"))
    if title is None and subtitle is None:
        return None, None
    if title is None or subtitle is None:
        joined = (title or subtitle or "").strip()
    else:
        title = title.strip()
        separator = " " if title.endswith(_TITLE_ENDS) else ": "
        joined = f"{title}{separator}{subtitle.strip()}"
    markup = joined if _TAG.search(joined) else None
    return plain_text(joined), markup


def parse_issns(item: Work) -> tuple[str | None, str | None, str | None]:
    """(print, electronic, preferred) ISSNs, each "1234-567X" (`normalise_issn`; one with a
    wrong check digit is skipped): preferred = print, else electronic, else the first of ISSN."""
    issn_print = issn_electronic = None
    for entry in _list(item.get("issn-type")):
        if not isinstance(entry, dict):
            continue
        value = normalise_issn(_scalar(entry.get("value")))
        kind = (_scalar(entry.get("type")) or "").lower()
        if kind == "print" and issn_print is None:
            issn_print = value
        elif kind == "electronic" and issn_electronic is None:
            issn_electronic = value
    listed = (normalise_issn(_scalar(value)) for value in _list(item.get("ISSN")))
    preferred = issn_print or issn_electronic or next(filter(None, listed), None)
    return issn_print, issn_electronic, preferred


def split_pages(pages: str | None) -> tuple[str | None, str | None]:
    """(first, last) of the first range in `page` ("588-602" → ("588", "602")); a single page
    gives (page, None). End pages are taken as given."""
    if pages is None:
        return None, None
    first_range = _PAGE_LIST_SEPARATORS.split(pages, maxsplit=1)[0].strip()
    if not first_range:
        return None, None
    match = _PAGE_RANGE.fullmatch(first_range)
    if match is None:
        return first_range, None
    return match.group(1).strip() or None, match.group(2).strip() or None


def parse_date_parts(
    value: Any,
) -> tuple[dt.date | None, str | None, str | None, int | None]:
    """(start date, precision, raw JSON text of the parts, year) of a Crossref date object.

    Precision is year, month or day, or "range" when an end part is given; `[[null]]` gives
    (None, None, "[[null]]", None). An impossible month keeps the year, an impossible day the
    month."""
    if not isinstance(value, dict) or "date-parts" not in value:
        return None, None, None, None
    parts = value["date-parts"]
    raw = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(parts, list) or not parts or not isinstance(parts[0], list):
        return None, None, raw, None
    start = [_int_or_none(part) for part in parts[0][:3]]
    if not start or start[0] is None or not 1 <= start[0] <= 9999:
        return None, None, raw, None
    year = start[0]
    month = start[1] if len(start) > 1 else None
    day = start[2] if len(start) > 2 else None
    if month is None or not 1 <= month <= 12:
        date, precision = dt.date(year, 1, 1), "year"
    elif day is None:
        date, precision = dt.date(year, month, 1), "month"
    else:
        try:
            date, precision = dt.date(year, month, day), "day"
        except (ValueError, OverflowError):  # OverflowError: a day beyond a C int
            date, precision = dt.date(year, month, 1), "month"
    has_end = len(parts) > 1 and isinstance(parts[1], list) and _int_or_none(_at(parts[1], 0))
    return date, "range" if has_end else precision, raw, year


def _at(values: list[Any], index: int) -> Any:
    return values[index] if len(values) > index else None


def _int_or_none(value: Any) -> int | None:
    """An integer that a BIGINT column holds, from a JSON number or a string of ASCII digits.

    Anything else is None (the field is dropped, the work still loads): `isdigit()` is also
    true of "²", which `int()` refuses, and 5,000 digits are past `int()`'s limit."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        digits = value.strip()
        if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
            return None
        value = int(digits)
    if isinstance(value, int) and -_INT64_MAX - 1 <= value <= _INT64_MAX:
        return value
    return None


def _date_time(value: Any) -> str | None:
    """The `date-time` text of a Crossref timestamp object (created, deposited, indexed)."""
    if isinstance(value, dict):
        return _scalar(value.get("date-time"))
    return None


def _date_of_stamp(value: Any) -> dt.date | None:
    text = _date_time(value)
    if text is not None:
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()
        except ValueError:
            pass
    date, precision, _raw, _year = parse_date_parts(value)
    return date if precision == "day" else None


def parse_dates(item: Work) -> list[DateEntry]:
    """The dated events other than `issued`, in a fixed order (see the module docstring)."""
    entries: list[DateEntry] = []
    for key, kind in _PART_DATES:
        value = item.get(key)
        if isinstance(value, dict):
            date, precision, raw, _year = parse_date_parts(value)
            entries.append(DateEntry(kind=kind, date=date, precision=precision, raw=raw))
    entries.extend(parse_assertion_dates(item))
    for key, kind in _STAMP_DATES:
        value = item.get(key)
        if isinstance(value, dict):
            date = _date_of_stamp(value)
            raw = _date_time(value) or parse_date_parts(value)[2]
            entries.append(
                DateEntry(kind=kind, date=date, precision="day" if date else None, raw=raw)
            )
    return entries


def parse_assertion_dates(item: Work) -> list[DateEntry]:
    """received/revised/accepted from the publisher's `assertion`s (publication history).

    Their values are free text: ISO dates and "21 July 2015" are read, anything else keeps
    only its raw text."""
    entries = []
    for assertion in _list(item.get("assertion")):
        if not isinstance(assertion, dict):
            continue
        kind = (_scalar(assertion.get("name")) or "").lower()
        value = _scalar(assertion.get("value"))
        if kind not in _ASSERTION_DATES or value is None:
            continue
        date = None
        for layout in ("%Y-%m-%d", "%d %B %Y", "%d %b %Y"):
            try:
                date = dt.datetime.strptime(value, layout).date()
                break
            except ValueError:
                continue
        entries.append(
            DateEntry(kind=kind, date=date, precision="day" if date else None, raw=value)
        )
    return entries


def parse_people(people: Any, role: str) -> list[Author]:
    """Contributors of one role in source order, positions 1-based; nameless entries skipped."""
    authors: list[Author] = []
    for person in _list(people):
        if not isinstance(person, dict):
            continue
        given = _scalar(person.get("given"))
        family = _scalar(person.get("family"))
        collective = None
        if given is None and family is None:
            collective = _scalar(person.get("name"))
            if collective is None:
                continue
        if collective is not None:
            name: str | None = collective
        elif given is not None and family is not None:
            name = f"{given} {family}"
        else:
            name = family or given
        affiliations = [
            affiliation
            for entry in _list(person.get("affiliation"))
            if isinstance(entry, dict) and (affiliation := _scalar(entry.get("name"))) is not None
        ]
        authors.append(
            Author(
                position=len(authors) + 1,
                name=name,
                family=family,
                given=given,
                suffix=_scalar(person.get("suffix")),
                collective=collective,
                orcid=normalise_orcid(_scalar(person.get("ORCID"))),
                affiliations=affiliations,
                role=role,
            )
        )
    return authors


def jats_to_text(jats: str | None) -> str | None:
    """Plain text of a Crossref JATS abstract string (see the module docstring)."""
    if jats is None:
        return None
    blocks: list[tuple[str, str]] = []  # (kind: "title" | "text", text)
    buffer: list[str] = []

    def flush(kind: str) -> None:
        text = _WHITESPACE.sub(" ", html.unescape("".join(buffer))).strip()
        buffer.clear()
        if text:
            blocks.append((kind, text))

    position = 0
    for match in _TAG.finditer(jats):
        buffer.append(jats[position : match.start()])
        position = match.end()
        closing, name = match.group(1), match.group(2)
        local = name.rsplit(":", 1)[-1].lower()
        if local in _BLOCK_TAGS:
            flush("title" if closing and local == "title" else "text")
        elif local == "break":
            buffer.append(" ")
    buffer.append(jats[position:])
    flush("text")

    if blocks and blocks[0][0] == "title" and blocks[0][1].lower().rstrip(".:") == "abstract":
        blocks = blocks[1:]
    paragraphs: list[str] = []
    index = 0
    while index < len(blocks):
        kind, text = blocks[index]
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if kind == "title" and following is not None and following[0] == "text":
            separator = " " if text.endswith(_TITLE_ENDS) else ": "
            paragraphs.append(f"{text}{separator}{following[1]}")
            index += 2
            continue
        paragraphs.append(text)
        index += 1
    return "\n\n".join(paragraphs) or None


def parse_abstract_sections(item: Work) -> list[AbstractSection]:
    """The JATS abstract as one section (kind "abstract"), then `description` if any."""
    sections = []
    abstract = jats_to_text(_scalar(item.get("abstract")))
    if abstract is not None:
        sections.append(AbstractSection(text=abstract))
    description = jats_to_text(_scalar(item.get("description")))
    if description is not None:
        sections.append(AbstractSection(text=description, kind="description"))
    return sections


def parse_metrics(item: Work) -> list[Metric]:
    """The citation count (`is-referenced-by-count`) as of the indexed date."""
    # A count no BIGINT holds (10**30, which crashed the Arrow table and the validation frame)
    # is dropped by `_int_or_none` and the work still loads: refusing the payload would lose
    # every other work of the page over one field. A negative count that fits is kept, for
    # the `crossref` suite to quarantine.
    count = _int_or_none(item.get("is-referenced-by-count"))
    if count is None:
        return []
    return [
        Metric(
            name="citations",
            value=count,
            provider=SOURCE,
            as_of=_date_of_stamp(item.get("indexed")),
        )
    ]


def parse_links(item: Work) -> list[Link]:
    """update-to, updated-by, then relation entries (see the module docstring)."""
    links: list[Link] = []
    for key, prefix in (("update-to", ""), ("updated-by", "has-")):
        for update in _list(item.get(key)):
            if not isinstance(update, dict):
                continue
            target = normalise_doi(_scalar(update.get("DOI")))
            kind = _scalar(update.get("type")) or "update"
            links.append(
                Link(
                    relation=f"{prefix}{kind}",
                    target_scheme="doi" if target is not None else None,
                    target_id=target,
                )
            )
    relations = item.get("relation")
    if isinstance(relations, dict):
        for name, targets in relations.items():
            for target in _list(targets) if isinstance(targets, list) else [targets]:
                if not isinstance(target, dict):
                    continue
                scheme = (_scalar(target.get("id-type")) or "").lower() or None
                value = _scalar(target.get("id"))
                if scheme == "doi":
                    value = normalise_doi(value)
                links.append(Link(relation=str(name), target_scheme=scheme, target_id=value))
    return links


def parse_references(references: Any) -> list[Reference]:
    """Cited works in order, with their DOI and ISBN."""
    result: list[Reference] = []
    for entry in _list(references):
        if not isinstance(entry, dict):
            continue
        identifiers = []
        doi = normalise_doi(_scalar(entry.get("DOI")))
        if doi is not None:
            identifiers.append(Identifier("doi", doi))
        isbn = normalise_isbn(_scalar(entry.get("ISBN")))
        if isbn is not None:
            identifiers.append(Identifier("isbn", isbn))
        result.append(
            Reference(
                position=len(result) + 1,
                citation=plain_text(_scalar(entry.get("unstructured"))) or assemble_citation(entry),
                identifiers=identifiers,
            )
        )
    return result


def assemble_citation(entry: Mapping[str, Any]) -> str | None:
    """ "author. year. title. journal/series. volume(issue):first-page" from a structured
    reference; None when it has none of these."""
    title = plain_text(_scalar(entry.get("article-title"))) or plain_text(
        _scalar(entry.get("volume-title"))
    )
    container = plain_text(_scalar(entry.get("journal-title"))) or plain_text(
        _scalar(entry.get("series-title"))
    )
    volume = _scalar(entry.get("volume"))
    issue = _scalar(entry.get("issue"))
    page = _scalar(entry.get("first-page"))
    locator = (volume or "") + (f"({issue})" if issue else "")
    if page:
        locator = f"{locator}:{page}" if locator else f"p. {page}"
    parts = [
        plain_text(_scalar(entry.get("author"))),
        _scalar(entry.get("year")),
        title,
        container,
        locator or None,
    ]
    text = ""
    for part in parts:
        if not part:
            continue
        if text:
            # "Title?" stays "Title? Journal", not "Title?. Journal".
            text += " " if text.endswith(_TITLE_ENDS) else ". "
        text += part
    return text or None


def parse_grants(funders: Any) -> list[Grant]:
    """One Grant per funder award (agency = funder name); exact duplicates dropped."""
    grants: list[Grant] = []
    seen: set[tuple[str | None, str | None]] = set()
    for funder in _list(funders):
        if not isinstance(funder, dict):
            continue
        agency = _scalar(funder.get("name"))
        awards = [_scalar(a) for a in _list(funder.get("award"))]
        if not any(awards):
            awards = [
                _scalar(number)
                for info in _list(funder.get("award-info"))
                if isinstance(info, dict)
                for number in _list(info.get("award-number"))
            ]
        kept: Iterable[str | None] = [a for a in awards if a is not None] or [None]
        for award in kept:
            if agency is None and award is None:
                continue
            if (agency, award) not in seen:
                seen.add((agency, award))
                grants.append(Grant(grant_id=award, agency=agency))
    return grants


def parse_license(licences: Any) -> str | None:
    """The URL of the first "vor" licence, else of the first licence."""
    entries = [entry for entry in _list(licences) if isinstance(entry, dict)]
    for entry in entries:
        if entry.get("content-version") == "vor" and _scalar(entry.get("URL")) is not None:
            return _scalar(entry.get("URL"))
    for entry in entries:
        url = _scalar(entry.get("URL"))
        if url is not None:
            return url
    return None
