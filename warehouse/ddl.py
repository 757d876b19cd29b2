"""The warehouse's tables and views, and the migration that brings any older file up to date.

Record columns are derived from the canonical record (`schemas.arrow.record_schema`); a field
added there becomes a new nullable column here on the next open (`migrate`), and a field added to
a nested dataclass (an `Author`'s) a new field of its column's structs. Versioning model:
`source_records` holds the current version of each source record (a tombstoned one keeps its row
with `deleted = true`); `record_versions` is the append-only history of every change, and
`raw_payloads` keeps each distinct payload once, by content hash. `tombstones` remembers every
deletion of a bulk file, loaded record or not, so that an older file cannot bring one back.
"""

from __future__ import annotations

import contextlib
import re

import duckdb
import pyarrow as pa

from schemas.arrow import record_schema
from warehouse.oai_ids import rewrite_oai_source_ids
from warehouse.relations import work_relations_view_sql
from warehouse.works import WORK_TABLES, works_view_sql

# 2: raw_payloads.raw_bytes, zstd payloads; 3: raw_payloads without a key; 4: tombstones;
# 5: OAI-PMH source ids carry their metadata format (`warehouse.oai_ids`); 6: authors'
# `corresponding` and `profile_url` (`add_nested_fields`)
SCHEMA_VERSION = 6
# A bulk file's place in NLM's sequence as text that sorts in it: year, then number (a year's
# update files number on from its baseline's), then kind. A printf format, which Python's `%`
# and DuckDB's printf both read: `LedgerEntry.file_order` and the schema 4 migration.
FILE_ORDER_FORMAT = "%04d.%06d.%s"
# DuckDB's memory limit while a migration copies `source_records` (`add_nested_fields`).
MIGRATION_MEMORY_LIMIT = "2GB"


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type spelling of an Arrow type used by the record schema."""
    if pa.types.is_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        members = ", ".join(
            f'"{arrow_type.field(i).name}" {duckdb_type(arrow_type.field(i).type)}'
            for i in range(arrow_type.num_fields)
        )
        return f"STRUCT({members})"
    simple = {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.bool_(): "BOOLEAN",
        pa.float64(): "DOUBLE",
        pa.date32(): "DATE",
        pa.binary(): "BLOB",
    }
    if arrow_type in simple:
        return simple[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    raise TypeError(f"no DuckDB type for Arrow {arrow_type}")


# Columns the warehouse adds to every stored record version.
BOOKKEEPING_COLUMNS = [
    ("content_hash", "VARCHAR NOT NULL"),
    ("deleted", "BOOLEAN NOT NULL DEFAULT false"),
    ("deleted_at", "TIMESTAMPTZ"),
    ("first_loaded_at", "TIMESTAMPTZ NOT NULL"),
    ("loaded_at", "TIMESTAMPTZ NOT NULL"),
    ("run_id", "VARCHAR"),
]


def record_columns() -> list[tuple[str, str]]:
    return [(f.name, duckdb_type(f.type)) for f in record_schema()]


# No primary key: DuckDB keeps a key's whole index in memory to insert into it, which grows
# with the warehouse (~700 MB at 10 M payloads). The loader stores each hash once itself.
RAW_PAYLOADS = """CREATE TABLE IF NOT EXISTS raw_payloads (
        content_hash VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        encoding VARCHAR NOT NULL,
        payload BLOB NOT NULL,          -- compressed as `encoding` says (zstd; older: zlib)
        first_seen_at TIMESTAMPTZ NOT NULL,
        raw_bytes BIGINT)                -- the payload's size before compression"""


