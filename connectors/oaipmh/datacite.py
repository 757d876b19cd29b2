"""DataCite metadata (kernel 3 and 4, as Zenodo's `datacite` and Pure's exports give it) → the
fields of a `Record`. One function per field group.

Mapping choices:

- identifiers: the OAI identifier first, then `identifier` (the DOI), then every
  `alternateIdentifier` (scheme = its type, lower-cased; "oai" duplicates dropped).
- authors: `creators` in order (role "author"), then `contributors`, role = contributorType in
  snake case ("editor", "supervisor", "contact_person"), numbered per role. The display name
  is "Given Family" when both parts are given, else creatorName as given (Zenodo puts an
  unsplit name in familyName too: kept as given). ORCID from nameIdentifier; every
  affiliation; nameType="Organizational" is a collective author.
- title: the first title without titleType; further titles stay in `raw`.
- abstract: descriptions in order; kind = descriptionType in snake case ("abstract",
  "other", "methods", "series_information", …), `language` from xml:lang; `abstract` joins the
  "abstract" ones (blank lines between).
- dates: `Issued` is the publication date (else `publicationYear`, precision year); every
  date goes to `dates` with kind = dateType lower-cased.
- type: `output_type` = [resourceTypeGeneral, resourceType] (broadest first, blanks dropped);
  `publication_types` = [resourceType] or [resourceTypeGeneral].
- subjects: scheme = subjectScheme lower-cased, else "keyword"; code = classificationCode,
  else valueURI.
- links: relatedIdentifiers (relation = relationType as given, target = normalised id).
- license: the first rightsURI that is not an info:eu-repo access right, else the first
  rights text. Grants: fundingReferences (awardNumber, funderName).
- version, sizes, formats, geoLocations have no field and stay in `raw`.
"""

from __future__ import annotations

from lxml import etree

from connectors.oaipmh.values import (
    all_text,
    clean,
    html_to_text,
    normalise_identifier,
    parse_iso_date,
    parse_number,
    snake_case,
)
from schemas.identifiers import normalise_orcid
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Grant,
    Link,
    Record,
    Subject,
)

__all__ = ["DATACITE_NAMESPACES", "fill_from_datacite"]

Element = etree._Element

DATACITE_NAMESPACES = frozenset(
    {
        "http://datacite.org/schema/kernel-4",
        "http://datacite.org/schema/kernel-3",
        "http://datacite.org/schema/kernel-2.2",
    }
)
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ACCESS_RIGHTS_PREFIX = "info:eu-repo/semantics/"


