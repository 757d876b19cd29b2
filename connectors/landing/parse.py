"""A publisher's landing page (the HTML a DOI resolves to) → one canonical `Record`, or a
`NoRecord` marker when the page states no scholarly metadata. Pure: bytes in, a record out.

What a page states comes in families of tags, and each field is taken from the first family,
in this fixed order, that states it, so that two families never mix within one field:

1. Highwire Press `citation_*` (Google Scholar's tags: OJS, PLOS, arXiv, Zenodo, most presses);
2. EPrints `eprints.*`, then bepress `bepress_citation_*`;
3. PRISM `prism.*` (Springer Nature);
4. schema.org JSON-LD: the first `ScholarlyArticle`/`Article`/`Dataset`/`CreativeWork`/… node
   (a generic `Article`/`CreativeWork`/`WebPage` only when it lists authors: site-wide blocks
   describe the site, not the work);
5. Dublin Core `DC.*`/`dc.*`/`DCTERMS.*`;
6. OpenGraph `og:*` (title, canonical URL and type only).

Authors come whole from one family: `citation_author`, each followed (in document order) by its
`citation_author_institution`/`_affiliation`, `citation_author_orcid`; else EPrints/bepress;
else the JSON-LD node's `author` (else `creator`) with `affiliation` and an ORCID `@id`; else
`DC.creator`. Mapping choices that are not obvious:

- A record needs a title or a DOI from families 1-5. OpenGraph alone is what every web page
  has (a blog post, a search page), so a page with only `og:*` is `NoRecord`, counted, not an
  error; so is a page with no tags at all.
- `source_id` is the DOI the page states (the DOI names the work wherever the page lives and
  matches the other sources' records), else the page's URL: the final URL after redirects when
  fetched, else the page's own `<link rel="canonical">`, `og:url`, `citation_abstract_html_url`
  (an imported file has no URL of its own); None when there is none (validation quarantines).
- A page fetched for one DOI that states another (doi.org resolved a chapter to its book, a
  DOI to a journal's home page) keeps the DOI it states as `doi`, never the requested one, and
  is set `unreadable`, naming both: validation quarantines it, so it neither enriches the
  requested work nor adds a work nobody asked for. Its `source_id` is the requested DOI: the
  quarantine is found under the DOI that was asked for, and the row never displaces (as a
  later copy of one id in a batch does) the record of the page's own DOI fetched for itself.
  A page that states no DOI is taken as the requested DOI's: doi.org's resolution is the
  registrant's word that this page is the DOI's.
- Dates: `citation_publication_date`, else `citation_date`, else `citation_cover_date`, in any
  of the forms pages write ("2019/03/15", "2019-03-15", "2019/03", "2019", "15 March 2019",
  "Apr 22, 2019", "March 2019", an ISO date-time), with their precision (day, month, year);
  `citation_online_date` → a `DateEntry` "published_online".
- Pages: `citation_firstpage`/`citation_lastpage` (PRISM `startingPage`/`endingPage`, JSON-LD
  `pageStart`/`pageEnd`); `pages` is "first-last", or the first alone.
- `citation_pdf_url` → `Link(relation="pdf", target_scheme="url")`: a form of this same work.
- The abstract: `citation_abstract` (HTML made plain text), EPrints' abstract, JSON-LD
  `description`, `DC.description`/`DCTERMS.abstract`. Never `og:description`: OpenGraph's is a
  teaser for link previews (Nature's is the standfirst, many are cut at 200-300 characters),
  and a teaser stored as the abstract would be taken for one by the works a sync enriches.
- Keywords → `Subject("keyword")` (one tag each, or one tag of ";"/","-separated terms);
  `citation_reference` → `Reference`s (their DOI and PMID as identifiers); `citation_arxiv_id`,
  `citation_pmid`, `citation_isbn` → identifiers.
- Text stays text: a tag's content (`<script>alert(1)</script>` included) is stored as the
  characters it holds; nothing in a page is run or fetched, no URL in it is followed.
- Encoding: the HTTP header's charset, else a byte-order mark, else bytes that are valid UTF-8
  are UTF-8 (a page saying "iso-8859-1" over UTF-8 bytes is the common lie), else the
  `<meta charset>` the page declares, else Windows-1252 (what browsers assume). Bytes that are
  not valid in the chosen encoding are replaced, and a record whose metadata holds a
  replacement is `unreadable` (quarantined, as the XML and JSON parsers do with such bytes).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from lxml import etree, html
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from connectors.oaipmh.dublin_core import choose_license
from connectors.oaipmh.values import (
    clean,
    html_to_text,
    parse_iso_date,
    split_name,
    split_pages,
)
from connectors.payload import Source, read_whole
from connectors.pubmed.dates import MONTHS
from schemas.identifiers import (
    doi_key,
    normalise_doi,
    normalise_isbn,
    normalise_issn,
    normalise_orcid,
    normalise_pmid,
)
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Identifier,
    Link,
    Record,
    Reference,
    Subject,
)

__all__ = [
    "SOURCE",
    "NoRecord",
    "iter_landing_records",
    "parse_landing_date",
    "parse_landing_page",
]

SOURCE = "landing"

# A JSON-LD block larger than this is not metadata (a page's embedded state, a search index):
# it is skipped unread rather than decoded into a large Python structure.
_MAX_JSON_LD_CHARS = 1 << 20
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class NoRecord:
    """A page that states no scholarly metadata: counted by who fetched it, not an error."""

    url: str | None
    reason: str


# --- the page's tags -------------------------------------------------------------------------


@dataclass(slots=True)
class _Page:
    """The page as the families read it: every `<meta>` (name lower-cased, content) in
    document order, the scholarly JSON-LD node, the canonical URL."""

    metas: list[tuple[str, str]]
    json_ld: dict[str, Any] | None
    canonical: str | None

    def all(self, *names: str) -> list[str]:
        """Every non-blank content of these tag names, in document order."""
        return [content for name, content in self.metas if name in names]

    def first(self, *names: str) -> str | None:
        """The first non-blank content of the first of `names` the page has."""
        for wanted in names:
            for name, content in self.metas:
                if name == wanted:
                    return content
        return None

    def prefixed(self, *prefixes: str) -> bool:
        return any(name.startswith(prefixes) for name, _ in self.metas)


def _decode(body: bytes, content_type: str | None) -> tuple[str, str, bool]:
    """(text, encoding, lossy) of a page's bytes (see the module docstring for the order)."""
    encoding = http_content_type_encoding(content_type) if content_type else None
    if encoding is None:
        bom, _length = read_bom(body)
        encoding = bom
    if encoding is None:
        try:
            return body.decode("utf-8"), "utf-8", False
        except UnicodeDecodeError:
            encoding = html_body_declared_encoding(body[:4096]) or "cp1252"
    try:
        return body.decode(encoding), encoding, False
    except UnicodeDecodeError:
        return body.decode(encoding, errors="replace"), encoding, True
    except LookupError:  # a charset Python does not know ("x-foo"): what browsers fall back to
        return body.decode("cp1252", errors="replace"), "cp1252", True


