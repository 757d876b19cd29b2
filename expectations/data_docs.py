"""Great Expectations Data Docs of the validation results a load kept: a static site that opens
with no network (`biblioduck validation-docs`).

What is kept, so that a run of 1,000 batches stays small: validation (`result_json`) turns each
suite's GX result into JSON (~10 KB) with every list of unexpected values or rows cut to
`KEPT_VALUES`; the loader stores it in `validation_results.gx_result` when an expectation failed
or warned, up to `KEPT_RESULTS_PER_RUN` per run, source and suite, and for the first suite run
of a run that passed (`warehouse.loading._keeps_result`). Pages are rendered only on demand, by
`write_site`, at most `MAX_PAGES` of them.

The pages are GX's own (`ValidationResultsPageRenderer` → `DefaultJinjaPageView`), but in a page
template of ours (`PAGE_TEMPLATE`): GX's templates load Bootstrap, jQuery, Vega and Font Awesome
from CDNs and a logo from S3, so offline they would show an unstyled page and script errors.
Ours keeps GX's inline stylesheet, adds a few rules for what Bootstrap styled, and has no
script; `_strip_external` then removes any `src`/`href` resource that still points to http(s).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warehouse.location import warehouse_folder

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

    from warehouse.store import Warehouse

# Unexpected values, and the rows that hold them, kept per expectation: as many as GX's own
# `partial_unexpected_list` shows. The counts (`unexpected_count`) stay exact.
KEPT_VALUES = 20
LIST_KEYS = (
    "unexpected_list",
    "unexpected_index_list",
    "partial_unexpected_list",
    "partial_unexpected_index_list",
    "partial_unexpected_counts",
)
# How many pages `write_site` renders at most (0.1 s and ~50 KB each); the index says how many
# it left out and how to render them (`--run`).
MAX_PAGES = 200
# Without `--run`, the site shows the latest runs that kept results.
LATEST_RUNS = 20

DEFAULT_DIR_NAME = "validation-docs"


def result_json(result: ExpectationSuiteValidationResult) -> str:
    """`result` as JSON, each list of unexpected values or rows cut to `KEPT_VALUES` (a
    failing expectation over a 30,000-record file would otherwise keep all 30,000)."""
    for outcome in result.results:
        details = outcome.result
        for key in LIST_KEYS:
            values = details.get(key)
            if isinstance(values, list) and len(values) > KEPT_VALUES:
                details[key] = values[:KEPT_VALUES]
        # "df.filter(items=[…every failing row…])": the rows are listed above, cut.
        details.pop("unexpected_index_query", None)
    return json.dumps(result.to_json_dict(), ensure_ascii=False)


def site_dir_for(db: Path) -> Path:
    """Where the Data Docs of warehouse `db` go by default: beside it (and its report; a
    lake's beside its catalog)."""
    return warehouse_folder(db) / DEFAULT_DIR_NAME


def run_page_name(run_id: str | None) -> str:
    """The page of one run's results, relative to the site's directory."""
    return f"runs/{_slug(run_id or 'no-run')}.html"


def run_docs_markdown(run_id: str, site: Path | None = None) -> str:
    """The line a run's Prefect summary carries about its Data Docs: the command that renders
    them and, when the site's directory is known, a link to the run's page."""
    command = f"`biblioduck validation-docs --run {run_id}`"
    if site is None:
        return (
            f"**validation results**: {command} renders them as Great Expectations Data Docs "
            f"(`{DEFAULT_DIR_NAME}/{run_page_name(run_id)}` beside the warehouse)"
        )
    page = (site / run_page_name(run_id)).resolve()
    return (
        f"**validation results**: [Great Expectations Data Docs]({page.as_uri()}) "
        f"({command} writes them)"
    )


def _slug(text: str) -> str:
    """A file name for `text` (batch ids carry `:` and `/`): readable, and unique by a hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


@dataclass(frozen=True, slots=True)
class KeptResult:
    """One suite's validation of one batch, as the warehouse keeps it."""

    run_id: str | None
    source: str
    batch_id: str
    suite: str
    rows: int
    failed_rows: int
    success: bool
    failures: dict[str, int]
    validated_at: dt.datetime
    gx_result: str

    @property
    def page(self) -> str:
        """Its page, relative to the site's directory: four folders deep, where GX's page
        finds the suite's page (`../../../../expectations/<suite>.html`)."""
        run = _slug(self.run_id or "no-run")
        batch = _slug(f"{self.source}-{self.suite}-{self.batch_id}")
        return f"validations/{self.suite}/{run}/{_slug(self.source)}/{batch}.html"


def suite_page_name(suite: str) -> str:
    """The page of a suite's expectations, where GX's validation pages link to it."""
    return f"expectations/{suite}.html"


@dataclass(frozen=True, slots=True)
class RunResults:
    """What one run validated: its kept results, and how many suite runs it did in all."""

    run_id: str | None
    source: str
    started_at: dt.datetime | None
    status: str | None
    suite_runs: int
    failed_suite_runs: int
    kept_count: int
    kept: list[KeptResult]  # empty when only the counts were asked for


RUNS_SQL = """
SELECT v.run_id, any_value(v.source) AS source, any_value(r.started_at) AS started_at,
       any_value(r.status) AS status, count(*) AS suite_runs,
       count(*) FILTER (WHERE NOT v.success OR v.failures::VARCHAR <> '{}') AS failed_suite_runs,
       count(v.gx_result) AS kept, max(v.validated_at) AS last_validated
FROM validation_results v LEFT JOIN runs r USING (run_id)
WHERE ($run_id IS NULL OR v.run_id = $run_id) AND list_contains($suites, v.suite)
GROUP BY v.run_id
HAVING count(v.gx_result) > 0
ORDER BY last_validated DESC
LIMIT $runs
"""

KEPT_SQL = """
SELECT run_id, source, batch_id, suite, rows, failed_rows, success, failures::VARCHAR,
       validated_at, gx_result::VARCHAR
FROM validation_results
WHERE gx_result IS NOT NULL AND run_id IS NOT DISTINCT FROM $run_id
ORDER BY validated_at, batch_id, suite
"""


def has_kept_results(warehouse: Warehouse) -> bool:
    """Whether the warehouse has the `gx_result` column (an older file opened read-only may
    not) and any result in it."""
    columns = warehouse.con.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'validation_results' AND column_name = 'gx_result'"
    ).fetchone()
    if not columns or not columns[0]:
        return False
    kept = warehouse.con.execute(
        "SELECT count(*) FROM validation_results WHERE gx_result IS NOT NULL"
    ).fetchone()
    return bool(kept and kept[0])


