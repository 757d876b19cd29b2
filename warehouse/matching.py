"""Which source records are one work. Pure: keys in, assignments and conflicts out, the same for
the same input whatever its order. Three stages, each joining what the previous left apart:

1. Hard identifiers (union-find): records sharing an OAI identifier (two metadata formats of
   one repository record), a PMID, a PMCID or a normalised DOI, strongest first.
2. Preprint and published version: a preprint (PubMed type "Preprint", Crossref
   `posted-content`) joins the work of the version it names (PubMed UpdateIn/UpdateOf,
   Crossref is-preprint-of/has-preprint), though the two carry different PMIDs.
3. Fuzzy, only for records that the first two stages left alone (sharing no identifier with
   any record): candidates come from blocks (normalised title's first and last characters,
   a journal locator ISSN + volume + first page, a secondary id such as a handle), compared
   within a year ±1 window; a pair is one work on evidence unless a guard says no. Rules
   (`matched_on` "fuzzy:<rule>", `score` the title similarity): "id+title" (a shared
   secondary id, title >= 0.9), "locator+title" (ISSN, volume and first page, title >= 0.9),
   "title+author" (title >= 0.99 or equal without spaces and punctuation, not a generic
   title, a shared author surname). One record of each pair must be alone; the other may
   already be in a work (a PubMed record without a DOI joins its Crossref and repository
   copies), but two works that identifiers made are never merged on a title: each already
   has identifiers that say what it is. Pairs join the most similar first (ties by key),
   within the set-level guards (no two PMIDs, no two DOIs of one ISSN in a work).

Guards, each recorded as a conflict instead of a merge in stages 1-2:
- two PMIDs never meet in one work (PubMed gives each article one; a DOI carried by two PMIDs
  is a publisher's or NLM's error, or an erratum that reused its article's DOI); the one
  exception is a preprint and its published version, which PubMed links explicitly;
- two records of incompatible kinds never meet (an article and its dataset, a book and its
  chapter, an issue and its articles). A notice (erratum, retraction, expression of concern)
  may meet an article through a shared DOI: Crossref types the notice itself
  "journal-article", so the same DOI from PubMed's "Published Erratum" and Crossref is one
  notice; an erratum never meets the article it corrects, which has its own PMID and DOI;
- a component's DOI (a figure, a table, a supplement: Crossref type `component`) joins nothing.

The fuzzy stage's guards override any evidence: years more than 1 apart, titles that differ in
their numbers ("part I" / "part II", "Cancer statistics, 1977" / "1978") or in their
subtitles, the same ISSN with different DOIs, page counts more than 5 apart, kinds that differ
(a notice or a comment never fuzzy-matches an article: its title often repeats the article's),
two different PMIDs.

Why hand-written rules with rapidfuzz and not splink: splink (Fellegi-Sunter on DuckDB) learns
match weights by EM from the data; the issue asks for named rules with evidence, guards that
override any score and set-level guards during clustering (no two PMIDs in a work), which
splink's connected components do not know, and for results an analyst can read as
"fuzzy:<rule>" with the same outcome on every rebuild. rapidfuzz gives the one numeric
ingredient, title similarity (Indel ratio in C++, with a cutoff).
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
from rapidfuzz import fuzz

from schemas.record import Record

# Coarse kinds of work, from each source's type vocabulary; records of two different kinds are
# never one work. "other" (a type we do not know) is compatible with every kind.
_KINDS = {
    # Crossref types
    "journal-article": "article",
    "proceedings-article": "article",
    "posted-content": "article",
    "report": "article",
    "book": "book",
    "monograph": "book",
    "edited-book": "book",
    "reference-book": "book",
    "book-chapter": "chapter",
    "book-section": "chapter",
    "book-part": "chapter",
    "reference-entry": "chapter",
    "dataset": "dataset",
    "database": "dataset",
    "journal-issue": "issue",
    "journal-volume": "issue",
    "journal": "issue",
    "component": "component",
    "peer-review": "review",
    # PubMed publication types (a notice is its own record, linked, never merged)
    "journal article": "article",
    "published erratum": "notice",
    "retraction of publication": "notice",
    "expression of concern": "notice",
    # JATS article-type (a correction, retraction or concern is a notice, as in PubMed)
    "research-article": "article",
    "review-article": "article",
    "case-report": "article",
    "brief-report": "article",
    "rapid-communication": "article",
    "correction": "notice",
    "retraction": "notice",
    "expression-of-concern": "notice",
    # OAI-PMH / Pure output types
    "contribution to journal/article": "article",
    "article": "article",
    "book/monograph": "book",
    "chapter in book/report/conference proceeding/chapter": "chapter",
    "dataset/dataset": "dataset",
}
# A PubMed record is typed by all its publication types: these decide, in this order.
_DECIDING = ("notice", "dataset", "book", "chapter", "article")
# Kinds that may be one work though they differ (see the module docstring).
_MAY_MEET = frozenset({frozenset({"notice", "article"})})
# Types that make a record a preprint (PubMed's publication type, Crossref's type).
_PREPRINT_TYPES = frozenset({"preprint", "posted-content"})

# Links matching reads. A preprint names its published version (`_TO_PUBLISHED`), a published
# version its preprint (`_TO_PREPRINT`); a record with an `_ABOUT` link is a notice or comment
# about another record (PubMed CommentsCorrections, Crossref update-to types).
_TO_PUBLISHED = frozenset({"UpdateIn", "is-preprint-of"})
_TO_PREPRINT = frozenset({"UpdateOf", "has-preprint"})
_ABOUT = frozenset(
    {
        "ErratumFor",
        "RetractionOf",
        "ExpressionOfConcernFor",
        "CommentOn",
        "corrected-article",  # JATS related-article types
        "retracted-article",
        "object-of-concern",
        "correction",
        "erratum",
        "corrigendum",
        "retraction",
        "partial_retraction",
        "withdrawal",
        "removal",
        "expression_of_concern",
        "addendum",
        "clarification",
    }
)
# Identifiers besides DOI/PMID/PMCID that name one work in any source that gives them: a
# secondary id for the fuzzy stage (with a similar title). Not PubMed's `pii` (only PubMed
# records carry it, and two PubMed records already differ by PMID), not `url` (landing pages
# are shared by a journal's records), and an ISBN only for a book (its chapters share it).
_SECONDARY_SCHEMES = ("handle", "urn", "arxiv", "isbn")

# The fuzzy stage's thresholds (issue 17): title similarity with a shared secondary id or
# locator, and without one (then with a shared author surname).
SIMILAR_TITLE = 0.9
SAME_TITLE = 0.99
YEAR_WINDOW = 1
PAGE_COUNT_TOLERANCE = 5
# A block (one key, two adjacent years) larger than this is a title or locator too common to
# be evidence (a column title, a directory): it gives no candidates, which also keeps the
# pair count linear.
BLOCK_CAP = 50
# Blocks by the normalised title's first and by its last characters, so that a difference at
# one end (a bracketed translation, a trailing subtitle) still leaves the pair one block.
TITLE_KEY_CHARS = 24
SURNAMES_KEPT = 5

# Generic titles (normalised slugs): equal titles are no evidence of one work. Such records
# still match through a locator or a secondary id, never by title and author alone.
STOP_TITLES = frozenset(
    {
        "abstract",
        "abstracts",
        "acknowledgement",
        "acknowledgements",
        "acknowledgment",
        "acknowledgments",
        "announcement",
        "announcements",
        "authorsreply",
        "authorreply",
        "backmatter",
        "bookreview",
        "bookreviews",
        "caseforddiagnosis",
        "casefordiagnosis",
        "comment",
        "commentary",
        "comments",
        "contents",
        "contributors",
        "correction",
        "corrections",
        "corrigendum",
        "corrigenda",
        "departmentoferror",
        "editorial",
        "editorialboard",
        "editorialcomment",
        "editorsnote",
        "erratum",
        "errata",
        "expressionofconcern",
        "foreword",
        "frontmatter",
        "fullissue",
        "index",
        "inreply",
        "inthisissue",
        "introduction",
        "issueinformation",
        "letter",
        "letters",
        "lettertotheeditor",
        "letterstotheeditor",
        "lettertotheeditors",
        "masthead",
        "news",
        "notice",
        "notices",
        "obituary",
        "preface",
        "publishersnote",
        "reply",
        "replytocomment",
        "response",
        "retraction",
        "retractionnotice",
        "reviewers",
        "tableofcontents",
        "untitled",
    }
)
# A title whose main part (before a colon) is one of these is a notice or reply about another
# work ("Correction: <its title>"): its words are the other work's, so no title evidence.
_NOTICE_PREFIXES = frozenset(
    {
        "correction",
        "correctionto",
        "corrigendum",
        "corrigendumto",
        "erratum",
        "erratumto",
        "retraction",
        "retracted",
        "retractionnote",
        "expressionofconcern",
        "comment",
        "commenton",
        "reply",
        "replyto",
        "response",
        "responseto",
        "editorialcomment",
    }
)


def kind_of(types: Iterable[str]) -> str:
    """The coarse kind of a record from its publication/output types ("other" if unknown)."""
    kinds = {_KINDS.get(t.strip().lower(), "other") for t in types if t}
    for kind in _DECIDING:
        if kind in kinds:
            return kind
    known = sorted(kinds - {"other"})
    return known[0] if known else "other"


def compatible(a: str, b: str) -> bool:
    """Whether records of kinds `a` and `b` may be one work."""
    return a == b or "other" in (a, b) or frozenset({a, b}) in _MAY_MEET


# --- normal forms --------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[\W_]+")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_ROMAN = re.compile(r"^(x{0,3})(ix|iv|v?i{0,3})$")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}
SUBTITLE_SEPARATOR = " : "


def _fold(text: str) -> str:
    """Case-folded, accents removed (é → e; letters of other scripts kept)."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text.casefold()