def _read_page(text: str) -> _Page:
    if not text.strip():
        return _Page([], None, None)
    # A parser per page: lxml's parsers must not be shared between threads (a sync parses on
    # its prefetch thread and in its load task), and making one costs microseconds.
    parser = html.HTMLParser(
        no_network=True, huge_tree=False, remove_comments=True, remove_pis=True
    )
    try:
        root = html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError):  # a document lxml finds nothing in
        return _Page([], None, None)
    metas: list[tuple[str, str]] = []
    for meta in root.iter("meta"):
        name = meta.get("name") or meta.get("property")
        content = clean(meta.get("content"))
        if name and content is not None:
            metas.append((name.strip().lower(), content))
    canonical = None
    for link in root.iter("link"):
        if (link.get("rel") or "").strip().lower() == "canonical" and clean(link.get("href")):
            canonical = clean(link.get("href"))
            break
    json_ld = None
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        json_ld = _scholarly_node(script.text or "")
        if json_ld is not None:
            break
    return _Page(metas, json_ld, canonical)


# --- JSON-LD ---------------------------------------------------------------------------------

# Types that describe one work; a generic one counts only with authors (module docstring).
_SCHOLARLY_TYPES = frozenset(
    {
        "ScholarlyArticle",
        "MedicalScholarlyArticle",
        "Dataset",
        "Thesis",
        "Book",
        "Chapter",
        "Report",
        "Periodical",
    }
)
_GENERIC_TYPES = frozenset({"Article", "NewsArticle", "CreativeWork", "SoftwareSourceCode"})
_SCHEMA_PREFIX = re.compile(r"^(?:https?://schema\.org/|schema:)")


