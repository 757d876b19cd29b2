"""Validation results as Great Expectations Data Docs: a real import keeps GX's results of the
suites that failed or warned (and the first clean one per run), `biblioduck validation-docs`
renders them as a static site that loads nothing over the network, and the report and the
run's Prefect summary link to it. GX sends no usage statistics."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from typer.testing import CliRunner

from cli.main import app
from expectations.data_docs import KEPT_VALUES, run_page_name, site_dir_for, write_site
from expectations.validate import validate_batch
from flows.imports import import_files
from flows.summary import summary_markdown
from schemas.record import Deletion, Record
from tests.flow_helpers import warehouse_rows
from tests.records_factory import make_record
from warehouse import loading
from warehouse.report import write_report
from warehouse.store import Warehouse, prepare_batch

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

CLEAN_FILE = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"  # 30 records, all valid
# biopython's pubmed2.xml (PMIDs 11748933, 11700088), edited: the first article published in
# 1700 (before PubMed's earliest year: critical, quarantined), the second with the letter O in
# its ISSN (a warning: it loads).
EDITED_SOURCE = "pubmed_efetch/biopython__pubmed2.xml"
EDITS = (
    (
        "<PubDate><Year>2001</Year><Month>Jun</Month>",
        "<PubDate><Year>1700</Year><Month>Jun</Month>",
    ),
    (">1090-7807</ISSN>", ">1090-78O7</ISSN>"),
    ("<ISSNLinking>1090-7807</ISSNLinking>", "<ISSNLinking>1090-78O7</ISSNLinking>"),
)
EDITED_BATCH = "file:edited_pubmed2.xml:0"
CLEAN_BATCH = "file:pmparser__pubmed26n1334.xml.gz:0"


@pytest.fixture(scope="module")
def loaded(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `biblioduck import` run of the edited file, then the clean one."""
    folder = tmp_path_factory.mktemp("validation-docs")
    text = (fixtures_dir / EDITED_SOURCE).read_text(encoding="utf-8")
    for old, new in EDITS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    edited = folder / "edited_pubmed2.xml"
    edited.write_text(text, encoding="utf-8")
    db = folder / "warehouse.duckdb"
    result = import_files(
        paths=[str(edited), str(fixtures_dir / CLEAN_FILE)], fmt="pubmed", db=str(db), workers=1
    )
    return {"db": db, "run_id": result["run_id"], "result": result}


@pytest.fixture(scope="module")
def site(loaded: dict[str, Any]) -> Path:
    """The Data Docs of that warehouse, where `make demo` and the report expect them."""
    db = loaded["db"]
    written = write_site(db, site_dir_for(db))
    assert (written.runs, written.pages, written.left_out) == (1, 2, 0)
    return written.index.parent


def _text(path: Path) -> str:
    """What a person reads on the page, whitespace collapsed."""
    body = lxml.html.parse(str(path)).getroot().xpath("//body")[0]
    return re.sub(r"\s+", " ", " ".join(body.itertext())).strip()


def test_a_load_keeps_gx_results_of_failures_and_warnings_and_one_clean_per_suite(loaded):
    run_id = loaded["run_id"]
    assert (loaded["result"]["fetched"], loaded["result"]["quarantined"]) == (32, 1)
    assert warehouse_rows(
        loaded["db"],
        "SELECT batch_id, suite, rows, failed_rows, success, failures::VARCHAR, "
        f"gx_result IS NOT NULL FROM validation_results WHERE run_id = '{run_id}' ORDER BY ALL",
    ) == [
        (
            EDITED_BATCH,
            "authors",
            14,
            0,
            True,
            "{}",
            True,  # the run's first clean `authors` result
        ),
        (
            EDITED_BATCH,
            "records",
            2,
            1,
            False,
            '{"records.expect_column_values_to_be_between(pub_year)[critical]": 1, '
            '"records.expect_column_values_to_match_regex(issn)[warning]": 1}',
            True,
        ),
        (CLEAN_BATCH, "authors", 244, 0, True, "{}", False),  # clean, and one is kept
        (CLEAN_BATCH, "records", 30, 0, True, "{}", False),
    ]
    ((stored,),) = warehouse_rows(
        loaded["db"],
        f"SELECT gx_result::VARCHAR FROM validation_results WHERE batch_id = '{EDITED_BATCH}' "
        "AND suite = 'records'",
    )
    failing = {
        r["expectation_config"]["kwargs"]["column"]: r["result"]
        for r in json.loads(stored)["results"]
        if not r["success"]
    }
    assert {c: (r["unexpected_count"], r["unexpected_list"]) for c, r in failing.items()} == {
        "pub_year": (1, [1700]),
        "issn": (1, ["1090-78O7"]),
    }
    assert all("unexpected_index_query" not in r for r in failing.values())