OPERATIONAL_TABLES = [
    """CREATE TABLE IF NOT EXISTS schema_info (
        version INTEGER NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        parameters JSON,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        batches BIGINT NOT NULL DEFAULT 0,
        fetched BIGINT NOT NULL DEFAULT 0,
        inserted BIGINT NOT NULL DEFAULT 0,
        updated BIGINT NOT NULL DEFAULT 0,
        unchanged BIGINT NOT NULL DEFAULT 0,
        stale BIGINT NOT NULL DEFAULT 0,
        deleted BIGINT NOT NULL DEFAULT 0,
        quarantined BIGINT NOT NULL DEFAULT 0,
        seconds DOUBLE,
        error VARCHAR)""",
    RAW_PAYLOADS,
    """CREATE TABLE IF NOT EXISTS record_versions (
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        change VARCHAR NOT NULL,          -- insert, update, delete, superseded, reparsed
        content_hash VARCHAR,             -- NULL for a deletion
        source_version VARCHAR,
        reason VARCHAR,
        run_id VARCHAR,
        batch_id VARCHAR NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        source VARCHAR NOT NULL,
        source_id VARCHAR,
        batch_id VARCHAR NOT NULL,
        run_id VARCHAR,
        row_in_batch BIGINT NOT NULL,
        failed_expectations VARCHAR[] NOT NULL,
        content_hash VARCHAR,
        quarantined_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS validation_results (
        source VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        run_id VARCHAR,
        suite VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        failed_rows BIGINT NOT NULL,
        success BOOLEAN NOT NULL,
        failures JSON,
        validated_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS measurements (
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,            -- citations, …
        provider VARCHAR NOT NULL,        -- scopus, crossref, …
        value BIGINT NOT NULL,
        as_of DATE,
        run_id VARCHAR,
        recorded_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS bulk_files (
        name VARCHAR PRIMARY KEY,         -- pubmed26n0001.xml.gz
        kind VARCHAR NOT NULL,            -- baseline, update
        year INTEGER NOT NULL,
        number INTEGER NOT NULL,
        md5 VARCHAR NOT NULL,
        size BIGINT,
        status VARCHAR NOT NULL,          -- loaded, failed
        records BIGINT, deletions BIGINT, quarantined BIGINT,
        inserted BIGINT, updated BIGINT, unchanged BIGINT, stale BIGINT, deleted BIGINT,
        download_seconds DOUBLE, prepare_seconds DOUBLE, load_seconds DOUBLE,
        run_id VARCHAR,
        error VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL)""",
    # Every deletion a bulk file carried, with the file's place in NLM's order, whether or
    # not the record was loaded: a file older than the deletion (a baseline file loaded after
    # the update that deleted one of its records, or re-published) must not bring it back.
    # No key (DuckDB would hold its index in memory); lookups are by record id.
    """CREATE TABLE IF NOT EXISTS tombstones (
        source VARCHAR NOT NULL,
        source_id VARCHAR NOT NULL,
        file_order VARCHAR NOT NULL,      -- FILE_ORDER_FORMAT: YYYY.NNNNNN.kind
        file_name VARCHAR NOT NULL,
        reason VARCHAR,
        run_id VARCHAR,
        deleted_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sync_state (
        source VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        watermark VARCHAR,
        checkpoint JSON,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (source, scope))""",
    # Drift (warehouse.drift): per run, each name its records carried that the parser does not
    # know, with how many records carried it; first_seen: no earlier run saw it.
    """CREATE TABLE IF NOT EXISTS run_drift (
        run_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        count BIGINT NOT NULL,
        first_seen BOOLEAN NOT NULL,
        PRIMARY KEY (run_id, source, name))""",
]

# The analyst contract: stable names, one row per current (not deleted) source record.
RECORDS_VIEW = """
CREATE OR REPLACE VIEW records AS
SELECT
    source, source_id, doi, pmid, pmcid,
    title, abstract,
    languages[1] AS language,
    pub_year, pub_date, pub_date_precision, pub_date_raw,
    journal, issn, volume, issue, pages,
    publication_types,
    list_transform(
        list_filter(authors, lambda a: a.role = 'author'),
        lambda a: {
            'position': a.position, 'name': a.name, 'family': a.family, 'given': a.given,
            'collective': a.collective, 'orcid': a.orcid, 'affiliations': a.affiliations,
            'corresponding': a.corresponding, 'profile_url': a.profile_url}
    ) AS authors,
    list_transform(
        subjects,
        lambda s: {
            'scheme': s.scheme, 'term': s.term, 'code': s.code, 'major': s.major,
            'qualifiers': s.qualifiers}
    ) AS subjects,
    len("references") AS reference_count,
    loaded_at,
    -- beyond the contract's minimum: everything else the record knows
    source_version, record_status, endpoint, identifiers, title_markup, vernacular_title,
    abstract_sections, languages,
    list_filter(authors, lambda a: a.role <> 'author') AS other_contributors,
    journal_abbrev, issn_print, issn_electronic, issn_linking, nlm_unique_id, publisher,
    first_page, last_page, elocation, page_count, dates,
    output_type, peer_reviewed, publication_state,
    metrics, links, "references", grants, license,
    first_loaded_at
FROM source_records
WHERE NOT deleted
"""