def _types(node: Mapping[str, Any]) -> set[str]:
    given = node.get("@type")
    names = given if isinstance(given, list) else [given]
    return {_SCHEMA_PREFIX.sub("", name) for name in names if isinstance(name, str)}


def _scholarly_node(text: str) -> dict[str, Any] | None:
    """The first node of one JSON-LD block that describes a work; None when none does or the
    block is not JSON (a broken block is the page's problem, not a reason to lose its tags)."""
    if len(text) > _MAX_JSON_LD_CHARS:
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    pending = document if isinstance(document, list) else [document]
    for node in pending:
        if not isinstance(node, dict):
            continue
        graph = node.get("@graph")
        if isinstance(graph, list):
            pending.extend(graph)  # the list grows as it is read: the graph's nodes come next
        types = _types(node)
        has_authors = bool(node.get("author") or node.get("creator"))
        if types & _SCHOLARLY_TYPES or (types & _GENERIC_TYPES and has_authors):
            return node
    return None


def _ld_text(value: Any) -> str | None:
    """A JSON-LD value as text: a string, a number, `{"@value": …}`, or a node's `name`."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value", value.get("name"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return clean(value) if isinstance(value, str) else None


def _ld_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _ld_parents(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The node's `isPartOf` chain (issue → volume → periodical), at most a few levels deep."""
    current: Any = node.get("isPartOf")
    for _ in range(4):
        if isinstance(current, list):
            current = current[0] if current else None
        if not isinstance(current, dict):
            return
        yield current
        current = current.get("isPartOf")


def _ld_of_type(node: Mapping[str, Any], kind: str, key: str) -> str | None:
    for parent in _ld_parents(node):
        if kind in _types(parent) and _ld_text(parent.get(key)) is not None:
            return _ld_text(parent.get(key))
    return None


def _ld_doi(node: Mapping[str, Any]) -> str | None:
    for value in [
        node.get("@id"),
        *_ld_list(node.get("identifier")),
        *_ld_list(node.get("sameAs")),
    ]:
        if isinstance(value, dict):
            value = value.get("value") or value.get("@id") or value.get("url")
        if isinstance(value, str) and (doi := normalise_doi(value)) is not None:
            return doi
    return None


def _ld_authors(node: Mapping[str, Any]) -> list[Author]:
    people = _ld_list(node.get("author")) or _ld_list(node.get("creator"))
    authors: list[Author] = []
    for person in people:
        if isinstance(person, str):
            person = {"name": person}
        if not isinstance(person, dict):
            continue
        family, given = _ld_text(person.get("familyName")), _ld_text(person.get("givenName"))
        name = _ld_text(person.get("name"))
        collective = None
        if "Organization" in _types(person):
            collective, name = name, name
        elif family and given:
            name = f"{given} {family}"
        elif name is not None:
            name, family, given = split_name(name)
        if name is None:
            continue
        orcid = None
        for value in [
            person.get("@id"),
            *_ld_list(person.get("identifier")),
            *_ld_list(person.get("sameAs")),
        ]:
            text = _ld_text(value) if not isinstance(value, str) else value
            if text and "orcid" in text.lower() and (orcid := normalise_orcid(text)):
                break
        affiliations = [
            text for text in map(_ld_text, _ld_list(person.get("affiliation"))) if text is not None
        ]
        authors.append(
            Author(
                position=len(authors) + 1,
                name=name,
                family=None if collective else family,
                given=None if collective else given,
                collective=collective,
                orcid=orcid,
                affiliations=affiliations,
            )
        )
    return authors


# --- authors of the meta-tag families --------------------------------------------------------


def _tag_authors(
    page: _Page, author: str, institutions: tuple[str, ...], orcid: str | None
) -> list[Author]:
    """Authors of one family's tags: each `author` tag starts a person; the institution and
    ORCID tags that follow it (before the next author) are that person's."""
    authors: list[Author] = []
    for name, content in page.metas:
        if name == author:
            display, family, given = split_name(content)
            authors.append(
                Author(position=len(authors) + 1, name=display, family=family, given=given)
            )
        elif authors and name in institutions:
            if content not in authors[-1].affiliations:
                authors[-1].affiliations.append(content)
        elif authors and orcid is not None and name == orcid and authors[-1].orcid is None:
            authors[-1].orcid = normalise_orcid(content)
    return authors


