"""Two metadata formats of one OAI-PMH repository are two records (`<identifier>#<prefix>`):
harvested into one warehouse both stay current and meet in one work, a deletion harvested in one
format deletes that format's record only, and harvests run again change nothing; saved
responses say their format in `<request>`; a warehouse of an older version, whose OAI ids were
the identifier alone, gets each id rewritten with the format it was harvested in."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.oaipmh.parse import (
    iter_oai_records,
    oai_source_id,
    parse_records,
    split_source_id,
)
from flows import pipeline
from flows.oai import oai_harvest
from sandbox.oaipmh import PURE_PATH, GeneratedRepository, OaiEmulator, OaiFormat, pure_repository
from sandbox.oaipmh import build_emulator as build_oai_emulator
from sandbox.pure_corpus import FORMATS
from sandbox.server import serve
from schemas.errors import MalformedPayloadError
from schemas.record import Deletion, Record
from tests.flow_helpers import fast_http, warehouse_rows
from warehouse.ddl import SCHEMA_VERSION
from warehouse.store import Warehouse

FAST = 500.0  # requests per second: the loopback portal needs no politeness
LIVE = 43  # the portal's live items (and 5 deleted ones)

# --- the key --------------------------------------------------------------------------------


def test_the_last_hash_splits_identifier_and_format() -> None:
    assert oai_source_id("oai:zenodo.org:8435696", "oai_dc") == "oai:zenodo.org:8435696#oai_dc"
    assert split_source_id("oai:zenodo.org:8435696#oai_dc") == ("oai:zenodo.org:8435696", "oai_dc")
    # A metadataPrefix has no "#" (URI unreserved characters only): an identifier that breaks
    # the spec with one still splits right.
    assert split_source_id("oai:x:a#b#mods") == ("oai:x:a#b", "mods")
    # An id stored before the format was part of it has none.
    assert split_source_id("oai:zenodo.org:8435696") == ("oai:zenodo.org:8435696", None)
    assert split_source_id("#oai_dc") == ("#oai_dc", None)


# --- where a response's format comes from ----------------------------------------------------

_DC = (
    '<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></oai_dc:dc>'
    "</metadata>"
)


def _response(request_attributes: str, *records: tuple[str, bool]) -> bytes:
    """A ListRecords answer with `records` (identifier, deleted), the deleted ones without
    metadata, as most repositories send them."""
    body = "".join(
        f'<record><header status="deleted"><identifier>{identifier}</identifier>'
        "<datestamp>2024-01-03</datestamp></header></record>"
        if deleted
        else f"<record><header><identifier>{identifier}</identifier>"
        f"<datestamp>2024-01-02</datestamp></header>{_DC.format(title=identifier)}</record>"
        for identifier, deleted in records
    )
    return (
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        f"<request {request_attributes}>https://r.example/oai</request>"
        f"<ListRecords>{body}</ListRecords></OAI-PMH>"
    ).encode()


def _keys(items: list[Record | Deletion]) -> list[tuple[str, str | None]]:
    return [(type(item).__name__, item.source_id) for item in items]


def test_the_request_names_the_format_and_the_caller_overrides_it() -> None:
    body = _response(
        'verb="ListRecords" metadataPrefix="dc"', ("oai:r:1", False), ("oai:r:2", True)
    )
    expected = [("Record", "oai:r:1#dc"), ("Deletion", "oai:r:2#dc")]
    assert _keys(parse_records(body, origin="synthetic")) == expected
    assert _keys(list(iter_oai_records(body, origin="synthetic"))) == expected
    # A harvest knows what it asked for: a page asked with a token echoes only the token.
    assert _keys(parse_records(body, origin="synthetic", metadata_prefix="qdc")) == [
        ("Record", "oai:r:1#qdc"),
        ("Deletion", "oai:r:2#qdc"),
    ]


def test_a_page_asked_by_token_takes_the_format_of_its_first_record() -> None:
    # Deleted headers come first, without metadata: they wait for the first record that shows
    # the format (oai_dc's namespace), and keep their place.
    body = _response(
        'verb="ListRecords" resumptionToken="t1"',
        ("oai:r:1", True),
        ("oai:r:2", True),
        ("oai:r:3", False),
        ("oai:r:4", True),
    )
    expected = [
        ("Deletion", "oai:r:1#oai_dc"),
        ("Deletion", "oai:r:2#oai_dc"),
        ("Record", "oai:r:3#oai_dc"),
        ("Deletion", "oai:r:4#oai_dc"),
    ]
    assert _keys(parse_records(body, origin="synthetic")) == expected
    assert _keys(list(iter_oai_records(body, origin="synthetic"))) == expected


def test_deletions_alone_in_a_page_without_its_format_are_refused() -> None:
    body = _response('verb="ListRecords" resumptionToken="t1"', ("oai:r:1", True))
    message = r"synthetic: record oai:r:1 has no metadata and its metadataPrefix is not known"
    with pytest.raises(MalformedPayloadError, match=message):
        parse_records(body, origin="synthetic")
    with pytest.raises(MalformedPayloadError, match=message):
        list(iter_oai_records(body, origin="synthetic"))


def test_saved_zenodo_responses_of_two_formats_are_two_records_each(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "oaipmh"
    dc = list(iter_oai_records(folder / "zenodo__ListRecords_oai_dc_page1.xml", origin="dc"))
    datacite = list(iter_oai_records(folder / "zenodo__ListRecords_datacite.xml", origin="dc"))
    both = {split_source_id(r.source_id or "")[0] for r in dc} & {
        split_source_id(r.source_id or "")[0] for r in datacite
    }
    assert sorted(both) == [
        "oai:zenodo.org:8433301",
        "oai:zenodo.org:8435639",
        "oai:zenodo.org:8435696",
    ]
    for identifier in sorted(both):
        (as_dc,) = [r for r in dc if r.source_id == f"{identifier}#oai_dc"]
        (as_datacite,) = [r for r in datacite if r.source_id == f"{identifier}#datacite"]
        assert isinstance(as_dc, Record) and isinstance(as_datacite, Record)
        # The plain identifier, first among each record's identifiers: where they meet.
        assert as_dc.identifiers[0] == as_datacite.identifiers[0]
        assert (as_dc.identifiers[0].scheme, as_dc.identifiers[0].value) == ("oai", identifier)


# --- two formats harvested into one warehouse -------------------------------------------------


@pytest.fixture
def portal(monkeypatch) -> Iterator[tuple[GeneratedRepository, str]]:
    fast_http(monkeypatch)
    app, repository = build_oai_emulator(page_size=10)
    with serve(app) as base:
        yield repository, base + PURE_PATH


def _ids(path: Path, view: str = "records") -> list[str]:
    return [i for (i,) in warehouse_rows(path, f"SELECT source_id FROM {view} ORDER BY 1")]


def _counts(result: dict[str, Any]) -> tuple[int, ...]:
    return tuple(result[k] for k in ("fetched", "inserted", "updated", "unchanged", "deleted"))


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_two_formats_are_kept_apart_and_each_deletion_is_its_own(portal, tmp_path) -> None:
    repository, url = portal
    path = tmp_path / "formats.duckdb"

    def harvest(prefix: str) -> dict[str, Any]:
        return oai_harvest(
            endpoint=url, metadata_prefix=prefix, db=str(path), requests_per_second=FAST
        )

    # 48 headers each (5 deleted before any harvest: nothing to delete).
    assert _counts(harvest("oai_dc")) == (48, LIVE, 0, 0, 0)
    assert _counts(harvest("mods")) == (48, LIVE, 0, 0, 0)
    live = sorted(item.identifier for item in repository.items if not item.deleted)
    assert _ids(path) == [f"{i}#{prefix}" for i in live for prefix in ("mods", "oai_dc")]
    # Each record starts its identifiers with the plain OAI identifier, unchanged.
    assert warehouse_rows(
        path,
        "SELECT count(*) FROM records "
        "WHERE identifiers[1] = {'scheme': 'oai', 'value': split_part(source_id, '#', 1)}",
    ) == [(2 * LIVE,)]
    # ... and that is where the two formats of one item meet: one work each.
    assert warehouse_rows(
        path,
        "SELECT count(DISTINCT work_id), count(*) FROM work_members WHERE source = 'oai'",
    ) == [(LIVE, 2 * LIVE)]
    assert warehouse_rows(
        path,
        "SELECT max(formats) FROM (SELECT count(DISTINCT work_id) AS formats FROM work_members "
        "GROUP BY split_part(source_id, '#', 1))",
    ) == [(1,)]

    # Deleted in the repository: each format's harvest deletes its own record, and only it.
    removed = live[7]
    repository.delete(removed, "2026-11-02T09:30:00Z")
    assert _counts(harvest("oai_dc")) == (2, 0, 0, 1, 1)  # at the old watermark, the deletion
    assert _ids(path, "deleted_records") == [f"{removed}#oai_dc"]
    assert f"{removed}#mods" in _ids(path)
    assert len(_ids(path)) == 2 * LIVE - 1
    assert _counts(harvest("mods")) == (2, 0, 0, 1, 1)
    assert _ids(path, "deleted_records") == [f"{removed}#mods", f"{removed}#oai_dc"]
    assert len(_ids(path)) == 2 * (LIVE - 1)

    # Each harvest again, over the whole list: nothing changes.
    before = warehouse_rows(path)
    for prefix in ("oai_dc", "mods"):
        again = oai_harvest(
            endpoint=url,
            metadata_prefix=prefix,
            since="1970-01-01",
            db=str(path),
            requests_per_second=FAST,
        )
        assert _counts(again) == (48, 0, 0, LIVE - 1, 0)
    assert warehouse_rows(path) == before
    assert warehouse_rows(
        path, "SELECT change, count(*) FROM record_versions GROUP BY 1 ORDER BY 1"
    ) == [("delete", 2), ("insert", 2 * LIVE)]


# --- a warehouse of an older version ----------------------------------------------------------


def _renamed_portal() -> GeneratedRepository:
    """The portal with oai_dc offered as "dc" (some repositories name it so): a prefix that
    only the warehouse's own history can tell, the namespace's conventional one being oai_dc."""
    portal = pure_repository(page_size=10)
    formats = [
        OaiFormat("dc", f.schema, f.namespace) if f.prefix == "oai_dc" else f for f in FORMATS
    ]
    items = [
        dataclasses.replace(
            item,
            metadata={("dc" if k == "oai_dc" else k): v for k, v in item.metadata.items()},
        )
        for item in portal.items
    ]
    return GeneratedRepository(items, identity=portal.identity, formats=formats, page_size=10)


def _keyed(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables that hold (source, source_id)."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_columns() WHERE schema_name = 'main' "
        "AND column_name IN ('source', 'source_id') AND table_name IN "
        "(SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main') "
        "GROUP BY table_name HAVING count(*) = 2 ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def _every_oai_id(path: Path) -> dict[str, list[str]]:
    """Each table's OAI ids (members lists included), sorted."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = {
            name: sorted(
                i
                for (i,) in con.execute(
                    f"SELECT source_id FROM \"{name}\" WHERE source = 'oai'"
                ).fetchall()
            )
            for name in _keyed(con)
        }
        for name in ("work_conflicts",):
            rows = con.execute(f"SELECT unnest(members) FROM {name}").fetchall()
            found[f"{name}.members"] = sorted(m for (m,) in rows if m.startswith("oai:"))
        return found
    finally:
        con.close()


