"""Canonical works: one row per real-world work, merged from the current source records that
`warehouse.matching` puts together, each field taken from the member the survivorship rules
below prefer, and saying which member that was.

Two ways to bring the works up to date, with the same result (tests/test_works_incremental.py):
- `build_works` recomputes the membership from every current record (quarantined and deleted
  records are not in `source_records`' current rows, so never in a work);
- `update_works` recomputes only the works a load touched: matching joins records only through
  shared match keys (`matching.match_keys`), so a work lies inside one connected component of
  the graph "records sharing a key", and recomputing the whole components that hold the changed
  records, before and after the change, gives what a full build gives. `work_keys` stores each
  member's keys and `work_components` its component, so that those are found in SQL.
Both replace the rows they recompute in one transaction, and record every work id that
disappears (merged, split, renamed because its smallest member changed, emptied) in
`work_redirects` and `work_merge_log`, so an id an analyst saved still finds its work
(`find_work`). The `works` view reads `work_members` with `records`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from schemas.identifiers import normalise_doi, normalise_pmcid, normalise_pmid
from warehouse import matching
from warehouse.connection import now, transaction
from warehouse.matching import Clustering, MemberKeys, cluster, match_keys, read_members

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
    # The match keys of each current member (`matching.match_keys`): what `update_works`
    # follows to find the records a change may regroup, without reading every record.
    """CREATE TABLE IF NOT EXISTS work_keys (
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        key VARCHAR NOT NULL)             -- doi:10.1/x, pmid:123, …""",
    # The connected component of "records sharing a match key" each current member is in,
    # named by its smallest member: an update recomputes the components a change touches.
    """CREATE TABLE IF NOT EXISTS work_components (
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        component VARCHAR NOT NULL)       -- source:source_id of its smallest record""",
    # One row per work id that no longer exists: where its members went (NULL: it was emptied,
    # every member deleted). A chain A → B → C ends at the live work C (`find_work`).
    """CREATE TABLE IF NOT EXISTS work_redirects (
        work_id VARCHAR NOT NULL,
        merged_into VARCHAR,
        redirected_at TIMESTAMPTZ NOT NULL,
        reason VARCHAR NOT NULL)          -- merged, split, renamed, emptied""",
    # Every change of a work's identity: created (a work of records that were in none),
    # merged (into `related`), split (into `related`), renamed (its smallest member left or a
    # smaller record joined: the same work is now `related`), emptied. `members`: the work's
    # members before the change (after it, for created), as source:source_id.
    """CREATE TABLE IF NOT EXISTS work_merge_log (
        logged_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR,
        work_id VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        related VARCHAR[] NOT NULL,
        members VARCHAR[] NOT NULL)""",
    # Each build or update: `rules` fingerprints the matching code a full build used (an
    # update on works built by other rules would mix two decisions); `through` is the last
    # record change (record_versions.changed_at) the works include.
    """CREATE TABLE IF NOT EXISTS work_builds (
        built_at TIMESTAMPTZ NOT NULL,
        mode VARCHAR NOT NULL,            -- full, incremental
        rules VARCHAR NOT NULL,
        run_id VARCHAR,
        through TIMESTAMPTZ,
        records BIGINT NOT NULL,
        works BIGINT NOT NULL,
        seconds DOUBLE NOT NULL)""",
]
# Bumped when the work tables change in a way only a full build fills.
WORKS_FORMAT = "3"

# Survivorship, in one place: for each field of a work, the order in which members' sources
# are preferred (the first member with a value gives it). Why: Crossref is the registry of
# DOIs and of the publisher's bibliographic data; PubMed's abstract and MeSH are curated;
# a Pure portal knows the institution's output type, peer review and Scopus classification.
# JATS is the publisher's full article (after Crossref's registry, before repositories);
# a Pure portal's pages say what its OAI-PMH records say; a landing page's meta tags come last
# (what a publisher chose to expose, often cut).
BIBLIOGRAPHIC = ("crossref", "pubmed", "jats", "oai", "pure", "landing")
CURATED = ("pubmed", "crossref", "jats", "oai", "pure", "landing")
INSTITUTIONAL = ("oai", "pure", "pubmed", "crossref", "jats", "landing")
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
    """What a build or an update did. For an update (`mode` "incremental"), `records`,
    `works`, `merged` and `conflicts` count the part it recomputed: the records connected by
    match keys to the changed ones, and their works."""

    records: int
    works: int
    merged: int  # works with more than one member
    conflicts: int
    seconds: float
    mode: str = "full"  # full, incremental
    changed: int = 0  # the changed, new or deleted records an update started from
    full_reason: str | None = None  # why an update was asked for but a full build was done


def rules_fingerprint() -> str:
    """The matching rules in force: a digest of `warehouse.matching`'s code and of the work
    tables' format. Works built under other rules are built again whole before any update, as
    an update on them would mix two sets of decisions."""
    digest = hashlib.blake2b(WORKS_FORMAT.encode(), digest_size=8)
    digest.update(Path(matching.__file__).read_bytes())
    return digest.hexdigest()


def full_build_reason(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the works cannot be updated as they stand and need a full build, or None."""
    row = con.execute(
        "SELECT rules FROM work_builds WHERE mode = 'full' ORDER BY built_at DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return "the works were never built with their match keys"
    if row[0] != rules_fingerprint():
        return "the matching rules changed since the works were last built"
    return None


def build_works(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None) -> WorksBuilt:
    """Recompute every work from the current records and store membership, match keys and
    conflicts; the work ids that disappear get a redirect and a line in the merge log."""
    started = time.perf_counter()
    with transaction(con):
        through = _last_change(con)
        members = read_members(con)
        clustering = cluster(members)
        built = _summary(members, clustering, started, mode="full")
        new_rows = _new_rows(members, clustering)
        # What stays of the clustering is in `new_rows`; the members go once their keys are
        # written: each is hundreds of MB at a million records, and with them alive the build
        # peaked at 2.3 GB RSS (measured).
        del clustering
        _write_keys_and_components(con, members, None, whole=True)
        del members
        _replace(con, *new_rows, whole=True, run_id=run_id)
        built.seconds = round(time.perf_counter() - started, 3)
        _record_build(con, built, run_id, through)
    return built


def update_works(
    con: duckdb.DuckDBPyConnection,
    changed: Iterable[tuple[str, str]] | None = None,
    *,
    run_id: str | Sequence[str] | None = None,
) -> WorksBuilt:
    """Recompute only the works touched by changed, new or deleted source records: the result
    is the one `build_works` gives, in a fraction of its time.

    `changed` names the records, as (source, source_id); when it is None they are read from
    `record_versions`: those of the run(s) `run_id`, and any change since the works were last
    brought up to date (so a load whose update failed is caught up by the next). The part to
    recompute is, in SQL, the changed records and every record of the stored components
    (`work_components`) of the changed records and of the records sharing a key with their
    new versions (`work_keys`). Matching joins records only through shared keys, so a work
    lies within a component; the part is a union of whole components of the graph "records
    sharing a key" after the change (and of those before it), so clustering it alone gives
    what clustering everything gives. Its rows are replaced in one transaction.

    When the works cannot be updated (never built with match keys, or built under other
    matching rules: `full_build_reason`), this is `build_works`, and `full_reason` says why.
    """
    runs = [run_id] if isinstance(run_id, str) else list(run_id or [])
    reason = full_build_reason(con)
    if reason is not None:
        built = build_works(con, run_id=",".join(runs) or None)
        built.full_reason = reason
        return built
    started = time.perf_counter()
    with transaction(con):
        through = _last_through(con)
        if changed is None:
            latest = _last_change(con)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _changed AS SELECT DISTINCT source, source_id "
                "FROM record_versions WHERE list_contains(?, run_id) OR ? IS NULL "
                "OR changed_at > ?",
                [runs, through, through],
            )
            through = latest
        else:
            keys = sorted(set(changed))
            given = pa.table(
                {"source": [k[0] for k in keys], "source_id": [k[1] for k in keys]},
                schema=pa.schema([("source", pa.string()), ("source_id", pa.string())]),
            )
            con.register("_given", given)
            try:
                con.execute("CREATE OR REPLACE TEMP TABLE _changed AS SELECT * FROM _given")
            finally:
                con.unregister("_given")
        # The temp tables go with the transaction: dropped here when it commits, discarded
        # by its rollback when it fails (a DROP in a `finally` ran in the aborted transaction
        # and hid the real error, an out-of-memory, behind "transaction is aborted").
        (count,) = con.execute("SELECT count(*) FROM _changed").fetchone() or (0,)
        changed_members = read_members(con, _IN_TABLE.format(table="_changed"))
        keys_of: dict[tuple[str, str], list[str]] = {}
        con.register("_changed_keys", _keys_table(changed_members, keys_of))
        try:
            _select_affected(con)
        finally:
            con.unregister("_changed_keys")
        # Reading members is most of an update's time: the changed ones are read once.
        members = changed_members + read_members(
            con,
            "(source, source_id) IN (SELECT source, source_id FROM _affected "
            "EXCEPT SELECT source, source_id FROM _changed)",
        )
        clustering = cluster(members)
        built = _summary(members, clustering, started, mode="incremental", changed=count)
        new_rows = _new_rows(members, clustering)
        del clustering
        _write_keys_and_components(con, members, keys_of, whole=False)
        del members, changed_members, keys_of
        _replace(con, *new_rows, whole=False, run_id=",".join(runs) or None)
        built.seconds = round(time.perf_counter() - started, 3)
        _record_build(con, built, ",".join(runs) or None, through)
        for table in ("_changed", "_touched", "_affected"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return built


# Rows of `source_records` (or a work table) whose record is in a temp table of keys.
_IN_TABLE = "(source, source_id) IN (SELECT source, source_id FROM {table})"


def _select_affected(con: duckdb.DuckDBPyConnection) -> None:
    """`_affected`: the changed records and every record of the components they were in or
    that their new keys (`_changed_keys`) reach."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _touched AS "
        f"SELECT component FROM work_components WHERE {_IN_TABLE.format(table='_changed')} "
        "UNION SELECT component FROM work_components WHERE (source, source_id) IN ("
        "SELECT source, source_id FROM work_keys WHERE key IN (SELECT key FROM _changed_keys))"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _affected AS SELECT source, source_id FROM _changed "
        "UNION SELECT source, source_id FROM work_components "
        "WHERE component IN (SELECT component FROM _touched)"
    )


def _keys_table(
    members: Iterable[MemberKeys], keys_of: dict[tuple[str, str], list[str]]
) -> pa.Table:
    """The `work_keys` rows of `members`; `keys_of` keeps each member's keys, computed once."""
    sources: list[str] = []
    ids: list[str] = []
    keys: list[str] = []
    for member in members:
        if member.key not in keys_of:
            keys_of[member.key] = _member_keys(member)
        for key in keys_of[member.key]:
            sources.append(member.source)
            ids.append(member.source_id)
            keys.append(key)
    return pa.table({"source": sources, "source_id": ids, "key": keys}, schema=_KEYS_SCHEMA)


def _member_keys(
    member: MemberKeys, keys_of: dict[tuple[str, str], list[str]] | None = None
) -> list[str]:
    """A member's `work_keys` keys: from `keys_of` when computed already, else computed."""
    known = keys_of.get(member.key) if keys_of else None
    return known if known is not None else sorted(set(match_keys(member)))


# Rows per Arrow batch written to the work tables. Written whole, a million members' keys
# (~5 each) took ~1.1 GB as Python lists, a dict of key lists and an Arrow table, beside the
# members and their clustering: the build's peak of ~3.1 GB RSS (measured at 1M records).
_BATCH = 100_000
_MEMBERS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("work_id", "source", "source_id", "matched_on", "kind")]
)
_KEYS_SCHEMA = pa.schema([(name, pa.string()) for name in ("source", "source_id", "key")])
_COMPONENTS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("source", "source_id", "component")]
)


