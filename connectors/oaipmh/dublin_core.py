"""`oai_dc` (unqualified Dublin Core) → the fields of a `Record`. One function per field group.

Mapping choices (Dublin Core says little about what its elements hold):

- title: the first dc:title; further titles stay in `raw`.
- authors: dc:creator in order, role "author". dc:contributor gets role "contributor" —
  except when a record has no dc:creator at all: DSpace's crosswalk puts dc.contributor.author
  into dc:contributor (the 2003 DSpace records have nothing else), so they are the authors.
  Names written "Family, Given" are split (`values.split_name`), other names kept whole.
- abstract: every distinct dc:description, in order, one section each (kind "abstract");
  HTML, also HTML escaped twice (Zenodo), becomes plain text.
- identifiers: the OAI identifier first, then every dc:identifier classified by its form
  (doi, handle, urn, isbn, issn, url, other). `doi` is the first DOI; `issn` the first ISSN.
- dates: the first dc:date is the publication date (verbatim in `pub_date_raw`); further
  distinct dc:dates go to `dates` with kind "date".
- dc:type → `publication_types` as given; dc:language → `languages` as given; dc:subject →
  subjects (scheme "keyword"); dc:publisher → publisher (the first).
- links: dc:relation → relation "relation", dc:source → relation "source"; a DOI, handle or
  URL becomes the target, other text the citation.
- license: the first dc:rights that is a URL and not an info:eu-repo access right, else the
  first text that is not one; access rights (info:eu-repo/semantics/openAccess) have no field.
- dc:format and dc:coverage have no field and stay in `raw`.
"""

from __future__ import annotations

from lxml import etree

from connectors.oaipmh.values import (
    all_text,
    classify_identifier,
    clean,
    html_to_text,
    parse_iso_date,
    parse_number,
    split_name,
)
from schemas.record import AbstractSection, Author, DateEntry, Link, Record, Subject

__all__ = ["DC_NS", "OAI_DC_NS", "fill_from_oai_dc"]

Element = etree._Element

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
_ACCESS_RIGHTS_PREFIX = "info:eu-repo/semantics/"


def _values(dc: Element) -> dict[str, list[str]]:
    """Every dc element's stripped text by local name, in document order, blanks dropped."""
    values: dict[str, list[str]] = {}
    for child in dc:
        if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{DC_NS}}}"):
            continue
        text = clean(all_text(child))
        if text is not None:
            values.setdefault(etree.QName(child).localname, []).append(text)
    return values


def fill_from_oai_dc(record: Record, dc: Element) -> None:
    """Set the fields an `<oai_dc:dc>` element holds (see the module docstring)."""
    values = _values(dc)
    titles = values.get("title", [])
    record.title = titles[0] if titles else None
    record.authors = parse_dc_people(values.get("creator", []), values.get("contributor", []))
    record.abstract_sections = parse_descriptions(values.get("description", []))
    record.abstract = "\n\n".join(s.text for s in record.abstract_sections) or None
    add_identifiers(record, values.get("identifier", []))
    _fill_dates(record, values.get("date", []))
    record.publication_types = list(values.get("type", []))
    record.languages = list(values.get("language", []))
    record.subjects = [Subject("keyword", term) for term in values.get("subject", [])]
    publishers = values.get("publisher", [])
    record.publisher = publishers[0] if publishers else None
    record.links = parse_links(values.get("relation", []), "relation") + parse_links(
        values.get("source", []), "source"
    )
    record.license = choose_license(values.get("rights", []))


def parse_dc_people(creators: list[str], contributors: list[str]) -> list[Author]:
    """Authors from dc:creator, then contributors (authors when there is no creator)."""
    people: list[Author] = []
    if creators:
        groups = [(creators, "author"), (contributors, "contributor")]
    else:
        groups = [(contributors, "author")]
    for names, role in groups:
        for position, text in enumerate(names, start=1):
            name, family, given = split_name(text)
            people.append(
                Author(position=position, name=name, family=family, given=given, role=role)
            )
    return people


def parse_descriptions(descriptions: list[str]) -> list[AbstractSection]:
    """One section per distinct description, as plain text, in order."""
    sections: list[AbstractSection] = []
    seen: set[str] = set()
    for description in descriptions:
        text = html_to_text(description)
        if text is not None and text not in seen:
            seen.add(text)
            sections.append(AbstractSection(text=text))
    return sections


def add_identifiers(record: Record, texts: list[str]) -> None:
    """Append classified identifiers (not already present) and set doi/issn from them."""
    present = {(i.scheme, i.value) for i in record.identifiers}
    for text in texts:
        identifier = classify_identifier(text)
        if identifier is not None and (identifier.scheme, identifier.value) not in present:
            present.add((identifier.scheme, identifier.value))
            record.identifiers.append(identifier)
    for identifier in record.identifiers:
        if identifier.scheme == "doi" and record.doi is None:
            record.doi = identifier.value
        elif identifier.scheme == "issn" and record.issn is None:
            record.issn = identifier.value
        elif identifier.scheme == "pmid" and record.pmid is None:
            record.pmid = identifier.value


def _fill_dates(record: Record, dates: list[str]) -> None:
    if not dates:
        return
    first = dates[0]
    record.pub_date, record.pub_date_precision = parse_iso_date(first)
    record.pub_date_raw = first
    record.pub_year = record.pub_date.year if record.pub_date else _year(first)
    seen = {first}
    for text in dates[1:]:
        if text in seen:
            continue
        seen.add(text)
        date, precision = parse_iso_date(text)
        record.dates.append(DateEntry("date", date, precision, text))


def _year(text: str) -> int | None:
    year = parse_number(text[:4])
    return year or None  # 0000 is no year


def parse_links(texts: list[str], relation: str) -> list[Link]:
    """Links from dc:relation/dc:source: identifier-like values as targets, else citations."""
    links = []
    for text in texts:
        identifier = classify_identifier(text)
        if identifier is not None and identifier.scheme in ("doi", "handle", "url", "urn"):
            links.append(Link(relation, identifier.scheme, identifier.value))
        else:
            links.append(Link(relation, citation=text))
    return links


def choose_license(rights: list[str]) -> str | None:
    """The licence among dc:rights values (see the module docstring)."""
    statements = [r for r in rights if not r.startswith(_ACCESS_RIGHTS_PREFIX)]
    for statement in statements:
        if statement.lower().startswith(("http://", "https://")):
            return statement
    return statements[0] if statements else None
