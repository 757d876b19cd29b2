"""MODS v3 as Elsevier Pure writes it for OAI-PMH (`metadataPrefix=mods`) → the fields of a
`Record`. One function per field group.

What Pure puts where (Pure's MODS mapping, and harvesters' XSLTs that read it):
`genre[@type="publicationType"]` holds the research-output type URI
(/dk/atira/pure/researchoutput/researchoutputtypes/contributiontojournal/systematicreview);
`note[@type="peerreview status"]` "Peer reviewed"/"Not peer reviewed";
`note[@type="publicationStatus"]` a token (published, inpress, epub_ahead_of_print, …);
`name/namePart[@type="family"|"given"]`, `name/role/roleTerm[@authority="pure/role"]`,
`name/nameIdentifier[@type="orcid"]`, `name/affiliation`; `relatedItem[@type="host"]` the
journal (title, ISSN, `part/detail[@type="volume"|"issue"]/number`,
`part/detail[@type="citation"]/caption` the page range); `physicalDescription/extent` the
number of pages; `originInfo/dateIssued`; `abstract[@type="content"]`; `identifier[@type=…]`
(doi, local "PURE UUID: …", uri, scopus, pmid, isbn, hdl); `subject/topic` keywords.

What a Pure portal shows but Pure's MODS does not carry (Scopus citation counts, ASJC subject
areas, Fingerprint concepts, the language's display name) is read from where the sandbox's
Pure-like repository puts it, in MODS's own extension points, so that a real Pure simply
leaves these fields empty:

- `language/languageTerm[@type="text"]` ("English (US)") → `languages`, else the codes;
- `classification[@authority="asjc"]` (code as text, label in displayLabel) → Subject("asjc");
- `subject[@authority="fingerprint"]/topic` → Subject("fingerprint");
- `extension/metrics/metric` in the namespace `PORTAL_NS` (name, provider, asOf, value) →
  `metrics`. This namespace is the project's own (sandbox/pure_corpus.py writes it).

`output_type` is the type hierarchy as the portal labels it ("Contribution to journal",
"Review article"), from the URI through Pure's standard English vocabulary
(`PURE_OUTPUT_TYPES`); a sub-type unknown to it keeps only its category's label, and the URI
itself is always in `publication_types`. `publication_state` is the portal's label of the
status token ("Published", "Accepted/In press", …).
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
    parse_page_count,
    split_pages,
)
from schemas.identifiers import normalise_issn, normalise_orcid
from schemas.record import AbstractSection, Author, Identifier, Metric, Record, Subject

__all__ = [
    "MODS_NS",
    "PORTAL_NS",
    "PURE_OUTPUT_TYPES",
    "PURE_PUBLICATION_STATES",
    "fill_from_mods",
    "output_type_labels",
]

Element = etree._Element

MODS_NS = "http://www.loc.gov/mods/v3"
PORTAL_NS = "urn:x-biblioduck:pure-portal:1"
_M = f"{{{MODS_NS}}}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_TYPE_ROOT = "/dk/atira/pure/researchoutput/researchoutputtypes/"

# Pure's standard research-output types (en_US terms): category → (label, sub-type labels).
# Installations can add their own sub-types: those keep the category's label only.
PURE_OUTPUT_TYPES: dict[str, tuple[str, dict[str, str]]] = {
    "contributiontojournal": (
        "Contribution to journal",
        {
            "article": "Article",
            "systematicreview": "Review article",
            "letter": "Letter",
            "editorial": "Editorial",
            "comment": "Comment/debate",
            "shortsurvey": "Short survey",
            "abstract": "Meeting abstract",
            "book": "Book/Film/Article review",
            "conferencearticle": "Conference article",
        },
    ),
    "contributiontoconference": (
        "Contribution to conference",
        {"paper": "Paper", "poster": "Poster", "abstract": "Abstract", "other": "Other"},
    ),
    "contributiontobookanthology": (
        "Chapter in Book/Report/Conference proceeding",
        {
            "chapter": "Chapter",
            "conference": "Conference contribution",
            "entry": "Entry for encyclopedia/dictionary",
            "foreword": "Foreword/postscript",
        },
    ),
    "bookanthology": (
        "Book/Report",
        {
            "book": "Book",
            "anthology": "Anthology",
            "commissioned": "Commissioned report",
            "report": "Report",
        },
    ),
    "thesis": ("Thesis", {"doc": "Doctoral Thesis", "master": "Master's Thesis"}),
    "workingpaper": ("Working paper", {"workingpaper": "Working paper", "preprint": "Preprint"}),
}

# Pure's publicationStatus tokens → the portal's labels.
PURE_PUBLICATION_STATES = {
    "published": "Published",
    "inpress": "Accepted/In press",
    "epub_ahead_of_print": "E-pub ahead of print",
    "submitted": "Submitted",
    "unpublished": "Unpublished",
    "inprep": "In preparation",
}

_PEER_REVIEW = {"peer reviewed": True, "not peer reviewed": False}
_ROLES = {"author": "author", "editor": "editor"}
_LOCAL_PREFIXES = (("PURE UUID:", "pure"), ("PURE:", "pure_id"), ("PubMed:", "pmid"))


def output_type_labels(uri: str | None) -> list[str]:
    """["Contribution to journal", "Review article"] for a Pure type URI (see module doc)."""
    if uri is None or not uri.startswith(_TYPE_ROOT):
        return []
    category, _, subtype = uri[len(_TYPE_ROOT) :].strip("/").partition("/")
    known = PURE_OUTPUT_TYPES.get(category)
    if known is None:
        return []
    label, subtypes = known
    sublabel = subtypes.get(subtype)
    return [label, sublabel] if sublabel else [label]


def _text(element: Element | None) -> str | None:
    return None if element is None else clean(all_text(element))


def fill_from_mods(record: Record, mods: Element) -> None:
    """Set the fields a Pure `<mods>` element holds (see the module docstring)."""
    names: list[Element] = []
    for child in mods:
        tag = child.tag
        if tag == f"{_M}titleInfo" and child.get("type") is None and record.title is None:
            record.title = parse_title_info(child)
        elif tag == f"{_M}name":
            names.append(child)
        elif tag == f"{_M}genre" and child.get("type") == "publicationType":
            uri = _text(child)
            if uri is not None:
                record.publication_types.append(uri)
                if not record.output_type:
                    record.output_type = output_type_labels(uri)
        elif tag == f"{_M}note":
            _fill_note(record, child)
        elif tag == f"{_M}originInfo":
            _fill_origin(record, child)
        elif tag == f"{_M}language":
            record.languages.extend(parse_language(child))
        elif tag == f"{_M}abstract":
            text = html_to_text(all_text(child))
            if text is not None:
                record.abstract_sections.append(
                    AbstractSection(text=text, language=child.get("lang"))
                )
        elif tag == f"{_M}physicalDescription":
            record.page_count = parse_page_count(_text(child.find(f"{_M}extent")))
        elif tag == f"{_M}relatedItem" and child.get("type") == "host":
            _fill_host(record, child)
        elif tag == f"{_M}identifier":
            _add_identifier(record, child.get("type"), _text(child))
        elif tag == f"{_M}location":
            for url in child.iterchildren(f"{_M}url"):
                _add_identifier(record, "uri", _text(url))
        elif tag == f"{_M}subject":
            record.subjects.extend(parse_subject(child))
        elif tag == f"{_M}classification":
            subject = parse_classification(child)
            if subject is not None:
                record.subjects.append(subject)
        elif tag == f"{_M}accessCondition" and record.license is None:
            record.license = clean(child.get(_XLINK_HREF)) or _text(child)
        elif tag == f"{_M}extension":
            record.metrics.extend(parse_metrics(child))
    record.authors = parse_names(names)
    record.abstract = "\n\n".join(s.text for s in record.abstract_sections) or None
    for identifier in record.identifiers:
        if identifier.scheme == "doi" and record.doi is None:
            record.doi = identifier.value
        elif identifier.scheme == "pmid" and record.pmid is None:
            record.pmid = identifier.value


def parse_title_info(title_info: Element) -> str | None:
    """ "Title: Subtitle" (Pure's OAI mapping joins them with a colon), or the title alone."""
    title = _text(title_info.find(f"{_M}title"))
    subtitle = _text(title_info.find(f"{_M}subTitle"))
    if title is not None and subtitle is not None:
        return f"{title}: {subtitle}"
    return title or subtitle


def _fill_note(record: Record, note: Element) -> None:
    kind = (note.get("type") or "").strip().lower()
    text = _text(note)
    if text is None:
        return
    if kind == "peerreview status":
        record.peer_reviewed = _PEER_REVIEW.get(text.lower())
    elif kind == "publicationstatus":
        record.publication_state = PURE_PUBLICATION_STATES.get(text.lower(), text)


def _fill_origin(record: Record, origin: Element) -> None:
    for child in origin:
        if child.tag == f"{_M}dateIssued" and record.pub_date_raw is None:
            raw = _text(child)
            if raw is not None:
                record.pub_date_raw = raw
                record.pub_date, record.pub_date_precision = parse_iso_date(raw)
                if record.pub_date is not None:
                    record.pub_year = record.pub_date.year
        elif child.tag == f"{_M}publisher" and record.publisher is None:
            record.publisher = _text(child)


def parse_language(language: Element) -> list[str]:
    """The language's display names (languageTerm type="text"), else its codes, as given."""
    texts: list[str] = []
    codes: list[str] = []
    for term in language.iterchildren(f"{_M}languageTerm"):
        value = _text(term)
        if value is not None:
            (texts if term.get("type") == "text" else codes).append(value)
    return texts or codes


def _fill_host(record: Record, host: Element) -> None:
    for child in host:
        tag = child.tag
        if tag == f"{_M}titleInfo" and record.journal is None:
            record.journal = _text(child.find(f"{_M}title"))
        elif tag == f"{_M}identifier" and (child.get("type") or "").lower() == "issn":
            issn = normalise_issn(_text(child))
            if issn is not None and record.issn is None:
                record.issn = issn
        elif tag == f"{_M}part":
            _fill_part(record, child)


def _fill_part(record: Record, part: Element) -> None:
    for child in part:
        if child.tag == f"{_M}detail":
            kind = child.get("type")
            number = _text(child.find(f"{_M}number"))
            if kind == "volume":
                record.volume = number
            elif kind == "issue":
                record.issue = number
            elif kind == "articleNumber":
                record.elocation = number
            elif kind == "citation":
                record.pages = _text(child.find(f"{_M}caption"))
                record.first_page, record.last_page = split_pages(record.pages)
        elif child.tag == f"{_M}extent" and child.get("unit") in ("pages", "page"):
            record.first_page = record.first_page or _text(child.find(f"{_M}start"))
            record.last_page = record.last_page or _text(child.find(f"{_M}end"))


def _add_identifier(record: Record, kind: str | None, text: str | None) -> None:
    if text is None:
        return
    if (kind or "").lower() == "local":
        for prefix, scheme in _LOCAL_PREFIXES:
            if text.startswith(prefix):
                kind, text = scheme, text[len(prefix) :].strip()
                break
    identifier = normalise_identifier(kind, text)
    if identifier is None:
        return
    if all(
        (i.scheme, i.value) != (identifier.scheme, identifier.value) for i in record.identifiers
    ):
        record.identifiers.append(Identifier(identifier.scheme, identifier.value))


def parse_names(names: list[Element]) -> list[Author]:
    """Personal names (and corporate authors) in order, positions per role."""
    people: list[Author] = []
    counts: dict[str, int] = {}
    for name in names:
        family = given = None
        for part in name.iterchildren(f"{_M}namePart"):
            kind = part.get("type")
            if kind == "family":
                family = _text(part)
            elif kind == "given":
                given = _text(part)
        role_term = None
        for term in name.iter(f"{_M}roleTerm"):
            if term.get("authority") in ("pure/role", "marcrelator") or role_term is None:
                role_term = _text(term)
        role = _ROLES.get((role_term or "author").lower(), (role_term or "author").lower())
        corporate = name.get("type") == "corporate"
        if corporate and role != "author":
            continue  # owning organisations (role "pbl"), not contributors
        orcid = None
        for identifier in name.iterchildren(f"{_M}nameIdentifier"):
            if (identifier.get("type") or "").lower() == "orcid":
                orcid = normalise_orcid(identifier.text)
        affiliations = [a for e in name.iterchildren(f"{_M}affiliation") if (a := _text(e))]
        counts[role] = counts.get(role, 0) + 1
        collective = None
        if corporate:
            collective = (
                " ".join(t for p in name.iterchildren(f"{_M}namePart") if (t := _text(p))) or None
            )
            display = collective
        elif given is not None and family is not None:
            display = f"{given} {family}"
        else:
            display = family or given or _text(name.find(f"{_M}displayForm"))
        people.append(
            Author(
                position=counts[role],
                name=display,
                family=family,
                given=given,
                collective=collective,
                orcid=orcid,
                affiliations=affiliations,
                role=role,
            )
        )
    return people


def parse_subject(subject: Element) -> list[Subject]:
    """`subject/topic` terms: scheme = the subject's authority lower-cased, else "keyword"."""
    authority = clean(subject.get("authority"))
    scheme = authority.lower() if authority else "keyword"
    return [
        Subject(scheme, term)
        for topic in subject.iterchildren(f"{_M}topic")
        if (term := _text(topic)) is not None
    ]


def parse_classification(classification: Element) -> Subject | None:
    """`classification[@authority]`: code as text, term in displayLabel (ASJC)."""
    code = _text(classification)
    authority = clean(classification.get("authority"))
    if code is None or authority is None:
        return None
    term = clean(classification.get("displayLabel")) or code
    return Subject(authority.lower(), term, code if term != code else None)


def parse_metrics(extension: Element) -> list[Metric]:
    """`extension/metrics/metric` (PORTAL_NS) → metrics; unreadable values are skipped."""
    metrics = []
    for metric in extension.iter(f"{{{PORTAL_NS}}}metric"):
        name = clean(metric.get("name"))
        provider = clean(metric.get("provider"))
        value = _text(metric)
        number = parse_number(value)
        if name is None or provider is None or number is None:
            continue
        as_of, _precision = parse_iso_date(metric.get("asOf"))
        metrics.append(Metric(name=name, value=number, provider=provider, as_of=as_of))
    return metrics
