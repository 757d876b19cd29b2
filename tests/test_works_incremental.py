"""Works kept current incrementally (issue 17, parts 2 and 3): after a load, `update_works`
recomputes only the works its changed, new or deleted records touch, and the result is the one
a full build gives (each change type, then random sequences); a work id that disappears
(merged, split, renamed because its smallest member changed, emptied) leaves a redirect that
`find_work` follows to the live work, chains included, and a line in the merge log."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import pipeline
from schemas.batch import ValidatedBatch
from schemas.record import Deletion, Record
from tests.flow_helpers import warehouse_rows
from tests.records_factory import make_record
from warehouse.location import is_lake
from warehouse.matching import cluster, match_keys, read_members, work_id_of
from warehouse.prepare import prepare_batch
from warehouse.store import Warehouse
from warehouse.works import (
    WorksBuilt,
    build_works,
    describe_redirect,
    find_work,
    redirect_chain,
    update_works,
)


def title_of(source: str, source_id: str) -> str:
    """A title of the record's own, unlike every other at both ends (no fuzzy block or rule
    brings two together), so that only the identifiers under test decide."""
    digest = hashlib.blake2b(f"{source}:{source_id}".encode(), digest_size=16).digest()
    word = "".join(chr(ord("a") + b % 26) for b in digest)
    return f"{word[:8]} cohort outcomes in {word[8:]}"


def pubmed(pmid: int, *, doi: str | None = None, pmcid: str | None = None, title: str = ""):
    # No payload: the content hash is then the record's own, so a changed field is a new
    # version to the loader, as a changed payload would be.
    title = title or title_of("pubmed", str(pmid))
    return make_record(pmid, title=title, doi=doi, pmcid=pmcid, raw=None)


VERSIONS = itertools.count()


def crossref(source_id: str, *, pmcid: str | None = None) -> Record:
    record = Record(source="crossref", source_id=source_id, doi=source_id, pmcid=pmcid)
    # Crossref versions are deposit times: each version here is later than the one before.
    record.title, record.pub_year = title_of("crossref", source_id), 2020
    record.source_version = f"{next(VERSIONS):08d}"
    return record


def wid(source: str, source_id: str) -> str:
    return work_id_of([(source, source_id)])


def load(
    db: Path | Warehouse,
    upsert: Iterable[Record] = (),
    delete: Iterable[tuple[str, str]] = (),
    *,
    validate: bool = True,
) -> WorksBuilt:
    """One run through the real loader, then the works updated from that run. Without
    `validate`, the batch goes straight to the loader (the records are valid by construction,
    as the validated tests show; validation is most of a small load's time)."""
    if isinstance(db, Path):
        with Warehouse(db) as warehouse:
            return load(warehouse, upsert, delete, validate=validate)
    warehouse, upsert, delete = db, list(upsert), list(delete)
    run_id = warehouse.start_run("test", "test", {})
    for source in sorted({r.source for r in upsert} | {s for s, _ in delete}):
        records = [r for r in upsert if r.source == source]
        deletions = [Deletion(source=s, source_id=i) for s, i in delete if s == source]
        batch_id = f"{run_id}:{source}"
        if validate:
            items: list[Record | Deletion] = [*records, *deletions]
            outcome = pipeline.process_items(
                warehouse, items, source=source, batch_id=batch_id, run_id=run_id
            )
            assert outcome.counts.quarantined == 0
        else:
            batch = ValidatedBatch(records, deletions, quarantined=[], summaries=[])
            fetched = len(records) + len(deletions)
            warehouse.load(
                prepare_batch(batch, source=source, batch_id=batch_id, fetched=fetched),
                run_id=run_id,
            )
    warehouse.finish_run(run_id, status="completed")
    return update_works(warehouse.con, run_id=run_id)


STATE = {
    "work_members": "SELECT * FROM work_members ORDER BY ALL",
    "work_keys": "SELECT * FROM work_keys ORDER BY ALL",
    "work_components": "SELECT * FROM work_components ORDER BY ALL",
    "work_conflicts": "SELECT * FROM work_conflicts ORDER BY ALL",
}


def assert_same_as_full_build(db: Path, tmp_path: Path) -> None:
    if is_lake(db):
        # A lake's catalog names its data folder: it is rebuilt in place, compared with itself
        # before (a full build of the same records writes the same rows and logs no change).
        updated = {name: warehouse_rows(db, sql) for name, sql in STATE.items()}
        with Warehouse(db) as warehouse:
            build_works(warehouse.con)
        for name, sql in STATE.items():
            assert warehouse_rows(db, sql) == updated[name], name
        return
    copy = tmp_path / "rebuilt.duckdb"
    copy.unlink(missing_ok=True)
    shutil.copy(db, copy)
    with Warehouse(copy) as warehouse:
        build_works(warehouse.con)
    for name, sql in STATE.items():
        assert warehouse_rows(db, sql) == warehouse_rows(copy, sql), name


def works(db: Path) -> list[tuple[str, list[str]]]:
    return warehouse_rows(
        db,
        "SELECT work_id, list(source || ':' || source_id ORDER BY source, source_id) "
        "FROM work_members GROUP BY work_id ORDER BY work_id",
    )


def log(db: Path) -> list[tuple]:
    return warehouse_rows(
        db,
        "SELECT work_id, action, related, members FROM work_merge_log "
        "WHERE action <> 'created' ORDER BY logged_at, work_id",
    )


BASE = [
    pubmed(1, doi="10.1234/a"),
    crossref("10.1234/a"),
    pubmed(2, doi="10.1234/b"),
    crossref("10.1234/b", pmcid="PMC9"),  # joins pubmed 2 by DOI and crossref 10.1234/c by PMCID
    crossref("10.1234/c", pmcid="PMC9"),
    pubmed(3, doi="10.1234/x"),
    crossref("10.1234/y"),
    pubmed(4),
    pubmed(5, doi="10.1234/d"),  # one DOI, two PMIDs: a conflict, two works
    pubmed(6, doi="10.1234/d"),
]


@pytest.fixture
def db(warehouse_location: Path) -> Path:
    """A warehouse of BASE, its works built, on each backend in turn."""
    path = warehouse_location
    first = load(path, BASE)
    assert (first.mode, first.full_reason) == (
        "full",
        "the works were never built with their match keys",
    )
    assert (first.records, first.works, first.merged, first.conflicts) == (10, 7, 2, 1)
    return path


def test_a_new_shared_doi_merges_two_works(db: Path, tmp_path: Path) -> None:
    built = load(db, [pubmed(3, doi="10.1234/y")])
    assert (built.mode, built.changed, built.records, built.works) == ("incremental", 1, 2, 1)
    assert_same_as_full_build(db, tmp_path)
    merged = wid("crossref", "10.1234/y")
    assert (merged, ["crossref:10.1234/y", "pubmed:3"]) in works(db)
    assert log(db) == [(wid("pubmed", "3"), "merged", [merged], ["pubmed:3"])]
    with Warehouse(db, read_only=True) as warehouse:
        assert find_work(warehouse.con, wid("pubmed", "3")) == merged


def test_a_changed_doi_splits_a_work_whose_id_stays(db: Path, tmp_path: Path) -> None:
    load(db, [pubmed(1, doi="10.1234/a-corrected")])
    assert_same_as_full_build(db, tmp_path)
    kept, left = wid("crossref", "10.1234/a"), wid("pubmed", "1")
    assert (kept, ["crossref:10.1234/a"]) in works(db)
    assert (left, ["pubmed:1"]) in works(db)
    assert log(db) == [(kept, "split", sorted([kept, left]), ["crossref:10.1234/a", "pubmed:1"])]
    assert warehouse_rows(db, "SELECT * FROM work_redirects") == []


def test_deleting_a_bridge_splits_its_work_and_redirects_it_to_a_piece(
    db: Path, tmp_path: Path
) -> None:
    load(db, delete=[("crossref", "10.1234/b")])
    assert_same_as_full_build(db, tmp_path)
    gone = wid("crossref", "10.1234/b")
    pieces = sorted([wid("crossref", "10.1234/c"), wid("pubmed", "2")])
    assert log(db) == [
        (gone, "split", pieces, ["crossref:10.1234/b", "crossref:10.1234/c", "pubmed:2"])
    ]
    # Each piece holds one of its two surviving members: the tie goes to the smaller id.
    assert warehouse_rows(db, "SELECT work_id, merged_into, reason FROM work_redirects") == [
        (gone, pieces[0], "split")
    ]


def test_deleting_the_only_member_empties_the_work(db: Path, tmp_path: Path) -> None:
    built = load(db, delete=[("pubmed", "4")])
    assert (built.records, built.works) == (0, 0)
    assert_same_as_full_build(db, tmp_path)
    gone = wid("pubmed", "4")
    assert gone not in dict(works(db))
    assert log(db) == [(gone, "emptied", [], ["pubmed:4"])]
    with Warehouse(db, read_only=True) as warehouse:
        assert find_work(warehouse.con, gone) is None
        assert describe_redirect(warehouse.con, gone) == (
            f"{gone} was emptied (all its records deleted) on "
            f"{redirect_chain(warehouse.con, gone)[0].redirected_at:%Y-%m-%d %H:%M} UTC"
        )


def test_deleting_the_smallest_member_renames_the_work_and_a_chain_finds_it(
    db: Path, tmp_path: Path
) -> None:
    first, second = wid("crossref", "10.1234/a"), wid("pubmed", "1")
    load(db, delete=[("crossref", "10.1234/a")])
    assert_same_as_full_build(db, tmp_path)
    assert (second, ["pubmed:1"]) in works(db)
    # Its record now carries the DOI of another work, which has a smaller id: merged there.
    load(db, [crossref("10.1233/z")])
    load(db, [pubmed(1, doi="10.1233/z")])
    assert_same_as_full_build(db, tmp_path)
    third = wid("crossref", "10.1233/z")
    assert (third, ["crossref:10.1233/z", "pubmed:1"]) in works(db)
    assert log(db) == [
        (first, "renamed", [second], ["crossref:10.1234/a", "pubmed:1"]),
        (second, "merged", [third], ["pubmed:1"]),
    ]
    with Warehouse(db, read_only=True) as warehouse:
        assert find_work(warehouse.con, first) == third
        assert [(r.work_id, r.merged_into) for r in redirect_chain(warehouse.con, first)] == [
            (first, second),
            (second, third),
        ]


def test_a_full_rebuild_records_the_ids_it_makes_disappear_too(db: Path) -> None:
    with Warehouse(db) as warehouse:
        pipeline.process_items(
            warehouse,
            [Deletion(source="crossref", source_id="10.1234/a")],
            source="crossref",
            batch_id="b",
            run_id=None,
        )
        build_works(warehouse.con)
        assert find_work(warehouse.con, wid("crossref", "10.1234/a")) == wid("pubmed", "1")
    assert log(db) == [
        (
            wid("crossref", "10.1234/a"),
            "renamed",
            [wid("pubmed", "1")],
            ["crossref:10.1234/a", "pubmed:1"],
        )
    ]


def test_works_show_of_an_old_id_says_where_the_work_went(db: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    load(db, [pubmed(3, doi="10.1234/y")])
    result = CliRunner().invoke(app, ["works", "show", wid("pubmed", "3"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    merged = wid("crossref", "10.1234/y")
    assert f"{wid('pubmed', '3')} was merged into {merged}" in result.output
    assert f"Work {merged} (2 members)" in result.output


def test_a_new_version_with_the_same_keys_moves_nothing(db: Path, tmp_path: Path) -> None:
    before = works(db)
    built = load(db, [pubmed(5, doi="10.1234/d", title="Cost of knee replacement in Sweden")])
    # Its conflict with pubmed 6 is recomputed with it, and stays one conflict.
    assert (built.changed, built.records, built.works, built.conflicts) == (1, 2, 2, 1)
    assert_same_as_full_build(db, tmp_path)
    assert works(db) == before
    assert log(db) == []
    assert warehouse_rows(db, "SELECT count(*) FROM work_conflicts") == [(1,)]


def test_changes_an_update_missed_are_taken_by_the_next(db: Path, tmp_path: Path) -> None:
    with Warehouse(db) as warehouse:  # a load whose update never ran (it failed, say)
        pipeline.process_items(
            warehouse, [pubmed(7, doi="10.1234/x")], source="pubmed", batch_id="b", run_id=None
        )
    built = load(db, [pubmed(8)])
    assert built.changed == 2
    assert_same_as_full_build(db, tmp_path)


def test_works_built_by_other_matching_rules_are_rebuilt_whole(db: Path) -> None:
    with Warehouse(db) as warehouse:
        warehouse.con.execute("UPDATE work_builds SET rules = 'older rules'")
    built = load(db, [pubmed(8)])
    assert (built.mode, built.full_reason) == (
        "full",
        "the matching rules changed since the works were last built",
    )


def test_refresh_derived_updates_the_works_of_the_run_beyond_the_full_build_limit(
    db: Path, tmp_path: Path
) -> None:
    import logging

    from warehouse.derived import refresh_derived

    with Warehouse(db) as warehouse:
        run_id = warehouse.start_run("test", "test", {})
        pipeline.process_items(
            warehouse, [pubmed(3, doi="10.1234/y")], source="pubmed", batch_id="b", run_id=run_id
        )
        done = refresh_derived(
            warehouse.con, logging.getLogger("test"), max_records=1, run_id=run_id
        )
    assert isinstance(done["works"], WorksBuilt)
    assert (done["works"].mode, done["works"].changed, done["search_index"]) == (
        "incremental",
        1,
        None,
    )
    assert_same_as_full_build(db, tmp_path)


# Random sequences: a few records whose identifiers are drawn from small pools, so that
# merges, splits, conflicts, renames and emptied works all happen; a title either the record's
# own or one they share, so that the fuzzy stage (equal title, year, an author) joins some
# records that share no identifier. A Crossref record's DOI is its id; its PMCID varies.
RECORD_IDS = [("pubmed", "1"), ("pubmed", "2"), ("pubmed", "3"), ("crossref", "10.9999/c1"),
              ("crossref", "10.9999/c2"), ("crossref", "10.9999/c3")]  # fmt: skip
DOIS = st.sampled_from([None, "10.9999/c1", "10.9999/c2", "10.9999/p"])
PMCIDS = st.sampled_from([None, "PMC1", "PMC2"])
SHARED_TITLE = "Lithium clearance in adolescents treated for bipolar disorder"
CHANGE = st.tuples(st.sampled_from(RECORD_IDS), st.booleans(), DOIS, PMCIDS, st.booleans())


def version(
    record_id: tuple[str, str], doi: str | None, pmcid: str | None, shared_title: bool
) -> Record:
    source, source_id = record_id
    if source == "pubmed":
        record = pubmed(int(source_id), doi=doi, pmcid=pmcid)
    else:
        record = crossref(source_id, pmcid=pmcid)
        record.pub_year, record.authors = 1994, pubmed(1).authors  # as make_record's
    if shared_title:
        record.title = SHARED_TITLE
    return record


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(runs=st.lists(st.lists(CHANGE, min_size=1, max_size=3), min_size=2, max_size=4))
def test_any_sequence_of_updates_gives_the_full_builds_result(
    tmp_path_factory: pytest.TempPathFactory, runs: list[list[tuple]]
) -> None:
    db = tmp_path_factory.mktemp("random") / "w.duckdb"
    with Warehouse(db) as warehouse:
        for run in runs:
            latest = {change[0]: change[1:] for change in run}
            upsert = [version(r, *change[1:]) for r, change in latest.items() if change[0]]
            deleted = [r for r, change in latest.items() if not change[0]]
            load(warehouse, upsert, deleted, validate=False)
            # What `build_works` would store, computed apart from the tables the updates wrote.
            members = read_members(warehouse.con)
            clustering = cluster(members)
            assert warehouse.con.execute(
                "SELECT source, source_id, work_id, matched_on FROM work_members ORDER BY ALL"
            ).fetchall() == sorted(
                (m.source, m.source_id, clustering.work_of[m.key], clustering.matched_on[m.key])
                for m in members
            )
            assert warehouse.con.execute(
                "SELECT scheme, value, members FROM work_conflicts ORDER BY ALL"
            ).fetchall() == sorted(
                (c.scheme, c.value, [f"{s}:{i}" for s, i in c.members])
                for c in clustering.conflicts
            )
            assert warehouse.con.execute(
                "SELECT * FROM work_keys ORDER BY ALL"
            ).fetchall() == sorted(
                {(m.source, m.source_id, k) for m in members for k in match_keys(m)}
            )
