"""Hostile landing pages: 10 MB of nested tags, broken and lying encodings, script injections,
absurd JSON-LD. Each is read within bounded memory and time, its text stays inert text, and
nothing a page names (a PDF, a stylesheet, a JSON-LD context, a DTD) is ever fetched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.landing.parse import NoRecord, parse_landing_page
from sandbox.scripted import ScriptedApp
from sandbox.server import serve
from schemas.record import Record

_HEAD = (
    b'<html><head><meta name="citation_title" content="Deep">'
    b'<meta name="citation_doi" content="10.1234/deep"></head><body>'
)
TEN_MB = 10_000_000


def _bounded(parse: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak bytes the Python heap grew by) of one parse."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = parse()
        seconds = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, seconds, peak


def _record(parsed: Record | NoRecord) -> Record:
    assert isinstance(parsed, Record), parsed
    return parsed


def test_ten_mb_of_nested_tags_is_read_in_bounded_time_and_memory() -> None:
    body = _HEAD + b"<div>" * (TEN_MB // 5)
    parsed, seconds, peak = _bounded(lambda: parse_landing_page(body))
    # libxml2 without huge_tree stops nesting at depth 256 ("Excessive depth in document")
    # and lxml keeps the tree read so far: the head's tags, read in milliseconds.
    assert _record(parsed).title == "Deep"
    assert seconds < 5.0
    assert peak < 4 * len(body)  # the decoded text, once or twice: never a tree of 2M nodes


def test_tags_after_the_depth_limit_are_not_read() -> None:
    # The price of the depth limit, on purpose: a page hiding its tags below 256 levels of
    # nesting gives no record (a real page is some 20 levels deep).
    body = b"<html><body>" + b"<div>" * 300 + b'<meta name="citation_title" content="Hidden">'
    assert isinstance(parse_landing_page(body), NoRecord)


def test_ten_mb_of_flat_tags_is_read_in_bounded_time_and_memory() -> None:
    body = _HEAD + b"<p>x</p>" * (TEN_MB // 8)
    parsed, seconds, peak = _bounded(lambda: parse_landing_page(body))
    assert _record(parsed).doi == "10.1234/deep"
    assert seconds < 10.0
    assert peak < 4 * len(body)


def test_native_memory_of_a_nested_page_stays_bounded(tmp_path: Path) -> None:
    # lxml's tree lives in C, out of tracemalloc's sight: the resident set of a fresh process
    # parsing 10 MB of nesting must stay within a small multiple of the page.
    page = tmp_path / "nested.html"
    page.write_bytes(_HEAD + b"<span>" * (TEN_MB // 6))
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from connectors.landing.parse import parse_landing_page
        def peak_kib():  # VmHWM: ru_maxrss would be pytest's peak, kept across exec
            return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
        body = Path({str(page)!r}).read_bytes()
        before = peak_kib()
        record = parse_landing_page(body)
        after = peak_kib()
        print(record.title, (after - before) // 1024)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    title, grown_mb = done.stdout.split()
    assert title == "Deep"
    assert int(grown_mb) < 100


def test_script_in_a_meta_tag_stays_inert_text() -> None:
    body = (
        b"<html><head>"
        b'<meta name="citation_title" content="<script>alert(1)</script>">'
        b'<meta name="citation_author" content="&lt;img src=x onerror=alert(1)&gt;">'
        b'<meta name="citation_abstract" content="javascript:alert(document.cookie)">'
        b"<script>document.title = 'changed'; fetch('http://127.0.0.1:9/steal');</script>"
        b"</head><body onload=\"alert('x')\"></body></html>"
    )
    record = _record(parse_landing_page(body))
    assert record.title == "<script>alert(1)</script>"
    assert record.authors[0].name == "<img src=x onerror=alert(1)>"
    assert record.abstract == "javascript:alert(document.cookie)"


def test_no_url_in_a_page_is_ever_fetched() -> None:
    app = ScriptedApp()
    with serve(app) as base:
        body = (
            f'<!DOCTYPE html SYSTEM "{base}/dtd">'
            f'<html><head><link rel="stylesheet" href="{base}/css">'
            f'<script src="{base}/js"></script>'
            f'<meta name="citation_title" content="Refs">'
            f'<meta name="citation_pdf_url" content="{base}/paper.pdf">'
            f'<meta property="og:image" content="{base}/image.png">'
            f'<script type="application/ld+json">{{"@context": "{base}/context.jsonld",'
            f' "@type": "ScholarlyArticle", "name": "Refs", "sameAs": "{base}/same"}}</script>'
            f'</head><body><img src="{base}/img"><iframe src="{base}/frame"></iframe>'
            f'<object data="{base}/object"></object></body></html>'
        ).encode()
        record = _record(parse_landing_page(body, url=f"{base}/page"))
        time.sleep(0.2)  # anything sent would have arrived by now
    assert app.requests == []
    assert record.links[0].target_id == f"{base}/paper.pdf"  # kept as text, never followed


def test_invalid_utf8_in_the_metadata_is_unreadable() -> None:
    body = (
        b'<html><head><meta charset="utf-8">'
        b'<meta name="citation_title" content="Broken \xff\xfe title">'
        b'<meta name="citation_doi" content="10.1234/broken"></head></html>'
    )
    record = _record(parse_landing_page(body))
    assert record.title == "Broken \ufffd\ufffd title"
    assert record.unreadable == "bytes that are not utf-8 in the page's metadata"


def test_invalid_utf8_outside_the_metadata_is_harmless() -> None:
    body = (
        b'<html><head><meta charset="utf-8"><meta name="citation_title" content="Fine">'
        b"</head><body>\xff\xfe\xfd</body></html>"
    )
    record = _record(parse_landing_page(body))
    assert (record.title, record.unreadable) == ("Fine", None)


def test_a_lying_meta_charset_over_utf8_bytes_reads_utf8() -> None:
    body = (
        '<html><head><meta charset="iso-8859-1">'
        '<meta name="citation_title" content="Zürich ≠ Zurich"></head></html>'
    ).encode()
    assert _record(parse_landing_page(body)).title == "Zürich ≠ Zurich"


def test_a_true_latin1_page_and_the_http_charset() -> None:
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        '<meta name="citation_title" content="Zürich"></head></html>'
    ).encode("latin-1")
    assert _record(parse_landing_page(body)).title == "Zürich"
    # The HTTP header's charset wins over the page's own declaration and the UTF-8 guess.
    utf8 = '<html><head><meta name="citation_title" content="Zürich"></head></html>'.encode()
    as_latin1 = parse_landing_page(utf8, content_type="text/html; charset=iso-8859-1")
    assert _record(as_latin1).title == "ZÃ¼rich"


def test_an_unknown_charset_falls_back_to_windows_1252() -> None:
    body = b'<html><head><meta charset="x-nonsense"><meta name="citation_title" content="Caf\xe9"></head></html>'
    record = _record(parse_landing_page(body))
    assert record.title == "Café"


def test_absurd_json_ld_is_passed_over() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    huge = b'{"@type": "ScholarlyArticle", "name": "' + b"x" * (2 << 20) + b'"}'
    body = (
        b'<html><head><meta name="citation_title" content="Still read">'
        b'<script type="application/ld+json">' + deep + b"</script>"
        b'<script type="application/ld+json">' + huge + b"</script>"
        b'<script type="application/ld+json">{not json</script>'
        b"</head></html>"
    )
    parsed, seconds, _peak = _bounded(lambda: parse_landing_page(body))
    assert _record(parsed).title == "Still read"
    assert seconds < 5.0


def test_nul_bytes_and_control_characters() -> None:
    body = b'<html><head><meta name="citation_title" content="A\x00B\x01C"></head></html>'
    parsed = parse_landing_page(body)
    # libxml2 drops what HTML cannot hold; what is left is still the page's text.
    assert isinstance(parsed, Record)
    assert parsed.title is not None and parsed.title.startswith("A")


def test_empty_and_whitespace_pages_are_no_record() -> None:
    for body in (b"", b"   \n", b"\xef\xbb\xbf", b"<", b"<!-- only a comment -->"):
        assert isinstance(parse_landing_page(body), NoRecord)
