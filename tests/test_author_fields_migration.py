"""Schema 6: authors' `corresponding` and `profile_url` (issue 20). A warehouse of schema 5, on
each backend (a DuckDB file, a DuckLake), gains the two struct fields on open, keeps every row
as it was, and reloading its unchanged records after the upgrade changes nothing."""

from __future__ import annotations

import pytest

from schemas.batch import ValidatedBatch, ValidationSummary
from schemas.record import Author
from tests.records_factory import make_record
from warehouse.ddl import SCHEMA_VERSION
from warehouse.store import Warehouse, prepare_batch

SCHEMA_5_AUTHORS = (
    'STRUCT("position" BIGINT, "name" VARCHAR, "family" VARCHAR, given VARCHAR, '
    "initials VARCHAR, suffix VARCHAR, collective VARCHAR, orcid VARCHAR, "
    'affiliations VARCHAR[], equal_contrib BOOLEAN, "role" VARCHAR)[]'
)
SCHEMA_6_AUTHORS = SCHEMA_5_AUTHORS.removesuffix(")[]") + (
    ", corresponding BOOLEAN, profile_url VARCHAR)[]"
)


def load(wh: Warehouse, records: list, batch_id: str):
    validated = ValidatedBatch(
        records, [], [], [ValidationSummary("records", len(records), 0, True, {})]
    )
    prepared = prepare_batch(validated, source="pubmed", batch_id=batch_id, fetched=len(records))
    return wh.load(prepared, run_id=None)


def records_of_schema_5() -> list:
    editor = Author(2, "Ed Itor", family="Itor", given="Ed", role="editor")
    return [
        make_record(1),
        make_record(2, authors=[Author(1, "A B", affiliations=["X"], equal_contrib=True), editor]),
        make_record(3, authors=[]),
        make_record(4, raw=None),  # no payload: hashed by its repr
    ]


def authors_type(wh: Warehouse) -> str:
    (row,) = wh.con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'source_records' AND column_name = 'authors'"
    ).fetchall()
    return str(row[0])


# An author as schema 5 stored it.
SCHEMA_5_AUTHOR = (
    "{'position': a.position, 'name': a.name, 'family': a.family, 'given': a.given, "
    "'initials': a.initials, 'suffix': a.suffix, 'collective': a.collective, 'orcid': a.orcid, "
    "'affiliations': a.affiliations, 'equal_contrib': a.equal_contrib, 'role': a.role}"
)


def everything(wh: Warehouse) -> dict[str, list]:
    """Every row of the tables a migration could touch (authors as schema 5 had them), and
    the order of the record columns."""
    return {
        "source_records": wh.con.execute(
            "SELECT * REPLACE (list_transform(authors, lambda a: "
            f"{SCHEMA_5_AUTHOR}) AS authors) FROM source_records ORDER BY source_id"
        ).fetchall(),
        "columns": wh.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'source_records' ORDER BY ordinal_position"
        ).fetchall(),
        "record_versions": wh.con.execute(
            "SELECT * FROM record_versions ORDER BY source_id, changed_at"
        ).fetchall(),
        "raw_payloads": wh.con.execute(
            "SELECT * FROM raw_payloads ORDER BY content_hash"
        ).fetchall(),
    }


def make_schema_5(warehouse_location) -> dict[str, list]:
    """A warehouse as schema 5 left it, with records, and its rows: `source_records` written
    anew with schema 5's authors (a lake's Parquet files then lack the new fields, as its
    files of schema 5 do)."""
    with Warehouse(warehouse_location) as wh:
        counts = load(wh, records_of_schema_5(), "b1")
        assert (counts.inserted, counts.updated) == (4, 0)
        before = everything(wh)
        wh.con.execute(
            "CREATE TABLE source_records_5 AS SELECT * REPLACE (list_transform(authors, "
            f"lambda a: {SCHEMA_5_AUTHOR}) AS authors) FROM source_records"
        )
        wh.con.execute("DROP TABLE source_records")
        wh.con.execute("ALTER TABLE source_records_5 RENAME TO source_records")
        wh.con.execute("DELETE FROM schema_info WHERE version = 6")
        assert authors_type(wh) == SCHEMA_5_AUTHORS
    return before


def test_a_schema_5_warehouse_gains_the_fields_and_keeps_every_row(warehouse_location):
    before = make_schema_5(warehouse_location)
    with Warehouse(warehouse_location) as wh:
        assert SCHEMA_VERSION == 6
        assert wh.con.execute("SELECT max(version) FROM schema_info").fetchall() == [(6,)]
        assert authors_type(wh) == SCHEMA_6_AUTHORS
        assert everything(wh) == before
        assert wh.con.execute(
            "SELECT source_id, position, role, corresponding, profile_url FROM record_authors "
            "ORDER BY source_id, role, position"
        ).fetchall() == [
            ("1", 1, "author", None, None),
            ("2", 1, "author", None, None),
            ("2", 2, "editor", None, None),
            ("4", 1, "author", None, None),
        ]
        # Reloading the same source after the upgrade: every record is unchanged.
        counts = load(wh, records_of_schema_5(), "b2")
        assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 4)
        # A new version that says who corresponds is stored with it, and shown by the views.
        marked = make_record(
            1,
            payload="<PubmedArticle><PMID>1</PMID><T>v2</T></PubmedArticle>",
            authors=[
                Author(1, "Leslie Oleksowicz", corresponding=True, profile_url="https://p/lo")
            ],
        )
        counts = load(wh, [marked], "b3")
        assert (counts.inserted, counts.updated) == (0, 1)
        assert wh.con.execute(
            "SELECT a.corresponding, a.profile_url FROM records, unnest(authors) AS t(a) "
            "WHERE source_id = '1'"
        ).fetchall() == [(True, "https://p/lo")]
        assert wh.con.execute(
            "SELECT corresponding, profile_url FROM record_authors WHERE source_id = '1'"
        ).fetchall() == [(True, "https://p/lo")]
    # A second open has nothing left to migrate.
    with Warehouse(warehouse_location) as wh:
        assert authors_type(wh) == SCHEMA_6_AUTHORS
        assert wh.con.execute("SELECT count(*) FROM schema_info WHERE version = 6").fetchall() == [
            (1,)
        ]


def test_a_new_warehouse_has_the_fields_in_the_same_order(warehouse_location):
    with Warehouse(warehouse_location) as wh:
        assert authors_type(wh) == SCHEMA_6_AUTHORS


@pytest.mark.parametrize(
    ("author", "shown"),
    [
        (
            Author(1, "A B", family="B", given="A"),
            "Author(position=1, name='A B', family='B', given='A', initials=None, suffix=None, "
            "collective=None, orcid=None, affiliations=[], equal_contrib=None, role='author')",
        ),
        (
            Author(1, "A B", corresponding=True, profile_url="https://p/ab"),
            "Author(position=1, name='A B', family=None, given=None, initials=None, suffix=None, "
            "collective=None, orcid=None, affiliations=[], equal_contrib=None, role='author', "
            "corresponding=True, profile_url='https://p/ab')",
        ),
    ],
)
def test_an_author_without_the_new_fields_reads_as_schema_5s(author, shown):
    """A record without a payload is hashed by its repr (warehouse.prepare): that of an author
    whose new fields are None is the repr schema 5's dataclass gave (the first string)."""
    assert repr(author) == shown
