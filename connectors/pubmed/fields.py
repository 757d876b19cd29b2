"""One pure function per PubMed field group (ids, titles, abstract, people, journal, pages,
subjects, grants, links, references): lxml elements in, `schemas.record` values out.

They walk children directly (`for child in element`, or `iter(tags)` for long lists) rather
than calling `find` per field: on a 30,000-record file the per-call overhead of `find` costs
about as much as libxml2's parsing. Mapping choices are documented in `connectors.pubmed.parse`.
"""

from __future__ import annotations

import html
import re

from lxml import etree

from schemas.identifiers import (
    NORMALISERS,
    normalise_orcid,
)
from schemas.record import (
    AbstractSection,
    Author,
    Grant,
    Identifier,
    Link,
    Reference,
    Subject,
    SubjectQualifier,
)

Element = etree._Element

# IdType / EIdType values → Identifier schemes (others are kept lower-cased as given).
_SCHEMES = {"pubmed": "pmid", "pmc": "pmcid", "pmcid": "pmcid"}
_PAGE = re.compile(r"^([^\d-]*)(\d+)([^\d-]*)$")
_PAGE_RANGE_SEPARATORS = re.compile(r"[,;]")


# --- text ------------------------------------------------------------------------------------


def text_of(element: Element | None) -> str | None:
    """Stripped text of an element, inline markup flattened; None when missing or blank."""
    if element is None:
        return None
    text = _all_text(element) if len(element) else element.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def mixed_text_of(element: Element | None) -> str | None:
    """All text of a mixed-content element (title, abstract section): inline markup (<i>,
    <sup>, MathML) flattened with every character kept, inner whitespace exactly as given;
    only the ends are trimmed (indentation of pretty-printed files). None when blank."""
    if element is None:
        return None
    text = _all_text(element) if len(element) else element.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _all_text(element: Element) -> str:
    return "".join(element.itertext())  # type: ignore[arg-type]  # str only, not bytes


def inner_xml(element: Element) -> str:
    """The element's content as XML text: inline tags kept, the element's own tags not."""
    parts = [html.escape(element.text, quote=False)] if element.text else []
    parts.extend(etree.tostring(child, encoding="unicode", with_tail=True) for child in element)
    return "".join(parts).strip()


def attribute(element: Element, name: str) -> str | None:
    """A stripped attribute value; None when absent or blank."""
    value = element.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


# --- identifiers -----------------------------------------------------------------------------


