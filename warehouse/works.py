"""Canonical works: one row per real-world work, merged from the current source records that
`warehouse.matching` puts together, each field taken from the member the survivorship rules
below prefer, and saying which member that was.

`build_works` recomputes the membership from every current record (quarantined and deleted
records are not in `source_records`' current rows, so never in a work) and replaces
`work_members` and `work_conflicts` in one transaction: a rebuild of the same records writes
the same rows. The `works` view reads them with `records`, so it is as current as the last
build.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from schemas.identifiers import normalise_doi, normalise_pmcid, normalise_pmid
from warehouse.connection import transaction
from warehouse.matching import cluster, read_members

WORK_TABLES = [
    """CREATE TABLE IF NOT EXISTS work_members (
        work_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        matched_on VARCHAR NOT NULL,      -- doi, pmid, pmcid (comma-joined) or alone
        kind VARCHAR NOT NULL)            -- article, book, chapter, dataset, erratum, …""",
    """CREATE TABLE IF NOT EXISTS work_conflicts (
        scheme VARCHAR NOT NULL,          -- the identifier that was not allowed to merge
        value VARCHAR NOT NULL,
        members VARCHAR[] NOT NULL,       -- source:source_id of the records that carry it
        reason VARCHAR NOT NULL)""",
]

# Survivorship, in one place: for each field of a work, the order in which members' sources
# are preferred (the first member with a value gives it). Why: Crossref is the registry of
# DOIs and of the publisher's bibliographic data; PubMed's abstract and MeSH are curated;
# a Pure portal knows the institution's output type, peer review and Scopus classification.
BIBLIOGRAPHIC = ("crossref", "pubmed", "oai")
CURATED = ("pubmed", "crossref", "oai")
INSTITUTIONAL = ("oai", "pubmed", "crossref")
SURVIVORSHIP: dict[str, tuple[str, ...]] = {
    "doi": BIBLIOGRAPHIC,
    "pmid": CURATED,
    "pmcid": CURATED,
    "title": CURATED,
    "abstract": CURATED,
    "language": CURATED,
    "journal": BIBLIOGRAPHIC,
    "issn": BIBLIOGRAPHIC,
    "volume": BIBLIOGRAPHIC,
    "issue": BIBLIOGRAPHIC,
    "pages": BIBLIOGRAPHIC,
    "publisher": BIBLIOGRAPHIC,
    "publication_types": CURATED,
    "output_type": INSTITUTIONAL,
    "peer_reviewed": INSTITUTIONAL,
    "publication_state": INSTITUTIONAL,
    "license": BIBLIOGRAPHIC,
}
# Not by source: the earliest publication date of any member, the authors of the member that
# knows most about them (ORCIDs and affiliations count more than names), subjects of all.


_MEMBER = "m.source || ':' || m.source_id"


def _rank(order: tuple[str, ...]) -> str:
    """An ordering key: the member's source by `order`, ties broken by the member's key (so
    two records of one source give the same choice on every build)."""
    cases = " ".join(f"WHEN '{source}' THEN {n}" for n, source in enumerate(order))
    return f"{{'rank': CASE m.source {cases} ELSE {len(order)} END, 'member': {_MEMBER}}}"


def works_view_sql() -> str:
    """The `works` view, generated from `SURVIVORSHIP`."""
    chosen = []
    for column, order in SURVIVORSHIP.items():
        present = f"m.{column} IS NOT NULL" + (
            f" AND len(m.{column}) > 0" if column in ("publication_types", "output_type") else ""
        )
        chosen.append(f"arg_min(m.{column}, {_rank(order)}) FILTER (WHERE {present}) AS {column}")
        chosen.append(
            f"arg_min({_MEMBER}, {_rank(order)}) FILTER (WHERE {present}) AS {column}_from"
        )
    richness = (
        "{'score': len(m.authors) + 10 * len(list_filter(m.authors, lambda a: a.orcid IS NOT "
        "NULL)) + 10 * len(list_filter(m.authors, lambda a: len(a.affiliations) > 0)), "
        f"'member': {_MEMBER}}}"
    )
    earliest = f"{{'date': m.pub_date, 'member': {_MEMBER}}}"
    fields = ",\n    ".join(chosen)
    return f"""