def test_only_the_first_values_of_a_failing_expectation_are_kept():
    """35 records with a malformed ISSN (a warning: the batch loads): the count stays exact,
    the values and their rows are cut to KEPT_VALUES."""
    records: list[Record | Deletion] = [
        make_record(i, issn=f"1234-{i:03d}" if i <= 35 else "0028-0836") for i in range(1, 41)
    ]
    (records_summary, _authors) = validate_batch(records, source="pubmed", batch_id="b").summaries
    assert records_summary.failures == {
        "records.expect_column_values_to_match_regex(issn)[warning]": 35
    }
    assert records_summary.result is not None
    (issn,) = [r for r in json.loads(records_summary.result)["results"] if not r["success"]]
    details = issn["result"]
    assert details["unexpected_count"] == 35
    assert details["unexpected_list"] == [f"1234-{i:03d}" for i in range(1, KEPT_VALUES + 1)]
    assert [row["_row"] for row in details["unexpected_index_list"]] == list(range(KEPT_VALUES))


def test_a_run_of_many_batches_keeps_a_bounded_number_of_results(tmp_path, monkeypatch):
    """Five clean batches keep one result per suite; five with a warning are kept while the
    run keeps fewer than KEPT_RESULTS_PER_RUN (here 3) of the suite; `validation-docs` renders
    at most `max_pages`."""
    monkeypatch.setattr(loading, "KEPT_RESULTS_PER_RUN", 3)
    clean = validate_batch([make_record(i) for i in range(1, 11)], source="pubmed", batch_id="c")
    warned = validate_batch(
        [make_record(i, issn="12345" if i == 1 else None) for i in range(1, 11)],
        source="pubmed",
        batch_id="w",
    )
    db = tmp_path / "w.duckdb"
    with Warehouse(db) as warehouse:
        for number, validated in enumerate([clean] * 5 + [warned] * 5):
            prepared = prepare_batch(validated, source="pubmed", batch_id=f"b{number}", fetched=10)
            warehouse.load(prepared, run_id="run-1")
    assert warehouse_rows(
        db,
        "SELECT suite, list(batch_id ORDER BY batch_id) FROM validation_results "
        "WHERE gx_result IS NOT NULL GROUP BY suite ORDER BY suite",
    ) == [("authors", ["b0"]), ("records", ["b0", "b5", "b6"])]
    written = write_site(db, tmp_path / "docs", max_pages=2)
    assert (written.pages, written.left_out) == (2, 2)
    assert "2 more results were not rendered (at most 2 pages)" in _text(written.index)


def test_the_site_shows_the_suite_the_failing_expectations_and_their_values(loaded, site):
    run_id = loaded["run_id"]
    index = _text(site / "index.html")
    assert f"pubmed run {run_id}" in index
    assert "4 suite runs over its batches, 1 with a failing or warning expectation; 2 kept" in index
    run_page = site / run_page_name(run_id)
    links = lxml.html.parse(str(run_page)).getroot().xpath("//table//a/@href")
    run_folder = Path(run_page_name(run_id)).stem
    # ../validations/<suite>/<run>/<source>/<batch>.html: where GX's page finds its suite's.
    assert [Path(link).parts[1:4] for link in links] == [
        ("validations", "authors", run_folder),
        ("validations", "records", run_folder),
    ]
    authors_page, records_page = ((run_page.parent / link).resolve() for link in links)
    assert records_page.name.startswith("pubmed-records-file-edited_pubmed2.xml-0-")
    page = _text(records_page)
    assert "Expectation Suite: records" in page
    assert "Status: Failed" in page
    assert f"Run Name {run_id}" in page
    assert f"batch_id {EDITED_BATCH}" in page
    # The failing expectations, as GX words them, with their unexpected values (value, count,
    # the row in the batch).
    next_year = dt.date.today().year + 1
    assert (
        f"pub_year Status Expectation Observed Value values must be greater than or equal to "
        f"1800.0 and less than or equal to {next_year}.0 . 1 unexpected values found. 50% of 2 "
        "total rows. Unexpected Value Count _row 1700 1 0 50% unexpected"
    ) in page
    assert (
        "issn Status Expectation Observed Value values must match this regular expression: "
        "^[0-9]{4}-[0-9]{3}[0-9X]$ . 1 unexpected values found. 50% of 2 total rows. "
        "Unexpected Value Count _row 1090-78O7 1 1 50% unexpected"
    ) in page
    suite_page = _text(records_page.parent / "../../../../expectations/records.html")
    assert "Expectation Suite Name records" in suite_page
    assert "Expectation Suite: authors" in _text(authors_page)
    assert "Status: Succeeded" in _text(authors_page)


REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def test_no_page_loads_anything_over_the_network(site):
    pages = sorted(site.rglob("*.html"))
    # The index, the run's page, two result pages and the pages of their two suites.
    assert len(pages) == 6
    for path in pages:
        root = lxml.html.parse(str(path)).getroot()
        for element in root.iter():
            if not isinstance(element.tag, str) or element.tag == "a":
                continue  # a plain link loads nothing until it is followed
            for attribute in ("src", "href"):
                assert not REMOTE.match(element.get(attribute) or ""), (path, element.tag)
        assert root.xpath("//script") == [], path
        for style in root.xpath("//style/text()"):
            assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", style), path
        # Every relative link leads to a page of the site.
        for link in root.xpath("//a/@href"):
            if not REMOTE.match(link) and not link.startswith("#"):
                assert (path.parent / link).resolve().is_file(), (path, link)


