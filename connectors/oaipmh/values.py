"""Value normalisation shared by the OAI-PMH metadata parsers: identifiers by scheme or by form
(the normal forms of DOI, PMID, PMCID, ORCID, ISBN and ISSN are `schemas.identifiers`', shared
with every source), partial ISO dates with their precision, page ranges, person names written
"Family, Given", and descriptions that arrive as (escaped) HTML. Pure functions."""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser

from lxml import etree

from schemas.identifiers import (
    NORMALISERS,
    normalise_doi,
    normalise_isbn,
    normalise_issn,
)
from schemas.record import Identifier

__all__ = [
    "all_text",
    "classify_identifier",
    "clean",
    "html_to_text",
    "normalise_identifier",
    "parse_iso_date",
    "parse_number",
    "parse_page_count",
    "snake_case",
    "split_name",
    "split_pages",
]

_HANDLE = re.compile(r"^(?:https?://hdl\.handle\.net/|hdl:|info:hdl/)(\d[\w.]*/\S+)$", re.I)
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_ISO_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_PAGE_RANGE = re.compile(r"^\s*([^\s\-–]+)\s*[-–]\s*([^\s\-–]+)\s*$")
_LEADING_INT = re.compile(r"^\s*(\d+)")
# The largest value of the warehouse's BIGINT columns (Arrow int64).
INT64_MAX = 2**63 - 1
# Escaped markup (&lt;p&gt;) or markup itself (<p>) in a text value: Zenodo's oai_dc
# descriptions are HTML escaped twice, so after XML parsing they still read "&lt;p&gt;".
_ESCAPED_TAG = re.compile(r"&lt;/?[a-zA-Z][a-zA-Z0-9]*(?:\s[^&]*?)?/?&gt;")
_HTML_TAG = re.compile(
    r"</?(?:p|br|div|span|ul|ol|li|strong|em|b|i|u|a|sup|sub|h[1-6]|blockquote|table|tr|td)"
    r"(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset(
    {"p", "div", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "tr"}
)
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# scheme spellings of DataCite, MODS and Pure → the Record's schemes
_SCHEME_ALIASES = {
    "hdl": "handle",
    "uri": "url",
    "urn:nbn": "urn",
    "pubmed": "pmid",
    "pmc": "pmcid",
    "arxiv": "arxiv",
    "purl": "url",
}


def all_text(element: etree._Element) -> str:
    """Every text node inside an element, in order (inline markup flattened)."""
    return "".join(text for text in element.itertext() if isinstance(text, str))


