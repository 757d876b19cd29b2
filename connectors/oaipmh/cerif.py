"""CERIF XML of the OpenAIRE Guidelines for CRIS Managers 1.1 (`metadataPrefix`
`oai_cerif_openaire`, as Elsevier Pure and DSpace-CRIS offer it) → the fields of a `Record`.
One function per field group; only the `<Publication>` entity is read.

The element names and their order follow the profile's XML Schema (openaire-cerif-profile.xsd,
namespace `CERIF_NS`): `Type` (namespace `COAR_TYPES_NS`), `Language`, `Title`/`Subtitle`
(xml:lang, `trans` "o" original / "h" / "m" translated), `PublishedIn`/`PartOf` (a nested
`Publication`), `PublicationDate` (gYear, gYearMonth, date or dateTime), `Number`, `Volume`,
`Issue`, `Edition`, `StartPage`, `EndPage`, the identifiers `DOI`, `Handle`, `PMCID`,
`ISI-Number`, `SCP-Number`, `ISSN`/`ISBN` (@medium), `URL`, `URN`, `ZDB-ID`, then `Authors`/
`Editors` (`Author`: `DisplayName`, `Person` with `PersonName`/`FamilyNames`/`FirstNames` and
`ORCID`, `Affiliation`/`OrgUnit`, or an `OrgUnit` author), `Publishers`, `License`, `Subject`,
`Keyword`, `Abstract`, `Status`, `OriginatesFrom`, …, `Access` (COAR access rights).

Mapping choices:

- title: the first original-language `Title` (not `trans` h/m), "Title: Subtitle" when a
  subtitle is given (as Pure's own mappings join them); translations stay in `raw`.
- type: the COAR URI goes to `publication_types`; `output_type` is its COAR hierarchy as
  COAR labels it in English, broadest first, without the root "text" (review article →
  ["journal", "journal article", "review article"]). A URI outside `COAR_PUBLICATION_TYPES`
  keeps no label.
- host: `journal` is the `PublishedIn` channel's title, else the `PartOf` publication's (a
  book, proceedings; MODS's `relatedItem[@type="host"]` is read the same way); `issn` from the
  channel (@medium Print/Online → `issn_print`/`issn_electronic`). The work's own identifiers
  (ISSN and ISBN of a book included) go to `identifiers`.
- pages: StartPage-EndPage; `page_count` = end - start + 1 when both are numbers. `Number`
  (an article number) → `elocation`.
- people: `Authors` then `Editors` (role "editor"), positions per role; the display name is
  `DisplayName` (the name as printed), else "FirstNames FamilyNames"; ORCID bare; each
  affiliation is its `DisplayName`, else the unit's name followed by its `PartOf` parents
  ("Museum of Vertebrate Zoology, University of California, Berkeley"). An `OrgUnit` author
  is a collective author.
- publisher: the work's `Publishers`, else the host's (a journal's publisher).
- `Status`: the profile leaves its vocabulary open ("any class scheme of the 'status'
  character"). Two CERIF Semantics class schemes are read, by URI (https://w3id.org/cerif/
  vocab/PeerReviews#Yes, …/PublicationStatuses#InPress) or by their CERIF class UUIDs:
  "Peer Reviews" (Yes/No/Unknown) → `peer_reviewed`, "Publication Statuses" →
  `publication_state` with the labels the MODS parser uses ("Published", "Accepted/In
  press", …). Other statuses (COAR version types) stay in `raw`.
- subjects: `Subject` (scheme = its @scheme URI, as given) and `Keyword` (scheme "keyword"),
  in document order. abstract: every `Abstract` is a section with its xml:lang; `abstract`
  joins the original-language ones.
- license: the first `License` value. grants: `OriginatesFrom/Project` (first Identifier,
  Acronym, the funder `Funded/By/OrgUnit`).
- `Access`, `Edition`, events, references and the CRIS-internal `id` attributes have no field
  and stay in `raw`. CERIF has no place for citation counts, subject areas such as ASJC, a
  language's display name or a page count of its own.
"""

from __future__ import annotations

import re

from lxml import etree

from connectors.oaipmh.errors import UnsupportedMetadataError
from connectors.oaipmh.mods import PURE_PUBLICATION_STATES
from connectors.oaipmh.values import (
    all_text,
    clean,
    html_to_text,
    normalise_identifier,
    parse_iso_date,
    parse_number,
)
from schemas.identifiers import normalise_issn, normalise_orcid
from schemas.record import AbstractSection, Author, Grant, Identifier, Record, Subject