def _dc_authors(page: _Page) -> list[Author]:
    names = [
        content
        for name, content in page.metas
        if name.startswith(("dc.creator", "dcterms.creator"))
    ]
    authors: list[Author] = []
    for content in names:
        display, family, given = split_name(content)
        authors.append(Author(position=len(authors) + 1, name=display, family=family, given=given))
    return authors


def parse_authors(page: _Page) -> list[Author]:
    """The authors of the first family that lists any (module docstring)."""
    for found in (
        lambda: _tag_authors(
            page,
            "citation_author",
            ("citation_author_institution", "citation_author_affiliation"),
            "citation_author_orcid",
        ),
        lambda: _tag_authors(page, "eprints.creators_name", (), None),
        lambda: _tag_authors(
            page, "bepress_citation_author", ("bepress_citation_author_institution",), None
        ),
        lambda: _ld_authors(page.json_ld) if page.json_ld is not None else [],
        lambda: _dc_authors(page),
    ):
        authors = found()
        if authors:
            return authors
    return []


# --- dates -----------------------------------------------------------------------------------

# Month names as PubMed's dates read them (English, abbreviated or whole): one table.
_MONTHS = MONTHS
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})(?:/(\d{1,2}))?$")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})\.?\s+([A-Za-z]+)\.?,?\s+(\d{4})$")
_MONTH_DAY_YEAR = re.compile(r"^([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")
_MONTH_YEAR = re.compile(r"^([A-Za-z]+)\.?,?\s+(\d{4})$")


def parse_landing_date(text: str | None) -> tuple[dt.date | None, str | None]:
    """(date, precision) of a date as landing pages write it (module docstring); (None, None)
    when unreadable or impossible (a 31 April)."""
    value = clean(text)
    if value is None:
        return None, None
    slashed = _SLASHED.match(value)
    if slashed:
        year, month, day = slashed.groups()
        return _date(int(year), int(month), int(day) if day else None)
    date, precision = parse_iso_date(value)
    if date is not None:
        return date, precision
    for pattern, order in (
        (_DAY_MONTH_YEAR, (2, 1, 0)),
        (_MONTH_DAY_YEAR, (2, 0, 1)),
        (_MONTH_YEAR, (1, 0, None)),
    ):
        match = pattern.match(value)
        if match is None:
            continue
        parts = match.groups()
        month = _MONTHS.get(parts[order[1]].lower())
        if month is None:
            return None, None
        day = int(parts[order[2]]) if order[2] is not None else None
        return _date(int(parts[order[0]]), month, day)
    return None, None


def _date(year: int, month: int, day: int | None) -> tuple[dt.date | None, str | None]:
    try:
        if day is None:
            return dt.date(year, month, 1), "month"
        return dt.date(year, month, day), "day"
    except ValueError:
        return None, None


# --- the record ------------------------------------------------------------------------------


def _first_of(*values: str | None) -> str | None:
    """The first value given: the families' values for one field, in priority order."""
    for value in values:
        if value is not None:
            return value
    return None


def _ld(page: _Page, key: str) -> str | None:
    return _ld_text(page.json_ld.get(key)) if page.json_ld is not None else None


def parse_doi(page: _Page) -> str | None:
    """The DOI the page states, family by family; a tag that holds no DOI is passed over."""
    candidates = [
        *page.all("citation_doi"),
        *page.all("eprints.id_number", "bepress_citation_doi"),
        *page.all("prism.doi"),
        _ld_doi(page.json_ld) if page.json_ld is not None else None,
        *page.all("dc.identifier.doi", "dc.identifier", "dcterms.identifier"),
    ]
    for candidate in candidates:
        if candidate is not None and (doi := normalise_doi(candidate)) is not None:
            return doi
    return None


def parse_title(page: _Page) -> str | None:
    return html_to_text(
        _first_of(
            page.first("citation_title"),
            page.first("eprints.title", "bepress_citation_title"),
            _ld(page, "headline") or _ld(page, "name"),
            page.first("dc.title", "dcterms.title"),
            page.first("og:title"),
        )
    )


def parse_abstract(page: _Page) -> str | None:
    return html_to_text(
        _first_of(
            page.first("citation_abstract"),
            page.first("eprints.abstract", "bepress_citation_abstract"),
            _ld(page, "abstract") or _ld(page, "description"),
            page.first("dc.description", "dcterms.abstract", "dcterms.description"),
        )
    )