def clean(text: str | None) -> str | None:
    """Stripped text; None when missing or blank (never "")."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def snake_case(text: str) -> str:
    """ "ContactPerson" → "contact_person", "Series Information" → "series_information"."""
    return _CAMEL.sub("_", text.strip()).replace(" ", "_").replace("-", "_").lower()


# --- identifiers -----------------------------------------------------------------------------


def classify_identifier(text: str | None) -> Identifier | None:
    """An undeclared identifier (dc:identifier, dc:relation) by its form: doi, handle, oai, urn,
    issn, isbn (ISSN and ISBN only with a right check digit), url, else "other" as given. None
    when blank."""
    value = clean(text)
    if value is None:
        return None
    doi = normalise_doi(value)
    if doi is not None:
        return Identifier("doi", doi)
    handle = _HANDLE.match(value)
    if handle:
        return Identifier("handle", handle.group(1))
    lowered = value.lower()
    if lowered.startswith("oai:"):
        return Identifier("oai", value)
    if lowered.startswith("urn:"):
        return Identifier("urn", value)
    issn = normalise_issn(value)
    if issn is not None:
        return Identifier("issn", issn)
    isbn = normalise_isbn(value)
    if isbn is not None:
        return Identifier("isbn", isbn)
    if _URL.match(value):
        return Identifier("url", value)
    return Identifier("other", value)


def normalise_identifier(scheme: str | None, text: str | None) -> Identifier | None:
    """A declared identifier (DataCite identifierType, MODS identifier@type): the scheme
    lower-cased (hdl → handle, uri → url, pubmed → pmid, pmc → pmcid), the value normalised for
    the schemes that have a normal form (doi, pmid, pmcid, orcid, isbn, issn: scheme "other"
    with the value as given when it does not normalise; handle). Undeclared: by form."""
    value = clean(text)
    if value is None:
        return None
    if scheme is None or not scheme.strip():
        return classify_identifier(value)
    name = scheme.strip().lower()
    name = _SCHEME_ALIASES.get(name, name)
    normalise = NORMALISERS.get(name)
    if normalise is not None:
        # A declared identifier that is not one (a DOI without "10.", a wrong check digit) is
        # kept as given under "other": it is still what the repository said, but it must not
        # be matched, or stored in doi/issn/pmid, as if it were one.
        normal = normalise(value)
        return Identifier(name, normal) if normal is not None else Identifier("other", value)
    if name == "handle":
        handle = _HANDLE.match(value)
        return Identifier("handle", handle.group(1) if handle else value)
    return Identifier(name, value)


# --- dates, pages, names ---------------------------------------------------------------------


def parse_iso_date(text: str | None) -> tuple[dt.date | None, str | None]:
    """(start date, precision) of an ISO 8601 date as repositories write it: "1994",
    "1994-04", "1994-04-01", "2003-04-15T10:18:51Z"; a range "a/b" gives a's date with
    precision "range". (None, None) when unreadable."""
    value = clean(text)
    if value is None:
        return None, None
    if "/" in value:
        start, _, _end = value.partition("/")
        date, _precision = parse_iso_date(start)
        return date, ("range" if date is not None else None)
    match = _ISO_DATE.match(value)
    if not match:
        return None, None
    year, month, day = match.groups()
    try:
        if day is not None:
            return dt.date(int(year), int(month), int(day)), "day"
        if month is not None:
            return dt.date(int(year), int(month), 1), "month"
        return dt.date(int(year), 1, 1), "year"
    except ValueError:
        return None, None


def split_pages(text: str | None) -> tuple[str | None, str | None]:
    """(first, last) page of "271-281" (en dash too); ("e123", None) for a single page."""
    value = clean(text)
    if value is None:
        return None, None
    match = _PAGE_RANGE.match(value)
    if match:
        return match.group(1), match.group(2)
    return (value, None) if " " not in value else (None, None)


def parse_page_count(text: str | None) -> int | None:
    """The leading integer of an extent ("11", "11 p.", "44 pages"); None otherwise."""
    if text is None:
        return None
    match = _LEADING_INT.match(text)
    return parse_number(match.group(1)) if match else None


def parse_number(text: str | None) -> int | None:
    """The non-negative integer `text` spells in ASCII digits, when a BIGINT column holds it.

    None for anything else, so the field is dropped and the record still loads: `isdigit()`
    is also true of "²" (which `int()` refuses), 5,000 digits are past `int()`'s limit, and a
    page count or year of 30 digits is no page count or year (Arrow refuses it with
    OverflowError)."""
    if text is None:
        return None
    digits = text.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        return None
    value = int(digits)
    return value if value <= INT64_MAX else None


def split_name(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(display name, family, given) of a personal name as Dublin Core gives it.

    "Family, Given" (one comma) is split and displayed "Given Family" — which also turns
    DSpace's "Laan, E.A. van der" into "E.A. van der Laan". A name without exactly one comma
    is kept whole as the display name, unsplit (guessing where a family name starts is wrong
    too often)."""
    value = clean(text)
    if value is None:
        return None, None, None
    if value.count(",") == 1:
        family, given = (part.strip() for part in value.split(","))
        if family and given:
            return f"{given} {family}", family, given
    return value, None, None


# --- text ------------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        # HTML whitespace collapses (a source line break is a space); &nbsp; is not whitespace.
        self.parts.append(_HTML_SPACE.sub(" ", data))


def html_to_text(text: str | None) -> str | None:
    """Plain text of a description that is HTML, or HTML escaped once more (Zenodo oai_dc:
    "&lt;p&gt;…"): tags dropped, blocks separated by a blank line, entities decoded, lines
    trimmed. Text without markup is returned stripped, otherwise untouched."""
    value = clean(text)
    if value is None:
        return None
    if _ESCAPED_TAG.search(value):
        value = html.unescape(value)
    if not _HTML_TAG.search(value):
        return value
    extractor = _TextExtractor()
    extractor.feed(value)
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.parts).splitlines()]
    joined = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return clean(joined)