__all__ = [
    "CERIF_NAMESPACES",
    "CERIF_NS",
    "COAR_PUBLICATION_TYPES",
    "COAR_TYPES_NS",
    "coar_type_labels",
    "fill_from_cerif",
]

Element = etree._Element

CERIF_NS = "https://www.openaire.eu/cerif-profile/1.1/"
CERIF_NAMESPACES = frozenset({CERIF_NS})
COAR_TYPES_NS = "https://www.openaire.eu/cerif-profile/vocab/COAR_Publication_Types"
_C = f"{{{CERIF_NS}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_COAR = "http://purl.org/coar/resource_type/"
_TEXT = "c_18cf"

# The profile's COAR_Publication_Types vocabulary (COAR Resource Types 3.1, "text" and below,
# patents excepted): code → (English label, broader code). c_3e5a is COAR 2's "contribution
# to journal", used in the profile's own 1.1 examples.
COAR_PUBLICATION_TYPES: dict[str, tuple[str, str | None]] = {
    "c_18cf": ("text", None),
    "c_1162": ("annotation", _TEXT),
    "c_86bc": ("bibliography", _TEXT),
    "c_6947": ("blog post", _TEXT),
    "c_2f33": ("book", _TEXT),
    "c_3248": ("book part", "c_2f33"),
    "c_c94f": ("conference output", _TEXT),
    "c_f744": ("conference proceedings", "c_c94f"),
    "c_5794": ("conference paper", "c_f744"),
    "c_6670": ("conference poster", "c_f744"),
    "c_18cp": ("conference paper not in proceedings", "c_c94f"),
    "c_18co": ("conference poster not in proceedings", "c_c94f"),
    "R60J-J5BD": ("conference presentation", "c_c94f"),
    "c_3e5a": ("contribution to journal", _TEXT),
    "c_0640": ("journal", _TEXT),
    "c_6501": ("journal article", "c_0640"),
    "c_2df8fbb1": ("research article", "c_6501"),
    "c_dcae04bc": ("review article", "c_6501"),
    "c_7acd": ("corrigendum", "c_6501"),
    "c_beb9": ("data paper", "c_6501"),
    "c_7bab": ("software paper", "c_6501"),
    "c_b239": ("editorial", "c_0640"),
    "c_545b": ("letter to the editor", "c_0640"),
    "c_8544": ("lecture", _TEXT),
    "c_0857": ("letter", _TEXT),
    "c_2cd9": ("magazine", _TEXT),
    "c_0040": ("manuscript", _TEXT),
    "c_18cw": ("musical notation", _TEXT),
    "c_2fe3": ("newspaper", _TEXT),
    "c_998f": ("newspaper article", "c_2fe3"),
    "QX5C-AR31": ("other periodical", _TEXT),
    "c_816b": ("preprint", _TEXT),
    "c_93fc": ("report", _TEXT),
    "c_7877": ("clinical study", "c_93fc"),
    "c_ab20": ("data management plan", "c_93fc"),
    "c_18wz": ("memorandum", "c_93fc"),
    "c_186u": ("policy report", "c_93fc"),
    "c_18op": ("project deliverable", "c_93fc"),
    "YZ1N-ZFT9": ("research protocol", "c_93fc"),
    "c_18ws": ("research report", "c_93fc"),
    "c_18gh": ("technical report", "c_93fc"),
    "c_baaf": ("research proposal", _TEXT),
    "c_efa0": ("review", _TEXT),
    "c_ba08": ("book review", "c_efa0"),
    "D97F-VB57": ("commentary", "c_efa0"),
    "H9BQ-739P": ("peer review", "c_efa0"),
    "c_71bd": ("technical documentation", _TEXT),
    "c_46ec": ("thesis", _TEXT),
    "c_7a1f": ("bachelor thesis", "c_46ec"),
    "c_bdcc": ("master thesis", "c_46ec"),
    "c_db06": ("doctoral thesis", "c_46ec"),
    "6NC7-GK9S": ("transcription", _TEXT),
    "c_8042": ("working paper", _TEXT),
}

