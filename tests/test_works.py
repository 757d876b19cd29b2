"""Canonical works (issue 17, the hard-identifier stage): records sharing a DOI, PMID or PMCID are
one work, within the guards (two PMIDs never meet; incompatible kinds never meet; a
component's DOI joins nothing), the same for any input order, with stable ids; the demo's 50
DOIs shared by PubMed and Crossref are 50 two-member works, the seed record a work of its own
whose fields come from its Pure record, and a second build changes nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.flow_helpers import warehouse_rows
from warehouse.matching import MemberKeys, cluster, kind_of, work_id_of


def member(source: str, source_id: str, *, doi=None, pmid=None, pmcid=None, kind="article"):
    return MemberKeys(source, source_id, doi, pmid, pmcid, kind)


def works_of(clustering) -> list[list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, work_id in clustering.work_of.items():
        groups.setdefault(work_id, []).append(key)
    return sorted(sorted(g) for g in groups.values())


def test_records_sharing_an_identifier_are_one_work_through_any_chain() -> None:
    records = [
        member("pubmed", "1", doi="10.1/a", pmid="1", pmcid="PMC9"),
        member("crossref", "10.1/a", doi="10.1/a"),
        member("oai", "oai:x:1", pmcid="PMC9"),  # a repository copy known by its PMCID
        member("oai", "oai:x:2", doi="10.1/b"),
    ]
    clustering = cluster(records)
    assert works_of(clustering) == [
        [("crossref", "10.1/a"), ("oai", "oai:x:1"), ("pubmed", "1")],
        [("oai", "oai:x:2")],
    ]
    assert clustering.matched_on == {
        ("pubmed", "1"): "doi,pmcid",
        ("crossref", "10.1/a"): "doi",
        ("oai", "oai:x:1"): "pmcid",
        ("oai", "oai:x:2"): "alone",
    }
    assert clustering.work_of[("pubmed", "1")] == work_id_of([("crossref", "10.1/a")])
    for seed in range(5):  # any input order: the same works, the same ids, the same reasons
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        again = cluster(shuffled)
        assert (again.work_of, again.matched_on) == (clustering.work_of, clustering.matched_on)


def test_a_doi_carried_by_two_pmids_merges_neither_and_is_a_conflict() -> None:
    clustering = cluster(
        [
            member("pubmed", "11", doi="10.1/x", pmid="11"),
            member("pubmed", "12", doi="10.1/x", pmid="12"),
            member("crossref", "10.1/x", doi="10.1/x"),
        ]
    )
    # The Crossref record joins the first PMID by the DOI; the second PMID stays apart.
    assert works_of(clustering) == [
        [("crossref", "10.1/x"), ("pubmed", "11")],
        [("pubmed", "12")],
    ]
    [conflict] = clustering.conflicts
    assert (conflict.scheme, conflict.value, conflict.reason) == (
        "doi",
        "10.1/x",
        "different PMIDs: 11, 12",
    )


@pytest.mark.parametrize(
    ("kinds", "merged"),
    [
        (("article", "dataset"), False),
        (("book", "chapter"), False),
        (("issue", "article"), False),
        (("notice", "article"), True),  # Crossref types a correction notice journal-article
        (("other", "dataset"), True),
        (("article", "article"), True),
    ],
)
def test_kinds_that_cannot_be_one_work_do_not_merge(kinds: tuple[str, str], merged: bool) -> None:
    clustering = cluster(
        [
            member("crossref", "a", doi="10.1/k", kind=kinds[0]),
            member("oai", "b", doi="10.1/k", kind=kinds[1]),
        ]
    )
    assert (len(works_of(clustering)) == 1) == merged
    assert bool(clustering.conflicts) != merged


def test_a_components_doi_joins_nothing() -> None:
    clustering = cluster(
        [
            member("crossref", "10.1/a.g001", doi="10.1/a.g001", kind="component"),
            member("oai", "x", doi="10.1/a.g001"),
        ]
    )
    assert len(works_of(clustering)) == 2 and clustering.conflicts == []


def test_kinds_from_each_sources_types() -> None:
    assert kind_of(["Journal Article", "Review"]) == "article"
    assert kind_of(["Journal Article", "Published Erratum"]) == "notice"
    assert kind_of(["book-chapter"]) == "chapter"
    assert kind_of(["Contribution to journal", "Review article"]) == "other"
    assert kind_of([]) == "other"


def test_the_demos_shared_dois_are_works_of_two_and_a_rebuild_changes_nothing(
    warehouse_location: Path,
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    db = warehouse_location
    assert CliRunner().invoke(app, ["demo", "--db", str(db)]).exit_code == 0
    shared = warehouse_rows(
        db,
        "SELECT count(*) FROM (SELECT doi FROM records WHERE doi IS NOT NULL "
        "GROUP BY doi HAVING count(DISTINCT source) = 2)",
    )
    # 50 PubMed + Crossref pairs; 25 portal outputs with a DOI, by OAI-PMH and by page.
    assert shared == [(75,)]
    assert warehouse_rows(
        db,
        "SELECT member_count, sources, count(*) FROM works GROUP BY ALL ORDER BY ALL",
    ) == [
        (1, ["crossref"], 73),
        (1, ["pubmed"], 350),
        # The demo's Crossref preprints with `is-preprint-of` join their published article.
        (2, ["crossref"], 10),
        (2, ["crossref", "pubmed"], 50),
        # Each portal output, harvested by OAI-PMH and read from its page.
        (2, ["oai", "pure"], 43),
        (3, ["crossref"], 1),
        (4, ["crossref"], 1),
    ]
    assert warehouse_rows(db, "SELECT count(*) FROM works") == [(528,)]
    # The seed: one work of its OAI-PMH record and its portal page, every chosen field from
    # its OAI-PMH record.
    seed = warehouse_rows(
        db,
        "SELECT member_count, sources, title, title_from LIKE 'oai:%', output_type, "
        "peer_reviewed, output_type_from = title_from FROM works "
        "WHERE title = 'Interleukins in Cancer Therapy: Rationale and Current Status'",
    )
    assert seed == [
        (
            2,
            ["oai", "pure"],
            "Interleukins in Cancer Therapy: Rationale and Current Status",
            True,
            ["Contribution to journal", "Review article"],
            True,
            True,
        )
    ]
    # Each merged work takes its DOI, journal and pages from Crossref, its title from PubMed.
    assert warehouse_rows(
        db,
        "SELECT count(*) FILTER (WHERE doi_from LIKE 'crossref:%' AND title_from LIKE "
        "'pubmed:%' AND pmid_from LIKE 'pubmed:%') FROM works WHERE member_count = 2 "
        "AND list_contains(sources, 'pubmed')",
    ) == [(50,)]
    members = "SELECT * FROM work_members ORDER BY ALL"
    before = warehouse_rows(db, members)
    from warehouse.store import Warehouse
    from warehouse.works import build_works

    with Warehouse(db) as warehouse:
        built = build_works(warehouse.con)
    # One conflict: a demo preprint names a DOI the demo made a correction notice.
    assert (built.records, built.works, built.merged, built.conflicts) == (636, 528, 105, 1)
    assert warehouse_rows(db, members) == before


def test_quarantined_and_deleted_records_are_in_no_work(warehouse_location: Path) -> None:
    from flows import pipeline
    from schemas.record import Deletion, Record
    from tests.records_factory import make_record
    from warehouse.store import Warehouse
    from warehouse.works import build_works

    kept = make_record(1, doi="10.1234/kept")
    gone = make_record(2, doi="10.1234/gone")
    untitled = make_record(3, title=None, doi="10.1234/kept")  # type: ignore[arg-type]
    twin = Record(source="crossref", source_id="10.1234/gone", doi="10.1234/gone")
    twin.source_version, twin.title, twin.pub_year = "v1", "Gone", 2020
    db = warehouse_location
    with Warehouse(db) as warehouse:
        run_id = warehouse.start_run("pubmed", "test", {})
        for items, source in (([kept, gone, untitled], "pubmed"), ([twin], "crossref")):
            pipeline.process_items(
                warehouse, list(items), source=source, batch_id=source, run_id=run_id
            )
        pipeline.process_items(
            warehouse,
            [Deletion(source="pubmed", source_id="2")],
            source="pubmed",
            batch_id="deletion",
            run_id=run_id,
        )
        built = build_works(warehouse.con)
    assert warehouse_rows(db, "SELECT source_id FROM quarantine") == [("3",)]
    assert (built.records, built.works, built.merged) == (2, 2, 0)
    assert warehouse_rows(db, "SELECT source, source_id FROM work_members ORDER BY ALL") == [
        ("crossref", "10.1234/gone"),
        ("pubmed", "1"),
    ]
