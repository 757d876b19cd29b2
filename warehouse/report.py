"""`biblioduck report`: one self-contained HTML file of plots of the warehouse.

Each chart is one SQL query, run through the analysts' read-only, locked-down path
(`warehouse.status.analyst_reads`), and one Altair (Vega-Lite) spec over its rows. The page
carries its data and the Vega, Vega-Lite and vega-embed JavaScript inline (the bundle
`vl-convert-python` builds, offline, for the Vega-Lite version Altair writes), so it opens with
no network and keeps Vega's tooltips. A chart whose query returns no rows shows a short
"no data yet" note instead of an empty plot.

In the page every chart sits in `<div class="chart" id="chart-KEY">`; once vega-embed has drawn
it the div carries `data-rendered="ok"` (or `"error"` and the error's text), and any script
error or `console.error` is listed in `<pre id="report-errors">`: what a headless browser
checks.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import hashlib
import html
import json
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import altair as alt

from warehouse.drift import drift_section
from warehouse.status import AnalystReads, analyst_reads

Rows = list[dict[str, Any]]
WIDTH = 900  # px: the page is 1000 px wide

# ---- the queries ---------------------------------------------------------------------------

RECORDS_PER_YEAR = """
SELECT pub_year AS year, source, count(*) AS records
FROM records WHERE pub_year IS NOT NULL
GROUP BY ALL ORDER BY ALL
"""

TOP_JOURNALS = """
SELECT journal, count(*) AS records
FROM records WHERE journal IS NOT NULL
GROUP BY journal ORDER BY records DESC, journal LIMIT 15
"""

TOP_MESH = """
SELECT term, count(DISTINCT (source, source_id)) AS records
FROM record_subjects WHERE scheme = 'mesh'
GROUP BY term ORDER BY records DESC, term LIMIT 20
"""

MESH_TREND = """
WITH top AS (
    SELECT term FROM record_subjects WHERE scheme = 'mesh'
    GROUP BY term ORDER BY count(DISTINCT (source, source_id)) DESC, term LIMIT 5)
SELECT s.pub_year AS year, s.term, count(DISTINCT (s.source, s.source_id)) AS records
FROM record_subjects s JOIN top USING (term)
WHERE s.scheme = 'mesh' AND s.pub_year IS NOT NULL
GROUP BY ALL ORDER BY ALL
"""

COMPLETENESS = """
WITH flags AS (
    SELECT source,
           abstract IS NOT NULL AS "abstract",
           doi IS NOT NULL AS "DOI",
           coalesce(len(list_filter(authors, lambda a: a.orcid IS NOT NULL)) > 0, false)
               AS "ORCID",
           coalesce(len(list_filter(authors, lambda a: len(a.affiliations) > 0)) > 0, false)
               AS affiliation
    FROM records)
SELECT source, field, avg(has::INTEGER) AS share, count(*) AS records
FROM (UNPIVOT flags ON "abstract", "DOI", "ORCID", affiliation INTO NAME field VALUE has)
GROUP BY ALL ORDER BY ALL
"""

# Citation counts as a histogram in buckets that widen as counts grow (most works have few
# citations, some thousands), of each record's latest count per provider.
CITATION_FLOORS = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
CITATION_BUCKETS = tuple(
    str(low) if high == low + 1 else f"{low}–{high - 1}" if high else f"{low}+"
    for low, high in zip(CITATION_FLOORS, (*CITATION_FLOORS[1:], None), strict=True)
)
CITATIONS = f"""
WITH latest AS (
    SELECT source, source_id, provider, arg_max(value, recorded_at) AS citations
    FROM measurements WHERE name = 'citations'
    GROUP BY ALL),
bucketed AS (
    SELECT provider,
           len(list_filter({list(CITATION_FLOORS)}, lambda low: low <= citations)) AS bucket
    FROM latest)
SELECT bucket, {list(CITATION_BUCKETS)}[bucket] AS citations, provider, count(*) AS records
FROM bucketed GROUP BY ALL ORDER BY ALL
"""

# The 15 latest runs: the share of validated rows that passed, per suite, and what each run
# quarantined (the larger of the run's own count and the quarantine rows that still name it).
QUALITY = """
WITH recent AS (
    SELECT run_id, source, started_at, quarantined FROM runs
    ORDER BY started_at DESC LIMIT 15),