# CERIF Semantics class schemes read from <Status> (w3id URI or CERIF 1.5 class scheme UUID).
_PEER_REVIEWS = ("https://w3id.org/cerif/vocab/PeerReviews", "4bdfc4ac-7c74-456d-9d3b-b1e4267b90a9")
_PUBLICATION_STATUSES = (
    "https://w3id.org/cerif/vocab/PublicationStatuses",
    "40e90e2f-446d-460a-98e5-5dce57550c48",
)
_PEER_REVIEW_TERMS: dict[str, bool | None] = {
    "yes": True,
    "df943548-c67e-4c96-8c4f-1c0aa144b1c0": True,
    "no": False,
    "0c7c83d0-5513-4eaa-b5cf-d01374c3d2eb": False,
    "unknown": None,
    "22b56ddc-87e8-4023-ab56-e661dcb8ffd3": None,
}
_PUBLICATION_STATUS_TERMS = {
    "inpreparation": PURE_PUBLICATION_STATES["inprep"],
    "1bb29e6d-d282-415f-920d-9b6148933a35": PURE_PUBLICATION_STATES["inprep"],
    "submittedforconsideration": PURE_PUBLICATION_STATES["submitted"],
    "1c774414-3a42-4e4c-b3c5-04b89202c40f": PURE_PUBLICATION_STATES["submitted"],
    "inpress": PURE_PUBLICATION_STATES["inpress"],
    "da636eb4-efe2-4112-a4ee-7ce4a99e2374": PURE_PUBLICATION_STATES["inpress"],
    "published": PURE_PUBLICATION_STATES["published"],
    "e601872f-4b7e-4d88-929f-7df027b226c9": PURE_PUBLICATION_STATES["published"],
    "unpublished": PURE_PUBLICATION_STATES["unpublished"],
    "24906a3a-1edd-40f0-aeec-5f0bf4312086": PURE_PUBLICATION_STATES["unpublished"],
}
# The profile's identifier elements → the Record's schemes.
_IDENTIFIERS = {
    "DOI": "doi",
    "Handle": "handle",
    "PMCID": "pmcid",
    "ISI-Number": "isi",
    "SCP-Number": "scopus",
    "ISSN": "issn",
    "ISBN": "isbn",
    "URL": "url",
    "URN": "urn",
    "ZDB-ID": "zdb",
}
_MEDIUM_PRINT = "http://issn.org/vocabularies/Medium#Print"
_MEDIUM_ONLINE = "http://issn.org/vocabularies/Medium#Online"
_NOT_LETTERS = re.compile(r"[^a-z]")


def _text(element: Element | None) -> str | None:
    return None if element is None else clean(all_text(element))


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else list(element.iterchildren(f"{_C}{name}"))


def _child(element: Element | None, name: str) -> Element | None:
    return None if element is None else element.find(f"{_C}{name}")


def _is_translation(element: Element) -> bool:
    return (element.get("trans") or "o").strip() in ("h", "m")


def _original_text(elements: list[Element]) -> str | None:
    """The first original-language value among multilingual variants, else the first."""
    texts = [(_is_translation(e), t) for e in elements if (t := _text(e)) is not None]
    for translated, text in texts:
        if not translated:
            return text
    return texts[0][1] if texts else None


def coar_type_labels(uri: str | None) -> list[str]:
    """The COAR hierarchy of a type URI, broadest first, without the root "text"."""
    if uri is None or not uri.startswith(_COAR):
        return []
    code: str | None = uri[len(_COAR) :].strip("/")
    labels: list[str] = []
    while code is not None and code != _TEXT and code in COAR_PUBLICATION_TYPES:
        label, code = COAR_PUBLICATION_TYPES[code]
        labels.insert(0, label)
    return labels


def fill_from_cerif(record: Record, publication: Element) -> None:
    """Set the fields a CERIF `<Publication>` holds (see the module docstring).

    Raises:
        UnsupportedMetadataError: the element is another CERIF entity (a CRIS lists persons,
            projects, … in the same format, each kind in its own set).
    """
    entity = etree.QName(publication).localname
    if entity != "Publication":
        raise UnsupportedMetadataError(
            f"record {record.source_id}: a CERIF <{entity}> is not a research output; harvest "
            "the CRIS's publications set (openaire_cris_publications in the OpenAIRE Guidelines)"
        )
    record.title = parse_title(publication)
    type_uri = _text(publication.find(f"{{{COAR_TYPES_NS}}}Type"))
    if type_uri is not None:
        record.publication_types = [type_uri]
        record.output_type = coar_type_labels(type_uri)
    language = _text(_child(publication, "Language"))
    record.languages = [language] if language else []
    _fill_host(record, publication)
    _fill_date(record, _text(_child(publication, "PublicationDate")))
    record.elocation = _text(_child(publication, "Number"))
    record.volume = _text(_child(publication, "Volume"))
    record.issue = _text(_child(publication, "Issue"))
    _fill_pages(
        record, _text(_child(publication, "StartPage")), _text(_child(publication, "EndPage"))
    )
    _fill_identifiers(record, publication)
    record.authors = parse_people(_child(publication, "Authors"), "Author", "author")
    record.authors += parse_people(_child(publication, "Editors"), "Editor", "editor")
    record.publisher = parse_publisher(_child(publication, "Publishers")) or _host_publisher(
        publication
    )
    record.license = _text(_child(publication, "License"))
    record.subjects = parse_subjects(publication)
    _fill_abstracts(record, publication)
    for status in _children(publication, "Status"):
        _fill_status(record, status)
    record.grants = parse_projects(publication)