def normalise_title(title: str | None) -> str | None:
    """A title for comparison: folded, every run of punctuation and spaces one space, the
    first colon kept as " : " to mark a subtitle ("Medical treatment of epilepsy: part I." →
    "medical treatment of epilepsy : part i"). None when nothing is left."""
    if not title:
        return None
    main, _colon, subtitle = _fold(title).partition(":")
    parts = [p for p in (_NOT_WORD.sub(" ", main).strip(), _NOT_WORD.sub(" ", subtitle).strip())]
    text = SUBTITLE_SEPARATOR.join(p for p in parts if p)
    return text or None


def title_slug(normalised: str) -> str:
    """The normalised title without spaces or subtitle mark: the key of blocks and of the
    stop-list ("case for diagnosis" → "casefordiagnosis")."""
    return normalised.replace(SUBTITLE_SEPARATOR, "").replace(" ", "")


def generic_title(normalised: str) -> bool:
    """Whether equal titles are no evidence (stop-listed, or a notice titled after its work)."""
    main = normalised.partition(SUBTITLE_SEPARATOR)[0].replace(" ", "")
    return title_slug(normalised) in STOP_TITLES or main in _NOTICE_PREFIXES


def surname_of(family: str | None, name: str | None) -> str | None:
    """An author's surname for comparison: the last word of the family name (or of a display
    name "Given Family", or the part before the comma of "Family, Given"), folded, letters only
    ("van der Berg" → "berg", "O'Brien" → "obrien")."""
    text = family or ((name.split(",")[0] if "," in name else name) if name else None)
    words = _fold(text).split() if text else []
    surname = _NOT_LETTER.sub("", words[-1]) if words else ""
    return sys.intern(surname) if surname else None