def parse_pub_date(page: _Page) -> tuple[str | None, dt.date | None, str | None]:
    """(raw, date, precision) of the first family's publication date that reads as one."""
    for raw in (
        *page.all("citation_publication_date", "citation_date", "citation_cover_date"),
        *page.all("citation_year"),
        *page.all("eprints.date", "bepress_citation_date", "bepress_citation_publication_date"),
        *page.all("prism.publicationdate", "prism.coverdate"),
        _ld(page, "datePublished"),
        *page.all("dc.date.issued", "dcterms.issued", "dc.date", "dcterms.date"),
        *page.all("article:published_time"),
    ):
        if raw is None:
            continue
        date, precision = parse_landing_date(raw)
        if date is not None:
            return raw, date, precision
    return None, None, None


def parse_pages(page: _Page) -> tuple[str | None, str | None]:
    """(first, last) page of the first family that states a first page."""
    for first_name, last_name in (
        ("citation_firstpage", "citation_lastpage"),
        ("bepress_citation_firstpage", "bepress_citation_lastpage"),
        ("prism.startingpage", "prism.endingpage"),
    ):
        first = page.first(first_name)
        if first is not None:
            return first, page.first(last_name)
    ranged = page.first("eprints.pagerange", "prism.pagerange")
    if ranged is not None:
        return split_pages(ranged)
    if page.json_ld is not None and _ld(page, "pageStart") is not None:
        return _ld(page, "pageStart"), _ld(page, "pageEnd")
    if page.json_ld is not None and _ld(page, "pagination") is not None:
        return split_pages(_ld(page, "pagination"))
    return None, None


def parse_keywords(page: _Page) -> list[Subject]:
    for names in (
        ("citation_keywords", "citation_keyword"),
        ("eprints.keywords", "bepress_citation_keywords"),
        ("prism.keyword",),
    ):
        tags = page.all(*names)
        if tags:
            return _subjects(tags)
    if page.json_ld is not None and page.json_ld.get("keywords"):
        return _subjects([t for t in map(_ld_text, _ld_list(page.json_ld["keywords"])) if t])
    return _subjects(page.all("dc.subject", "dcterms.subject"))


def _subjects(tags: list[str]) -> list[Subject]:
    """One subject per term: a tag holding "a; b; c" (or "a, b, c" when it has no ";") is
    several terms; repeats dropped, order kept."""
    terms: list[str] = []
    for tag in tags:
        separator = ";" if ";" in tag else ","
        for term in (clean(part) for part in tag.split(separator)):
            if term is not None and term not in terms:
                terms.append(term)
    return [Subject("keyword", term) for term in terms]


def parse_issns(page: _Page) -> tuple[str | None, str | None, str | None]:
    """(issn, print, electronic): Highwire's `citation_issn` does not say which is which."""
    electronic = _first_issn(page.all("prism.eissn"))
    printed = _first_issn(page.all("prism.issn")) if page.first("prism.eissn") else None
    issn = _first_issn(
        [
            *page.all("citation_issn"),
            *page.all("eprints.issn", "bepress_citation_issn"),
            *page.all("prism.issn", "prism.eissn"),
            *([_ld_of_type(page.json_ld, "Periodical", "issn") or ""] if page.json_ld else []),
            *page.all("dc.source.issn"),
        ]
    )
    return issn, printed, electronic


def _first_issn(values: list[str]) -> str | None:
    for value in values:
        if (issn := normalise_issn(value)) is not None:
            return issn
    return None


def parse_identifiers(page: _Page, doi: str | None, url: str | None) -> list[Identifier]:
    identifiers = [Identifier("doi", doi)] if doi is not None else []
    for names, normalise, scheme in (
        (("citation_pmid",), normalise_pmid, "pmid"),
        (("citation_isbn", "bepress_citation_isbn"), normalise_isbn, "isbn"),
    ):
        for value in page.all(*names):
            if (normal := normalise(value)) is not None:
                identifiers.append(Identifier(scheme, normal))
    for value in page.all("citation_arxiv_id"):
        identifiers.append(Identifier("arxiv", value))
    if url is not None:
        identifiers.append(Identifier("url", url))
    return identifiers