def parse_title(publication: Element) -> str | None:
    """ "Title: Subtitle", or the title alone (original-language values)."""
    title = _original_text(_children(publication, "Title"))
    subtitle = _original_text(_children(publication, "Subtitle"))
    if title is not None and subtitle is not None:
        return f"{title}: {subtitle}"
    return title or subtitle


def _hosts(publication: Element) -> list[Element]:
    """The publishing channel (PublishedIn), then the containing publication (PartOf)."""
    hosts = []
    for link in ("PublishedIn", "PartOf"):
        host = _child(_child(publication, link), "Publication")
        if host is not None:
            hosts.append(host)
    return hosts


def _fill_host(record: Record, publication: Element) -> None:
    for host in _hosts(publication):
        if record.journal is None:
            record.journal = parse_title(host)
            record.journal_abbrev = _original_text(_children(host, "NameAbbreviation"))
        for issn in _children(host, "ISSN"):
            value = normalise_issn(_text(issn))
            if value is None:
                continue
            medium = (issn.get("medium") or "").strip()
            if medium == _MEDIUM_PRINT and record.issn_print is None:
                record.issn_print = value
            elif medium == _MEDIUM_ONLINE and record.issn_electronic is None:
                record.issn_electronic = value
            elif not medium and record.issn is None:
                record.issn = value
    record.issn = record.issn_print or record.issn or record.issn_electronic


def _fill_date(record: Record, raw: str | None) -> None:
    if raw is None:
        return
    record.pub_date_raw = raw
    record.pub_date, record.pub_date_precision = parse_iso_date(raw)
    if record.pub_date is not None:
        record.pub_year = record.pub_date.year


def _fill_pages(record: Record, start: str | None, end: str | None) -> None:
    record.first_page, record.last_page = start, end
    if start is not None and end is not None:
        record.pages = f"{start}-{end}"
        first, last = parse_number(start), parse_number(end)
        if first is not None and last is not None and last >= first:
            record.page_count = last - first + 1
    else:
        record.pages = start or end


def _fill_identifiers(record: Record, publication: Element) -> None:
    present = {(i.scheme, i.value) for i in record.identifiers}
    for child in publication:
        if not isinstance(child.tag, str) or not child.tag.startswith(_C):
            continue
        scheme = _IDENTIFIERS.get(etree.QName(child).localname)
        identifier = normalise_identifier(scheme, _text(child)) if scheme else None
        if identifier is None or (identifier.scheme, identifier.value) in present:
            continue
        present.add((identifier.scheme, identifier.value))
        record.identifiers.append(Identifier(identifier.scheme, identifier.value))
        if identifier.scheme == "doi" and record.doi is None:
            record.doi = identifier.value


def _unit_name(unit: Element) -> str | None:
    return _original_text(_children(unit, "Name")) or _text(_child(unit, "Acronym"))


def parse_affiliation(affiliation: Element) -> str | None:
    """An affiliation's DisplayName, else its unit's name followed by the unit's parents."""
    display = _text(_child(affiliation, "DisplayName"))
    if display is not None:
        return display
    names: list[str] = []
    unit = _child(affiliation, "OrgUnit")
    while unit is not None and len(names) < 10:  # a cyclic PartOf chain must not hang us
        name = _unit_name(unit)
        if name is not None:
            names.append(name)
        unit = _child(_child(unit, "PartOf"), "OrgUnit")
    return ", ".join(names) or None