def _insert_batches(
    con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema, batches: Iterable[pa.Table]
) -> None:
    """Insert `batches` into `table` in one statement, made as DuckDB reads them. One INSERT a
    batch grew RSS by ~800 MB for 5M keys in one transaction, beyond DuckDB's memory_limit
    (its buffers said 255 MB); one streamed INSERT by ~300 MB (measured)."""
    stream = (part for batch in batches for part in batch.to_batches())
    reader = pa.RecordBatchReader.from_batches(schema, stream)
    con.register("_batches", reader)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _batches")
    finally:
        con.unregister("_batches")


def _new_rows(members: Sequence[MemberKeys], clustering: Clustering) -> tuple[pa.Table, pa.Table]:
    """The new `work_members` rows (Python lists of one batch at a time) and `work_conflicts`
    rows of `members`' clustering."""
    batches = []
    for start in range(0, len(members), _BATCH):
        part = members[start : start + _BATCH]
        batches.append(
            pa.table(
                {
                    "work_id": [clustering.work_of[m.key] for m in part],
                    "source": [m.source for m in part],
                    "source_id": [m.source_id for m in part],
                    "matched_on": [clustering.matched_on[m.key] for m in part],
                    "kind": [m.kind for m in part],
                },
                schema=_MEMBERS_SCHEMA,
            )
        )
    table = pa.concat_tables(batches) if batches else _MEMBERS_SCHEMA.empty_table()
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
    return table, conflicts