def parse_pdf_links(page: _Page, base: str | None) -> list[Link]:
    """The full text as PDF: `citation_pdf_url` (else bepress's, EPrints' document URL), made
    absolute against the page's URL; never fetched."""
    for names in (
        ("citation_pdf_url",),
        ("bepress_citation_pdf_url", "eprints.document_url"),
    ):
        urls = page.all(*names)
        if urls:
            return [
                Link("pdf", "url", urljoin(base, url) if base else url)
                for url in dict.fromkeys(urls)
            ]
    return []


_REFERENCE_PART = re.compile(r"(citation_[a-z_]+)=([^;]*)")


def parse_references(page: _Page) -> list[Reference]:
    """`citation_reference` tags ("citation_title=…;citation_author=…;citation_doi=…") in order:
    the citation assembled as "Authors. Year. Title. Journal Volume(Issue):First", the DOI and
    PMID as identifiers."""
    references: list[Reference] = []
    for content in page.all("citation_reference"):
        parts: dict[str, list[str]] = {}
        for key, value in _REFERENCE_PART.findall(content):
            if clean(value) is not None:
                parts.setdefault(key, []).append(value.strip())
        first = {key: values[0] for key, values in parts.items()}
        if not parts:
            citation: str | None = clean(content)
        else:
            pieces = [", ".join(parts.get("citation_author", []))]
            pieces += [first.get("citation_date", first.get("citation_publication_date", ""))]
            pieces += [first.get("citation_title", "")]
            where = first.get("citation_journal_title", "")
            if "citation_volume" in first:
                where += f" {first['citation_volume']}"
            # Not `citation_number`: PLOS writes the volume there again.
            if "citation_issue" in first:
                where += f"({first['citation_issue']})"
            first_page = first.get("citation_firstpage", first.get("citation_first_page"))
            last_page = first.get("citation_lastpage", first.get("citation_last_page"))
            if first_page is not None:
                where += f":{first_page}" + (f"-{last_page}" if last_page else "")
            pieces += [where.strip()]
            citation = ". ".join(piece for piece in pieces if piece) or None
        identifiers = []
        if (doi := normalise_doi(first.get("citation_doi"))) is not None:
            identifiers.append(Identifier("doi", doi))
        if (pmid := normalise_pmid(first.get("citation_pmid"))) is not None:
            identifiers.append(Identifier("pmid", pmid))
        references.append(Reference(len(references) + 1, citation, identifiers))
    return references


def _page_url(page: _Page, url: str | None) -> str | None:
    return _first_of(
        url, page.canonical, page.first("og:url"), page.first("citation_abstract_html_url")
    )


def _has_scholarly_metadata(page: _Page) -> bool:
    if page.json_ld is not None:
        return True
    return page.prefixed("citation_", "eprints.", "bepress_", "prism.", "dc.", "dcterms.")


