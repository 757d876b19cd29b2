"""The canonical bibliographic record: one shape for every source, defined once.

Parsers build these; the Arrow schema and the DuckDB tables are derived from them
(`schemas.arrow`). Conventions: missing is `None` (never ""), lists keep source order and are
empty rather than `None`, identifiers are normalised (DOI lower-case, no URL prefix).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class Identifier:
    """An identifier of the work: scheme is one of doi, pmid, pmcid, pii, isbn, issn, handle,
    url, oai, pure, bookaccession, mid, … (lower-case); value as normalised for that scheme."""

    scheme: str
    value: str


@dataclass(slots=True)
class Author:
    """A contributor in source order. `role` is author, investigator or editor; a collective
    (group) author has `collective` set and no family/given."""

    position: int  # 1-based, contiguous within one role
    name: str | None  # display name: "Given Family", or the collective name
    family: str | None = None
    given: str | None = None
    initials: str | None = None
    suffix: str | None = None
    collective: str | None = None
    orcid: str | None = None  # bare 0000-0000-0000-000X
    affiliations: list[str] = field(default_factory=list)
    equal_contrib: bool | None = None
    role: str = "author"
    # Schema 6 (warehouse.ddl): last, so that a migrated `authors` struct has the same field
    # order as a new warehouse's.
    corresponding: bool | None = None  # a corresponding author (JATS corresp)
    profile_url: str | None = None  # the person's page at the source (a Pure portal profile)

    def __repr__(self) -> str:
        # A record without a payload is hashed by its repr (warehouse.prepare): fields added
        # since schema 5 show only when set, so such a record hashes as it did before them.
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name not in _AUTHOR_FIELDS_SINCE_5 or getattr(self, f.name) is not None
        )
        return f"Author({shown})"


_AUTHOR_FIELDS_SINCE_5 = frozenset({"corresponding", "profile_url"})


@dataclass(slots=True)
class AbstractSection:
    """One section of an abstract. `kind` is "abstract" for the main one, else the type of an
    OtherAbstract / typed JATS abstract (e.g. "plain-language-summary"); `language` where given."""

    text: str
    label: str | None = None
    category: str | None = None  # NlmCategory: BACKGROUND, METHODS, RESULTS, …
    kind: str = "abstract"
    language: str | None = None


@dataclass(slots=True)
class SubjectQualifier:
    term: str
    code: str | None = None
    major: bool | None = None


@dataclass(slots=True)
class Subject:
    """A subject term. scheme: mesh, keyword, chemical, supplementary_concept, asjc, fingerprint,
    ddc, … ; code: the scheme's id (MeSH UI, CAS registry number, ASJC code)."""

    scheme: str
    term: str
    code: str | None = None
    major: bool | None = None
    qualifiers: list[SubjectQualifier] = field(default_factory=list)


@dataclass(slots=True)
class DateEntry:
    """A dated event other than the publication date: kind is article_date (electronic),
    received, accepted, revised, pubmed, medline, entrez (History statuses), completed,
    created, last_revised (the record's own revision), book_beginning, book_ending,
    contribution (books), published-print, deposited, indexed (Crossref), …"""

    kind: str
    date: dt.date | None
    precision: str | None  # day, month, season, year
    raw: str | None = None


@dataclass(slots=True)
class Link:
    """A relation to another work: relation is e.g. ErratumIn, ErratumFor, RetractionIn,
    RetractionOf, CommentOn, UpdateOf (PubMed RefType, Crossref update-to type)."""

    relation: str
    target_scheme: str | None = None
    target_id: str | None = None
    citation: str | None = None


@dataclass(slots=True)
class Reference:
    """A cited work in order; `identifiers` as listed with the citation (doi, pmid, pmcid)."""

    position: int
    citation: str | None = None
    identifiers: list[Identifier] = field(default_factory=list)


@dataclass(slots=True)
class Grant:
    grant_id: str | None = None
    acronym: str | None = None
    agency: str | None = None
    country: str | None = None


@dataclass(slots=True)
class Metric:
    """A measurement that changes over time (citation counts): kept with provider and date."""

    name: str  # citations, …
    value: int
    provider: str  # scopus, crossref, …
    as_of: dt.date | None = None


@dataclass(slots=True)
class Record:
    """One version of one work as one source describes it."""

    source: str  # pubmed, crossref, oai, pure (portal pages), jats, landing
    source_id: str | None  # None only for records that validation must quarantine
    source_version: str | None = None  # orders versions of the same source_id (sortable text)
    record_status: str | None = None  # PubMed Status (MEDLINE, In-Process, …), OAI status
    # Where a harvested record came from: the OAI-PMH base URL. "oai" is one source with many
    # repositories, and an OAI identifier is only guaranteed unique within its repository.
    # None for single-service sources (pubmed, crossref).
    endpoint: str | None = None

    identifiers: list[Identifier] = field(default_factory=list)
    doi: str | None = None
    pmid: str | None = None
    pmcid: str | None = None

    title: str | None = None  # plain text, inline markup flattened
    title_markup: str | None = None  # as given, inline markup (<i>, <sup>, MathML) kept
    vernacular_title: str | None = None
    abstract: str | None = None  # plain text, "LABEL: text" sections joined by blank lines
    abstract_sections: list[AbstractSection] = field(default_factory=list)

    authors: list[Author] = field(default_factory=list)

    journal: str | None = None
    journal_abbrev: str | None = None
    issn: str | None = None  # the preferred one: linking, else print, else electronic
    issn_print: str | None = None
    issn_electronic: str | None = None
    issn_linking: str | None = None
    nlm_unique_id: str | None = None
    publisher: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None  # as given (MedlinePgn, "271-281")
    first_page: str | None = None
    last_page: str | None = None
    elocation: str | None = None
    page_count: int | None = None

    pub_date: dt.date | None = None  # start of the stated period
    pub_date_precision: str | None = None  # day, month, season, year, range
    pub_date_raw: str | None = None  # verbatim ("1998 Dec-1999 Jan", "Spring 1990")
    pub_year: int | None = None
    dates: list[DateEntry] = field(default_factory=list)

    languages: list[str] = field(default_factory=list)  # as given (eng, "English (US)")
    publication_types: list[str] = field(default_factory=list)
    output_type: list[str] = field(default_factory=list)  # hierarchy, broadest first
    peer_reviewed: bool | None = None
    publication_state: str | None = None  # Published, Accepted/In press, …

    subjects: list[Subject] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    license: str | None = None

    raw: bytes | None = field(default=None, repr=False)  # the source payload of this version

    # What parsing could not keep, for validation to act on (neither is a column):
    # `unreadable` says why the record cannot be represented faithfully (bytes that are not
    # UTF-8, a NaN where JSON allows none): validation quarantines it with that reason.
    # `dropped` names each field left out because its value had a type no column holds
    # ("author: a JSON string, not a list"): validation counts them as warnings.
    unreadable: str | None = None
    dropped: list[str] = field(default_factory=list)
    # `unknown` names each element, attribute or JSON key met that the source's format (as
    # the parser knows it) does not have, once per occurrence ("element MedlineCitation/X",
    # "key new-key"): drift, counted per run (`warehouse.drift`). Not a column either.
    unknown: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Deletion:
    """A tombstone: the source says this record is gone. Travels the same path as records."""

    source: str
    source_id: str
    reason: str | None = None  # e.g. "DeleteCitation in pubmed21n1298.xml.gz"
