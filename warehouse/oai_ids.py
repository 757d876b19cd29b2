"""Schema 5: an OAI-PMH record's `source_id` is its identifier and metadata format
(`<identifier>#<metadataPrefix>`, `connectors.oaipmh.parse`); this rewrites the ids stored
before, the identifier alone, in every table that holds them.

The format of each stored id is read from what the warehouse kept, most certain first:
1. the harvest run that wrote its current row (or its latest version, or its quarantine row):
   `runs.parameters` of an `oai-harvest` run say its metadataPrefix;
2. else (imported files, reparsed rows) the namespace of its stored payload's metadata, as the
   prefix the same repository (endpoint) was harvested with for that namespace, else the
   namespace's conventional prefix (oai_dc, datacite, oai_datacite, mods, oai_cerif_openaire);
3. else (no payload, no metadata, or an id found only where no row says more, such as a
   deletion's history row) the one prefix its repository (else the warehouse) was harvested
   with, else oai_dc (the harvest's default).
An id stood for one record whichever format last replaced it, so all its rows (history,
quarantine, works, …) move to the one new id its current row gets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import duckdb
import pyarrow as pa
from lxml import etree

from warehouse.prepare import decode_payload

__all__ = ["rewrite_oai_source_ids"]

_DEFAULT_PREFIX = "oai_dc"
_CHUNK = 5000  # payloads decoded per query

# One row per stored OAI id: the row that says most about its format (current row first,
# then the latest version, then the latest quarantine row), with its run's metadataPrefix.
_EVIDENCE_SQL = """
WITH evidence AS (
    SELECT source_id, run_id, content_hash, endpoint, 0 AS rank, loaded_at AS at
    FROM source_records WHERE source = 'oai'
    UNION ALL
    SELECT source_id, run_id, content_hash, NULL, 1, changed_at
    FROM record_versions WHERE source = 'oai' AND content_hash IS NOT NULL
    UNION ALL
    SELECT source_id, run_id, content_hash, NULL, 2, quarantined_at
    FROM quarantine WHERE source = 'oai' AND source_id IS NOT NULL
)
SELECT e.source_id, e.content_hash, e.endpoint,
       CASE WHEN r.kind = 'oai-harvest'
            THEN json_extract_string(r.parameters, '$.metadata_prefix') END AS prefix
FROM evidence e LEFT JOIN runs r USING (run_id)
QUALIFY row_number() OVER (PARTITION BY e.source_id ORDER BY e.rank, e.at DESC) = 1
"""
# The prefixes each endpoint was harvested with.
_HARVESTED_SQL = """
SELECT DISTINCT json_extract_string(parameters, '$.endpoint'),
       json_extract_string(parameters, '$.metadata_prefix')
FROM runs WHERE kind = 'oai-harvest'
"""


def _keyed_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables with `source` and `source_id` columns (records, history, quarantine,
    measurements, tombstones, work members and keys, search documents, …)."""
    rows = con.execute(
        "SELECT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' "
        "AND c.column_name IN ('source', 'source_id') "
        "GROUP BY c.table_name HAVING count(*) = 2 ORDER BY c.table_name"
    ).fetchall()
    return [name for (name,) in rows]