def parse_people(container: Element | None, tag: str, role: str) -> list[Author]:
    """`Authors/Author` or `Editors/Editor` in order, numbered from 1 (see module doc)."""
    people: list[Author] = []
    for link in _children(container, tag):
        display = _text(_child(link, "DisplayName"))
        person = _child(link, "Person")
        unit = _child(link, "OrgUnit")
        if person is None and unit is None and display is None:
            continue
        if person is None:
            collective = display or (None if unit is None else _unit_name(unit))
            people.append(Author(len(people) + 1, collective, collective=collective, role=role))
            continue
        name = _child(person, "PersonName")
        family = _text(_child(name, "FamilyNames"))
        given = _text(_child(name, "FirstNames"))
        if display is None:
            display = f"{given} {family}" if given and family else family or given
        affiliations = _children(link, "Affiliation") or _children(person, "Affiliation")
        people.append(
            Author(
                position=len(people) + 1,
                name=display,
                family=family,
                given=given,
                orcid=normalise_orcid(_text(_child(person, "ORCID"))),
                affiliations=[a for e in affiliations if (a := parse_affiliation(e))],
                role=role,
            )
        )
    return people


def parse_publisher(publishers: Element | None) -> str | None:
    """The first `Publisher`: its DisplayName, else its OrgUnit's (or Person's) name."""
    for publisher in _children(publishers, "Publisher"):
        display = _text(_child(publisher, "DisplayName"))
        unit = _child(publisher, "OrgUnit")
        person = _child(_child(publisher, "Person"), "PersonName")
        name = display or (None if unit is None else _unit_name(unit))
        if name is None and person is not None:
            parts = (_text(_child(person, "FirstNames")), _text(_child(person, "FamilyNames")))
            name = " ".join(p for p in parts if p) or None
        if name is not None:
            return name
    return None


def _host_publisher(publication: Element) -> str | None:
    for host in _hosts(publication):
        publisher = parse_publisher(_child(host, "Publishers"))
        if publisher is not None:
            return publisher
    return None


def parse_subjects(publication: Element) -> list[Subject]:
    """`Subject` (scheme = @scheme as given) and `Keyword` (scheme "keyword"), in order."""
    subjects = []
    for child in publication:
        if child.tag == f"{_C}Keyword":
            term = _text(child)
            if term is not None:
                subjects.append(Subject("keyword", term))
        elif child.tag == f"{_C}Subject":
            term = _text(child)
            if term is not None:
                subjects.append(Subject(clean(child.get("scheme")) or "subject", term))
    return subjects


def _fill_abstracts(record: Record, publication: Element) -> None:
    """Every non-empty `Abstract` is a section (with its xml:lang); `abstract` joins the
    original-language ones (all of them when every one is marked translated)."""
    found = [
        (element, text)
        for element in _children(publication, "Abstract")
        if (text := html_to_text(all_text(element))) is not None
    ]
    record.abstract_sections = [
        AbstractSection(text=text, language=element.get(_XML_LANG)) for element, text in found
    ]
    originals = [text for element, text in found if not _is_translation(element)]
    record.abstract = "\n\n".join(originals or [text for _e, text in found]) or None


def _status_term(value: str) -> str:
    """A status value's term: its URI fragment in letters only ("…#InPress" → "inpress"),
    else the value lower-cased (a CERIF class UUID)."""
    _before, hash_sign, fragment = value.rpartition("#")
    return _NOT_LETTERS.sub("", fragment.lower()) if hash_sign else value.lower()


def _in_scheme(scheme: str, value: str, known: tuple[str, str]) -> bool:
    return scheme in known or value.startswith(known[0] + "#")


def _fill_status(record: Record, status: Element) -> None:
    value = _text(status)
    if value is None:
        return
    scheme = (clean(status.get("scheme")) or "").rstrip("#/")
    term = _status_term(value)
    if _in_scheme(scheme, value, _PEER_REVIEWS) and term in _PEER_REVIEW_TERMS:
        record.peer_reviewed = _PEER_REVIEW_TERMS[term]
    elif _in_scheme(scheme, value, _PUBLICATION_STATUSES) and term in _PUBLICATION_STATUS_TERMS:
        record.publication_state = _PUBLICATION_STATUS_TERMS[term]


def parse_projects(publication: Element) -> list[Grant]:
    """`OriginatesFrom/Project` → grants (Identifier, Acronym, the funding OrgUnit)."""
    grants = []
    for origin in _children(publication, "OriginatesFrom"):
        project = _child(origin, "Project")
        if project is None:
            continue
        funder = _child(_child(_child(project, "Funded"), "By"), "OrgUnit")
        grant = Grant(
            grant_id=_text(_child(project, "Identifier")),
            acronym=_text(_child(project, "Acronym")),
            agency=None if funder is None else _unit_name(funder),
        )
        if grant.grant_id or grant.acronym or grant.agency:
            grants.append(grant)
    return grants