def number_tokens(normalised: str) -> tuple[str, ...]:
    """The numbers a title names, roman numerals as digits ("part ii" and "part 2" → ("2",)):
    two titles whose numbers differ are two works of a series."""
    numbers = []
    for word in normalised.split():
        if any(c.isdigit() for c in word):
            numbers.append((word.lstrip("0") or "0") if word.isdigit() else word)
        elif _ROMAN.match(word):
            numbers.append(str(_roman_value(word)))
    return tuple(numbers)


def _roman_value(word: str) -> int:
    total = 0
    for index, letter in enumerate(word):
        value = _ROMAN_VALUES[letter]
        following = _ROMAN_VALUES[word[index + 1]] if index + 1 < len(word) else 0
        total += -value if value < following else value
    return total


def page_count_of(count: int | None, first: str | None, last: str | None) -> int | None:
    """The number of pages: as given, else from numeric first and last pages."""
    if count is not None:
        return count
    if first and last and first.isdigit() and last.isdigit() and int(last) >= int(first):
        return int(last) - int(first) + 1
    return None


# --- what matching reads ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberKeys:
    """What matching reads of one current source record (normalised, see `member_from_row`)."""

    source: str
    source_id: str
    doi: str | None
    pmid: str | None
    pmcid: str | None
    kind: str
    oai: str | None = None  # "<endpoint> <OAI identifier>" (an identifier is per repository)
    title: str | None = None  # `normalise_title`
    pub_year: int | None = None
    surnames: tuple[str, ...] = ()  # of the authors among the first five names, `surname_of`
    issns: tuple[str, ...] = ()  # every ISSN the record gives
    volume: str | None = None
    first_page: str | None = None
    page_count: int | None = None
    secondary_ids: tuple[str, ...] = ()  # "handle:…", "urn:…", "isbn:…" (books only)
    preprint: bool = False
    notice: bool = False  # a notice or comment about another record (an `_ABOUT` link)
    links: tuple[tuple[str, str, str], ...] = ()  # (relation, scheme, id): preprint links

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.source_id)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A shared identifier that was not allowed to merge its records, and why."""

    scheme: str  # oai, doi, pmid, pmcid, preprint
    value: str
    members: tuple[tuple[str, str], ...]
    reason: str


@dataclass(slots=True)
class Clustering:
    """Each record's work id, why it is in it and how sure (1.0 for identifiers, the title
    similarity for a fuzzy match); the conflicts met on the way."""

    work_of: dict[tuple[str, str], str] = field(default_factory=dict)
    matched_on: dict[tuple[str, str], str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    score: dict[tuple[str, str], float] = field(default_factory=dict)
    oversized_blocks: int = 0  # fuzzy blocks over BLOCK_CAP, which gave no candidates


# What matching reads of each current source record: the one place that says so, for the full
# build and for the incremental update (`where` narrows to the records to recompute). Lists
# are narrowed in SQL so that a million rows stay cheap to fetch (authors sliced before they are
# filtered: a consortium paper's thousands of authors are never copied); `member_row` is the same
# projection of a parsed `Record`, and `member_from_row` makes the keys of either.
_LINK_RELATIONS = ", ".join(f"'{r}'" for r in sorted(_TO_PUBLISHED | _TO_PREPRINT | _ABOUT))
_ID_SCHEMES = ", ".join(f"'{s}'" for s in ("oai", *_SECONDARY_SCHEMES))
MEMBER_COLUMNS = f"""source, source_id, doi, pmid, pmcid,
    list_concat(publication_types, output_type), endpoint,
    list_transform(list_filter(identifiers, lambda i: i.scheme IN ({_ID_SCHEMES})),
        lambda i: [i.scheme, i.value]),
    title, pub_year,
    list_transform(list_filter(list_slice(authors, 1, {SURNAMES_KEPT}),
        lambda a: a.role = 'author' AND a.collective IS NULL),
        lambda a: [a.family, a.name]),
    [issn, issn_print, issn_electronic, issn_linking], volume, first_page, last_page,
    page_count,
    list_transform(list_filter(links, lambda k: k.relation IN ({_LINK_RELATIONS})),
        lambda k: [k.relation, k.target_scheme, k.target_id])"""


def member_row(record: Record) -> tuple[Any, ...]:
    """The `MEMBER_COLUMNS` row of a parsed `schemas.record.Record`, as the warehouse reads it
    once the record is loaded (benchmarks and tests build members from parsed records)."""
    relations = _TO_PUBLISHED | _TO_PREPRINT | _ABOUT
    schemes = {"oai", *_SECONDARY_SCHEMES}
    return (
        record.source,
        record.source_id,
        record.doi,
        record.pmid,
        record.pmcid,
        [*record.publication_types, *record.output_type],
        record.endpoint,
        [[i.scheme, i.value] for i in record.identifiers if i.scheme in schemes],
        record.title,
        record.pub_year,
        [
            [a.family, a.name]
            for a in record.authors[:SURNAMES_KEPT]
            if a.role == "author" and a.collective is None
        ],
        [record.issn, record.issn_print, record.issn_electronic, record.issn_linking],
        record.volume,
        record.first_page,
        record.last_page,
        record.page_count,
        [
            [k.relation, k.target_scheme, k.target_id]
            for k in record.links
            if k.relation in relations
        ],
    )


def member_from_row(row: Sequence[Any], shared: dict[Any, Any] | None = None) -> MemberKeys:
    """The `MemberKeys` of one row of `MEMBER_COLUMNS`. `shared`: equal years and ISSN tuples
    of the members read together are kept as one object (see `read_members`)."""
    (source, source_id, doi, pmid, pmcid, types, endpoint, identifiers, title, year) = row[:10]
    (authors, issns, volume, first_page, last_page, page_count, links) = row[10:]
    # A PubMed record's source_id is its PMID, a Crossref record's its DOI: one string for
    # both (~60 bytes a member, 60 MB at a million).
    if pmid == source_id:
        pmid = source_id
    elif doi == source_id:
        doi = source_id
    issn_tuple = tuple(sorted({sys.intern(i) for i in issns or [] if i}))
    if shared is not None:
        # A year above 256 is a new int object per record, and a journal's ISSNs a new tuple.
        year = shared.setdefault(year, year)
        issn_tuple = shared.setdefault(issn_tuple, issn_tuple)
    types = types or []
    kind = kind_of(types)
    oai = next((value for scheme, value in identifiers or [] if scheme == "oai"), None)
    surnames = (surname_of(family, name) for family, name in authors or [])
    secondary = tuple(
        sorted(
            {
                f"{scheme}:{value}"
                for scheme, value in identifiers or []
                if scheme in _SECONDARY_SCHEMES and value and (scheme != "isbn" or kind == "book")
            }
        )
    )
    return MemberKeys(
        sys.intern(source),
        source_id,
        doi,
        pmid,
        pmcid,
        sys.intern(kind),
        oai=(f"{endpoint} {oai}" if endpoint else oai) if oai and source == "oai" else None,
        title=normalise_title(title),
        pub_year=year,
        surnames=tuple(dict.fromkeys(s for s in surnames if s)),
        issns=issn_tuple,
        volume=sys.intern(volume) if volume else None,
        first_page=sys.intern(first_page) if first_page else None,
        page_count=page_count_of(page_count, first_page, last_page),
        secondary_ids=secondary,
        preprint=any(t and t.strip().lower() in _PREPRINT_TYPES for t in types),
        notice=any(relation in _ABOUT for relation, _s, _t in links or []),
        links=tuple(
            (relation, scheme, target)
            for relation, scheme, target in links or []
            if relation in _TO_PUBLISHED | _TO_PREPRINT and scheme and target
        ),
    )


def member_from_record(record: Record) -> MemberKeys:
    """The `MemberKeys` of a parsed `Record`, the same as `read_members` gives once loaded."""
    return member_from_row(member_row(record))


def read_members(
    con: duckdb.DuckDBPyConnection,
    where: str = "true",
    parameters: list[Any] | None = None,
) -> list[MemberKeys]:
    """The `MemberKeys` of the current (not deleted) source records that `where` selects."""
    cursor = con.execute(
        f"SELECT {MEMBER_COLUMNS} FROM source_records WHERE NOT deleted AND ({where})",
        parameters or [],
    )
    members: list[MemberKeys] = []
    shared: dict[Any, Any] = {}
    # In slices: a million rows of nested lists fetched at once would hold every row's Python
    # objects alongside the members made from them.
    while rows := cursor.fetchmany(50_000):
        members.extend(member_from_row(row, shared) for row in rows)
    return members


# --- clustering ------------------------------------------------------------------------------

_HARD_SCHEMES = ("oai", "pmid", "pmcid", "doi")  # strongest first
_SHARED_ORDER = ("doi", "pmid", "pmcid", "oai")  # how `matched_on` names them


def _hard_value(member: MemberKeys, scheme: str) -> str | None:
    if scheme == "doi":
        return member.doi if member.kind != "component" else None
    value: str | None = getattr(member, scheme)
    return value


class _Sets:
    """Union-find over record indexes. What the guards need of a set (its members, PMIDs and
    kinds) is kept only for sets of two or more: a million singletons cost one int each."""

    def __init__(self, members: Sequence[MemberKeys]) -> None:
        self.records = members
        self.parent = list(range(len(members)))
        self.groups: dict[int, list[int]] = {}
        self.pmids: dict[int, set[str]] = {}
        self.kinds: dict[int, set[str]] = {}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def group(self, root: int) -> list[int]:
        return self.groups.get(root) or [root]

    def alone(self, i: int) -> bool:
        return self.parent[i] == i and i not in self.groups

    def pmids_of(self, root: int) -> set[str]:
        if root in self.pmids:
            return self.pmids[root]
        pmid = self.records[root].pmid
        return {pmid} if pmid else set()

    def kinds_of(self, root: int) -> set[str]:
        if root in self.kinds:
            return self.kinds[root]
        return {self.records[root].kind} - {"other"}

    def why_not(
        self, a: int, b: int, *, check_pmids: bool = True, check_kinds: bool = True
    ) -> str | None:
        """Why the sets of `a` and `b` may not be one work, or None."""
        ra, rb = self.find(a), self.find(b)
        pmids = self.pmids_of(ra) | self.pmids_of(rb)
        if check_pmids and len(pmids) > 1:
            return "different PMIDs: " + ", ".join(sorted(pmids, key=lambda p: (len(p), p)))
        if not check_kinds:
            return None
        ka, kb = self.kinds_of(ra), self.kinds_of(rb)
        clashes = sorted({f"{x}, {y}" for x in ka for y in kb if not compatible(x, y)})
        if clashes:
            return "incompatible kinds: " + "; ".join(clashes)
        return None

    def union(self, a: int, b: int) -> None:
        ra, rb = sorted((self.find(a), self.find(b)))
        if ra == rb:
            return
        pmids, kinds = self.pmids_of(ra) | self.pmids_of(rb), self.kinds_of(ra) | self.kinds_of(rb)
        members = self.group(ra) + self.group(rb)
        self.parent[rb] = ra
        for table in (self.groups, self.pmids, self.kinds):
            table.pop(rb, None)
        self.groups[ra], self.pmids[ra], self.kinds[ra] = members, pmids, kinds


def cluster(records: Iterable[MemberKeys]) -> Clustering:
    """Group records into works: hard identifiers, then preprints with their published
    versions, then the fuzzy stage for what is left alone (see the module docstring)."""
    members = sorted(records, key=lambda m: m.key)  # any input order gives the same result
    sets = _Sets(members)
    result = Clustering()
    reasons: dict[int, tuple[str, float]] = {}  # why a record met its work, beyond identifiers
    # Records an identifier was refused to join: the conflict stands for an analyst to judge,
    # and no title may bring them together behind it.
    conflicted: set[int] = set()
    for scheme in _HARD_SCHEMES:
        for value, indexes in _runs(members, scheme):
            refused = _join(sets, indexes, check_kinds=scheme != "oai")
            if refused:
                keys = tuple(members[i].key for i in indexes)
                result.conflicts.append(Conflict(scheme, value, keys, refused))
                conflicted.update(indexes)
    _join_preprints(members, sets, result, reasons)
    result.oversized_blocks = _join_fuzzy(members, sets, reasons, conflicted)
    _assign(members, sets, result, reasons)
    return result


def _runs(members: Sequence[MemberKeys], scheme: str) -> Iterator[tuple[str, list[int]]]:
    """Each value of `scheme` that two or more records carry, with their indexes, by value."""
    carried = sorted(
        (value, index)
        for index, member in enumerate(members)
        if (value := _hard_value(member, scheme))
    )
    start = 0
    while start < len(carried):
        end = start + 1
        while end < len(carried) and carried[end][0] == carried[start][0]:
            end += 1
        if end - start > 1:
            yield carried[start][0], [index for _value, index in carried[start:end]]
        start = end


def _join(sets: _Sets, indexes: list[int], *, check_kinds: bool) -> str | None:
    """Join the records of one identifier value, each to the first it may join; the reason
    of the first refusal, or None. Two formats of one OAI record are one record whatever
    types their vocabularies give it (no `check_kinds`), yet never hold two PMIDs."""
    refused = None
    first = indexes[0]
    for other in indexes[1:]:
        reason = sets.why_not(first, other, check_kinds=check_kinds)
        if reason is None:
            sets.union(first, other)
        elif refused is None:
            refused = reason
    return refused


def _join_preprints(
    members: Sequence[MemberKeys],
    sets: _Sets,
    result: Clustering,
    reasons: dict[int, tuple[str, float]],
) -> None:
    """Join each preprint to the work of its published version, as either names the other."""
    wanted = {(scheme, target) for m in members for _r, scheme, target in m.links}
    carriers: dict[tuple[str, str], list[int]] = defaultdict(list)
    if wanted:
        for index, member in enumerate(members):
            for scheme in ("pmid", "doi", "pmcid"):
                value = getattr(member, scheme)
                if value and (scheme, value) in wanted:
                    carriers[(scheme, value)].append(index)
    for index, member in enumerate(members):
        for relation, scheme, target in member.links:
            for other in carriers.get((scheme, target), []):
                preprint, published = (
                    (index, other) if relation in _TO_PUBLISHED else (other, index)
                )
                if not members[preprint].preprint or members[published].preprint:
                    continue  # an update of a letter by its reply, of a version by another
                if sets.find(preprint) == sets.find(published):
                    continue
                refused = sets.why_not(preprint, published, check_pmids=False)
                if refused is None and members[published].notice:
                    refused = "a notice is never the published version of a preprint"
                if refused:
                    keys = tuple(sorted((members[preprint].key, members[published].key)))
                    result.conflicts.append(Conflict("preprint", target, keys, refused))
                    continue
                sets.union(preprint, published)
                for i in (preprint, published):
                    reasons.setdefault(i, ("preprint", 1.0))


# --- the fuzzy stage -------------------------------------------------------------------------


def _block_keys(member: MemberKeys) -> list[str]:
    """The blocks a record is compared within (year windows apart)."""
    keys = []
    title = member.title
    if title:
        slug = title_slug(title)
        # `generic_title`, with the slug made once (this runs for every record).
        main = (
            title.partition(SUBTITLE_SEPARATOR)[0].replace(" ", "")
            if SUBTITLE_SEPARATOR in title
            else slug
        )
        if slug not in STOP_TITLES and main not in _NOTICE_PREFIXES:
            keys.append("title:" + slug[:TITLE_KEY_CHARS])
            keys.append("title-end:" + slug[-TITLE_KEY_CHARS:])
    if member.volume and member.first_page:
        keys.extend(f"locator:{issn}|{member.volume}|{member.first_page}" for issn in member.issns)
    keys.extend("id:" + identifier for identifier in member.secondary_ids)
    return keys


def _candidate_pairs(
    members: Sequence[MemberKeys], sets: _Sets
) -> tuple[set[tuple[int, int]], int]:
    """Pairs to verify: in one block, years at most YEAR_WINDOW apart, at least one record left
    alone by the identifier stages, not already one work. And the count of oversized blocks.

    Blocks are numpy arrays of (key hash, year, record): 16 bytes an entry where tuples of key
    strings took ~130, for the ~3 keys of each of a million records. Python's string hash is
    the same for the whole run, and the pairs do not depend on the order of hashes; two keys
    sharing a 64-bit hash would only share a block, whose pairs are verified all the same."""
    hashes, years, owners, lonely = array("q"), array("q"), array("q"), array("b")
    for index, member in enumerate(members):
        if not member.title:
            continue
        alone = sets.alone(index)
        year = member.pub_year if member.pub_year is not None else -1
        for key in _block_keys(member):
            hashes.append(hash(key))
            years.append(year)
            owners.append(index)
            lonely.append(alone)
    key_hash = np.frombuffer(hashes, dtype=np.int64)
    # Only blocks where some record was left alone can give a pair.
    wanted = np.isin(key_hash, np.unique(key_hash[np.frombuffer(lonely, dtype=np.int8) == 1]))
    key_hash = key_hash[wanted]
    year_of = np.frombuffer(years, dtype=np.int64)[wanted]
    owner = np.frombuffer(owners, dtype=np.int64)[wanted]
    order = np.lexsort((owner, year_of, key_hash))
    key_hash, year_of, owner = key_hash[order], year_of[order], owner[order]
    starts = np.flatnonzero(np.r_[True, key_hash[1:] != key_hash[:-1]])
    ends = np.r_[starts[1:], len(key_hash)]
    pairs: set[tuple[int, int]] = set()
    oversized = 0
    shared = ends - starts > 1
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist(), strict=True):
        by_year: dict[int, list[int]] = defaultdict(list)
        for year, index in zip(year_of[start:end].tolist(), owner[start:end].tolist(), strict=True):
            by_year[year].append(index)
        for year, indexes in by_year.items():
            # A record without a year meets only others without one (no window to place it).
            following = by_year.get(year + YEAR_WINDOW, []) if year >= 0 else []
            window = indexes + following
            if len(window) > BLOCK_CAP:
                oversized += 1
                continue
            for n, a in enumerate(indexes):
                for b in window[n + 1 :]:
                    if (sets.alone(a) or sets.alone(b)) and sets.find(a) != sets.find(b):
                        pairs.add((min(a, b), max(a, b)))
    return pairs, oversized


def fuzzy_guard(a: MemberKeys, b: MemberKeys) -> str | None:
    """Why two records may not be one work by the fuzzy stage, whatever the evidence, or None."""
    if a.pub_year is not None and b.pub_year is not None and abs(a.pub_year - b.pub_year) > 1:
        return "years more than 1 apart"
    if a.pmid and b.pmid and a.pmid != b.pmid:
        return "different PMIDs"
    if not (a.kind == b.kind or "other" in (a.kind, b.kind)) or "component" in (a.kind, b.kind):
        return "different kinds"
    if a.notice != b.notice:
        return "a notice or comment and another record"
    if a.doi and b.doi and a.doi != b.doi and set(a.issns) & set(b.issns):
        return "same ISSN, different DOIs"
    if (
        a.page_count is not None
        and b.page_count is not None
        and abs(a.page_count - b.page_count) > PAGE_COUNT_TOLERANCE
    ):
        return "page counts differ"
    if a.title and b.title:
        if number_tokens(a.title) != number_tokens(b.title):
            return "titles differ in their numbers"
        main_a, _s, sub_a = a.title.partition(SUBTITLE_SEPARATOR)
        main_b, _s, sub_b = b.title.partition(SUBTITLE_SEPARATOR)
        if sub_a and sub_b and main_a == main_b and fuzz.ratio(sub_a, sub_b) < SIMILAR_TITLE * 100:
            return "titles differ in their subtitles"
    return None


def fuzzy_evidence(a: MemberKeys, b: MemberKeys) -> tuple[str, float] | None:
    """The rule by which two records are one work, and the title similarity (0-1), or None.
    Guards are not checked here (`fuzzy_guard`)."""
    if not (a.title and b.title):
        return None
    if title_slug(a.title) == title_slug(b.title):
        similarity = 1.0
    else:
        similarity = fuzz.ratio(a.title, b.title, score_cutoff=SIMILAR_TITLE * 100) / 100
    if similarity < SIMILAR_TITLE:
        return None
    if set(a.secondary_ids) & set(b.secondary_ids):
        return "fuzzy:id+title", similarity
    if (
        a.volume
        and a.first_page
        and (a.volume, a.first_page) == (b.volume, b.first_page)
        and set(a.issns) & set(b.issns)
    ):
        return "fuzzy:locator+title", similarity
    if (
        similarity >= SAME_TITLE
        and not generic_title(a.title)
        and set(a.surnames) & set(b.surnames)
    ):
        return "fuzzy:title+author", similarity
    return None


def _join_fuzzy(
    members: Sequence[MemberKeys],
    sets: _Sets,
    reasons: dict[int, tuple[str, float]],
    conflicted: set[int],
) -> int:
    """Verify the candidate pairs and join them, the most similar first (ties by key), each
    within the set-level guards; the count of oversized blocks."""
    pairs, oversized = _candidate_pairs(members, sets)
    matches = []
    for a, b in pairs:
        if a in conflicted or b in conflicted or fuzzy_guard(members[a], members[b]) is not None:
            continue
        evidence = fuzzy_evidence(members[a], members[b])
        if evidence is not None:
            rule, score = evidence
            matches.append((-score, members[a].key, members[b].key, a, b, rule))
    matches.sort()
    for negative_score, _ka, _kb, a, b, rule in matches:
        if sets.find(a) == sets.find(b) or not (sets.alone(a) or sets.alone(b)):
            continue
        if sets.why_not(a, b) is not None or _sets_clash(members, sets, a, b):
            continue
        sets.union(a, b)
        for i in (a, b):
            reasons.setdefault(i, (rule, -negative_score))
    return oversized


def _sets_clash(members: Sequence[MemberKeys], sets: _Sets, a: int, b: int) -> bool:
    """Whether joining the sets of `a` and `b` would put two DOIs of one ISSN in one work."""
    for i in sets.group(sets.find(a)):
        for j in sets.group(sets.find(b)):
            x, y = members[i], members[j]
            if x.doi and y.doi and x.doi != y.doi and set(x.issns) & set(y.issns):
                return True
    return False


# --- results ---------------------------------------------------------------------------------


def _assign(
    members: Sequence[MemberKeys],
    sets: _Sets,
    result: Clustering,
    reasons: dict[int, tuple[str, float]],
) -> None:
    for index, member in enumerate(members):
        if sets.alone(index):
            key = member.key
            result.work_of[key] = work_id_of([key])
            result.matched_on[key] = "alone"
            result.score[key] = 1.0
    for _root, indexes in sorted(sets.groups.items()):
        group = [members[i] for i in indexes]
        work_id = work_id_of(m.key for m in group)
        shared = _shared_keys(group)
        for i, member in zip(indexes, group, strict=True):
            key = member.key
            reason, score = (shared[key], 1.0) if key in shared else reasons.get(i, ("alone", 1.0))
            result.work_of[key] = work_id
            result.matched_on[key] = reason
            result.score[key] = score


def _shared_keys(group: list[MemberKeys]) -> dict[tuple[str, str], str]:
    """For each record of a work, the identifiers it shares with another member
    ("doi,pmid"): why it is in the work."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for member in group:
        for scheme in _SHARED_ORDER:
            if value := getattr(member, scheme):
                counts[(scheme, value)] += 1
    shared = {}
    for member in group:
        names = [
            scheme
            for scheme in _SHARED_ORDER
            if (value := getattr(member, scheme)) and counts[(scheme, value)] > 1
        ]
        if names:
            shared[member.key] = ",".join(names)
    return shared


def work_id_of(keys: Iterable[tuple[str, str]]) -> str:
    """A work's id, from its smallest member key: stable while that record stays a member,
    and the same on every rebuild."""
    source, source_id = min(keys)
    digest = hashlib.blake2b(f"{source}\x1f{source_id}".encode(), digest_size=8).hexdigest()
    return f"W{digest}"


def match_keys(member: MemberKeys) -> list[str]:
    """The keys through which `cluster` may join `member` to another record ("doi:…",
    "pmid:…", "oai:…", a fuzzy block "title:…", "locator:…"): two records `cluster` can put in
    one work are linked by a chain of records that share keys, so `warehouse.works.update_works`
    recomputes only the records connected by keys to a changed one. A preprint link gives its
    target's key ("pmid:<published>"), which the published record carries itself."""
    keys = []
    for scheme in _HARD_SCHEMES:
        if value := _hard_value(member, scheme):
            keys.append(f"{scheme}:{value}")
    keys.extend(f"{scheme}:{target}" for _relation, scheme, target in member.links)
    keys.extend(_block_keys(member))
    return keys