CHILD_VIEWS = [
    """CREATE OR REPLACE VIEW record_authors AS
    SELECT source, source_id, a.position, a.name, a.family, a.given, a.collective,
           a.orcid, a.affiliations, a.equal_contrib, a.role, a.corresponding, a.profile_url
    FROM source_records, unnest(authors) AS t(a)
    WHERE NOT deleted""",
    """CREATE OR REPLACE VIEW record_subjects AS
    SELECT source, source_id, s.scheme, s.term, s.code, s.major, s.qualifiers,
           pub_year, journal
    FROM source_records, unnest(subjects) AS t(s)
    WHERE NOT deleted""",
    # One row per affiliation of each author (role 'author', as in `records.authors`).
    """CREATE OR REPLACE VIEW record_affiliations AS
    SELECT source, source_id, a.position, a.name, a.orcid, affiliation, pub_year
    FROM source_records, unnest(authors) AS t(a), unnest(a.affiliations) AS u(affiliation)
    WHERE NOT deleted AND a.role = 'author'""",
    """CREATE OR REPLACE VIEW deleted_records AS
    SELECT source, source_id, deleted_at, run_id FROM source_records WHERE deleted""",
]


def _drop_payload_key(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3: warehouses made before it have a primary key on raw_payloads.content_hash.
    DuckDB cannot drop a constraint, so the table is copied without it (once)."""
    (keys,) = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND table_name = 'raw_payloads' AND constraint_type = 'PRIMARY KEY'"
    ).fetchone() or (0,)
    if not keys:
        return
    con.execute("ALTER TABLE raw_payloads RENAME TO raw_payloads_v2")
    con.execute(RAW_PAYLOADS)
    con.execute("INSERT INTO raw_payloads BY NAME SELECT * FROM raw_payloads_v2")
    con.execute("DROP TABLE raw_payloads_v2")


def _tombstones_from_history(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 4: the deletions bulk files applied before tombstones existed, from the history
    (their batch ids name the file: `file:<name>:<n>`). Those of records never loaded left no
    trace and cannot be recovered."""
    con.execute(
        "INSERT INTO tombstones SELECT v.source, v.source_id, "
        "printf(?, f.year, f.number, f.kind), f.name, v.reason, v.run_id, "
        "v.changed_at FROM record_versions v JOIN bulk_files f "
        "ON starts_with(v.batch_id, 'file:' || f.name || ':') WHERE v.change = 'delete'",
        [FILE_ORDER_FORMAT],
    )


def _lacks_fields(stored: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether `wanted` has a struct field, at any depth, that `stored` lacks."""
    if pa.types.is_list(stored) and pa.types.is_list(wanted):
        return _lacks_fields(stored.value_type, wanted.value_type)
    if not (pa.types.is_struct(stored) and pa.types.is_struct(wanted)):
        return False
    have = {stored.field(i).name: stored.field(i).type for i in range(stored.num_fields)}
    return any(
        field.name not in have or _lacks_fields(have[field.name], field.type) for field in wanted
    )


def _source_records_table(name: str) -> str:
    body = ",\n".join(
        f'"{column}" {spec}' for column, spec in record_columns() + BOOKKEEPING_COLUMNS
    )
    return f"CREATE TABLE IF NOT EXISTS {name} (\n{body})"


def add_nested_fields(con: duckdb.DuckDBPyConnection, lake: bool) -> None:
    """Give `source_records`' struct columns the fields the canonical record's dataclasses
    gained (schema 6: `authors.corresponding`, `authors.profile_url`); existing rows read
    NULL. Both backends take `ADD COLUMN authors.element.x`, but with DuckDB 1.5.5 at 50,000
    PubMed records the process aborts on it (a file while altering, "free(): invalid
    pointer"; a lake when it reads the Parquet files written before, "malloc(): unaligned
    tcache chunk"). So a DuckDB file casts the column (struct casts match fields by name),
    and a lake's table is copied with the new type (new Parquet files, one transaction)."""
    stored = con.execute("SELECT * FROM source_records LIMIT 0").to_arrow_table().schema
    evolved = [
        column
        for column in record_schema()
        if column.name in stored.names
        and _lacks_fields(stored.field(column.name).type, column.type)
    ]
    if not evolved:
        return
    if not lake:
        for column in evolved:
            con.execute(
                f'ALTER TABLE source_records ALTER COLUMN "{column.name}" '
                f"SET DATA TYPE {duckdb_type(column.type)}"
            )
        return
    casts = ", ".join(f'"{c.name}"::{duckdb_type(c.type)} AS "{c.name}"' for c in evolved)
    con.execute(_source_records_table("source_records_evolved"))
    # The copy is one transaction: a writer's 256MB holds a batch, not the whole table.
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or ("256MB",)
    con.execute(f"SET memory_limit = '{MIGRATION_MEMORY_LIMIT}'")
    try:
        con.execute(
            "INSERT INTO source_records_evolved BY NAME "
            f"SELECT * REPLACE ({casts}) FROM source_records"
        )
    finally:
        con.execute(f"SET memory_limit = '{before}'")
    con.execute("DROP TABLE source_records")
    con.execute("ALTER TABLE source_records_evolved RENAME TO source_records")


def on_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `con`'s default database is a DuckLake (see `warehouse.location`)."""
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is not None and row[0] == "ducklake"


# DuckLake has no PRIMARY KEY or UNIQUE constraints ("not supported in DuckLake"). The keys of
# the small operational tables only guarded their upserts, which delete and insert instead
# (`runs.write_state`, `ledger`), so a lake gets the same tables without them.
_KEY_CLAUSE = re.compile(r",\s*PRIMARY KEY \([^)]*\)|\s+PRIMARY KEY\b")


def without_keys(statement: str) -> str:
    return _KEY_CLAUSE.sub("", statement)


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing and add record columns new to the canonical record."""
    lake = on_lake(con)
    con.execute("BEGIN")
    try:
        for statement in OPERATIONAL_TABLES + WORK_TABLES:
            con.execute(without_keys(statement) if lake else statement)
        con.execute("ALTER TABLE raw_payloads ADD COLUMN IF NOT EXISTS raw_bytes BIGINT")
        # GX's result of a suite run, kept for the Data Docs (expectations.data_docs).
        con.execute("ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS gx_result JSON")
        # The lake snapshot a run ended at (NULL on a DuckDB file): `query --as-of RUN_ID`.
        con.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS snapshot_id BIGINT")
        _drop_payload_key(con)
        con.execute(_source_records_table("source_records"))
        existing = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'source_records'"
            ).fetchall()
        }
        for name, spec in record_columns():
            if name not in existing:
                con.execute(f'ALTER TABLE source_records ADD COLUMN "{name}" {spec}')
        add_nested_fields(con, lake)
        con.execute(RECORDS_VIEW)
        for statement in CHILD_VIEWS:
            con.execute(statement)
        con.execute(works_view_sql())
        con.execute(work_relations_view_sql())  # reads work_members
        current = con.execute("SELECT max(version) FROM schema_info").fetchone()
        if current is None or current[0] is None or current[0] < SCHEMA_VERSION:
            if current is not None and current[0] is not None and current[0] < 4:
                _tombstones_from_history(con)
            if current is not None and current[0] is not None and current[0] < 5:
                rewrite_oai_source_ids(con)
            con.execute("INSERT INTO schema_info (version) VALUES (?)", [SCHEMA_VERSION])
        con.execute("COMMIT")
    except BaseException:
        # A lake's COMMIT that fails (out of memory, say) has ended the transaction: a
        # ROLLBACK then fails too, and would hide why.
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("ROLLBACK")
        raise