def _as_an_older_version_wrote_it(path: Path) -> None:
    """Rewrite every OAI id to the identifier alone and say schema 4: what the version before
    the format was part of the key stored (it kept the same rows, with that id)."""
    con = duckdb.connect(str(path))
    try:
        for name in _keyed(con):
            con.execute(
                f"UPDATE \"{name}\" SET source_id = regexp_replace(source_id, '#[^#]*$', '') "
                "WHERE source = 'oai'"
            )
        con.execute(
            "UPDATE work_conflicts SET members = list_transform(members, "
            "m -> regexp_replace(m, '^(oai:.*)#[^#]*$', '\\1'))"
        )
        con.execute("DELETE FROM schema_info")
        con.execute("INSERT INTO schema_info (version) VALUES (4)")
    finally:
        con.close()


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_an_older_warehouse_gets_the_format_each_record_was_harvested_in(
    tmp_path, monkeypatch, fixtures_dir
) -> None:
    fast_http(monkeypatch)
    repository = _renamed_portal()
    path = tmp_path / "older.duckdb"

    def harvest(url: str, prefix: str, **window: str) -> dict[str, Any]:
        return oai_harvest(
            endpoint=url,
            metadata_prefix=prefix,
            db=str(path),
            requests_per_second=FAST,
            **window,
        )

    with serve(OaiEmulator({PURE_PATH: repository})) as base:
        url = base + PURE_PATH
        assert harvest(url, "dc")["inserted"] == LIVE
        removed = sorted(i.identifier for i in repository.items if not i.deleted)[3]
        repository.delete(removed, "2026-11-02T09:30:00Z")
        assert harvest(url, "dc")["deleted"] == 1
    # A saved response imported (no harvest run: its format is datacite's conventional one).
    datacite = fixtures_dir / "oaipmh" / "zenodo__ListRecords_datacite.xml"
    with Warehouse(path) as warehouse:
        items = list(iter_oai_records(datacite, origin=datacite.name))
        counts = pipeline.process_items(
            warehouse, items, source="oai", batch_id="import:datacite", run_id=None
        )
        assert counts.counts.inserted == 50
        # A record rewritten by no harvest (a reparse, say): its repository's harvests tell
        # that its namespace is "dc" there, not the conventional oai_dc.
        con = warehouse.con
        (reparsed,) = con.execute(
            "SELECT min(source_id) FROM source_records WHERE source_id LIKE '%#dc' AND NOT deleted"
        ).fetchone() or (None,)
        con.execute("UPDATE source_records SET run_id = NULL WHERE source_id = ?", [reparsed])
        # Old rows beyond the records: a quarantined copy, a conflict naming a record.
        con.execute(
            "INSERT INTO quarantine SELECT 'oai', 'oai:pure.sandbox.example:never-loaded#dc', "
            "'b', run_id, 0, ['title'], NULL, now() FROM source_records WHERE source_id = ?",
            [f"{removed}#dc"],
        )
        con.execute(
            "INSERT INTO work_conflicts VALUES ('doi', '10.1/x', ['oai:' || ?, 'pubmed:1'], 'x')",
            [reparsed],
        )
    expected = _every_oai_id(path)
    assert len(expected["source_records"]) == LIVE + 50
    assert {split_source_id(i)[1] for i in expected["source_records"]} == {"dc", "datacite"}

    _as_an_older_version_wrote_it(path)
    old = _every_oai_id(path)
    assert all("#" not in i for ids in old.values() for i in ids)
    assert old["source_records"] == sorted(
        split_source_id(i)[0] for i in expected["source_records"]
    )

    with Warehouse(path):  # the new code opens it: schema 5
        pass
    assert _every_oai_id(path) == expected
    assert warehouse_rows(path, "SELECT max(version) FROM schema_info") == [(SCHEMA_VERSION,)]
    assert reparsed.endswith("#dc")

    # The migrated warehouse harvests on as if it had always had the format in its ids: the
    # same format again changes nothing, another is new records beside them.
    with serve(OaiEmulator({PURE_PATH: repository})) as base:
        url = base + PURE_PATH
        again = harvest(url, "dc", since="1970-01-01")
        assert _counts(again) == (48, 0, 0, LIVE - 1, 0)
        mods = harvest(url, "mods")
        assert _counts(mods) == (48, LIVE - 1, 0, 0, 0)
    assert warehouse_rows(
        path,
        "SELECT split_part(source_id, '#', 2), count(*) FROM records GROUP BY 1 ORDER BY 1",
    ) == [("datacite", 50), ("dc", LIVE - 1), ("mods", LIVE - 1)]