CREATE OR REPLACE VIEW works AS
SELECT
    w.work_id,
    count(*) AS member_count,
    list(DISTINCT m.source ORDER BY m.source) AS sources,
    list({_MEMBER} ORDER BY m.source, m.source_id) AS members,
    min(m.pub_date) AS pub_date,
    min(m.pub_year) AS pub_year,
    arg_min({_MEMBER}, {earliest}) FILTER (WHERE m.pub_date IS NOT NULL) AS pub_date_from,
    arg_max(m.authors, {richness}) AS authors,
    arg_max({_MEMBER}, {richness}) AS authors_from,
    list_distinct(flatten(list(m.subjects))) AS subjects,
    {fields}
FROM work_members w JOIN records m USING (source, source_id)
GROUP BY w.work_id
"""


@dataclass(slots=True)
class WorksBuilt:
    """What a build found."""

    records: int
    works: int
    merged: int  # works with more than one member
    conflicts: int
    seconds: float


def build_works(con: duckdb.DuckDBPyConnection) -> WorksBuilt:
    """Recompute every work from the current records and store membership and conflicts."""
    started = time.perf_counter()
    members = read_members(con)
    clustering = cluster(members)
    table = pa.table(
        {
            "work_id": [clustering.work_of[m.key] for m in members],
            "source": [m.source for m in members],
            "source_id": [m.source_id for m in members],
            "matched_on": [clustering.matched_on[m.key] for m in members],
            "kind": [m.kind for m in members],
        },
        schema=pa.schema(
            [
                (name, pa.string())
                for name in ("work_id", "source", "source_id", "matched_on", "kind")
            ]
        ),
    )
    conflicts = pa.table(
        {
            "scheme": [c.scheme for c in clustering.conflicts],
            "value": [c.value for c in clustering.conflicts],
            "members": [[f"{s}:{i}" for s, i in c.members] for c in clustering.conflicts],
            "reason": [c.reason for c in clustering.conflicts],
        },
        schema=pa.schema(
            [
                ("scheme", pa.string()),
                ("value", pa.string()),
                ("members", pa.list_(pa.string())),
                ("reason", pa.string()),
            ]
        ),
    )
    with transaction(con):
        con.register("_members", table)
        con.register("_conflicts", conflicts)
        try:
            con.execute("DELETE FROM work_members")
            con.execute("INSERT INTO work_members SELECT * FROM _members ORDER BY work_id, source")
            con.execute("DELETE FROM work_conflicts")
            con.execute("INSERT INTO work_conflicts SELECT * FROM _conflicts")
        finally:
            con.unregister("_members")
            con.unregister("_conflicts")
    sizes = Counter(clustering.work_of.values())
    return WorksBuilt(
        records=len(members),
        works=len(sizes),
        merged=sum(1 for n in sizes.values() if n > 1),
        conflicts=len(clustering.conflicts),
        seconds=round(time.perf_counter() - started, 3),
    )


def find_work(con: duckdb.DuckDBPyConnection, ref: str) -> str | None:
    """The work id `ref` names: a work id, a DOI (any form `normalise_doi` reads), a PMID or
    a PMCID of one of its members; None when no current record has it."""
    ref = ref.strip()
    doi, pmid, pmcid = normalise_doi(ref), normalise_pmid(ref), normalise_pmcid(ref)
    row = con.execute(
        "SELECT w.work_id FROM work_members w JOIN records r USING (source, source_id) "
        "WHERE w.work_id = ? OR r.doi = ? OR r.pmid = ? OR (? AND r.pmcid = ?) "
        "ORDER BY w.work_id LIMIT 1",
        [ref, doi, pmid, pmcid is not None and not ref.isdigit(), pmcid],
    ).fetchone()
    return None if row is None else str(row[0])


def work_details(con: duckdb.DuckDBPyConnection, work_id: str) -> dict[str, Any]:
    """The merged row of a work (each chosen field with the member it came from) and its
    members, with why each is in it."""
    cursor = con.execute("SELECT * FROM works WHERE work_id = ?", [work_id])
    names = [d[0] for d in cursor.description or []]
    values = cursor.fetchone()
    merged = dict(zip(names, values or (), strict=False))
    members = con.execute(
        "SELECT w.source, w.source_id, w.matched_on, w.kind, r.title FROM work_members w "
        "JOIN records r USING (source, source_id) WHERE w.work_id = ? "
        "ORDER BY w.source, w.source_id",
        [work_id],
    ).fetchall()
    conflicts = con.execute(
        "SELECT scheme, value, members, reason FROM work_conflicts c WHERE EXISTS ("
        "SELECT 1 FROM work_members w WHERE w.work_id = ? "
        "AND list_contains(c.members, w.source || ':' || w.source_id))",
        [work_id],
    ).fetchall()
    return {"work": merged, "members": members, "conflicts": conflicts}