def normalise_identifier(scheme: str | None, value: str | None) -> Identifier | None:
    """An `Identifier` from an IdType/EIdType and its text (IdType defaults to "pubmed", as
    in the DTD); None when the value is blank. DOI, PMID, PMCID, ISBN, ISSN and ORCID values
    take their one normal form (`schemas.identifiers`: a bare lower-case DOI, "PMC" + digits,
    an ISBN without hyphens, …); one that has none (a DOI with a space, a wrong check digit)
    is kept as given under scheme "other", as the OAI-PMH parsers do. Other schemes (pii,
    mid, bookaccession) keep their value as given."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    scheme = (scheme or "pubmed").strip().lower()
    scheme = _SCHEMES.get(scheme, scheme)
    normalise = NORMALISERS.get(scheme)
    if normalise is None:
        return Identifier(scheme, value)
    normal = normalise(value)
    return Identifier(scheme, normal) if normal is not None else Identifier("other", value)


def parse_identifiers(
    pmid: str | None,
    id_lists: list[Element],
    elocations: list[Element] | None = None,
    more: list[tuple[str, str | None]] | None = None,
) -> list[Identifier]:
    """The record's own ids: ArticleIdList entries, then ELocationIDs, then `more` (scheme,
    text) pairs; de-duplicated in order, with the PMID first when the lists lack it."""
    candidates = [
        (article_id.get("IdType"), article_id.text)
        for id_list in id_lists
        for article_id in id_list.iterchildren("ArticleId")
    ]
    if elocations:
        candidates.extend((elocation.get("EIdType"), elocation.text) for elocation in elocations)
    if more:
        candidates.extend(more)
    identifiers: list[Identifier] = []
    seen: set[tuple[str, str]] = set()
    for scheme, value in candidates:
        identifier = normalise_identifier(scheme, value)
        if identifier is None:
            continue
        key = (identifier.scheme, identifier.value)
        if key not in seen:
            seen.add(key)
            identifiers.append(identifier)
    if pmid is not None and ("pmid", pmid) not in seen:
        identifiers.insert(0, Identifier("pmid", pmid))
    return identifiers


def first_of_scheme(identifiers: list[Identifier], scheme: str) -> str | None:
    """The value of the first identifier of `scheme`, else None."""
    for identifier in identifiers:
        if identifier.scheme == scheme:
            return identifier.value
    return None


def parse_elocation(elocations: list[Element]) -> str | None:
    """The electronic location: the first pii ELocationID, else the first ELocationID."""
    first = None
    for elocation in elocations:
        value = text_of(elocation)
        if value is None:
            continue
        if elocation.get("EIdType") == "pii":
            return value
        if first is None:
            first = value
    return first


# --- titles and abstracts --------------------------------------------------------------------


def parse_title(title: Element | None) -> tuple[str | None, str | None]:
    """(plain text, inner XML) of an ArticleTitle/BookTitle; (None, None) when blank."""
    text = mixed_text_of(title)
    if text is None or title is None:
        return None, None
    return text, inner_xml(title)


def parse_abstract(
    abstract: Element | None, *, kind: str = "abstract", language: str | None = None
) -> list[AbstractSection]:
    """The `AbstractText` sections of an Abstract/OtherAbstract, Label and NlmCategory kept
    (CopyrightInformation is not part of the text)."""
    if abstract is None:
        return []
    sections = []
    for text_element in abstract.iterchildren("AbstractText"):
        text = mixed_text_of(text_element)
        if text is not None:
            sections.append(
                AbstractSection(
                    text=text,
                    label=attribute(text_element, "Label"),
                    category=attribute(text_element, "NlmCategory"),
                    kind=kind,
                    language=language,
                )
            )
    return sections


def parse_other_abstract(other_abstract: Element) -> list[AbstractSection]:
    """An `OtherAbstract` as sections of kind = its Type, with its Language (DTD default
    "eng")."""
    return parse_abstract(
        other_abstract,
        kind=attribute(other_abstract, "Type") or "other",
        language=attribute(other_abstract, "Language") or "eng",
    )


def join_abstract(sections: list[AbstractSection]) -> str | None:
    """The main abstract as one text: "LABEL: text" for labelled sections, blank-line joined."""
    if not sections:
        return None
    return "\n\n".join(
        f"{section.label}: {section.text}" if section.label else section.text
        for section in sections
    )


# --- people ----------------------------------------------------------------------------------


def parse_author_lists(author_lists: list[Element]) -> list[Author]:
    """Authors (role "author") then editors (AuthorList Type="editors"), numbered per role."""
    authors: list[Author] = []
    editors: list[Author] = []
    for author_list in author_lists:
        if (author_list.get("Type") or "").lower() == "editors":
            _read_people(author_list, "Author", "editor", editors)
        else:
            _read_people(author_list, "Author", "author", authors)
    return authors + editors


def parse_investigators(investigator_lists: list[Element]) -> list[Author]:
    """`InvestigatorList/Investigator`s: role "investigator", their own positions from 1."""
    investigators: list[Author] = []
    for investigator_list in investigator_lists:
        _read_people(investigator_list, "Investigator", "investigator", investigators)
    return investigators


_PERSON_PARTS = (
    "LastName",
    "ForeName",
    "FirstName",  # DTDs before 2002
    "Initials",
    "Suffix",
    "CollectiveName",
    "Identifier",
    "AffiliationInfo",
    "Affiliation",  # in AffiliationInfo, or directly under Author before 2015
)


def _read_people(people: Element, person_tag: str, role: str, into: list[Author]) -> None:
    """Append the people of one list to `into`, numbered on from its length: names or
    CollectiveName, the ORCID, every affiliation, EqualContrib. The display name is
    "Given Family", the family name alone, or the collective name."""
    # One C-level walk over the parts that matter (wrappers are not materialised). A person
    # element opens a person; an Identifier counts as theirs only before their first
    # AffiliationInfo (the DTD order), since affiliations carry Identifiers (GRID, ISNI) too.
    person = None
    in_affiliations = False
    for element in people.iter(person_tag, *_PERSON_PARTS):
        tag = element.tag
        if tag == person_tag:
            equal = element.get("EqualContrib")
            person = Author(len(into) + 1, None, role=role)
            person.equal_contrib = None if equal is None else equal == "Y"
            into.append(person)
            in_affiliations = False
        elif person is None:
            continue
        elif tag == "LastName":
            person.family = text_of(element)
        elif tag == "ForeName" or tag == "FirstName":
            person.given = text_of(element)
        elif tag == "Initials":
            person.initials = text_of(element)
        elif tag == "Affiliation":
            affiliation = text_of(element)
            if affiliation is not None:
                person.affiliations.append(affiliation)
        elif tag == "AffiliationInfo":
            in_affiliations = True
        elif tag == "Identifier":
            source = element.get("Source") or ""
            if not in_affiliations and person.orcid is None and source.upper() == "ORCID":
                person.orcid = normalise_orcid(element.text)
        elif tag == "Suffix":
            person.suffix = text_of(element)
        elif tag == "CollectiveName":
            person.collective = text_of(element)
    for person in into:
        if person.name is None:
            if person.collective is not None:
                person.name = person.collective
            elif person.given is not None and person.family is not None:
                person.name = f"{person.given} {person.family}"
            else:
                person.name = person.family or person.given


# --- pages -----------------------------------------------------------------------------------


def parse_pagination(pagination: Element | None) -> tuple[str | None, str | None, str | None]:
    """(pages as given, first page, last page). StartPage/EndPage win when present; else the
    first range of MedlinePgn, with an abbreviated end page expanded ("271-81" → "281").
    Without MedlinePgn, pages is "StartPage-EndPage"."""
    if pagination is None:
        return None, None, None
    medline_pgn = start = end = None
    for child in pagination:
        tag = child.tag
        if tag == "MedlinePgn":
            medline_pgn = text_of(child)
        elif tag == "StartPage":
            start = text_of(child)
        elif tag == "EndPage":
            end = text_of(child)
    if start is not None:
        pages = medline_pgn or (f"{start}-{end}" if end is not None else start)
        return pages, start, end
    if medline_pgn is None:
        return None, None, None
    first, last = split_page_range(medline_pgn)
    return medline_pgn, first, last


def split_page_range(pages: str) -> tuple[str | None, str | None]:
    """(first, last) of the first range in a MedlinePgn ("123-45; discussion 146-7" →
    ("123", "145")). A single page gives (page, None)."""
    first_range = _PAGE_RANGE_SEPARATORS.split(pages, maxsplit=1)[0].strip()
    if not first_range:
        return None, None
    start, dash, end = first_range.partition("-")
    start, end = start.strip(), end.strip()
    if not dash:
        return start, None
    return start or None, expand_end_page(start, end) if end else None


def expand_end_page(start: str, end: str) -> str:
    """Expand a MEDLINE-abbreviated end page: ("271", "81") → "281", ("S12", "9") → "S19",
    ("e123", "30") → "e130". An end page that is complete, or not of that form, is returned
    as given."""
    start_match = _PAGE.match(start)
    end_match = _PAGE.match(end)
    if start_match is None or end_match is None:
        return end
    start_prefix, start_digits, _start_suffix = start_match.groups()
    end_prefix, end_digits, end_suffix = end_match.groups()
    if end_prefix or len(end_digits) >= len(start_digits):
        return end if end_prefix else start_prefix + end
    expanded = start_digits[: len(start_digits) - len(end_digits)] + end_digits
    # Page numbers past 18 digits are no page numbers (and past 4,300 beyond `int()`).
    if len(start_digits) > 18 or int(expanded) < int(start_digits):
        return end
    return start_prefix + expanded + end_suffix


# --- subjects --------------------------------------------------------------------------------


def parse_mesh_headings(mesh_list: Element) -> list[Subject]:
    """MeSH headings: the descriptor (UI, MajorTopicYN) with its qualifiers, in order."""
    # One C-level walk over the names (the MeshHeading wrappers are never materialised):
    # a DescriptorName opens a heading, the QualifierNames after it belong to it.
    subjects = []
    heading = None
    for name in mesh_list.iter("DescriptorName", "QualifierName"):
        term = name.text
        if term is not None:
            term = term.strip()
        if name.tag == "DescriptorName":
            heading = None
            if term:
                major = name.get("MajorTopicYN") == "Y"
                heading = Subject("mesh", term, name.get("UI") or None, major, [])
                subjects.append(heading)
        elif heading is not None and term:
            major = name.get("MajorTopicYN") == "Y"
            heading.qualifiers.append(SubjectQualifier(term, name.get("UI") or None, major))
    return subjects


def parse_chemicals(chemical_list: Element) -> list[Subject]:
    """Chemicals: code = RegistryNumber (CAS, UNII, EC number), or the substance's MeSH UI
    when the registry number is "0" (none)."""
    subjects = []
    registry_number = None
    # Each Chemical is (RegistryNumber, NameOfSubstance): the name closes the pair.
    for element in chemical_list.iter("RegistryNumber", "NameOfSubstance"):
        if element.tag == "RegistryNumber":
            registry_number = text_of(element)
            continue
        term = text_of(element)
        if term is not None:
            code = registry_number if registry_number not in (None, "0") else element.get("UI")
            subjects.append(Subject("chemical", term, code or None))
        registry_number = None
    return subjects


def parse_supplementary_concepts(suppl_mesh_list: Element) -> list[Subject]:
    """`SupplMeshName`s: MeSH supplementary concepts (scheme "supplementary_concept")."""
    subjects = []
    for name in suppl_mesh_list.iterchildren("SupplMeshName"):
        term = text_of(name)
        if term is not None:
            subjects.append(
                Subject(scheme="supplementary_concept", term=term, code=name.get("UI") or None)
            )
    return subjects


def parse_keywords(keyword_list: Element) -> list[Subject]:
    """Keywords of one KeywordList, major from MajorTopicYN (DTD default "N")."""
    subjects = []
    for keyword in keyword_list.iterchildren("Keyword"):
        term = text_of(keyword)
        if term is not None:
            subjects.append(
                Subject(scheme="keyword", term=term, major=keyword.get("MajorTopicYN") == "Y")
            )
    return subjects


# --- grants, links, references ---------------------------------------------------------------


def parse_grants(grant_list: Element) -> list[Grant]:
    """Grants in order: GrantID, Acronym, Agency, Country."""
    grants = []
    for element in grant_list.iterchildren("Grant"):
        grant = Grant()
        for child in element:
            tag = child.tag
            if tag == "GrantID":
                grant.grant_id = text_of(child)
            elif tag == "Acronym":
                grant.acronym = text_of(child)
            elif tag == "Agency":
                grant.agency = text_of(child)
            elif tag == "Country":
                grant.country = text_of(child)
        grants.append(grant)
    return grants


def parse_comments_corrections(comments_list: Element) -> list[Link]:
    """CommentsCorrections (errata, retractions, comments, updates) as links to PMIDs."""
    links = []
    for comment in comments_list.iterchildren("CommentsCorrections"):
        link = Link(relation=comment.get("RefType") or "unknown")
        for child in comment:
            if child.tag == "RefSource":
                link.citation = text_of(child)
            elif child.tag == "PMID":
                link.target_id = text_of(child)
                link.target_scheme = "pmid" if link.target_id is not None else None
        links.append(link)
    return links


def parse_references(reference_lists: list[Element]) -> list[Reference]:
    """Cited works of every (nested) ReferenceList, numbered from 1, each with its ids."""
    # One C-level walk, as for people: a Reference opens a reference, its Citation and the
    # ArticleIds of its ArticleIdList fill it (a Reference is (Citation, ArticleIdList?)).
    references: list[Reference] = []
    reference = None
    for reference_list in reference_lists:
        for element in reference_list.iter("Reference", "Citation", "ArticleId"):
            tag = element.tag
            if tag == "Reference":
                reference = Reference(len(references) + 1)
                references.append(reference)
            elif reference is None:
                continue
            elif tag == "Citation":
                reference.citation = text_of(element)
            else:
                identifier = normalise_identifier(element.get("IdType"), element.text)
                if identifier is not None:
                    reference.identifiers.append(identifier)
    return references