checks AS (
    SELECT run_id, suite, sum(rows) AS rows, sum(failed_rows) AS failed_rows
    FROM validation_results GROUP BY ALL),
held AS (SELECT run_id, count(*) AS held FROM quarantine GROUP BY run_id)
SELECT r.source || ' ' || strftime(r.started_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') AS run,
       r.run_id, r.started_at, coalesce(c.suite, '(not validated)') AS suite,
       coalesce(c.rows, 0) AS rows, coalesce(c.failed_rows, 0) AS failed_rows,
       CASE WHEN c.rows > 0 THEN 1 - c.failed_rows / c.rows END AS passed,
       greatest(r.quarantined, coalesce(h.held, 0)) AS quarantined
FROM recent r LEFT JOIN checks c USING (run_id) LEFT JOIN held h USING (run_id)
ORDER BY r.started_at, suite
"""

LAST_RUNS = """
WITH last AS (
    SELECT source, arg_max(run_id, started_at) AS run_id FROM runs GROUP BY source)
SELECT source, run_id, kind, status, started_at, seconds, count, n AS value
FROM runs JOIN last USING (source, run_id)
UNPIVOT (n FOR count IN (fetched, inserted, updated, unchanged, deleted, quarantined))
ORDER BY source
"""

BULK_FILES = """
SELECT kind, year::VARCHAR AS year, status, count(*) AS files,
       coalesce(sum(records), 0) AS records, max(updated_at) AS last_update
FROM bulk_files GROUP BY ALL ORDER BY ALL
"""

WORKS_BY_SOURCES = """
SELECT array_to_string(list_sort(sources), ' + ') AS sources, len(sources) AS source_count,
       count(*) AS works
FROM works GROUP BY ALL ORDER BY works DESC, sources
"""


# ---- the charts ----------------------------------------------------------------------------


def _base(rows: Rows) -> alt.Chart:
    return alt.Chart(alt.Data(values=rows))


def records_per_year(rows: Rows) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("year:O", title="publication year"),
            y=alt.Y("sum(records):Q", title="records"),
            color=alt.Color("source:N"),
            tooltip=["year:O", "source:N", "records:Q"],
        )
        .properties(width=WIDTH, height=260)
    )


def _ranked_bars(rows: Rows, label: str) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("records:Q", title="records"),
            y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=420)),
            tooltip=[f"{label}:N", "records:Q"],
        )
        .properties(width=WIDTH - 440)
    )


def top_journals(rows: Rows) -> alt.TopLevelMixin:
    return _ranked_bars(rows, "journal")


def top_mesh(rows: Rows) -> alt.TopLevelMixin:
    return _ranked_bars(rows, "term")


def mesh_trend(rows: Rows) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_line(point=True)
        .encode(
            x=alt.X("year:O", title="publication year"),
            y=alt.Y("records:Q", title="records"),
            color=alt.Color("term:N", title="MeSH term"),
            tooltip=["year:O", "term:N", "records:Q"],
        )
        .properties(width=WIDTH - 200, height=260)
    )


FIELDS = ["abstract", "DOI", "ORCID", "affiliation"]


def completeness(rows: Rows) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("field:N", sort=FIELDS, title=None, axis=alt.Axis(labelAngle=0)),
            xOffset="source:N",
            y=alt.Y("share:Q", title="share of records", axis=alt.Axis(format="%")),
            color=alt.Color("source:N"),
            tooltip=["source:N", "field:N", alt.Tooltip("share:Q", format=".1%"), "records:Q"],
        )
        .properties(width=WIDTH - 200, height=240)
    )


def citations(rows: Rows) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X(
                "citations:N",
                sort=list(CITATION_BUCKETS),
                title="citations (latest count)",
                axis=alt.Axis(labelAngle=0),
            ),
            xOffset="provider:N",
            y=alt.Y("records:Q", title="records"),
            color=alt.Color("provider:N"),
            tooltip=["citations:N", "provider:N", "records:Q"],
        )
        .properties(width=WIDTH - 200, height=240)
    )


def quality(rows: Rows) -> alt.TopLevelMixin:
    base = _base(rows)
    run = alt.X("run:N", sort=alt.EncodingSortField("started_at"), title=None)
    passed = (
        base.mark_bar()
        .encode(
            x=run.axis(labels=False, ticks=False),
            xOffset="suite:N",
            y=alt.Y(
                "passed:Q",
                title="validated rows passing",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("suite:N", title="expectation suite"),
            tooltip=[
                "run:N",
                "suite:N",
                "rows:Q",
                "failed_rows:Q",
                alt.Tooltip("passed:Q", format=".1%"),
            ],
        )
        .properties(width=WIDTH - 200, height=160)
    )
    per_run = base.transform_aggregate(
        quarantined="max(quarantined)", groupby=["run", "started_at"]
    )
    bars = per_run.mark_bar(color="#d62728").encode(
        x=run.axis(labelAngle=-30, labelLimit=260),
        y=alt.Y("quarantined:Q", title="records quarantined", axis=alt.Axis(tickMinStep=1)),
        tooltip=["run:N", "quarantined:Q"],
    )
    labels = per_run.mark_text(dy=-6).encode(x=run, y="quarantined:Q", text="quarantined:Q")
    return alt.vconcat(passed, (bars + labels).properties(width=WIDTH - 200, height=120))


def last_runs(rows: Rows) -> alt.TopLevelMixin:
    order = ["fetched", "inserted", "updated", "unchanged", "deleted", "quarantined"]
    base = _base(rows).encode(
        y=alt.Y("count:N", sort=order, title=None),
        x=alt.X("value:Q", title="records"),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("count:N", sort=order, legend=None),
        tooltip=[
            "source:N",
            "run_id:N",
            "kind:N",
            "status:N",
            "started_at:T",
            "count:N",
            "value:Q",
        ],
    )
    labels = base.mark_text(align="left", dx=3).encode(text="value:Q")
    return (
        alt.layer(bars, labels)
        .properties(width=240, height=150)
        .facet(column=alt.Column("source:N", title="last run per source"))
    )


def bulk_files(rows: Rows) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_bar()
        .encode(
            y=alt.Y("year:N", title=None),
            x=alt.X("sum(files):Q", title="files", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=["loaded", "failed"], range=["#2ca02c", "#d62728"]),
            ),
            row=alt.Row("kind:N", title="file kind and year", header=alt.Header(labelAngle=0)),
            tooltip=["kind:N", "year:N", "status:N", "files:Q", "records:Q", "last_update:T"],
        )
        .properties(width=WIDTH - 250)
    )


def works_by_sources(rows: Rows) -> alt.TopLevelMixin:
    return (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("works:Q", title="works"),
            y=alt.Y("sources:N", sort="-x", title="found in"),
            color=alt.Color("source_count:O", title="sources"),
            tooltip=["sources:N", "works:Q"],
        )
        .properties(width=WIDTH - 300)
    )


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the report: its title, what it shows, its SQL and its spec."""

    key: str
    title: str
    about: str
    sql: str
    spec: Callable[[Rows], alt.TopLevelMixin]


CHARTS = (
    Chart(
        "records-per-year",
        "Records per year and source",
        "Current records by publication year (records with no year are left out).",
        RECORDS_PER_YEAR,
        records_per_year,
    ),
    Chart(
        "top-journals", "Top 15 journals", "By records, all sources.", TOP_JOURNALS, top_journals
    ),
    Chart(
        "top-mesh",
        "Top 20 MeSH terms",
        "Records indexed with each term (view record_subjects, scheme 'mesh').",
        TOP_MESH,
        top_mesh,
    ),
    Chart(
        "mesh-trend",
        "The top 5 MeSH terms by year",
        "Records per publication year indexed with each of the five most used terms.",
        MESH_TREND,
        mesh_trend,
    ),
    Chart(
        "completeness",
        "What the records carry, per source",
        "Share of records with an abstract, a DOI, an author's ORCID, an author's affiliation.",
        COMPLETENESS,
        completeness,
    ),
    Chart(
        "citations",
        "Citation counts",
        "Records by their latest citation count (table measurements, name 'citations').",
        CITATIONS,
        citations,
    ),
    Chart(
        "quality",
        "Validation and quarantine over the latest runs",
        "Above: the share of validated rows that passed each expectation suite; below: the "
        "records each run quarantined.",
        QUALITY,
        quality,
    ),
    Chart(
        "last-runs",
        "The last run of each source",
        "What each source's latest run fetched and did with it.",
        LAST_RUNS,
        last_runs,
    ),
    Chart(
        "bulk-files",
        "Bulk files",
        "The ledger of PubMed baseline and update files (and imported files): files loaded and "
        "failed, by file year.",
        BULK_FILES,
        bulk_files,
    ),
    Chart(
        "works-by-sources",
        "Works by the sources they are found in",
        "Works (view works) by the combination of sources their records come from.",
        WORKS_BY_SOURCES,
        works_by_sources,
    ),
)


# ---- building the report -------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def chart_rows(read: AnalystReads, sql: str) -> Rows:
    """The rows of one chart's query, as JSON-ready dicts."""
    columns, rows = read(sql)
    return [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]


@dataclass(frozen=True, slots=True)
class Plot:
    """One chart as the page shows it: its Vega-Lite spec, or None when it has no data yet."""

    chart: Chart
    rows: int
    spec: dict[str, Any] | None


def build_plots(read: AnalystReads) -> list[Plot]:
    plots = []
    for chart in CHARTS:
        rows = chart_rows(read, chart.sql)
        spec = chart.spec(rows).to_dict() if rows else None
        plots.append(Plot(chart, len(rows), spec))
    return plots


SUMMARY = """
SELECT (SELECT count(*) FROM records) AS records,
       (SELECT count(*) FROM works) AS works,
       (SELECT count(DISTINCT source) FROM records) AS sources,
       (SELECT strftime(max(finished_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') FROM runs)
           AS last_run
"""


def _summary(read: AnalystReads) -> str:
    (row,) = chart_rows(read, SUMMARY)
    last = f"last run finished {row['last_run']} UTC" if row["last_run"] else "no run yet"
    return (
        f"{row['records']:,} records from {row['sources']} source(s), {row['works']:,} works; "
        f"{last}"
    )


def _script_json(value: Any) -> str:
    """JSON to put inside a <script>: no `</` can close the element early."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


# What the bundle leaves in the page: the three libraries as globals (vl-convert's default).
EXPOSE = "window.vegaEmbed = vegaEmbed; window.vegaLite = vegaLite; window.vega = vega;"


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite (the version Altair writes) and vega-embed as one script, offline.
    vl-convert takes 2-7 s to bundle them: the bundle is kept in the user's cache, by the
    versions that make it."""
    major_minor = ".".join(alt.SCHEMA_VERSION.split(".")[:2])  # "v6.4.1" -> "v6.4"
    digest = hashlib.sha256(
        f"{metadata.version('vl-convert-python')}|{major_minor}|{EXPOSE}".encode()
    ).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "biblioduck"
    kept = cache / f"vega-bundle-{digest}.js"
    try:
        return kept.read_text(encoding="utf-8")
    except OSError:
        pass
    import vl_convert

    bundle = vl_convert.javascript_bundle(EXPOSE, vl_version=major_minor)
    bundle = bundle.replace("</script", "<\\/script")
    with suppress(OSError):  # a read-only home only costs the next report the bundling
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f"{kept.name}.{os.getpid()}.partial")
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(kept)
    return bundle


STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1000px; margin: 2em auto; padding: 0 1em; }
h1 { margin-bottom: 0.1em; } .meta { color: #666; margin-top: 0; }
section { border-top: 1px solid #ddd; padding: 0.8em 0 1.2em; }
h2 { font-size: 1.15em; margin: 0.2em 0; } .about { color: #555; margin: 0.2em 0 0.8em; }
.empty { color: #888; font-style: italic; padding: 1.5em; background: #f6f6f6; }
#report-errors:empty { display: none; } #report-errors { color: #b00; }
"""

# Before anything else: collect script errors and console.error calls.
CATCH = """
window.reportErrors = [];
window.addEventListener("error", (event) => reportErrors.push("Error: " + event.message));
const consoleError = console.error;
console.error = (...args) => {
  reportErrors.push("Error: " + args.join(" "));
  consoleError(...args);
};
"""

# Draws every chart with vega-embed, marking each container; when all are done, lists the
# errors collected and marks the body `data-charts="done"`.
EMBED = """
const drawn = Object.entries(SPECS).map(([key, spec]) => {
  const element = document.getElementById("chart-" + key);
  return vegaEmbed(element, spec, {actions: false, renderer: "svg"})
    .then(() => { element.dataset.rendered = "ok"; })
    .catch((error) => {
      element.dataset.rendered = "error";
      element.textContent = "Error: " + error;
      reportErrors.push("Error in " + key + ": " + error);
    });
});
Promise.allSettled(drawn).then(() => {
  document.getElementById("report-errors").textContent = reportErrors.join("\\n");
  document.body.dataset.charts = "done";
});
"""


def _section(plot: Plot) -> str:
    chart = plot.chart
    body = (
        f'<div class="chart" id="chart-{chart.key}"></div>'
        if plot.spec is not None
        else f'<p class="empty" id="empty-{chart.key}">no data yet</p>'
    )
    return (
        f'<section id="{chart.key}"><h2>{html.escape(chart.title)}</h2>'
        f'<p class="about">{html.escape(chart.about)}</p>{body}</section>'
    )


def render_html(
    plots: list[Plot], *, title: str, summary: str, bundle: str, sections: tuple[str, ...] = ()
) -> str:
    specs = {p.chart.key: p.spec for p in plots if p.spec is not None}
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style>",
            f"<script>{CATCH}</script>",
            f"<script>{bundle}</script>",
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{html.escape(summary)}. Generated {generated}.</p>',
            '<pre id="report-errors"></pre>',
            *(_section(p) for p in plots),
            *sections,
            f"<script>const SPECS = {_script_json(specs)};\n{EMBED}</script>",
            "</body></html>",
        ]
    )


def validation_docs_section(db: Path, to: Path) -> str:
    """Links to the Great Expectations Data Docs of the kept validation results
    (`expectations.data_docs`, written beside the warehouse), and to the latest runs' pages."""
    import os

    from expectations import data_docs
    from warehouse.store import Warehouse

    with Warehouse(db, read_only=True) as warehouse:
        runs = data_docs.kept_runs(warehouse, runs=5, with_results=False)
    site = Path(os.path.relpath(data_docs.site_dir_for(db), to.parent)).as_posix()
    about = (
        "Great Expectations' own pages of the validation results the loads kept (suite runs "
        "with a failing or warning expectation, and the first that passed, per run): "
        f'<a id="validation-docs-index" href="{html.escape(site)}/index.html">'
        f"{html.escape(site)}/index.html</a>, written by <code>biblioduck validation-docs</code>"
        " (and by <code>make demo</code>); they open with no network."
    )
    items = [
        f'<li><a href="{html.escape(site)}/{data_docs.run_page_name(run.run_id)}">'
        f"{html.escape(run.source)} run {html.escape(run.run_id or '-')}</a>: "
        f"{run.suite_runs:,} suite runs, {run.failed_suite_runs:,} with a failing or warning "
        "expectation</li>"
        for run in runs
    ]
    body = f"<ul>{''.join(items)}</ul>" if items else '<p class="empty">no results kept yet</p>'
    return (
        '<section id="validation-docs"><h2>Validation results (Data Docs)</h2>'
        f'<p class="about">{about}</p>{body}</section>'
    )


def write_report(db: Path, to: Path) -> dict[str, Any]:
    """Write the report of the warehouse `db` to `to` (a temporary file renamed into place)."""
    started = time.perf_counter()
    # One locked-down connection for every chart (a lake's costs ~0.4 s to open).
    with analyst_reads(db) as read:
        plots = build_plots(read)
        summary = _summary(read)
    page = render_html(
        plots,
        title=f"biblioduck: {db.name}",
        summary=summary,
        bundle=vega_bundle(),
        sections=(validation_docs_section(db, to), drift_section(db)),
    )
    to.parent.mkdir(parents=True, exist_ok=True)
    partial = to.with_name(to.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(to)
    return {
        "path": str(to),
        "charts": len(plots),
        "empty": [p.chart.key for p in plots if p.spec is None],
        "bytes": len(page.encode("utf-8")),
        "seconds": time.perf_counter() - started,
    }


def describe_report(result: dict[str, Any]) -> str:
    """One line about a written report: where it is and which charts have no data yet."""
    empty = f"; no data yet for: {', '.join(result['empty'])}" if result["empty"] else ""
    return (
        f"report: {result['path']} ({result['charts']} charts, {result['bytes'] / 1e6:.1f} MB, "
        f"{result['seconds']:.1f} s{empty}); open it in a browser, no network needed"
    )
