"""PubMed XML (efetch responses, baseline and update files) → canonical `Record`s and
`Deletion`s, streamed with lxml `iterparse` so memory stays flat on 30,000-record files.

Safe by construction: no DTD is loaded, no entity is resolved, nothing is fetched, and broken
XML raises `MalformedPayloadError` naming the origin, line and column (it is never recovered).
Comments and processing instructions are dropped while parsing (so not in `raw` either).

Mapping choices that the field names do not make obvious (dates: `connectors.pubmed.dates`):

- `source_version` is f"{PMID Version:04d}:{DateRevised as YYYY-MM-DD}" ("0000-00-00" when there
  is no full DateRevised); a missing Version attribute counts as 1 (the DTD requires it, and a
  first version is what it would say), a non-numeric one as 0.
- `identifiers`: the record's own `ArticleIdList` (never the ids inside `ReferenceList`), then
  its `ELocationID`s (and a book's `Isbn`s), de-duplicated, in source order; the PMID is put
  first when the lists lack it. Schemes are lower-case, pubmed → pmid, pmc → pmcid. `doi` and
  `pmcid` are the first of their scheme; `pmid` is the PMID element, or the ArticleIdList
  pmid when the element is missing (`source_id` then stays None: validation quarantines it).
- `elocation` is the first `ELocationID` of type pii (the electronic page), else the first one.
- Texts: `title`, `vernacular_title` and abstract sections keep all the text inside inline
  markup (`<i>`, `<sup>`, MathML) and the whitespace inside them as given (never collapsed);
  every text value, these included, is trimmed at both ends (pretty-printed files indent
  them), and blank is None, never "". `title_markup` is the title's inner XML, tags kept.
- `abstract` joins the main abstract's sections ("LABEL: text" when labelled) with blank
  lines; `OtherAbstract`s are sections of kind = their Type, in `abstract_sections` only.
- Pages: `pages` is MedlinePgn as given; `first_page`/`last_page` come from StartPage/EndPage
  when present, else from MedlinePgn's first range with the end expanded ("271-81" → "281").
- ORCIDs are bare 0000-0000-0000-000X; one that cannot be (a digit missing) is None, and the
  raw payload keeps what was there. A chemical's code is its RegistryNumber, or the
  substance's MeSH UI when the registry number is "0".
- `dates`, in document order: "created" (DateCreated), "completed" (DateCompleted),
  "last_revised" (DateRevised: the record's revision, distinct from the History status
  "revised"), "article_date" (ArticleDate), then each History `PubMedPubDate` under its
  PubStatus (received, accepted, pubmed, medline, entrez, …); for books "book_beginning",
  "book_ending", "contribution", "last_revised", then History.
- `publication_state` is `PublicationStatus` (ppublish, epublish, aheadofprint).
- Authors: role "author" (or "editor" for an `AuthorList Type="editors"`), then
  "investigator" from `InvestigatorList`; positions are 1-based and contiguous per role.
- Subjects: MeSH headings, then chemicals, supplementary concepts, keywords.
- Books (`PubmedBookArticle`): the title is the chapter's `ArticleTitle` when there is one,
  and the book title then goes to `journal` (the container title); a whole-book record has the
  book title as `title`. `publisher` is PublisherName; `volume` the book's Volume. A book's
  `Sections` (its table of contents) have no field in `Record` and stay in `raw` only.
- Speed: `PubmedArticle`s are parsed by the compiled `connectors.pubmed._fast` (Cython over
  libxml2's tree through lxml's C API; built by `make install`) when it imports, else by
  `parse_pubmed_article_python`, which stays the reference: both give equal `Record`s
  (tests/test_pubmed_compiled.py). Set the environment variable BIBLIODUCK_PURE_PARSER=1
  (before this module is imported) to force the pure-Python parser. Books are pure Python.
- Attributes missing from the XML take their DTD default where the DTD gives one (no DTD is
  loaded): ArticleId IdType "pubmed", MajorTopicYN "N", OtherAbstract Language "eng".
- Drift: where the parser dispatches on child names (PubmedArticle, MedlineCitation, Article,
  Journal, JournalIssue, MedlineJournalInfo, PubmedData), a child the DTD does not allow
  there, and an attribute the DTD does not give a known child, are named in `Record.unknown`
  ("element MedlineCitation/X", "attribute Article/@Y"; `note_unknown`, against
  `connectors.pubmed.vocabulary`), in document order, a child after what is inside it. No
  second walk: deeper levels and books are not looked at.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from lxml import etree

from connectors.payload import Source, open_payload
from connectors.pubmed.dates import parse_date_entry, parse_pub_date
from connectors.pubmed.fields import (
    first_of_scheme,
    join_abstract,
    mixed_text_of,
    parse_abstract,
    parse_author_lists,
    parse_chemicals,
    parse_comments_corrections,
    parse_elocation,
    parse_grants,
    parse_identifiers,
    parse_investigators,
    parse_keywords,
    parse_mesh_headings,
    parse_other_abstract,
    parse_pagination,
    parse_references,
    parse_supplementary_concepts,
    parse_title,
    text_of,
)
from connectors.pubmed.vocabulary import (
    KNOWN_ATTRIBUTES,
    KNOWN_CHILDREN,
    unknown_attribute,
    unknown_element,
)
from schemas.errors import MalformedPayloadError
from schemas.record import AbstractSection, DateEntry, Deletion, Record, Subject

if TYPE_CHECKING:
    pass

Element = etree._Element

SOURCE = "pubmed"
_RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")
_ROOT_TAGS = frozenset(
    {"PubmedArticleSet", "PubmedBookArticleSet", "PubmedArticle", "PubmedBookArticle"}
)
_CITATION_DATE_KINDS = {
    "DateCreated": "created",
    "DateCompleted": "completed",
    "DateRevised": "last_revised",
}

# --- streaming -------------------------------------------------------------------------------


def iter_pubmed_records(source: Source, *, origin: str) -> Iterator[Record | Deletion]:
    """Yield one `Record` per `PubmedArticle`/`PubmedBookArticle` and one `Deletion` per PMID
    of a `DeleteCitation`, in document order.

    `source` is the raw bytes of an efetch response or file, a path, or a binary file object;
    gzip is recognised by its magic bytes, whatever the name. `origin` names the source in
    messages and deletion reasons. Broken XML or gzip raises `MalformedPayloadError`. Records
    stream out as they are read, so records already yielded from a payload that then fails
    came from a broken payload: the caller must drop the whole batch (load files atomically).
    """
    with open_payload(source, origin) as stream:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=_RECORD_TAGS,
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            remove_comments=True,
            remove_pis=True,
        )
        root_checked = False
        try:
            for _event, element in context:
                if not root_checked:
                    _check_root(element.getroottree().getroot().tag, origin)
                    root_checked = True
                tag = element.tag
                _check_not_nested(element, origin)
                if tag == "PubmedArticle":
                    items: list[Record] | list[Deletion] = [parse_pubmed_article(element)]
                elif tag == "PubmedBookArticle":
                    items = [parse_pubmed_book_article(element)]
                else:
                    items = parse_delete_citation(element, origin=origin)
                # Free what is parsed: the element and everything before it in its parent.
                element.clear()
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
                yield from items
        except etree.XMLSyntaxError as error:
            raise MalformedPayloadError(_describe_syntax_error(error, context, origin)) from error
        if not root_checked:
            root = context.root
            _check_root(None if root is None else root.tag, origin)


def _check_not_nested(element: Element, origin: str) -> None:
    """A record inside another record is not PubMed XML (the DTD forbids it), and freeing the
    inner one would cut the outer one short by as much as the parser had read: refused."""
    for ancestor in element.iterancestors():
        if ancestor.tag in _RECORD_TAGS:
            raise MalformedPayloadError(
                f"{origin}: a <{element.tag}> inside a <{ancestor.tag}> at line "
                f"{element.sourceline}: not PubMed XML"
            )


def _check_root(tag: object, origin: str) -> None:
    if tag not in _ROOT_TAGS:
        raise MalformedPayloadError(
            f"{origin}: the root element is <{tag}>, not a PubMed article set "
            "(an error page, or another database's answer?)"
        )


def _describe_syntax_error(error: etree.XMLSyntaxError, context: object, origin: str) -> str:
    # iterparse sometimes raises a later, vaguer error ("no element found" at 0:0) than the
    # first fatal one libxml2 logged for this parse, which is the cause: prefer that one.
    line, column = error.position or (0, 0)
    message = error.msg
    for entry in getattr(context, "error_log", None) or ():
        if entry.level >= etree.ErrorLevels.ERROR:
            line, column, message = entry.line, entry.column, entry.message
            break
    return f"{origin}: not well-formed XML at line {line}, column {column}: {message}"


# --- records ---------------------------------------------------------------------------------


def parse_delete_citation(element: Element, *, origin: str) -> list[Deletion]:
    """One `Deletion` per PMID of a `DeleteCitation`."""
    deletions = []
    for pmid_element in element.iterchildren("PMID"):
        pmid = text_of(pmid_element)
        if pmid is None:
            raise MalformedPayloadError(
                f"{origin}: empty PMID in DeleteCitation at line {pmid_element.sourceline}"
            )
        deletions.append(
            Deletion(source=SOURCE, source_id=pmid, reason=f"DeleteCitation in {origin}")
        )
    return deletions


def raw_xml(element: Element) -> bytes:
    """The element's own XML, exactly as `etree.tostring(element, with_tail=False)` gives it
    (ASCII, every other character as a decimal character reference): written by the compiled
    module from the C tree when it can (3-4x faster), else by `raw_xml_python`."""
    if _compiled_raw_xml is not None:
        raw = _compiled_raw_xml(element)
        if raw is not None:
            return raw
    return raw_xml_python(element)


def raw_xml_python(element: Element) -> bytes:
    """`raw_xml` through lxml (the reference): ~15% faster than asking tostring for ASCII, as
    libxml2 writes UTF-8 without running its ASCII output encoder, and Python's encoder
    escapes."""
    return _tostring(element, encoding="unicode", with_tail=False).encode(
        "ascii", "xmlcharrefreplace"
    )


_tostring = etree.tostring


def _load_compiled() -> ModuleType | None:
    """The compiled module (`PubmedArticle` parser and `raw_xml`), or None when it is not
    built or is switched off with BIBLIODUCK_PURE_PARSER=1."""
    if os.environ.get("BIBLIODUCK_PURE_PARSER", "").strip().lower() in ("1", "true", "yes"):
        return None
    try:
        import connectors.pubmed._fast as _fast
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and error.name == "connectors.pubmed._fast":
            return None  # not built: a checkout that `make install` has not built
        # Built, but not importable: stale, or for another lxml or Record schema.
        warnings.warn(
            f"connectors.pubmed._fast does not import ({error}): using the pure-Python "
            "PubMed parser; rebuild it with `make install`",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return _fast


_compiled = _load_compiled()
_compiled_article: Callable[[Element, bytes], Record] | None = (
    None if _compiled is None else _compiled.parse_pubmed_article
)
_compiled_raw_xml: Callable[[Element], bytes | None] | None = (
    None if _compiled is None else _compiled.raw_xml
)


def parse_pubmed_article(article: Element) -> Record:
    """A `Record` from one `PubmedArticle` (MedlineCitation and PubmedData): compiled when
    `connectors.pubmed._fast` is built, else `parse_pubmed_article_python` (the reference)."""
    if _compiled_article is not None:
        return _compiled_article(article, raw_xml(article))
    return parse_pubmed_article_python(article)


def parse_pubmed_article_python(article: Element) -> Record:
    """A `Record` from one `PubmedArticle` (MedlineCitation and PubmedData), in pure Python:
    the reference that the compiled parser must equal, field for field."""
    record = Record(source=SOURCE, source_id=None, raw=raw_xml_python(article))
    citation = pubmed_data = None
    for child in article:
        if child.tag == "MedlineCitation":
            citation = child
        elif child.tag == "PubmedData":
            pubmed_data = child
        note_unknown(record, "PubmedArticle", child)
    if citation is None:
        return record
    record.record_status = citation.get("Status") or None

    pmid_element = article_element = None
    dates: list[DateEntry] = []
    mesh: list[Subject] = []
    chemicals: list[Subject] = []
    supplementary: list[Subject] = []
    keywords: list[Subject] = []
    other_abstracts: list[AbstractSection] = []
    investigator_lists: list[Element] = []
    for child in citation:
        tag = child.tag
        if tag == "PMID":
            pmid_element = child
        elif tag == "Article":
            article_element = child
        elif tag == "MedlineJournalInfo":
            for info in child:
                if info.tag == "NlmUniqueID":
                    record.nlm_unique_id = text_of(info)
                elif info.tag == "ISSNLinking":
                    record.issn_linking = text_of(info)
                note_unknown(record, "MedlineJournalInfo", info)
        elif tag == "MeshHeadingList":
            mesh = parse_mesh_headings(child)
        elif tag == "ChemicalList":
            chemicals = parse_chemicals(child)
        elif tag == "SupplMeshList":
            supplementary = parse_supplementary_concepts(child)
        elif tag == "KeywordList":
            keywords.extend(parse_keywords(child))
        elif tag == "CommentsCorrectionsList":
            record.links = parse_comments_corrections(child)
        elif tag == "OtherAbstract":
            other_abstracts.extend(parse_other_abstract(child))
        elif tag == "InvestigatorList":
            investigator_lists.append(child)
        elif tag in _CITATION_DATE_KINDS:
            dates.append(parse_date_entry(_CITATION_DATE_KINDS[tag], child))
        note_unknown(record, "MedlineCitation", child)

    record.source_id = record.pmid = text_of(pmid_element)
    record.source_version = source_version(pmid_element, dates)
    id_lists: list[Element] = []
    elocations: list[Element] = []
    if article_element is not None:
        elocations = _fill_from_article(record, article_element, dates)
    record.abstract_sections.extend(other_abstracts)
    if investigator_lists:
        record.authors.extend(parse_investigators(investigator_lists))
    record.subjects = mesh + chemicals + supplementary + keywords
    record.issn = record.issn_linking or record.issn_print or record.issn_electronic

    if pubmed_data is not None:
        reference_lists: list[Element] = []
        for child in pubmed_data:
            tag = child.tag
            if tag == "ArticleIdList":
                id_lists.append(child)
            elif tag == "History":
                dates.extend(_history(child))
            elif tag == "PublicationStatus":
                record.publication_state = text_of(child)
            elif tag == "ReferenceList":
                reference_lists.append(child)
            note_unknown(record, "PubmedData", child)
        if reference_lists:
            record.references = parse_references(reference_lists)
    record.dates = dates
    _set_identifiers(record, id_lists, elocations)
    return record


def _fill_from_article(record: Record, article: Element, dates: list[DateEntry]) -> list[Element]:
    """Set the fields `Article` holds; return its ELocationIDs (they are identifiers too)."""
    elocations: list[Element] = []
    author_lists: list[Element] = []
    for child in article:
        tag = child.tag
        if tag == "Journal":
            _fill_journal(record, child)
        elif tag == "ArticleTitle":
            record.title, record.title_markup = parse_title(child)
        elif tag == "Pagination":
            record.pages, record.first_page, record.last_page = parse_pagination(child)
        elif tag == "ELocationID":
            elocations.append(child)
        elif tag == "Abstract":
            record.abstract_sections = parse_abstract(child)
            record.abstract = join_abstract(record.abstract_sections)
        elif tag == "AuthorList":
            author_lists.append(child)
        elif tag == "Language":
            language = text_of(child)
            if language is not None:
                record.languages.append(language)
        elif tag == "PublicationTypeList":
            record.publication_types = [
                text for element in child if (text := text_of(element)) is not None
            ]
        elif tag == "GrantList":
            record.grants = parse_grants(child)
        elif tag == "VernacularTitle":
            record.vernacular_title = mixed_text_of(child)
        elif tag == "ArticleDate":
            dates.append(parse_date_entry("article_date", child))
        note_unknown(record, "Article", child)
    if author_lists:
        record.authors = parse_author_lists(author_lists)
    record.elocation = parse_elocation(elocations)
    return elocations


def _fill_journal(record: Record, journal: Element) -> None:
    for child in journal:
        tag = child.tag
        if tag == "JournalIssue":
            for part in child:
                if part.tag == "Volume":
                    record.volume = text_of(part)
                elif part.tag == "Issue":
                    record.issue = text_of(part)
                elif part.tag == "PubDate":
                    (
                        record.pub_date,
                        record.pub_date_precision,
                        record.pub_date_raw,
                        record.pub_year,
                    ) = parse_pub_date(part)
                note_unknown(record, "JournalIssue", part)
        elif tag == "Title":
            record.journal = text_of(child)
        elif tag == "ISOAbbreviation":
            record.journal_abbrev = text_of(child)
        elif tag == "ISSN":
            issn_type = child.get("IssnType")
            if issn_type == "Print":
                record.issn_print = text_of(child)
            elif issn_type == "Electronic":
                record.issn_electronic = text_of(child)
        note_unknown(record, "Journal", child)


def note_unknown(record: Record, parent: str, child: Element) -> None:
    """Add to `record.unknown` what of `child` (a child of `parent` the parser dispatches on)
    the DTD does not know: its name in `parent`, then each attribute name it does not give
    the element. An element the DTD does not know at all has its attributes unchecked."""
    tag = child.tag
    if not isinstance(tag, str):
        return  # an entity reference: not an element
    if tag not in KNOWN_CHILDREN[parent]:
        record.unknown.append(unknown_element(parent, tag))
        return
    names = child.keys()
    if names:
        known = KNOWN_ATTRIBUTES.get(tag, frozenset())
        for name in names:
            if name not in known:
                record.unknown.append(unknown_attribute(tag, str(name)))


def _set_identifiers(
    record: Record,
    id_lists: list[Element],
    elocations: list[Element],
    more: list[tuple[str, str | None]] | None = None,
) -> None:
    record.identifiers = parse_identifiers(record.pmid, id_lists, elocations, more)
    record.doi = first_of_scheme(record.identifiers, "doi")
    record.pmcid = first_of_scheme(record.identifiers, "pmcid")
    if record.pmid is None:
        record.pmid = first_of_scheme(record.identifiers, "pmid")


def _history(history: Element) -> list[DateEntry]:
    return [
        parse_date_entry(date.get("PubStatus") or "unknown", date)
        for date in history.iterchildren("PubMedPubDate")
    ]


def source_version(pmid_element: Element | None, dates: list[DateEntry]) -> str:
    """Sortable version text: f"{Version:04d}:{DateRevised YYYY-MM-DD or 0000-00-00}"."""
    version = 0
    if pmid_element is not None:
        attribute = pmid_element.get("Version")
        if attribute is None:
            version = 1
        elif (digits := attribute.strip()).isascii() and digits.isdigit() and len(digits) <= 9:
            # A Version that is not a number of at most 9 ASCII digits ("²", 5,000 digits:
            # beyond `int()`) counts as no usable version, like any other non-number.
            version = int(digits)
    revised = "0000-00-00"
    for entry in dates:
        if entry.kind == "last_revised" and entry.date is not None and entry.precision == "day":
            revised = entry.date.isoformat()
    return f"{version:04d}:{revised}"


def parse_pubmed_book_article(book_article: Element) -> Record:
    """A `Record` from one `PubmedBookArticle` (a book or a chapter: BookDocument and
    PubmedBookData). Where the book's fields go is described in the module docstring."""
    record = Record(source=SOURCE, source_id=None, raw=raw_xml(book_article))
    document = book_article.find("BookDocument")
    book_data = book_article.find("PubmedBookData")
    if document is None:
        return record
    pmid_element = document.find("PMID")
    record.source_id = record.pmid = text_of(pmid_element)

    dates: list[DateEntry] = []
    id_lists = document.findall("ArticleIdList")
    author_lists = document.findall("AuthorList")
    investigator_lists = document.findall("InvestigatorList")
    elocations: list[Element] = []
    isbns: list[tuple[str, str | None]] = []
    book_title = book_title_markup = None
    book = document.find("Book")
    if book is not None:
        elocations = book.findall("ELocationID")
        isbns = [("isbn", isbn.text) for isbn in book.iterchildren("Isbn")]
        author_lists += book.findall("AuthorList")
        investigator_lists += book.findall("InvestigatorList")
        book_title, book_title_markup = parse_title(book.find("BookTitle"))
        publisher = book.find("Publisher")
        if publisher is not None:
            record.publisher = text_of(publisher.find("PublisherName"))
        record.volume = text_of(book.find("Volume"))
        (
            record.pub_date,
            record.pub_date_precision,
            record.pub_date_raw,
            record.pub_year,
        ) = parse_pub_date(book.find("PubDate"))
        for tag, kind in (("BeginningDate", "book_beginning"), ("EndingDate", "book_ending")):
            dates.extend(parse_date_entry(kind, date) for date in book.iterchildren(tag))

    record.title, record.title_markup = parse_title(document.find("ArticleTitle"))
    if record.title is not None:
        record.journal = book_title
    else:
        record.title, record.title_markup = book_title, book_title_markup
    record.vernacular_title = mixed_text_of(document.find("VernacularTitle"))
    record.pages, record.first_page, record.last_page = parse_pagination(
        document.find("Pagination")
    )
    record.languages = [text for e in document.iterchildren("Language") if (text := text_of(e))]
    record.publication_types = [
        text for e in document.iterchildren("PublicationType") if (text := text_of(e))
    ]
    record.abstract_sections = parse_abstract(document.find("Abstract"))
    record.abstract = join_abstract(record.abstract_sections)
    record.authors = parse_author_lists(author_lists) + parse_investigators(investigator_lists)
    for keyword_list in document.iterchildren("KeywordList"):
        record.subjects.extend(parse_keywords(keyword_list))
    grant_list = document.find("GrantList")
    if grant_list is not None:
        record.grants = parse_grants(grant_list)
    for tag, kind in (("ContributionDate", "contribution"), ("DateRevised", "last_revised")):
        dates.extend(parse_date_entry(kind, date) for date in document.iterchildren(tag))
    record.source_version = source_version(pmid_element, dates)
    record.references = parse_references(document.findall("ReferenceList"))

    if book_data is not None:
        record.publication_state = text_of(book_data.find("PublicationStatus"))
        id_lists = book_data.findall("ArticleIdList") + id_lists
        history = book_data.find("History")
        if history is not None:
            dates.extend(_history(history))
    record.dates = dates
    record.elocation = parse_elocation(elocations)
    _set_identifiers(record, id_lists, elocations, isbns)
    return record