def kept_runs(
    warehouse: Warehouse,
    *,
    run_id: str | None = None,
    runs: int = LATEST_RUNS,
    with_results: bool = True,
) -> list[RunResults]:
    """The runs that kept results (only `run_id`, or the latest `runs`), newest first, with
    their kept results (or only how many, without `with_results`)."""
    if not has_kept_results(warehouse):
        return []
    con = warehouse.con
    found = []
    from expectations.validate import SUITES  # not `drift`, which shares the table

    for run, source, started_at, status, suite_runs, failed, kept_count, _last in con.execute(
        RUNS_SQL, {"run_id": run_id, "runs": runs, "suites": list(SUITES)}
    ).fetchall():
        rows = con.execute(KEPT_SQL, {"run_id": run}).fetchall() if with_results else []
        kept = [
            KeptResult(
                run_id=row[0],
                source=row[1],
                batch_id=row[2],
                suite=row[3],
                rows=row[4],
                failed_rows=row[5],
                success=row[6],
                failures=json.loads(row[7]) if row[7] else {},
                validated_at=row[8],
                gx_result=row[9],
            )
            for row in rows
        ]
        found.append(
            RunResults(run, source, started_at, status, suite_runs, failed, kept_count, kept)
        )
    return found


# GX's page, minus what needs the network: no CDN stylesheet or script, no S3 logo, no
# newsletter footer, no walkthrough modal (jQuery). The sections are GX's own templates.
PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>{{ page_title }}</title>
    <style>{% include 'data_docs_default_styles.css' %}</style>
    <style>{{ biblioduck_style }}</style>
  </head>
  <body>
    <nav class="biblioduck-nav"><a href="{{ home_url }}">Validation results</a>
      {%- if run_url %} › <a href="{{ run_url }}">run {{ run_name }}</a>{% endif %}
      › {{ expectation_suite_name }}</nav>
    <div class="container-fluid">
    {% for section in sections %}
      {% set section_loop = loop -%}
      {% include 'section.j2' %}
    {% endfor %}
    </div>
  </body>
</html>
"""

# What Bootstrap styled in GX's pages, in a few rules: tables, cards, status colours, badges.
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1200px; margin: 1em auto; padding: 0 1em; }
.biblioduck-nav { padding: 0.5em 0; border-bottom: 1px solid #ddd; margin-bottom: 1em; }
table { border-collapse: collapse; margin: 0.3em 0 0.8em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em; margin: 0.5em 0; }
.text-danger, .failed { color: #b00020; } .text-success, .passed { color: #1a7f37; }
.badge { display: inline-block; padding: 0 0.4em; border-radius: 3px; background: #eee; }
.alert-secondary { background: #f6f6f6; }
a[data-toggle="collapse"] { display: none; }
i.fas { font-style: normal; font-weight: bold; }
.fa-check-circle::before { content: "\\2714"; } .fa-times::before { content: "\\2718"; }
code, pre, .expectation-value { font-family: ui-monospace, monospace; font-size: 0.95em; }
"""


REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(https?:)?//[^)]*\)", re.IGNORECASE)


@contextmanager
def _page_view() -> Iterator[Any]:
    """GX's Jinja page view, with our page template found in a directory of its own (the
    view's `custom_views_directory`)."""
    # As validation does (expectations.validate): no usage statistics, read at GX's import.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from great_expectations.render.view import DefaultJinjaPageView

    with tempfile.TemporaryDirectory(prefix="biblioduck-gx-views-") as views:
        (Path(views) / "biblioduck_page.j2").write_text(PAGE_TEMPLATE, encoding="utf-8")
        yield DefaultJinjaPageView(custom_views_directory=views)


def _strip_external(page: str) -> str:
    """Remove every element that would load something over the network (a script, a
    stylesheet, an image…); plain links (`<a href>`) stay."""
    import lxml.html

    tree = lxml.html.document_fromstring(page)
    remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
    # GX's stylesheet draws its dark-mode logo from S3: `url(https://…)` becomes `none`.
    for style in tree.iter("style"):
        style.text = REMOTE_CSS_URL.sub("none", style.text or "")
    for element in list(tree.iter()):
        if not isinstance(element, lxml.html.HtmlElement) or element.tag == "a":
            continue
        for attribute in ("src", "href"):
            if remote.match(element.get(attribute) or ""):
                element.drop_tree()
                break
    return "<!DOCTYPE html>\n" + lxml.html.tostring(tree, encoding="unicode")


def render_result(kept: KeptResult, view: Any) -> str:
    """One kept result as a GX validation results page (HTML)."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    stored = json.loads(kept.gx_result)
    outcomes = []
    for outcome in stored["results"]:
        config = outcome.get("expectation_config")
        outcomes.append(
            ExpectationValidationResult(
                success=outcome["success"],
                expectation_config=ExpectationConfiguration(**config) if config else None,
                result=outcome.get("result") or {},
                meta=outcome.get("meta") or {},
                exception_info=outcome.get("exception_info"),
            )
        )
    meta = dict(stored.get("meta") or {})
    # What the page's header and "info" table show: our run and batch, not GX's defaults.
    meta["run_id"] = {"run_name": kept.run_id or "-", "run_time": kept.validated_at.isoformat()}
    meta["batch_parameters"] = {"source": kept.source, "batch_id": kept.batch_id}
    result = ExpectationSuiteValidationResult(
        success=stored["success"],
        results=outcomes,
        suite_name=stored["suite_name"],
        suite_parameters=stored.get("suite_parameters"),
        statistics=stored.get("statistics"),
        meta=meta,
    )
    document = ValidationResultsPageRenderer().render(result)
    depth = kept.page.count("/")
    page = view.render(
        document,
        template="biblioduck_page.j2",
        biblioduck_style=STYLE,
        home_url="../" * depth + "index.html",
        run_url="../" * depth + run_page_name(kept.run_id),
        run_name=kept.run_id or "-",
    )
    return _strip_external(page)


def render_suite(name: str, view: Any) -> str:
    """The suite `name` as it is now (`expectations/<name>.json`), as GX's suite page."""
    from great_expectations.render.renderer import ExpectationSuitePageRenderer

    from expectations.validate import _validator

    document = ExpectationSuitePageRenderer().render(_validator().suites[name])
    page = view.render(
        document,
        template="biblioduck_page.j2",
        biblioduck_style=STYLE,
        home_url="../index.html",
        run_url=None,
        run_name=None,
    )
    return _strip_external(page)


def _failures_text(failures: dict[str, int]) -> str:
    return "; ".join(f"{name}: {rows}" for name, rows in sorted(failures.items())) or "-"


def _html_page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
            *body,
            "</body></html>",
        ]
    )