def _write_keys_and_components(
    con: duckdb.DuckDBPyConnection,
    members: Sequence[MemberKeys],
    keys_of: dict[tuple[str, str], list[str]] | None,
    *,
    whole: bool,
) -> None:
    """Insert the `work_keys` and `work_components` rows of `members` (whole components; keys
    from `keys_of` where given), a batch at a time. Components: union-find over the records
    of each key, each named by its smallest record. What stays of every key for the
    union-find is its 64-bit hash and its record (16 bytes, not a ~75-byte string in a dict);
    the records of a shared hash compare their keys themselves, so a collision of hashes
    never joins two components."""
    # Before `_replace`, so that the members can go first: `_log_changes` reads neither table.
    if whole:
        con.execute("DELETE FROM work_keys")
        con.execute("DELETE FROM work_components")
    else:
        inside = _IN_TABLE.format(table="_affected")
        con.execute(f"DELETE FROM work_keys WHERE {inside}")
        con.execute(f"DELETE FROM work_components WHERE {inside}")
    ordered = sorted(members, key=lambda m: m.key)
    hashes, owners = array("q"), array("q")

    def key_batches() -> Iterator[pa.Table]:
        # Smaller batches than the members': ~5 keys a member.
        for start in range(0, len(ordered), _BATCH // 5):
            sources: list[str] = []
            ids: list[str] = []
            keys: list[str] = []
            for i in range(start, min(start + _BATCH // 5, len(ordered))):
                member = ordered[i]
                for key in _member_keys(member, keys_of):
                    sources.append(member.source)
                    ids.append(member.source_id)
                    keys.append(key)
                    hashes.append(hash(key))
                    owners.append(i)
            batch = pa.table(
                {"source": sources, "source_id": ids, "key": keys}, schema=_KEYS_SCHEMA
            )
            del sources, ids, keys
            yield batch
            del batch  # inserted: not kept while the next is built

    _insert_batches(con, "work_keys", _KEYS_SCHEMA, key_batches())
    parent = list(range(len(ordered)))  # by position in key order: the root is the smallest

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Owners were appended in increasing order: a stable sort by hash keeps them so.
    order = np.argsort(np.frombuffer(hashes, dtype=np.int64), kind="stable")
    key_hash = np.frombuffer(hashes, dtype=np.int64)[order]
    owner = np.frombuffer(owners, dtype=np.int64)[order]
    del order
    hashes, owners = array("q"), array("q")  # the sorted copies above are what is needed
    # Runs of equal hashes, from the positions whose hash is the next one's: only those (the
    # shared keys) join records; arrays over every run took ~300 MB more at 1M records.
    runs: list[list[int]] = []
    for j in np.flatnonzero(key_hash[1:] == key_hash[:-1]).tolist():
        if runs and runs[-1][1] == j:
            runs[-1][1] = j + 1
        else:
            runs.append([j, j + 1])
    for start, last in runs:
        value = int(key_hash[start])
        first_of_key: dict[str, int] = {}
        for i in dict.fromkeys(owner[start : last + 1].tolist()):
            for key in _member_keys(ordered[i], keys_of):
                if hash(key) == value:
                    a, b = find(i), find(first_of_key.setdefault(key, i))
                    parent[max(a, b)] = min(a, b)
    del key_hash, owner, runs

    def component_batches() -> Iterator[pa.Table]:
        for start in range(0, len(ordered), _BATCH):
            part = range(start, min(start + _BATCH, len(ordered)))
            roots = [ordered[find(i)] for i in part]
            yield pa.table(
                {
                    "source": [ordered[i].source for i in part],
                    "source_id": [ordered[i].source_id for i in part],
                    "component": [f"{r.source}:{r.source_id}" for r in roots],
                },
                schema=_COMPONENTS_SCHEMA,
            )

    _insert_batches(con, "work_components", _COMPONENTS_SCHEMA, component_batches())


def _replace(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    conflicts: pa.Table,
    *,
    whole: bool,
    run_id: str | None,
) -> None:
    """Replace the `work_members` and `work_conflicts` rows of the records recomputed (every
    record when `whole`, else those of `_affected`) by `table` and `conflicts` (`_new_rows`),
    after logging what became of their works. Their keys and components are written apart
    (`_write_keys_and_components`)."""
    con.register("_members", table)
    con.register("_conflicts", conflicts)
    try:
        if whole:
            _log_changes(con, "SELECT work_id, source, source_id FROM work_members", run_id)
            for name in ("work_members", "work_conflicts"):
                con.execute(f"DELETE FROM {name}")
        else:
            inside = _IN_TABLE.format(table="_affected")
            _log_changes(
                con, f"SELECT work_id, source, source_id FROM work_members WHERE {inside}", run_id
            )
            con.execute(f"DELETE FROM work_members WHERE {inside}")
            # A conflict is between records of one key, so wholly inside or outside the part.
            con.execute(
                "DELETE FROM work_conflicts WHERE list_has_any(members, "
                "(SELECT list(source || ':' || source_id) FROM _affected))"
            )
        con.execute("INSERT INTO work_members SELECT * FROM _members ORDER BY work_id, source")
        con.execute("INSERT INTO work_conflicts SELECT * FROM _conflicts")
    finally:
        for name in ("_members", "_conflicts"):
            con.unregister(name)


def _log_changes(con: duckdb.DuckDBPyConnection, old_sql: str, run_id: str | None) -> None:
    """Compare the old membership of the records recomputed (`old_sql`) with the new one
    (`_members`): log each work created, merged, split, renamed or emptied, and point each
    work id that disappears at the work that holds most of its members (none if emptied)."""
    at = now()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _moves AS "
        "SELECT source || ':' || source_id AS member, o.work_id AS old_id, n.work_id AS new_id "
        f"FROM ({old_sql}) o FULL JOIN (SELECT work_id, source, source_id FROM _members) n "
        "USING (source, source_id)"
    )
    try:
        # Works of records that were in none (all of them on a first build): in SQL, as they
        # may be millions.
        con.execute(
            "INSERT INTO work_merge_log SELECT ?, ?, new_id, 'created', [], "
            "list(member ORDER BY member) FROM _moves WHERE new_id IS NOT NULL "
            "GROUP BY new_id HAVING count(old_id) = 0",
            [at, run_id],
        )
        moved = (
            "SELECT old_id, new_id FROM _moves "
            "WHERE old_id IS NOT NULL AND old_id IS DISTINCT FROM new_id"
        )
        rows = con.execute(
            "SELECT old_id, new_id, member, old_id IN (SELECT work_id FROM _members) "
            f"FROM _moves WHERE old_id IN (SELECT old_id FROM ({moved}))"
        ).fetchall()
        sources_of = dict(
            con.execute(
                "SELECT new_id, count(DISTINCT old_id) FROM _moves "
                f"WHERE new_id IN (SELECT new_id FROM ({moved})) GROUP BY new_id"
            ).fetchall()
        )
    finally:
        con.execute("DROP TABLE IF EXISTS _moves")
    old_works: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    alive: set[str] = set()
    for old_id, new_id, member, lives in rows:
        old_works[old_id].append((member, new_id))
        if lives:
            alive.add(old_id)
    log: list[tuple[Any, ...]] = []
    redirects: list[tuple[Any, ...]] = []
    for old_id, moves in sorted(old_works.items()):
        pieces = Counter(new_id for _member, new_id in moves if new_id is not None)
        members = sorted(member for member, _new_id in moves)
        if old_id in alive:
            if len(pieces) > 1:
                log.append((at, run_id, old_id, "split", sorted(pieces), members))
            continue
        target = min(pieces, key=lambda new_id: (-pieces[new_id], new_id)) if pieces else None
        if target is None:
            action = "emptied"
        elif len(pieces) > 1:
            action = "split"
        elif sources_of.get(target, 0) > 1:
            action = "merged"
        else:
            action = "renamed"
        log.append((at, run_id, old_id, action, sorted(pieces), members))
        redirects.append((old_id, target, at, action))
    # An id that lives again (its smallest member is back) is a work, not a redirect.
    con.execute("DELETE FROM work_redirects WHERE work_id IN (SELECT work_id FROM _members)")
    # Through Arrow, never executemany: a rebuild after a change of rules can move hundreds of
    # thousands of ids, inside a transaction already holding a million new rows (executemany
    # ran out of memory at 4 GB there, measured at 1M records).
    if redirects:
        moved_ids = pa.table(
            {
                "work_id": [r[0] for r in redirects],
                "merged_into": pa.array([r[1] for r in redirects], pa.string()),
                "redirected_at": [r[2] for r in redirects],
                "reason": [r[3] for r in redirects],
            }
        )
        con.register("_redirects", moved_ids)
        try:
            con.execute(
                "DELETE FROM work_redirects WHERE work_id IN (SELECT work_id FROM _redirects)"
            )
            con.execute("INSERT INTO work_redirects SELECT * FROM _redirects")
        finally:
            con.unregister("_redirects")
    if log:
        entries = pa.table(
            {
                "logged_at": [e[0] for e in log],
                "run_id": pa.array([e[1] for e in log], pa.string()),
                "work_id": [e[2] for e in log],
                "action": [e[3] for e in log],
                "related": pa.array([e[4] for e in log], pa.list_(pa.string())),
                "members": pa.array([e[5] for e in log], pa.list_(pa.string())),
            }
        )
        con.register("_log", entries)
        try:
            con.execute("INSERT INTO work_merge_log SELECT * FROM _log")
        finally:
            con.unregister("_log")


def _summary(
    members: list[MemberKeys],
    clustering: Clustering,
    started: float,
    *,
    mode: str,
    changed: int = 0,
) -> WorksBuilt:
    sizes = Counter(clustering.work_of.values())
    return WorksBuilt(
        records=len(members),
        works=len(sizes),
        merged=sum(1 for n in sizes.values() if n > 1),
        conflicts=len(clustering.conflicts),
        seconds=round(time.perf_counter() - started, 3),
        mode=mode,
        changed=changed,
    )


def _last_change(con: duckdb.DuckDBPyConnection) -> Any:
    (latest,) = con.execute("SELECT max(changed_at) FROM record_versions").fetchone() or (None,)
    return latest


def _last_through(con: duckdb.DuckDBPyConnection) -> Any:
    row = con.execute("SELECT through FROM work_builds ORDER BY built_at DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


def _record_build(
    con: duckdb.DuckDBPyConnection, built: WorksBuilt, run_id: str | None, through: Any
) -> None:
    con.execute(
        "INSERT INTO work_builds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            now(),
            built.mode,
            rules_fingerprint(),
            run_id,
            through,
            built.records,
            built.works,
            built.seconds,
        ],
    )


def find_work(con: duckdb.DuckDBPyConnection, ref: str) -> str | None:
    """The work id `ref` names: a work id (one that no longer exists leads, through its
    redirects, to the work that holds its members now), a DOI (any form `normalise_doi`
    reads), a PMID or a PMCID of one of its members; None when nothing current has it."""
    ref = ref.strip()
    doi, pmid, pmcid = normalise_doi(ref), normalise_pmid(ref), normalise_pmcid(ref)
    row = con.execute(
        "SELECT w.work_id FROM work_members w JOIN records r USING (source, source_id) "
        "WHERE w.work_id = ? OR r.doi = ? OR r.pmid = ? OR (? AND r.pmcid = ?) "
        "ORDER BY w.work_id LIMIT 1",
        [ref, doi, pmid, pmcid is not None and not ref.isdigit(), pmcid],
    ).fetchone()
    if row is not None:
        return str(row[0])
    chain = redirect_chain(con, ref)
    return chain[-1].merged_into if chain else None


@dataclass(frozen=True, slots=True)
class Redirect:
    """A work id that no longer exists, and where its members went (None: all deleted)."""

    work_id: str
    merged_into: str | None
    reason: str  # merged, split, renamed, emptied
    redirected_at: Any


def redirect_chain(con: duckdb.DuckDBPyConnection, work_id: str) -> list[Redirect]:
    """The redirects from `work_id` to the live work (or to none, when emptied), in order;
    empty when `work_id` is not a work id that disappeared. A live id has no redirect, so a
    chain ends at the first live one; a loop (ids that took turns disappearing) ends too."""
    chain: list[Redirect] = []
    seen: set[str] = set()
    current: str | None = work_id
    while current is not None and current not in seen:
        seen.add(current)
        row = con.execute(
            "SELECT merged_into, reason, redirected_at FROM work_redirects WHERE work_id = ?",
            [current],
        ).fetchone()
        if row is None:
            break
        chain.append(Redirect(current, row[0], row[1], row[2]))
        current = row[0]
    return chain


_MOVED = {
    "merged": "merged into",
    "split": "split, most of its members going to",
    "renamed": "renamed (its id follows its first record, which changed) to",
    "emptied": "emptied (all its records deleted)",
}


def describe_redirect(con: duckdb.DuckDBPyConnection, work_id: str) -> str | None:
    """A sentence for people on where the work `work_id` went, or None if it did not move."""
    chain = redirect_chain(con, work_id.strip())
    if not chain:
        return None
    steps = "; ".join(
        f"{r.work_id} was {_MOVED[r.reason]} {r.merged_into or ''}".rstrip()
        + f" on {r.redirected_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
        for r in chain
    )
    final = chain[-1].merged_into
    return steps + (f": showing {final}" if final else "")


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
