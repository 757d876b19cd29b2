"""`biblioduck report`: one self-contained HTML file of plots, written by `demo` beside the
warehouse too; every chart has data on the demo (the bulk-file ledger, which the demo does not
use, says "no data yet" there and is drawn once it has rows); and headless Chromium draws every
chart, with no script error, from the file alone."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import IN_CI
from warehouse.report import CHARTS, build_plots, write_report
from warehouse.status import analyst_reads
from warehouse.store import Warehouse

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

runner = CliRunner()
KEYS = [chart.key for chart in CHARTS]
# The one chart whose table the demo leaves empty: it loads no bulk files.
NOT_IN_THE_DEMO = {"bulk-files"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("report-demo") / "demo.duckdb"
    result = runner.invoke(app, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db, result.output


@pytest.fixture(scope="module")
def filled(demo: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo warehouse with what the demo never makes: bulk files in the ledger,
    a quarantined record and a failed validation, so every chart has something to draw."""
    db = tmp_path_factory.mktemp("report-filled") / "filled.duckdb"
    shutil.copy(demo[0], db)
    with Warehouse(db) as warehouse:
        con = warehouse.con
        (run_id,) = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC").fetchone()
        for number, (kind, status) in enumerate(
            [("baseline", "loaded"), ("baseline", "loaded"), ("baseline", "failed")]
            + [("update", "loaded")] * 2,
            start=1,
        ):
            con.execute(
                "INSERT INTO bulk_files (name, kind, year, number, md5, status, records, "
                "run_id, updated_at) VALUES (?, ?, 2026, ?, 'md5', ?, ?, ?, now())",
                [f"pubmed26n{number:04d}.xml.gz", kind, number, status, 30_000, run_id],
            )
        con.execute(
            "INSERT INTO quarantine (source, source_id, batch_id, run_id, row_in_batch, "
            "failed_expectations, content_hash, quarantined_at) "
            "VALUES ('oai', 'broken', 'b', ?, 0, ['title_not_null'], 'h', now())",
            [run_id],
        )
        con.execute(
            "INSERT INTO validation_results (source, batch_id, run_id, suite, rows, failed_rows, "
            "success, failures, validated_at) VALUES ('oai', 'b', ?, 'records', 44, 1, false, "
            "'{}', now())",
            [run_id],
        )
    return db


def page_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def specs_in(page: str) -> dict[str, dict]:
    (specs,) = re.findall(r"const SPECS = (.*?);\n", page)
    return json.loads(specs.replace("<\\/", "</"))


def test_the_demo_writes_the_report_beside_the_warehouse_and_says_where(demo):
    db, output = demo
    report = db.parent / "report.html"
    assert report.is_file()
    assert f"report: {report}" in output
    assert "no data yet for: bulk-files" in output


def test_every_chart_but_the_ledger_has_data_on_the_demo(demo):
    with analyst_reads(demo[0]) as read:
        plots = {plot.chart.key: plot for plot in build_plots(read)}
    assert list(plots) == KEYS and len(KEYS) == 10
    for key, plot in plots.items():
        if key in NOT_IN_THE_DEMO:
            assert plot.rows == 0 and plot.spec is None
        else:
            assert plot.rows > 0 and plot.spec is not None, f"{key}: no data on the demo"


def test_report_writes_one_self_contained_file(demo, tmp_path):
    to = tmp_path / "out" / "report.html"
    result = runner.invoke(app, ["report", "--to", str(to), "--db", str(demo[0])])
    assert result.exit_code == 0, result.output
    assert f"report: {to} (10 charts" in result.output
    page = page_of(to)
    # Nothing is fetched: no element of the page names a script, stylesheet, image or frame
    # elsewhere (the inline scripts are the page's text: <script> has no src).
    doc = lxml.html.fromstring(page)
    assert not doc.xpath("//*[@src or @srcset] | //*[@href and not(self::a)]")
    # Its only links are the ones a reader follows: to the warehouse's validation docs, by a
    # relative path (the report is written away from the warehouse here).
    links = [a.get("href") for a in doc.xpath("//a[@href]")]
    assert links and all("validation-docs/" in link and "://" not in link for link in links)
    assert len(doc.xpath("//script")) == 3 and len(doc.xpath("//script")[1].text) > 500_000
    assert "vegaEmbed" in page and "vega-lite" in page.lower()
    # One section per chart, then sections that are not charts (Data Docs links, drift).
    assert [key for key in KEYS if f'<section id="{key}">' in page] == KEYS
    assert page.count('<section id="drift">') == 1
    specs = specs_in(page)
    assert set(specs) == set(KEYS) - NOT_IN_THE_DEMO
    for key in NOT_IN_THE_DEMO:
        assert f'<p class="empty" id="empty-{key}">no data yet</p>' in page
    # Written again, it replaces the file.
    again = runner.invoke(app, ["report", "--to", str(to), "--db", str(demo[0])])
    assert again.exit_code == 0, again.output


def test_the_default_path_is_beside_the_warehouse(demo, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo[0], db)
    result = runner.invoke(app, ["report", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").is_file()


def test_an_empty_warehouse_says_no_data_yet_for_every_chart(tmp_path):
    db = tmp_path / "empty.duckdb"
    with Warehouse(db):
        pass  # migrated: every table and view, no rows
    result = write_report(db, tmp_path / "report.html")
    assert result["empty"] == KEYS
    page = page_of(tmp_path / "report.html")
    assert page.count(">no data yet</p>") == len(KEYS)
    assert specs_in(page) == {}


def test_a_missing_warehouse_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["report", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "no warehouse at" in result.output
    assert not (tmp_path / "report.html").exists()


def test_the_report_only_reads_the_warehouse(filled, tmp_path):
    before = hashlib.sha256(filled.read_bytes()).hexdigest()
    result = write_report(filled, tmp_path / "report.html")
    assert result["empty"] == []  # the ledger, the quarantine and a failed check are drawn
    assert hashlib.sha256(filled.read_bytes()).hexdigest() == before
    assert not filled.with_name(filled.name + ".wal").exists()


# ---- in a browser -------------------------------------------------------------------------


def chromium() -> str:
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        message = "no chromium found (Debian: apt-get install chromium; .ci/run installs it)"
        if IN_CI:
            pytest.fail(f"{message}; under CI this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return path


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",  # let every vegaEmbed promise settle first
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(profile)},
        check=False,
    )


def test_every_chart_renders_in_headless_chromium(filled, tmp_path):
    browser = chromium()
    report = tmp_path / "report.html"
    assert write_report(filled, report)["empty"] == []
    url = report.as_uri()

    shot = tmp_path / "report.png"
    taken = headless(
        browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,4600", url
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000  # kept under tmp_path to look at

    dumped = headless(browser, tmp_path / "profile-dom", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    doc = lxml.html.fromstring(dumped.stdout)
    assert doc.body.get("data-charts") == "done", "vega-embed did not finish"
    assert (doc.get_element_by_id("report-errors").text or "").strip() == ""
    for key in KEYS:
        chart = doc.get_element_by_id(f"chart-{key}")
        assert chart.get("data-rendered") == "ok", f"{key}: {chart.text_content()[:300]}"
        assert chart.xpath(".//svg"), f"{key}: no <svg>"
        marks = chart.xpath(".//*[contains(@class, 'role-mark')]/*")
        assert marks, f"{key}: an empty plot"
        assert "Error" not in chart.text_content()
    assert not doc.xpath("//*[@class='empty']")