def _results_table(results: list[KeptResult], *, prefix: str) -> list[str]:
    rows = [
        "<table><tr><th>validated (UTC)</th><th>source</th><th>batch</th><th>suite</th>"
        "<th>rows</th><th>failed rows</th><th>result</th><th>failing expectations (rows)</th>"
        "</tr>"
    ]
    for kept in results:
        status = "passed" if kept.success else "failed"
        if kept.success and kept.failures:
            status = "warnings"
        rows.append(
            f"<tr><td>{kept.validated_at:%Y-%m-%d %H:%M:%S}</td>"
            f"<td>{html.escape(kept.source)}</td>"
            f'<td><a href="{html.escape(prefix + kept.page)}">{html.escape(kept.batch_id)}</a></td>'
            f"<td>{html.escape(kept.suite)}</td><td>{kept.rows:,}</td>"
            f"<td>{kept.failed_rows:,}</td>"
            f'<td class="{"passed" if status == "passed" else "failed"}">{status}</td>'
            f"<td>{html.escape(_failures_text(kept.failures))}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _run_heading(run: RunResults) -> str:
    started = f"{run.started_at:%Y-%m-%d %H:%M} UTC, " if run.started_at else ""
    return (
        f"{html.escape(run.source)} run {html.escape(run.run_id or '(no run)')} "
        f"({started}{html.escape(run.status or 'unknown status')})"
    )


def _run_about(run: RunResults) -> str:
    from warehouse.loading import KEPT_RESULTS_PER_RUN

    return (
        f"<p>{run.suite_runs:,} suite runs over its batches, {run.failed_suite_runs:,} with a "
        f"failing or warning expectation; {run.kept_count:,} kept (those with a failure, up to "
        f"{KEPT_RESULTS_PER_RUN} per suite, and the first of each suite that passed).</p>"
    )


@dataclass(frozen=True, slots=True)
class Site:
    """A written Data Docs site: its index, and what it holds."""

    index: Path
    runs: int
    pages: int
    left_out: int
    seconds: float


def write_site(
    db: Path,
    to: Path,
    *,
    run_id: str | None = None,
    runs: int = LATEST_RUNS,
    max_pages: int = MAX_PAGES,
) -> Site:
    """Render the kept validation results of warehouse `db` (one run, or the latest `runs`)
    as a static Data Docs site in `to`: `index.html`, a page per run, a page per result."""
    from warehouse.store import Warehouse

    started = time.perf_counter()
    with Warehouse(db, read_only=True) as warehouse:
        found = kept_runs(warehouse, run_id=run_id, runs=runs)
    to.mkdir(parents=True, exist_ok=True)
    pages = left_out = 0
    suites: set[str] = set()
    index = [
        f"<h1>Validation results: {html.escape(db.name)}</h1>",
        "<p>Great Expectations validation results the loads kept, newest run first. Each "
        "result page shows the suite's expectations, which failed, and up to "
        f"{KEPT_VALUES} unexpected values with their rows.</p>",
    ]
    if not found:
        which = f"run {run_id}" if run_id else "any run"
        index.append(f"<p>No validation results kept for {html.escape(which)} yet.</p>")
    with _page_view() as view:
        for run in found:
            rendered = []
            for kept in run.kept:
                if pages >= max_pages:
                    left_out += 1
                    continue
                path = to / kept.page
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(render_result(kept, view), encoding="utf-8")
                rendered.append(kept)
                pages += 1
            run_page = to / run_page_name(run.run_id)
            run_page.parent.mkdir(parents=True, exist_ok=True)
            run_page.write_text(
                _html_page(
                    f"Validation results of run {run.run_id}",
                    [
                        '<nav class="biblioduck-nav"><a href="../index.html">'
                        "Validation results</a></nav>",
                        f"<h1>{_run_heading(run)}</h1>",
                        _run_about(run),
                        *_results_table(rendered, prefix="../"),
                    ],
                ),
                encoding="utf-8",
            )
            link = html.escape(run_page_name(run.run_id))
            index.append(f'<h2><a href="{link}">{_run_heading(run)}</a></h2>')
            index.append(_run_about(run))
            index.extend(_results_table(rendered, prefix=""))
            suites.update(kept.suite for kept in rendered)
        for suite in sorted(suites):
            path = to / suite_page_name(suite)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_suite(suite, view), encoding="utf-8")
        if suites:
            links = ", ".join(
                f'<a href="{suite_page_name(suite)}">{html.escape(suite)}</a>'
                for suite in sorted(suites)
            )
            index.insert(2, f"<p>The suites, as they are now: {links}.</p>")
    if left_out:
        index.append(
            f"<p>{left_out:,} more results were not rendered (at most {max_pages} pages): "
            "render one run with <code>biblioduck validation-docs --run RUN_ID</code>.</p>"
        )
    index_path = to / "index.html"
    partial = index_path.with_name("index.html.partial")
    partial.write_text(_html_page(f"Validation results: {db.name}", index), encoding="utf-8")
    partial.replace(index_path)
    return Site(
        index=index_path,
        runs=len(found),
        pages=pages,
        left_out=left_out,
        seconds=time.perf_counter() - started,
    )


def describe_site(site: Site) -> str:
    """One line about a written site: where it is and what it holds."""
    more = f", {site.left_out} left out (use --run)" if site.left_out else ""
    return (
        f"validation docs: {site.index} ({site.runs} run(s), {site.pages} result page(s){more}, "
        f"{site.seconds:.1f} s); open it in a browser, no network needed"
    )
