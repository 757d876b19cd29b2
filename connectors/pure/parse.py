"""Elsevier Pure portal HTML → canonical `Record`s: a research-output page (`/en/publications/
<slug>`) and a listing page (`/en/publications/?page=N`, 50 outputs in the short rendering).
Pure functions: bytes in, records out; lxml's HTML parser, nothing fetched, nothing run
(script and style bodies are dropped before any text is read; libxml2's default limits stay on,
so a page nested past 256 levels is cut there; the document cap of connectors.payload holds).

The markup read is the Pure portal's own (5.x): the listing's as the recorded Bath page has it
(../shared/fixtures/landing_html), the output page's as public scrapers of Pure portals
(Coventry, NREL, Penn State) read it: renderings are `div.rendering_researchoutput_<view>` with
the output's category as a class (`rendering_contributiontojournal`). Each field's source:

- title: `h1 span` of the page's `div.introduction` (listing: `h3.title a span`); the listing's
  title link is the output page's URL.
- authors, in order: `p.relations.persons` (listing: the rendering's children between the title
  and `span.date`): a `span` per external person, an `a.link.person` (rel="Person") per person
  of the institution, whose href is its `profile_url` (the person's portal page). A long
  listing byline is plain text ("Sadowski, A. J., Seidel, M., …") followed by the hidden
  `span.publication_authors_full_inline_list`; both are read. Names with one comma
  ("Young, J.") are split as Dublin Core's are (`split_name`); "Leslie Oleksowicz" is kept
  whole, unsplit (the house rule: guessing where a family name starts is wrong too often).
- output type: `p.type` ("Research output: Contribution to journal › Review article ›
  peer-review"): `type_classification_parent` then the first `type_classification` →
  `output_type`, broadest first; a "peer-review" part → `peer_reviewed` True. The portal says
  nothing of outputs that are not peer reviewed: then `peer_reviewed` stays None.
- page facts: `table.properties` rows, by row class, else by header text: language ("Original
  language"), pages ("Pages (from-to)"), numberofpages, journal, volume, journalnumber ("Issue
  number"), status ("State"/"Publication status": `span.prefix` "Published" and `span.date`
  "Apr 1994"), and the host book, publisher, ISSN. Listing: `span.journal` ("In: X."),
  `span.volume`, `span.journalnumber`, `span.pages` ("p. 459-477"), `span.numberofpages`
  ("19 p."), a book's `em` and `a[rel=Publisher]`; the state is the parenthesis after the date
  ("(E-pub ahead of print)", "(Acceptance date)"), none when published.
- dates "21 Mar 2024", "Sept 2023", "Apr 1994", "2023" with their precision (day, month, year).
- abstract: `div.rendering_abstractportal div.textblock`, blocks kept apart.
- Scopus citations: `div.metric.scopus-citations span.count` → Metric("citations", n, "scopus",
  as_of): the page does not say when Scopus counted, so `as_of` is what the caller knows (the
  day it fetched the page; None for a saved page of unknown date).
- ASJC areas: the list after the heading "ASJC Scopus subject areas" → Subject("asjc", term,
  code), the code when a link carries Pure's classification URI (…/subjectarea/asjc/2700/2723).
- keywords: the list after the heading "Keywords" → Subject("keyword", term).
- fingerprint concepts: the `button.concept-badge-small` badges (the listing item's, the page's
  `div.fingerprint-concepts`; else its `li.concept` items): Subject("fingerprint", term,
  code=the weight as the portal gives it, `data-rank-value` "0.5135590491964787", else the
  shown "51%"). Pure's MODS has no weight: connectors.oaipmh.mods stores the same concepts with
  code None, so the two agree whenever the page shows none.
- DOI: `ul.dois a` (page), `[data-doi]` of the Altmetric badge or the PlumX link's `doi=`.
- `source_id` is the output's portal URL (`og:url`, else `link[rel=canonical]`, else the URL
  fetched; listing: the title link), scheme://host/path without query or trailing slash, also
  kept as Identifier("url"): the same URL that Pure's MODS gives in `location/url`, so the page
  and the OAI record of one output carry one identifier. `endpoint` is the portal's base URL.
- `raw` is the serialised markup the record was read from (the page's renderings and metrics,
  or the listing item), not the whole page: scripts, tokens and widgets around them change on
  every fetch and would make every fetch a new version.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import lxml.html
from lxml import etree

from connectors.oaipmh.values import (
    all_text,
    clean,
    html_to_text,
    parse_page_count,
    split_name,
    split_pages,
)
from connectors.payload import read_whole
from schemas.errors import MalformedPayloadError
from schemas.identifiers import normalise_doi, normalise_issn
from schemas.record import AbstractSection, Author, Identifier, Metric, Record, Subject

__all__ = [
    "SOURCE",
    "ListedOutput",
    "ListingPage",
    "canonical_url",
    "iter_pure_records",
    "parse_listing",
    "parse_output_page",
    "parse_portal_date",
]

SOURCE = "pure"

Element = etree._Element

# Libxml2's HTML parser, told not to fetch anything and to keep its default limits (no
# huge_tree: a document nested past its depth limit is cut there, not followed down).
_PARSER = lxml.html.HTMLParser(
    no_network=True, huge_tree=False, remove_comments=True, remove_pis=True
)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})$")
_MONTH_DAY_YEAR = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})$")
_MONTH_YEAR = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{4})$")
_YEAR = re.compile(r"^(\d{4})$")
_ASJC_URI = re.compile(r"/dk/atira/pure/subjectarea/asjc/(?:\d+/)?(\d{4})")
_STATE_AFTER_DATE = re.compile(r"^\s*,?\s*\(([^()]{2,40})\)")
# The parenthesis after a listing's date names the status the date is of (Pure's labels).
_LISTING_STATES = {
    "acceptance date": "Accepted/In press",
    "accepted/in press": "Accepted/In press",
    "e-pub ahead of print": "E-pub ahead of print",
    "in preparation": "In preparation",
    "submitted": "Submitted",
    "unpublished": "Unpublished",
}
_PEER_REVIEW = "peer-review"
_INTRODUCTION = re.compile(rb"""class\s*=\s*["'][^"']*\bintroduction\b""")
_EDITOR = re.compile(r"\s*\((?:ed|eds)\.\)\s*$", re.IGNORECASE)
# A specialist publication's listing writes its host as text: "MIT Sloan Management Review,
# 64, 4," (periodical, volume, issue).
_PERIODICAL = re.compile(r"^\s*,?\s*(.+?),\s*([\w.-]{1,12}),\s*([\w.-]{1,12})\s*,?\s*$")


@dataclass(frozen=True, slots=True)
class ListedOutput:
    """One research output as a listing shows it: its record and the URL of its own page."""

    record: Record
    url: str | None


@dataclass(frozen=True, slots=True)
class ListingPage:
    """A listing page: its outputs in order, the next page's URL (None on the last), and the
    total the pager states ("1 - 50 out of 80,716 results")."""

    outputs: list[ListedOutput] = field(default_factory=list)
    next_url: str | None = None
    total: int | None = None


# --- documents -------------------------------------------------------------------------------


def _decoded(body: bytes) -> str:
    """The page's text: UTF-8 (portals serve it, and a BOM or meta may say so), else the
    charset a meta tag declares, else Windows-1252 (what browsers assume), never failing."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _CHARSET.search(body[:4096])
    if declared:
        try:
            return body.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return body.decode("cp1252", errors="replace")


def _document(payload: bytes, origin: str) -> Element:
    body = read_whole(payload, origin)
    text = _decoded(body)
    if not text.strip():
        raise MalformedPayloadError(f"{origin}: an empty page, not a Pure portal page")
    try:
        document = lxml.html.document_fromstring(text, parser=_PARSER)
    except (etree.ParserError, ValueError) as problem:
        raise MalformedPayloadError(f"{origin}: not readable as HTML ({problem})") from None
    # Script and style bodies are not text of the page: a title or a name must never hold
    # them (an injected `<script>` in a heading stays out of the record, and is never run).
    etree.strip_elements(document, "script", "style", "noscript", "template", with_tail=False)
    return document


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


@functools.cache
def _compiled(xpath: str) -> etree.XPath:
    # Compiling is most of the cost of a small query: each expression is compiled once.
    return etree.XPath(xpath)


def _elements(scope: Element, xpath: str) -> list[Element]:
    """The elements an XPath selects (its other results: none are asked for)."""
    found = _compiled(xpath)(scope)
    return [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []


def _strings(scope: Element, xpath: str) -> list[str]:
    """The attribute values an XPath selects."""
    found = _compiled(xpath)(scope)
    return [str(v) for v in found if isinstance(v, str)] if isinstance(found, list) else []


def _first(element: Element, xpath: str) -> Element | None:
    found = _elements(element, xpath)
    return found[0] if found else None


def _text(element: Element | None) -> str | None:
    """The element's text, whitespace runs collapsed (names and titles wrap in the source)."""
    if element is None:
        return None
    return clean(" ".join(all_text(element).split()))


def _squeeze(text: str | None) -> str | None:
    return None if text is None else clean(" ".join(text.split()))


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """An output's URL as `source_id`: absolute, scheme://host/path, no query, fragment or
    trailing slash. None for anything that is not http(s)."""
    if url is None or not url.strip():
        return None
    absolute = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _portal_base(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


def _serialised(elements: Iterable[Element]) -> bytes:
    return b"".join(etree.tostring(e, encoding="utf-8", with_tail=False) for e in elements)


# --- values ----------------------------------------------------------------------------------


def parse_portal_date(text: str | None) -> tuple[dt.date | None, str | None]:
    """(start date, precision) of a date as the portal writes it: "21 Mar 2024" (day),
    "Sept 2023", "Apr 1994" (month), "Apr 1 1994" (day), "2023" (year). (None, None) when
    unreadable."""
    value = _squeeze(text)
    if value is None:
        return None, None
    try:
        if match := _DAY_MONTH_YEAR.match(value):
            month = _MONTHS.get(match.group(2)[:3].lower())
            if month:
                return dt.date(int(match.group(3)), month, int(match.group(1))), "day"
        elif match := _MONTH_DAY_YEAR.match(value):
            month = _MONTHS.get(match.group(1)[:3].lower())
            if month:
                return dt.date(int(match.group(3)), month, int(match.group(2))), "day"
        elif match := _MONTH_YEAR.match(value):
            month = _MONTHS.get(match.group(1)[:3].lower())
            if month:
                return dt.date(int(match.group(2)), month, 1), "month"
        elif match := _YEAR.match(value):
            return dt.date(int(match.group(1)), 1, 1), "year"
    except ValueError:
        return None, None
    return None, None


def _set_date(record: Record, raw: str | None) -> None:
    raw = _squeeze(raw)
    if raw is None:
        return
    record.pub_date_raw = raw
    record.pub_date, record.pub_date_precision = parse_portal_date(raw)
    if record.pub_date is not None:
        record.pub_year = record.pub_date.year


def _set_pages(record: Record, text: str | None) -> None:
    pages = _squeeze(text)
    if pages is None:
        return
    pages = re.sub(r"^pp?\.\s*", "", pages)
    record.pages = pages
    record.first_page, record.last_page = split_pages(pages)


def _without_trailing_dot(text: str | None) -> str | None:
    return None if text is None else clean(text.removesuffix("."))


def parse_output_type(type_line: Element | None) -> tuple[list[str], bool | None]:
    """(output type, broadest first; peer reviewed) of a `p.type` line."""
    if type_line is None:
        return [], None
    labels: list[str] = []
    peer_reviewed = None
    for span in type_line.iter("span"):
        classes = (span.get("class") or "").split()
        if "type_classification_parent" not in classes and "type_classification" not in classes:
            continue
        # The label is the span's own text: its separator child (" › ") is not part of it.
        own = _squeeze((span.text or "") + "".join(c.tail or "" for c in span))
        if own is None:
            continue
        if own.lower() == _PEER_REVIEW:
            peer_reviewed = True
        elif len(labels) < 2:
            labels.append(own)
    return labels, peer_reviewed


def _author(name: str | None, position: int) -> Author | None:
    name = _squeeze(name)
    if name is None:
        return None
    display, family, given = split_name(name)
    return Author(position=position, name=display, family=family, given=given)


def _names_in_text(text: str | None) -> list[str]:
    """ "Sadowski, A. J., Seidel, M., " → ["Sadowski, A. J.", "Seidel, M."]: a byline written
    as text pairs a family name with its initials."""
    parts = [p.strip().removeprefix("&").strip() for p in (text or "").split(",")]
    parts = [p for p in parts if p]
    return [f"{parts[i]}, {parts[i + 1]}" for i in range(0, len(parts) - 1, 2)]


def _person_nodes(nodes: Iterable[Element], base: str | None) -> list[tuple[str, str | None]]:
    """(name, person page URL) of a byline's nodes in order: `span`s, `a.person` links, text
    between them, and the hidden rest of a long list."""
    people: list[tuple[str, str | None]] = []
    for node in nodes:
        classes = (node.get("class") or "").split()
        if node.tag == "span" and "publication_authors_full_inline_list" in classes:
            people.extend((n, None) for n in _names_in_text(node.text))
            people.extend(_person_nodes(list(node), base))
        elif node.tag == "a" and "person" in classes:
            name = _text(node)
            if name:
                people.append((name, canonical_url(node.get("href"), base)))
        elif node.tag == "span" and not classes:
            name = _text(node)
            if name:
                people.append((name, None))
        people.extend((n, None) for n in _names_in_text(node.tail))
    return people


def _authors(people: list[tuple[str, str | None]]) -> list[Author]:
    """Authors and editors ("Hordern, J. (ed.)") in order, positions per role, each with its
    person page (None for people outside the institution)."""
    authors: list[Author] = []
    counts: dict[str, int] = {}
    for name, url in people:
        role = "author"
        if (marked := _EDITOR.search(name)) is not None:
            role, name = "editor", name[: marked.start()]
        author = _author(name, counts.get(role, 0) + 1)
        if author is not None:
            author.role = role
            author.profile_url = url
            counts[role] = author.position
            authors.append(author)
    return authors


def _concepts(scope: Element) -> list[Subject]:
    """Fingerprint concepts with their weights (see the module docstring)."""
    subjects: list[Subject] = []
    for button in _elements(scope, f".//*[{_has_class('concept-badge-small')}]"):
        term = _text(_first(button, f".//*[{_has_class('concept')}]"))
        if term is None:
            continue
        weight = clean(button.get("data-rank-value")) or _text(
            _first(button, f".//*[{_has_class('value')}]")
        )
        subjects.append(Subject("fingerprint", term, weight))
    return subjects


def _scopus_citations(scope: Element, as_of: dt.date | None) -> list[Metric]:
    count = _text(
        _first(scope, f".//*[{_has_class('scopus-citations')}]//*[{_has_class('count')}]")
    )
    digits = (count or "").replace(",", "")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return []
    return [Metric("citations", int(digits), "scopus", as_of=as_of)]


def _doi_of(scope: Element) -> str | None:
    for element in _elements(scope, ".//*[@data-doi]"):
        if doi := normalise_doi(element.get("data-doi")):
            return doi
    for link in _elements(scope, ".//a[contains(@href, 'doi=')]"):
        values = parse_qs(urlsplit(link.get("href") or "").query).get("doi")
        if values and (doi := normalise_doi(values[0])):
            return doi
    return None


def _finish(record: Record, url: str | None, doi: str | None) -> None:
    if url is not None:
        record.identifiers.append(Identifier("url", url))
    if doi is not None:
        record.doi = doi
        record.identifiers.append(Identifier("doi", doi))
    record.abstract = "\n\n".join(s.text for s in record.abstract_sections) or None


# --- a listing page --------------------------------------------------------------------------


def parse_listing(
    payload: bytes, *, url: str | None = None, as_of: dt.date | None = None
) -> ListingPage:
    """Every research output a listing page shows, in order, with what the listing states, the
    URL of each output's page, and the next page's URL (`url`: the page's own, to resolve
    relative links). `as_of` dates the citation counts (see the module docstring)."""
    origin = url or "Pure portal listing"
    document = _document(payload, origin)
    base = url
    outputs = []
    for item in _elements(document, f"//li[{_has_class('list-result-item')}]"):
        listed = _listed_output(item, base, as_of)
        if listed is not None:
            outputs.append(listed)
    next_link = _first(document, f"//nav[{_has_class('pages')}]//li[{_has_class('next')}]/a")
    next_url = None
    if next_link is not None and next_link.get("href"):
        next_url = urljoin(base, next_link.get("href")) if base else next_link.get("href")
    total = None
    pager = _text(_first(document, f"//*[{_has_class('search-pager-information')}]"))
    if pager and (match := re.search(r"out of ([\d,]+)", pager)):
        total = int(match.group(1).replace(",", ""))
    return ListingPage(outputs, next_url, total)


def _periodical_host(rendering: Element, date_span: Element | None) -> tuple[str, str, str] | None:
    """(periodical, volume, issue) a specialist publication's listing writes as text."""
    if date_span is None or "rendering_contributiontoperiodical" not in (
        rendering.get("class") or ""
    ):
        return None
    match = _PERIODICAL.match(" ".join((date_span.tail or "").split()))
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _listed_output(item: Element, base: str | None, as_of: dt.date | None) -> ListedOutput | None:
    rendering = _first(item, f".//div[{_has_class('rendering_researchoutput_portal-short')}]")
    if rendering is None:
        return None
    title_link = _first(rendering, f"./h3[{_has_class('title')}]/a")
    url = canonical_url(title_link.get("href"), base) if title_link is not None else None
    record = Record(source=SOURCE, source_id=url, endpoint=_portal_base(url))
    record.title = _text(title_link)
    byline: list[Element] = []
    date_span = None
    after_title = False
    people: list[tuple[str, str | None]] = []
    for child in rendering:
        classes = (child.get("class") or "").split()
        if child.tag == "h3":
            after_title = True
            people.extend((n, None) for n in _names_in_text(child.tail))
            continue
        if not after_title:
            continue
        if child.tag == "span" and "date" in classes:
            date_span = child
            break
        byline.append(child)
    people.extend(_person_nodes(byline, base))
    record.authors = _authors(people)
    if date_span is not None:
        _set_date(record, _text(date_span))
        state = _STATE_AFTER_DATE.match(date_span.tail or "")
        if state:
            label = _squeeze(state.group(1)) or ""
            record.publication_state = _LISTING_STATES.get(label.lower(), label)
    record.journal = _without_trailing_dot(
        _squeeze(
            re.sub(
                r"^\s*In:\s*",
                "",
                _text(_first(rendering, f"./span[{_has_class('journal')}]")) or "",
            )
        )
    )
    if record.journal is None:
        # A chapter's book, as the listing writes it: "<em>Handbook of X.</em>".
        record.journal = _without_trailing_dot(_text(_first(rendering, "./em")))
    if record.journal is None and (periodical := _periodical_host(rendering, date_span)):
        record.journal, record.volume, record.issue = periodical
    record.volume = record.volume or _text(_first(rendering, f"./span[{_has_class('volume')}]"))
    record.issue = record.issue or _text(
        _first(rendering, f"./span[{_has_class('journalnumber')}]")
    )
    _set_pages(record, _text(_first(rendering, f"./span[{_has_class('pages')}]")))
    record.page_count = parse_page_count(
        _text(_first(rendering, f"./span[{_has_class('numberofpages')}]"))
    )
    record.publisher = _text(_first(rendering, "./a[@rel='Publisher']"))
    record.output_type, record.peer_reviewed = parse_output_type(
        _first(rendering, f"./p[{_has_class('type')}]")
    )
    record.subjects = _concepts(item)
    record.metrics = _scopus_citations(item, as_of)
    _finish(record, url, _doi_of(item))
    record.raw = _serialised([item])
    return ListedOutput(record, url)


# --- a research-output page ------------------------------------------------------------------


def parse_output_page(
    payload: bytes, *, url: str | None = None, as_of: dt.date | None = None
) -> Record:
    """The record of one research-output page (`url`: where it was fetched, used when the page
    names no canonical URL of its own). See the module docstring for what comes from where."""
    origin = url or "Pure portal page"
    document = _document(payload, origin)
    own = next(iter(_strings(document, "//meta[@property='og:url']/@content")), None) or next(
        iter(_strings(document, "//link[@rel='canonical']/@href")), None
    )
    source_id = canonical_url(str(own), url) if own is not None else None
    source_id = source_id or canonical_url(url)
    record = Record(source=SOURCE, source_id=source_id, endpoint=_portal_base(source_id))
    intro = _first(document, f"//div[{_has_class('introduction')}]")
    header = intro if intro is not None else document
    record.title = _text(_first(header, ".//h1"))
    persons = _first(header, f".//*[{_has_class('relations')} and {_has_class('persons')}]")
    if persons is not None:
        people = _person_nodes(list(persons), source_id)
        if persons.text and persons.text.strip(", &"):
            people = [(n, None) for n in _names_in_text(persons.text)] + people
        record.authors = _authors(people)
    record.output_type, record.peer_reviewed = parse_output_type(
        _first(header, f".//p[{_has_class('type')}]")
    )
    details = _first(document, f"//table[{_has_class('properties')}]")
    if details is not None:
        _fill_properties(record, details)
    for block in _elements(
        document, f"//div[{_has_class('rendering_abstractportal')}]//div[{_has_class('textblock')}]"
    ):
        text = html_to_text(etree.tostring(block, encoding="unicode", with_tail=False))
        if text is not None:
            record.abstract_sections.append(AbstractSection(text=text))
    record.subjects.extend(
        Subject("keyword", term) for term, _targets in _keyword_group(document, "Keywords")
    )
    record.subjects.extend(_asjc_areas(document))
    fingerprint = _first(document, f"//*[{_has_class('fingerprint-concepts')}]")
    record.subjects.extend(_page_concepts(fingerprint) if fingerprint is not None else [])
    record.metrics = _scopus_citations(document, as_of)
    doi = None
    for link in _strings(document, f"//ul[{_has_class('dois')}]//a/@href"):
        if doi := normalise_doi(str(link)):
            break
    _finish(record, source_id, doi or _doi_of(document))
    read = [intro] if intro is not None else []
    read += _elements(
        document,
        f"//div[{_has_class('rendering_researchoutput_detailsportal')}]"
        f" | //div[{_has_class('rendering_abstractportal')}]"
        f" | //*[{_has_class('keyword-group')}]"
        f" | //*[{_has_class('fingerprint-concepts')}]"
        f" | //*[{_has_class('metrics-container')}]",
    )
    record.raw = _serialised(read) or None
    return record


# Row class (or header text) → what it holds. Classes are the portal's; the header texts are
# its English labels, for portals whose rows carry no class.
_ROWS = {
    "language": "language",
    "original language": "language",
    "pages": "pages",
    "pages (from-to)": "pages",
    "numberofpages": "page_count",
    "number of pages": "page_count",
    "journal": "journal",
    "host publication": "journal",
    "book": "journal",
    "volume": "volume",
    "journalnumber": "issue",
    "issue number": "issue",
    "articlenumber": "elocation",
    "article number": "elocation",
    "status": "status",
    "state": "status",
    "publication status": "status",
    "publisher": "publisher",
    "issn": "issn",
}


def _fill_properties(record: Record, table: Element) -> None:
    for row in _elements(table, ".//tr"):
        header = _text(_first(row, "./th"))
        cell = _first(row, "./td")
        if cell is None:
            continue
        kind = None
        for name in (row.get("class") or "").split():
            kind = kind or _ROWS.get(name.lower())
        kind = kind or _ROWS.get((header or "").lower())
        value = _text(cell)
        if kind is None or value is None:
            continue
        if kind == "language":
            record.languages.append(value)
        elif kind == "pages":
            _set_pages(record, value)
        elif kind == "page_count":
            record.page_count = parse_page_count(value)
        elif kind == "status" and record.publication_state is None:
            prefix = _text(_first(cell, f".//*[{_has_class('prefix')}]"))
            date = _text(_first(cell, f".//*[{_has_class('date')}]"))
            if prefix is None and date is None:
                prefix, _sep, date = value.partition(" - ")
            record.publication_state = clean(prefix)
            _set_date(record, date)
        elif kind == "issn":
            record.issn = record.issn or normalise_issn(value)
        elif getattr(record, kind) is None:
            setattr(record, kind, value)


def _keyword_group(document: Element, heading: str) -> list[tuple[str, list[str]]]:
    """(term, link targets) of each item of the keyword group under `heading`."""
    title = _first(document, f"//*[self::h2 or self::h3][normalize-space(.)='{heading}']")
    listing = _first(title, "./following-sibling::ul[1]") if title is not None else None
    if listing is None:
        return []
    items = []
    for item in _elements(listing, "./li"):
        term = _text(item)
        if term is not None:
            items.append((term, [unquote(str(href)) for href in _strings(item, ".//a/@href")]))
    return items


def _asjc_areas(document: Element) -> list[Subject]:
    subjects = []
    for term, targets in _keyword_group(document, "ASJC Scopus subject areas"):
        codes = [m.group(1) for t in targets if (m := _ASJC_URI.search(t))]
        subjects.append(Subject("asjc", term, codes[0] if codes else None))
    return subjects


def _page_concepts(fingerprint: Element) -> list[Subject]:
    subjects = _concepts(fingerprint)
    if subjects:
        return subjects
    # The page's own list: `li.concept` items with the term in `span.concept` and the weight
    # in `span.value` ("100%").
    for item in _elements(fingerprint, f".//li[{_has_class('concept')}]"):
        term = _text(_first(item, f".//*[{_has_class('concept')}]"))
        if term is not None:
            weight = clean(item.get("data-rank-value")) or _text(
                _first(item, f".//*[{_has_class('value')}]")
            )
            subjects.append(Subject("fingerprint", term, weight))
    return subjects


# --- either kind, for import -----------------------------------------------------------------


def iter_pure_records(
    payload: bytes, *, origin: str, as_of: dt.date | None = None
) -> Iterator[Record]:
    """The records of a saved portal page, listing or output page (`biblioduck import
    --format pure`): a listing gives its outputs as listed, an output page its one record."""
    body = read_whole(payload, origin)
    # An output page has its `introduction` (it may also list related outputs in the short
    # rendering); a listing has none.
    if b"list-result-item" in body and not _INTRODUCTION.search(body):
        url = origin if origin.startswith(("http://", "https://")) else None
        for listed in parse_listing(body, url=url, as_of=as_of).outputs:
            yield listed.record
        return
    url = origin if origin.startswith(("http://", "https://")) else None
    yield parse_output_page(body, url=url, as_of=as_of)