def _local(element: Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [child for child in element if _local(child) == name]


def _child(element: Element | None, name: str) -> Element | None:
    children = _children(element, name)
    return children[0] if children else None


def _text(element: Element | None) -> str | None:
    return None if element is None else clean(all_text(element))


def fill_from_datacite(record: Record, resource: Element) -> None:
    """Set the fields a DataCite `<resource>` holds (see the module docstring)."""
    parts = {_local(child): child for child in resource}
    _fill_identifiers(record, parts.get("identifier"), parts.get("alternateIdentifiers"))
    record.authors = parse_creators(parts.get("creators")) + parse_contributors(
        parts.get("contributors")
    )
    for title in _children(parts.get("titles"), "title"):
        if title.get("titleType") is None:
            record.title = _text(title)
            break
    record.publisher = _text(parts.get("publisher"))
    _fill_dates(record, parts.get("dates"), _text(parts.get("publicationYear")))
    _fill_type(record, parts.get("resourceType"))
    language = _text(parts.get("language"))
    record.languages = [language] if language else []
    record.subjects = parse_subjects(parts.get("subjects"))
    record.abstract_sections = parse_descriptions(parts.get("descriptions"))
    abstracts = [s.text for s in record.abstract_sections if s.kind == "abstract"]
    record.abstract = "\n\n".join(abstracts) or None
    record.links = parse_related(parts.get("relatedIdentifiers"))
    record.license = choose_license(parts.get("rightsList"))
    record.grants = parse_funding(parts.get("fundingReferences"))


def _fill_identifiers(
    record: Record, identifier: Element | None, alternates: Element | None
) -> None:
    candidates = []
    if identifier is not None:
        candidates.append((identifier.get("identifierType"), identifier.text))
    candidates.extend(
        (alternate.get("alternateIdentifierType"), alternate.text)
        for alternate in _children(alternates, "alternateIdentifier")
    )
    present = {(i.scheme, i.value) for i in record.identifiers}
    for scheme, text in candidates:
        normalised = normalise_identifier(scheme, text)
        if normalised is not None and (normalised.scheme, normalised.value) not in present:
            present.add((normalised.scheme, normalised.value))
            record.identifiers.append(normalised)
    for normalised in record.identifiers:
        if normalised.scheme == "doi" and record.doi is None:
            record.doi = normalised.value


def _person(element: Element, position: int, role: str, name_tag: str) -> Author:
    name_element = _child(element, name_tag)
    display = _text(name_element)
    given = _text(_child(element, "givenName"))
    family = _text(_child(element, "familyName"))
    orcid = None
    for identifier in _children(element, "nameIdentifier"):
        if (identifier.get("nameIdentifierScheme") or "").upper() == "ORCID":
            orcid = normalise_orcid(identifier.text)
            break
    affiliations = [a for e in _children(element, "affiliation") if (a := _text(e))]
    collective = None
    if name_element is not None and name_element.get("nameType") == "Organizational":
        collective, family, given = display, None, None
    elif given is not None and family is not None:
        display = f"{given} {family}"
    return Author(
        position=position,
        name=display or family or given,
        family=family,
        given=given,
        collective=collective,
        orcid=orcid,
        affiliations=affiliations,
        role=role,
    )


def parse_creators(creators: Element | None) -> list[Author]:
    """`creators/creator` in order, role "author"."""
    return [
        _person(creator, position, "author", "creatorName")
        for position, creator in enumerate(_children(creators, "creator"), start=1)
    ]


def parse_contributors(contributors: Element | None) -> list[Author]:
    """`contributors/contributor`, role from contributorType, positions per role."""
    people: list[Author] = []
    counts: dict[str, int] = {}
    for contributor in _children(contributors, "contributor"):
        role = snake_case(contributor.get("contributorType") or "contributor")
        counts[role] = counts.get(role, 0) + 1
        people.append(_person(contributor, counts[role], role, "contributorName"))
    return people


def _fill_dates(record: Record, dates: Element | None, publication_year: str | None) -> None:
    issued = None
    for date in _children(dates, "date"):
        text = _text(date)
        if text is None:
            continue
        kind = (date.get("dateType") or "date").strip().lower()
        value, precision = parse_iso_date(text)
        record.dates.append(DateEntry(kind, value, precision, text))
        if kind == "issued" and issued is None:
            issued = text
    raw = issued or publication_year
    if raw is not None:
        record.pub_date, record.pub_date_precision = parse_iso_date(raw)
        record.pub_date_raw = raw
    if record.pub_date is not None:
        record.pub_year = record.pub_date.year
    elif (year := parse_number(publication_year)) is not None and 1 <= year <= 9999:
        # A year no date holds (0, 30 digits) is no publication year: dropped.
        record.pub_year = year


def _fill_type(record: Record, resource_type: Element | None) -> None:
    if resource_type is None:
        return
    general = clean(resource_type.get("resourceTypeGeneral"))
    specific = _text(resource_type)
    record.output_type = [t for t in (general, specific) if t is not None]
    specific_or_general = specific or general
    record.publication_types = [specific_or_general] if specific_or_general else []


def parse_subjects(subjects: Element | None) -> list[Subject]:
    """Subjects in order: scheme from subjectScheme (else "keyword"), code when given."""
    result = []
    for subject in _children(subjects, "subject"):
        term = _text(subject)
        if term is None:
            continue
        scheme = clean(subject.get("subjectScheme"))
        code = clean(subject.get("classificationCode")) or clean(subject.get("valueURI"))
        result.append(Subject(scheme.lower() if scheme else "keyword", term, code))
    return result


def parse_descriptions(descriptions: Element | None) -> list[AbstractSection]:
    """Non-empty descriptions in order, kind from descriptionType, language from xml:lang."""
    sections = []
    for description in _children(descriptions, "description"):
        text = html_to_text(all_text(description))
        if text is None:
            continue
        kind = snake_case(description.get("descriptionType") or "abstract")
        sections.append(AbstractSection(text=text, kind=kind, language=description.get(_XML_LANG)))
    return sections


def parse_related(related: Element | None) -> list[Link]:
    """relatedIdentifiers → links (relation as given, scheme lower-cased, id normalised)."""
    links = []
    for element in _children(related, "relatedIdentifier"):
        identifier = normalise_identifier(element.get("relatedIdentifierType"), element.text)
        if identifier is None:
            continue
        relation = clean(element.get("relationType")) or "related"
        links.append(Link(relation, identifier.scheme, identifier.value))
    return links


def choose_license(rights_list: Element | None) -> str | None:
    """The licence: the first non-access-right rightsURI, else the first rights text."""
    rights = _children(rights_list, "rights")
    for element in rights:
        uri = clean(element.get("rightsURI"))
        if uri is not None and not uri.startswith(_ACCESS_RIGHTS_PREFIX):
            return uri
    for element in rights:
        text = _text(element)
        if text is not None and not text.startswith(_ACCESS_RIGHTS_PREFIX):
            return text
    return None


def parse_funding(funding: Element | None) -> list[Grant]:
    """fundingReferences → grants (awardNumber as grant id, funderName as agency)."""
    grants = []
    for reference in _children(funding, "fundingReference"):
        grant_id = _text(_child(reference, "awardNumber"))
        agency = _text(_child(reference, "funderName"))
        if grant_id is not None or agency is not None:
            grants.append(Grant(grant_id=grant_id, agency=agency))
    return grants