def _member_list_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables naming records as `source:source_id` in a `members` list (work conflicts,
    the works' merge log)."""
    rows = con.execute(
        "SELECT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' "
        "AND c.column_name = 'members' AND c.data_type = 'VARCHAR[]' ORDER BY c.table_name"
    ).fetchall()
    return [name for (name,) in rows]


def _namespaces(
    con: duckdb.DuckDBPyConnection, hashes: list[str]
) -> Iterator[tuple[str, str | None]]:
    """(content hash, namespace of its payload's metadata) of each stored payload of `hashes`."""
    from connectors.oaipmh.envelope import safe_parser
    from connectors.oaipmh.parse import metadata_namespace

    for start in range(0, len(hashes), _CHUNK):
        rows = con.execute(
            "SELECT content_hash, encoding, payload, raw_bytes FROM raw_payloads "
            "WHERE content_hash IN (SELECT unnest(?::VARCHAR[]))",
            [hashes[start : start + _CHUNK]],
        ).fetchall()
        for digest, encoding, payload, raw_bytes in rows:
            try:
                element = etree.fromstring(
                    decode_payload(encoding, payload, raw_bytes), safe_parser()
                )
            except etree.XMLSyntaxError:
                yield digest, None
                continue
            yield digest, metadata_namespace(element)


def _stored_ids(con: duckdb.DuckDBPyConnection, tables: list[str]) -> set[str]:
    """Every OAI id the `tables` hold."""
    found: set[str] = set()
    for name in tables:
        rows = con.execute(
            f'SELECT DISTINCT source_id FROM "{name}" '
            "WHERE source = 'oai' AND source_id IS NOT NULL"
        ).fetchall()
        found.update(source_id for (source_id,) in rows)
    return found


def _new_ids(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, str]:
    """Old id → new id of every OAI id stored (see the module docstring for the order)."""
    from connectors.oaipmh.parse import CONVENTIONAL_PREFIXES, oai_source_id

    evidence = con.execute(_EVIDENCE_SQL).fetchall()
    described = {row[0] for row in evidence}
    evidence += [(i, None, None, None) for i in sorted(_stored_ids(con, tables) - described)]
    harvested: dict[str, set[str]] = defaultdict(set)
    for endpoint, prefix in con.execute(_HARVESTED_SQL).fetchall():
        if endpoint and prefix:
            harvested[endpoint].add(prefix)
    prefix_of: dict[str, str] = {}
    unknown: dict[str, tuple[str | None, str | None]] = {}  # id → (content hash, endpoint)
    sample: dict[tuple[str, str], str] = {}  # (endpoint, prefix) → a payload harvested so
    for source_id, digest, endpoint, prefix in evidence:
        if prefix:
            prefix_of[source_id] = prefix
            if endpoint and digest:
                sample.setdefault((endpoint, prefix), digest)
        else:
            unknown[source_id] = (digest, endpoint)
    if unknown:
        wanted = sorted({d for d, _ in unknown.values() if d} | set(sample.values()))
        namespace_of = dict(_namespaces(con, wanted))
        # The prefix each repository used for a namespace, where one of its harvests shows it.
        used: dict[tuple[str | None, str | None], str] = {
            (endpoint, namespace_of.get(digest)): prefix
            for (endpoint, prefix), digest in sorted(sample.items())
        }
        everywhere = set().union(*harvested.values())
        for source_id, (digest, endpoint) in unknown.items():
            namespace = namespace_of.get(digest) if digest else None
            only = harvested.get(endpoint, set()) if endpoint else everywhere
            if namespace is not None and (endpoint, namespace) in used:
                prefix_of[source_id] = used[(endpoint, namespace)]
            elif namespace is not None and namespace in CONVENTIONAL_PREFIXES:
                prefix_of[source_id] = CONVENTIONAL_PREFIXES[namespace]
            elif len(only) == 1:
                prefix_of[source_id] = next(iter(only))
            else:
                prefix_of[source_id] = _DEFAULT_PREFIX
    return {old: oai_source_id(old, prefix) for old, prefix in prefix_of.items()}


def rewrite_oai_source_ids(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrite every stored OAI id to `<identifier>#<metadataPrefix>` (inside the caller's
    transaction); the number of ids rewritten."""
    keyed = _keyed_tables(con)
    mapping = _new_ids(con, keyed)
    if not mapping:
        return 0
    table = pa.table(
        {"old_id": list(mapping), "new_id": list(mapping.values())},
        schema=pa.schema([("old_id", pa.string()), ("new_id", pa.string())]),
    )
    con.register("_oai_ids", table)
    try:
        # Table names come from the catalogue, never from input.
        for name in keyed:
            con.execute(
                f'UPDATE "{name}" AS t SET source_id = m.new_id FROM _oai_ids AS m '
                "WHERE t.source = 'oai' AND t.source_id = m.old_id"
            )
        for name in _member_list_tables(con):
            con.execute(
                f"""
                WITH members AS (
                    SELECT rowid AS row_id, position, member
                    FROM "{name}", unnest(members) WITH ORDINALITY AS u(member, position)),
                rewritten AS (
                    SELECT row_id,
                           list(coalesce('oai:' || m.new_id, member) ORDER BY position) AS members
                    FROM members LEFT JOIN _oai_ids AS m ON member = 'oai:' || m.old_id
                    GROUP BY row_id HAVING bool_or(m.new_id IS NOT NULL))
                UPDATE "{name}" AS t SET members = r.members FROM rewritten AS r
                WHERE t.rowid = r.row_id
                """
            )
    finally:
        con.unregister("_oai_ids")
    return len(mapping)