def test_the_cli_writes_one_runs_docs_where_asked(loaded, tmp_path):
    outcome = CliRunner().invoke(
        app,
        [
            "validation-docs",
            "--run",
            loaded["run_id"],
            "--to",
            str(tmp_path / "docs"),
            "--db",
            str(loaded["db"]),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    assert f"validation docs: {tmp_path / 'docs' / 'index.html'} (1 run(s), 2 result page(s)" in (
        outcome.output
    )
    assert (tmp_path / "docs" / run_page_name(loaded["run_id"])).is_file()
    arguments = ["validation-docs", "--run", "no-such-run", "--to", str(tmp_path / "none")]
    missing = CliRunner().invoke(app, [*arguments, "--db", str(loaded["db"])])
    assert missing.exit_code == 0, missing.output
    assert "No validation results kept for run no-such-run yet." in _text(
        tmp_path / "none" / "index.html"
    )


def test_the_report_links_to_the_site_and_the_run(loaded, site):
    report = loaded["db"].parent / "report.html"
    write_report(loaded["db"], report)
    root = lxml.html.parse(str(report)).getroot()
    (section,) = root.xpath('//section[@id="validation-docs"]')
    links = section.xpath(".//a/@href")
    assert links == [
        "validation-docs/index.html",
        f"validation-docs/{run_page_name(loaded['run_id'])}",
    ]
    assert all((report.parent / link).is_file() for link in links)
    assert "1 with a failing or warning expectation" in section.text_content()


def test_the_run_summary_artifact_names_the_runs_docs(loaded):
    run_id = loaded["run_id"]
    line = (
        f"**validation results**: `biblioduck validation-docs --run {run_id}` renders them as "
        f"Great Expectations Data Docs (`validation-docs/{run_page_name(run_id)}` beside the "
        "warehouse)"
    )
    run = {k: 0 for k in ("fetched", "inserted", "updated", "unchanged", "stale", "deleted")}
    markdown = summary_markdown(
        "Import",
        {**run, "run_id": run_id, "status": "completed", "quarantined": 1, "seconds": 1},
        {},
    )
    assert markdown.endswith("\n\n" + line)
    # The artifact the import published to the test harness's Prefect API carries it too.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["import-summary"])),
            sort=ArtifactSort.CREATED_DESC,
        )
    published = [str(a.data) for a in artifacts if f"`{run_id}`" in str(a.data)]
    assert len(published) == 1
    assert published[0].endswith(line)


_connections: list[Any] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _connections is not None and event == "socket.connect":
        _connections.append(args[1])


@contextmanager
def _recorded_connections() -> Iterator[list[Any]]:
    """Every socket connection this process attempts meanwhile (Python's audit events: an
    attempt is seen even where the network would refuse it)."""
    global _connections
    if _audit not in _hooks:
        sys.addaudithook(_audit)  # a hook cannot be removed: added once, switched by the list
        _hooks.append(_audit)
    _connections = []
    try:
        yield _connections
    finally:
        _connections = None


_hooks: list[Any] = []


def _loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else str(address)
    try:
        return host.startswith("/") or socket.inet_aton(host)[0] == 127 or host == "localhost"
    except OSError:
        return host in ("::1", "localhost")


def test_great_expectations_sends_no_usage_statistics(loaded, tmp_path):
    import os

    from expectations.validate import _validator

    with _recorded_connections() as connections:
        assert _validator().context.config.analytics_enabled is False
        validate_batch([make_record(1)], source="pubmed", batch_id="b")
        write_site(loaded["db"], tmp_path / "docs")
        # The recorder sees an attempt that fails: a closed port on loopback.
        with socket.socket() as probe, pytest.raises(OSError):
            probe.connect(("127.0.0.1", 9))
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    assert ("127.0.0.1", 9) in connections
    assert [a for a in connections if not _loopback(a)] == []


def test_the_demo_writes_the_docs_beside_its_report_and_says_where(tmp_path):
    db = tmp_path / "demo.duckdb"
    outcome = CliRunner().invoke(app, ["demo", "--db", str(db)])
    assert outcome.exit_code == 0, outcome.output
    index = tmp_path / "validation-docs" / "index.html"
    # Four syncs, each keeping the first clean result of every suite it ran.
    assert f"validation docs: {index} (4 run(s), 9 result page(s)" in outcome.output
    report = lxml.html.parse(str(tmp_path / "report.html")).getroot()
    assert report.xpath('//a[@id="validation-docs-index"]/@href') == ["validation-docs/index.html"]
