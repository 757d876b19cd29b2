"""docs/analysts.md: every SQL query of the analyst's guide runs on the demo warehouse through
the analysts' locked-down path (`warehouse.status.read_only_query`) and returns rows; a few
answer exactly what the demo holds; the views the guide describes have their columns."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from warehouse.status import read_only_query

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"
SEED_TITLE = "Interleukins in Cancer Therapy: Rationale and Current Status"
# A heading ("### 12. Finding a paper …") or a fenced block of SQL.
PARTS = re.compile(r"^### (?P<heading>.+?)\n|^```sql\n(?P<sql>.*?)^```\s*$", re.M | re.S)


def guide_queries() -> list[tuple[str, str]]:
    """(heading of the question, SQL) for every ```sql block of the guide, in order."""
    heading, queries = "", []
    for match in PARTS.finditer(GUIDE.read_text(encoding="utf-8")):
        if match["heading"] is not None:
            heading = match["heading"].strip()
        else:
            queries.append((heading, match["sql"]))
    return queries


QUERIES = guide_queries()


def query(heading_start: str) -> str:
    """The SQL of the question whose heading starts with `heading_start` ("11.")."""
    (sql,) = [sql for heading, sql in QUERIES if heading.startswith(heading_start)]
    return sql


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("analyst-guide") / "demo.duckdb"
    result = CliRunner().invoke(app, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db


def run(db: Path, sql: str) -> list[dict[str, Any]]:
    columns, rows = read_only_query(db, sql)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_the_guide_asks_at_least_15_questions_each_with_its_sql():
    questions = [h for h, _ in QUERIES if re.match(r"\d+\. ", h)]
    assert len(questions) >= 15
    assert len(set(questions)) == len(questions)  # one block per question


@pytest.mark.parametrize("heading, sql", QUERIES, ids=[h.split(".")[0] for h, _ in QUERIES])
def test_every_query_of_the_guide_runs_and_answers(demo, heading, sql):
    columns, rows = read_only_query(demo, sql)
    assert columns and rows, f"{heading}: no rows on the demo warehouse"


def test_works_merged_across_pubmed_and_crossref(demo):
    works = {row["sources"]: row["works"] for row in run(demo, query("11."))}
    # 27 Crossref preprints join the work of the article they are a preprint of (15 of a
    # Crossref-only article, 12 of a PubMed + Crossref one): 528 works in all.
    assert works == {"pubmed": 350, "crossref": 85, "oai + pure": 43, "crossref + pubmed": 50}
    merged = run(demo, query("10."))
    assert len(merged) == 20  # its limit: 105 are merged
    for work in merged:
        if work["sources"] == ["oai", "pure"]:  # a portal output, by OAI-PMH and its page
            assert work["title_from"].startswith("oai:")
            continue
        assert work["sources"] == ["crossref", "pubmed"]
        assert work["title_from"].startswith("pubmed:")  # PubMed's curated title
        assert work["journal_from"].startswith("crossref:")  # Crossref's bibliographic data


def test_records_per_year_add_up_and_searching_a_title_finds_the_seed(demo):
    per_year = run(demo, query("1."))
    # Every record with a known year (9 of the demo's 636 have none).
    assert sum(row["records"] for row in per_year) == 627
    assert any(r["pub_year"] == 1994 and r["source"] == "oai" for r in per_year)  # the seed's
    found = run(demo, query("12."))
    assert SEED_TITLE in [row["title"] for row in found]
    (history,) = run(demo, query("13."))
    assert history["change"] == "insert" and history["run_id"].startswith("oai-")


def test_completeness_quarantine_and_deletions_of_the_demo(demo):
    complete = {row["source"]: row for row in run(demo, query("5."))}
    assert {name: row["records"] for name, row in complete.items()} == {
        "crossref": 150,
        "oai": 43,
        "pubmed": 400,
        "pure": 43,
    }
    assert complete["pubmed"]["with_doi"] == 1.0 and complete["crossref"]["with_doi"] == 1.0
    # Nothing was quarantined or deleted: one row per source's last run, no reason; zero.
    last = run(demo, query("14."))
    assert [(r["source"], r["reason"], r["records"]) for r in last] == [
        ("crossref", None, 0),
        ("oai", None, 0),
        ("pubmed", None, 0),
        ("pure", None, 0),
    ]
    assert [(r["source"], r["deleted"]) for r in run(demo, query("15."))] == [
        ("crossref", 0),
        ("oai", 0),
        ("pubmed", 0),
        ("pure", 0),
    ]


def columns_of(db: Path, view: str) -> list[str]:
    return [row["column_name"] for row in run(db, f"SELECT column_name FROM (DESCRIBE {view})")]


def test_the_views_analysts_asked_for_have_their_columns(demo):
    assert columns_of(demo, "record_subjects") == [
        "source",
        "source_id",
        "scheme",
        "term",
        "code",
        "major",
        "qualifiers",
        "pub_year",
        "journal",
    ]
    assert columns_of(demo, "record_affiliations") == [
        "source",
        "source_id",
        "position",
        "name",
        "orcid",
        "affiliation",
        "pub_year",
    ]
    assert "equal_contrib" in columns_of(demo, "record_authors")
    assert "role" in columns_of(demo, "record_authors")
    # The year and journal are the record's; one affiliation row per affiliation of an author.
    assert run(
        demo,
        "SELECT count(*) AS n FROM record_subjects s JOIN records r USING (source, source_id) "
        "WHERE s.pub_year IS DISTINCT FROM r.pub_year OR s.journal IS DISTINCT FROM r.journal",
    ) == [{"n": 0}]
    (expected,) = run(
        demo,
        "SELECT sum(len(a.affiliations)) AS n FROM records, unnest(authors) AS t(a)",
    )
    (actual,) = run(demo, "SELECT count(*) AS n FROM record_affiliations")
    assert actual["n"] == expected["n"] > 4000


def test_every_view_and_table_the_guide_describes_exists(demo):
    text = GUIDE.read_text(encoding="utf-8")
    for name in (
        "records",
        "record_authors",
        "record_affiliations",
        "record_subjects",
        "deleted_records",
        "works",
        "work_members",
        "work_conflicts",
        "measurements",
        "record_versions",
        "quarantine",
        "validation_results",
        "runs",
    ):
        assert f"`{name}`" in text
        assert columns_of(demo, name)
