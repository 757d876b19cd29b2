"""Which source records are one work: hard identifiers (DOI, PMID, PMCID) joined by union-find,
with the guards that keep a shared identifier from merging what is not one work. Pure: keys
in, assignments and conflicts out, the same for the same input whatever its order.

Guards, each recorded as a conflict instead of a merge:
- two PMIDs never meet in one work (PubMed gives each article one; a DOI carried by two PMIDs
  is a publisher's or NLM's error, or an erratum that reused its article's DOI);
- two records of incompatible kinds never meet (an article and its dataset, a book and its
  chapter, an issue and its articles). A notice (erratum, retraction, expression of concern)
  may meet an article: Crossref types the notice itself "journal-article", so the same DOI
  from PubMed's "Published Erratum" and Crossref is one notice; an erratum never meets the
  article it corrects, which has its own PMID and DOI;
- a component's DOI (a figure, a table, a supplement: Crossref type `component`) joins nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

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


@dataclass(frozen=True, slots=True)
class MemberKeys:
    """What matching reads of one current source record."""

    source: str
    source_id: str
    doi: str | None
    pmid: str | None
    pmcid: str | None
    kind: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.source_id)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A shared identifier that was not allowed to merge its records, and why."""

    scheme: str  # doi, pmid, pmcid
    value: str
    members: tuple[tuple[str, str], ...]
    reason: str


@dataclass(slots=True)
class Clustering:
    """Each record's work id and why it is in it; the conflicts met on the way."""

    work_of: dict[tuple[str, str], str] = field(default_factory=dict)
    matched_on: dict[tuple[str, str], str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


class _Sets:
    """Union-find over record indexes, each set knowing its PMIDs and kinds."""

    def __init__(self, members: Sequence[MemberKeys]) -> None:
        self.parent = list(range(len(members)))
        self.pmids = [{m.pmid} if m.pmid else set() for m in members]
        self.kinds = [{m.kind} - {"other"} for m in members]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def why_not(self, a: int, b: int) -> str | None:
        """Why the sets of `a` and `b` may not be one work, or None."""
        ra, rb = self.find(a), self.find(b)
        pmids = self.pmids[ra] | self.pmids[rb]
        if len(pmids) > 1:
            return "different PMIDs: " + ", ".join(sorted(pmids, key=int))
        clashes = sorted(
            {f"{x}, {y}" for x in self.kinds[ra] for y in self.kinds[rb] if not compatible(x, y)}
        )
        if clashes:
            return "incompatible kinds: " + "; ".join(clashes)
        return None

    def union(self, a: int, b: int) -> None:
        ra, rb = sorted((self.find(a), self.find(b)))
        if ra != rb:
            self.parent[rb] = ra
            self.pmids[ra] |= self.pmids[rb]
            self.kinds[ra] |= self.kinds[rb]


def cluster(records: Iterable[MemberKeys]) -> Clustering:
    """Group records that share a DOI, PMID or PMCID into works, within the guards."""
    members = sorted(records, key=lambda m: m.key)  # any input order gives the same result
    sets = _Sets(members)
    result = Clustering()
    by_value: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, member in enumerate(members):
        for scheme in ("pmid", "pmcid", "doi"):  # strongest first
            value = getattr(member, scheme)
            if value and not (scheme == "doi" and member.kind == "component"):
                by_value[(scheme, value)].append(index)
    for scheme in ("pmid", "pmcid", "doi"):
        for (named, value), indexes in sorted(by_value.items()):
            if named != scheme or len(indexes) < 2:
                continue
            refused = _join(sets, indexes)
            if refused:
                keys = tuple(members[i].key for i in indexes)
                result.conflicts.append(Conflict(scheme, value, keys, refused))
    groups: dict[int, list[int]] = defaultdict(list)
    for index in range(len(members)):
        groups[sets.find(index)].append(index)
    for indexes in groups.values():
        work_id = work_id_of(members[i].key for i in indexes)
        shared = _shared_keys([members[i] for i in indexes])
        for i in indexes:
            result.work_of[members[i].key] = work_id
            result.matched_on[members[i].key] = shared.get(members[i].key, "alone")
    return result


def _join(sets: _Sets, indexes: list[int]) -> str | None:
    """Join the records of one identifier value, each to the first it may join; the reason
    of the first refusal, or None."""
    refused = None
    first = indexes[0]
    for other in indexes[1:]:
        reason = sets.why_not(first, other)
        if reason is None:
            sets.union(first, other)
        elif refused is None:
            refused = reason
    return refused


def _shared_keys(group: list[MemberKeys]) -> dict[tuple[str, str], str]:
    """For each record of a work, the identifiers it shares with another member
    ("doi,pmid"): why it is in the work."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for member in group:
        for scheme in ("doi", "pmid", "pmcid"):
            if value := getattr(member, scheme):
                counts[(scheme, value)] += 1
    shared = {}
    for member in group:
        names = [
            scheme
            for scheme in ("doi", "pmid", "pmcid")
            if (value := getattr(member, scheme)) and counts[(scheme, value)] > 1
        ]
        if names and len(group) > 1:
            shared[member.key] = ",".join(names)
    return shared


# What matching reads of each current source record: the one place that says so, for the full
# build and for the incremental update (`where` narrows to the records to recompute).
MEMBER_COLUMNS = "source, source_id, doi, pmid, pmcid, list_concat(publication_types, output_type)"


def member_from_row(row: tuple[Any, ...]) -> MemberKeys:
    """The `MemberKeys` of one row of `MEMBER_COLUMNS`."""
    return MemberKeys(row[0], row[1], row[2], row[3], row[4], kind_of(row[5] or []))


def read_members(
    con: duckdb.DuckDBPyConnection,
    where: str = "true",
    parameters: list[Any] | None = None,
) -> list[MemberKeys]:
    """The `MemberKeys` of the current (not deleted) source records that `where` selects."""
    rows = con.execute(
        f"SELECT {MEMBER_COLUMNS} FROM source_records WHERE NOT deleted AND ({where})",
        parameters or [],
    ).fetchall()
    return [member_from_row(row) for row in rows]


def work_id_of(keys: Iterable[tuple[str, str]]) -> str:
    """A work's id, from its smallest member key: stable while that record stays a member,
    and the same on every rebuild."""
    source, source_id = min(keys)
    digest = hashlib.blake2b(f"{source}\x1f{source_id}".encode(), digest_size=8).hexdigest()
    return f"W{digest}"