def parse_landing_page(
    body: bytes,
    *,
    url: str | None = None,
    expected_doi: str | None = None,
    content_type: str | None = None,
) -> Record | NoRecord:
    """The record a landing page states (module docstring), or `NoRecord` saying why not.

    `url` is the final URL the page was fetched from (None for a file), `expected_doi` the DOI
    it was fetched for, `content_type` the HTTP header (its charset wins)."""
    text, encoding, lossy = _decode(body, content_type)
    page = _read_page(text)
    if not _has_scholarly_metadata(page):
        return NoRecord(url, "no citation_*, EPrints, bepress, PRISM, JSON-LD or Dublin Core")
    doi = parse_doi(page)
    title = parse_title(page)
    if doi is None and title is None:
        return NoRecord(url, "scholarly tags without a title or a DOI")
    page_url = _page_url(page, url)
    requested = normalise_doi(expected_doi)
    mismatch = requested is not None and doi is not None and doi_key(doi) != doi_key(requested)
    if doi is None and requested is not None:
        doi = requested
    source_id = requested if mismatch else doi if doi is not None else page_url
    # `endpoint` keeps the final URL: with `source_id` (the DOI asked for, when by DOI) it is
    # what a reparse of the stored page needs to give the same record again.
    record = Record(source=SOURCE, source_id=source_id, endpoint=url)
    record.doi = doi
    record.title = title
    record.abstract = parse_abstract(page)
    if record.abstract is not None:
        record.abstract_sections = [AbstractSection(record.abstract)]
    record.authors = parse_authors(page)
    record.identifiers = parse_identifiers(page, doi, page_url)
    record.pmid = next((i.value for i in record.identifiers if i.scheme == "pmid"), None)
    record.journal = html_to_text(
        _first_of(
            page.first("citation_journal_title", "citation_conference_title"),
            page.first("eprints.publication", "bepress_citation_journal_title"),
            page.first("prism.publicationname"),
            _ld_of_type(page.json_ld, "Periodical", "name") if page.json_ld else None,
            # DC.source is "a related resource from which the described resource is derived":
            # the journal only where OJS writes it so, with the journal's DC.Source.ISSN.
            page.first("dc.source", "dcterms.source") if page.first("dc.source.issn") else None,
        )
    )
    record.journal_abbrev = page.first("citation_journal_abbrev")
    record.issn, record.issn_print, record.issn_electronic = parse_issns(page)
    record.volume = _first_of(
        page.first("citation_volume"),
        page.first("eprints.volume", "bepress_citation_volume"),
        page.first("prism.volume"),
        _ld_of_type(page.json_ld, "PublicationVolume", "volumeNumber") if page.json_ld else None,
        page.first("dc.source.volume"),
    )
    record.issue = _first_of(
        page.first("citation_issue"),
        page.first("eprints.number", "bepress_citation_issue"),
        page.first("prism.number"),
        _ld_of_type(page.json_ld, "PublicationIssue", "issueNumber") if page.json_ld else None,
        page.first("dc.source.issue"),
    )
    record.first_page, record.last_page = parse_pages(page)
    if record.first_page is not None:
        record.pages = (
            f"{record.first_page}-{record.last_page}"
            if record.last_page and record.last_page != record.first_page
            else record.first_page
        )
    record.publisher = _first_of(
        page.first("citation_publisher"),
        page.first("eprints.publisher", "bepress_citation_publisher"),
        page.first("prism.publisher"),
        _ld(page, "publisher"),
        page.first("dc.publisher", "dcterms.publisher"),
    )
    record.pub_date_raw, record.pub_date, record.pub_date_precision = parse_pub_date(page)
    record.pub_year = record.pub_date.year if record.pub_date is not None else None
    online = page.first("citation_online_date")
    if online is not None:
        date, precision = parse_landing_date(online)
        record.dates.append(DateEntry("published_online", date, precision, online))
    language = _first_of(
        page.first("citation_language"),
        page.first("eprints.language"),
        _ld(page, "inLanguage"),
        page.first("dc.language", "dcterms.language"),
    )
    record.languages = [language] if language is not None else []
    record.publication_types = _first_nonempty(
        page.all("citation_article_type"),
        page.all("eprints.type"),
        sorted(_types(page.json_ld)) if page.json_ld else [],
        page.all("dc.type", "dcterms.type"),
    )
    record.subjects = parse_keywords(page)
    record.links = parse_pdf_links(page, page_url)
    record.references = parse_references(page)
    record.license = _first_of(
        page.first("citation_license"),
        _ld(page, "license"),
        choose_license(page.all("dcterms.license", "dc.rights", "dcterms.rights")),
    )
    record.raw = body
    if mismatch:
        record.unreadable = (
            f"landing page of another record: fetched for DOI {requested}, the page at "
            f"{page_url or 'an unknown URL'} states DOI {record.doi}"
        )
    elif lossy and _holds_replacement(record):
        record.unreadable = f"bytes that are not {encoding} in the page's metadata"
    return record


def _first_nonempty(*lists: list[str]) -> list[str]:
    for values in lists:
        if values:
            return list(dict.fromkeys(values))
    return []


def _holds_replacement(record: Record) -> bool:
    texts = [record.title, record.abstract, record.journal, *(a.name for a in record.authors)]
    return any(text is not None and _REPLACEMENT in text for text in texts)


def iter_landing_records(
    source: Source,
    *,
    origin: str,
    url: str | None = None,
    expected_doi: str | None = None,
    content_type: str | None = None,
) -> Iterator[Record]:
    """The record of one landing page (a file, bytes), none when it states no scholarly
    metadata: `flows.pipeline.PARSERS`' shape. The page is read whole, under the document cap
    (`connectors.payload`)."""
    body = read_whole(source, origin)
    parsed = parse_landing_page(body, url=url, expected_doi=expected_doi, content_type=content_type)
    if isinstance(parsed, Record):
        yield parsed
