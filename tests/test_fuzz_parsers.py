"""Fuzzing every parser with mutated real fixtures: a payload either yields records that load into
Arrow and the validation frames, or raises one of the project's own errors, never another type."""

from __future__ import annotations

import copy
import functools
import json
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from expectations.validate import validation_frames
from flows.pipeline import PARSERS
from schemas.arrow import records_table
from schemas.errors import BiblioduckError
from schemas.record import Record

# Bounded for CI: derandomized (the same examples every run), no example database, no deadline
# (the first example pays for imports and compiled-module loading), sized for two cores (about
# 20 s for the file). A deeper local run scales the example counts, e.g.
# BIBLIODUCK_FUZZ_SCALE=5 (5,000 structure examples per parser passed in about 100 s).
_SCALE = float(os.environ.get("BIBLIODUCK_FUZZ_SCALE", "1"))


def _settings(examples: int) -> settings:
    return settings(
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=max(1, int(examples * _SCALE)),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Byte-level mutations mostly make the payload unreadable (about 90 % end in
# MalformedPayloadError, which is the point, and cheap); structure-level ones keep it readable
# and reach the field parsers, so they get more examples.
BYTE_FUZZ = _settings(400)
STRUCTURE_FUZZ = _settings(1000)

# (parser, fixture folder, glob): the recorded payloads each parser is mutated from. The bulk
# files (30,000 records) and the cassettes (YAML, not the parser's input) are left out.
CORPORA = {
    "pubmed": [
        ("pubmed_efetch", "*.xml"),
        ("pubmed_efetch", "*.xml.gz"),  # 1 kB: the gzip path
        ("pubmed_baseline", "*_empty.xml"),
    ],
    "crossref": [("crossref", "*.json")],
    "oai": [("oaipmh", "*.xml")],
    "jats": [("jats", "*")],
    "html": [("landing_html", "*.html")],
    "pure": [("landing_html", "pure_portal_*.html")],
}

HOSTILE_JSON_VALUES: list[Any] = [
    10**30,
    -(10**30),
    2**63,
    2**64,
    -(2**63) - 1,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    "",
    "null",
    "x" * 1000,
    "\ud800",  # a lone surrogate: valid JSON text (escaped), not encodable as UTF-8
    "\x00",
    "²",
    "9" * 5000,
    [],
    [None],
    [[None]],
    {},
    {"date-parts": "2020"},
    None,
    True,
    0,
    -1,
    1.5,
]

# Element texts and attribute values: numbers no field holds, digits `int()` refuses ("²" is a
# digit to `str.isdigit`; 5,000 digits are past `int()`'s limit), impossible dates.
HOSTILE_TEXTS = [
    "99999999999999999999999999",
    "9" * 5000,
    "²",
    "²²²²",
    "0000",
    "NaN",
    "-1",
    "",
    " ",
    "2020-13-45",
    "0000-00-00",
    "99999999999999999999-01-01",
    "1-99999999999999999999999",
]

XML_SNIPPETS = [
    b"<!-- a comment -->",
    b"<?pi data?>",
    b"<![CDATA[<not> & markup]]>",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"&undefined;",
    b"&#99999999999999999999;",
    b"<extra/>",
    b"<PMID>1</PMID>",
    b"\xff\xfe",
    b"\x00",
    b"]]>",
]


def load_corpus(fixtures_dir: Path, fmt: str) -> list[tuple[str, bytes]]:
    found = [
        (path.name, path.read_bytes())
        for folder, pattern in CORPORA[fmt]
        for path in sorted((fixtures_dir / folder).glob(pattern))
    ]
    assert found, f"no {fmt} fixtures under {fixtures_dir}"
    return found


# Per example, bounds no mutation of a recorded payload (up to ~600 kB) comes near when parsing
# is linear (measured: the slowest example of a run took 0.17 s, the largest peak 2.7 MB):
# a quadratic path, a retry loop or an unbounded read is caught as a failure, not a slow CI.
MAX_SECONDS = 5.0
MAX_PEAK_BYTES = 64 << 20


def check_parse(fmt: str, payload: bytes) -> None:
    """Parse, then build the Arrow table and the validation frames of what was parsed, within
    `MAX_SECONDS` and `MAX_PEAK_BYTES` of Python allocations."""
    _warm_up(fmt)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        _parse_and_frame(fmt, payload)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < MAX_SECONDS, f"{fmt}: {seconds:.1f} s for a {len(payload):,}-byte payload"
    assert peak < MAX_PEAK_BYTES, f"{fmt}: {peak:,} bytes for a {len(payload):,}-byte payload"


def _parse_and_frame(fmt: str, payload: bytes) -> None:
    try:
        items = list(PARSERS[fmt](payload, origin="fuzz"))
    except BiblioduckError:
        return
    records = [item for item in items if isinstance(item, Record)]
    records_table(records)
    validation_frames(records, source=fmt)


@functools.cache
def _warm_up(fmt: str) -> None:
    """Imports and compiled modules load on the first parse: not the example's cost."""
    _parse_and_frame(fmt, b"")
    validation_frames([], source=fmt)


# --- byte-level mutations ----------------------------------------------------------------------


@st.composite
def byte_mutations(draw: st.DrawFn, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        at = draw(st.integers(0, max(size - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        if kind == "flip" and size:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


# --- JSON structure mutations ------------------------------------------------------------------


def json_paths(value: Any, path: tuple[Any, ...] = (), limit: int = 5000) -> list[tuple[Any, ...]]:
    """Paths to every value of a decoded document (breadth first, at most `limit`)."""
    paths: list[tuple[Any, ...]] = []
    queue: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    while queue and len(paths) < limit:
        here, node = queue.pop(0)
        paths.append(here)
        if isinstance(node, dict):
            queue.extend(((*here, k), v) for k, v in node.items())
        elif isinstance(node, list):
            queue.extend(((*here, i), v) for i, v in enumerate(node))
    return paths


def replace_at(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


@st.composite
def json_mutations(draw: st.DrawFn, payload: bytes) -> bytes:
    document = json.loads(payload)
    deep: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 3))):
        paths = json_paths(document)
        path = draw(st.sampled_from(paths))
        current: Any = document
        for step in path:
            current = current[step]
        kind = draw(st.sampled_from(["hostile", "wrong-type", "deep", "delete"]))
        if kind == "hostile":
            new: Any = copy.deepcopy(draw(st.sampled_from(HOSTILE_JSON_VALUES)))
        elif kind == "wrong-type":
            # Lists become strings, objects lists, strings objects, numbers strings.
            if isinstance(current, list):
                new = json.dumps(current)[:50]
            elif isinstance(current, dict):
                new = list(current.values())[:3]
            elif isinstance(current, str):
                new = {"value": current}
            else:
                new = str(current)
        elif kind == "deep":
            # Spliced into the encoded text: `json.dumps` itself recurses past ~1,000 levels.
            marker = f"@deep{len(deep)}@"
            depth = draw(st.sampled_from([50, 999, 5000, 100_000]))
            deep[marker] = "[" * depth + json.dumps(current, allow_nan=True) + "]" * depth
            new = marker
        else:
            if path:
                parent: Any = document
                for step in path[:-1]:
                    parent = parent[step]
                del parent[path[-1]]
            continue
        document = replace_at(document, path, new)
    text = json.dumps(document, allow_nan=True, ensure_ascii=draw(st.booleans()))
    for marker, nested_text in deep.items():
        text = text.replace(json.dumps(marker), nested_text)
    return text.encode("utf-8", errors="surrogatepass")


# --- XML structure mutations -------------------------------------------------------------------


def _tree_mutation(payload: bytes, op: str, pick: int) -> bytes:
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    try:
        root = etree.fromstring(payload, parser)
    except etree.XMLSyntaxError:
        return payload
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    if op in ("text", "markup"):  # leaves: where the values (dates, pages, counts) are
        elements = [e for e in elements if len(e) == 0] or elements
    target = elements[pick % len(elements)]
    parent = target.getparent()
    if op == "duplicate" and parent is not None:
        parent.insert(parent.index(target) + 1, _copy(target))
    elif op == "delete" and parent is not None:
        parent.remove(target)
    elif op == "nest":
        # The element wrapped in 200 copies of itself: deep nesting of a known tag.
        inner = _copy(target)
        for _ in range(200):
            outer = etree.Element(target.tag)
            outer.append(inner)
            inner = outer
        target.append(inner)
    elif op == "text":
        target.text = HOSTILE_TEXTS[pick % len(HOSTILE_TEXTS)]
    elif op == "markup":  # an element where text was expected: <Year><b>2020</b></Year>
        child = etree.SubElement(target, "b")
        child.text, target.text = target.text, None
    elif op == "attribute":
        name = next(iter(target.attrib), "Version") if pick % 2 else "Version"
        target.set(name, HOSTILE_TEXTS[pick % len(HOSTILE_TEXTS)])
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _copy(element: Any) -> Any:
    duplicate = copy.deepcopy(element)
    duplicate.tail = None
    return duplicate


@st.composite
def xml_mutations(draw: st.DrawFn, payload: bytes) -> bytes:
    kind = draw(
        st.sampled_from(
            ["duplicate", "delete", "nest", "text", "markup", "attribute", "snippet", "encoding"]
        )
    )
    if kind == "snippet":
        starts = [i for i in range(len(payload)) if payload[i : i + 1] == b"<"]
        at = draw(st.sampled_from(starts)) if starts else 0
        return payload[:at] + draw(st.sampled_from(XML_SNIPPETS)) + payload[at:]
    if kind == "encoding":
        declared = draw(st.sampled_from(["UTF-16", "ISO-8859-1", "US-ASCII", "bogus", "UTF-8"]))
        body = payload.split(b"?>", 1)[1] if payload.startswith(b"<?xml") else payload
        data = b'<?xml version="1.0" encoding="' + declared.encode() + b'"?>' + body
        if draw(st.booleans()) and declared == "UTF-16":
            data = data.decode("utf-8", errors="replace").encode("utf-16")
        return data
    return _tree_mutation(payload, kind, draw(st.integers(0, 10_000)))


MUTATORS: dict[str, Callable[[bytes], st.SearchStrategy[bytes]]] = {
    "pubmed": xml_mutations,
    "crossref": json_mutations,
    "oai": xml_mutations,
    "jats": xml_mutations,
    "html": xml_mutations,  # markup either way: tags cut, bytes flipped, entities
    "pure": xml_mutations,
}


# --- the properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@BYTE_FUZZ
@given(data=st.data())
def test_byte_mutations_parse_or_raise_our_errors(fixtures_dir: Path, fmt: str, data: Any) -> None:
    _name, payload = data.draw(st.sampled_from(load_corpus(fixtures_dir, fmt)))
    check_parse(fmt, data.draw(byte_mutations(payload)))


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@STRUCTURE_FUZZ
@given(data=st.data())
def test_structure_mutations_parse_or_raise_our_errors(
    fixtures_dir: Path, fmt: str, data: Any
) -> None:
    corpus = load_corpus(fixtures_dir, fmt)
    if fmt == "crossref":
        corpus = [(name, body) for name, body in corpus if _is_json(body)]
    _name, payload = data.draw(st.sampled_from(corpus))
    check_parse(fmt, data.draw(MUTATORS[fmt](payload)))


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


# --- known hostile inputs, as explicit cases ----------------------------------------------------

WORK = {"DOI": "10.1/x", "type": "journal-article", "title": ["T"], "author": [{"family": "F"}]}


def work(**changes: Any) -> bytes:
    body = {**WORK, **{key.replace("_", "-"): value for key, value in changes.items()}}
    return json.dumps(body, allow_nan=True).encode()


KNOWN_CROSSREF = {
    "citation count 10**30": work(is_referenced_by_count=10**30),
    "citation count -10**30": work(is_referenced_by_count=-(10**30)),
    "citation count as a string of 30 digits": work(is_referenced_by_count="1" * 31),
    "author as a string": work(author="Smith, J."),
    "issued.date-parts as a string": work(issued={"date-parts": "2020-01-01"}),
    "issued date part 10**30": work(issued={"date-parts": [[10**30, 1, 1]]}),
    "NaN citation count": work(is_referenced_by_count=float("nan")),
    "Infinity in a date part": work(issued={"date-parts": [[float("inf")]]}),
    "NaN as the title": work(title=[float("nan")]),
    "invalid UTF-8": work()[:-2] + b', "publisher": "\xff\xfe\xc3"}',
    "100,000-deep array": b'{"DOI": "10.1/x", "type": "t", "x": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
    "100,000-deep JSON-lines": b'{"DOI": "10.1/x"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "deep objects": b'{"DOI": "10.1/x", "x": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
}


@pytest.mark.parametrize("payload", KNOWN_CROSSREF.values(), ids=KNOWN_CROSSREF.keys())
def test_known_hostile_crossref_inputs(payload: bytes) -> None:
    check_parse("crossref", payload)


PUBMED_ARTICLE = (
    b"<PubmedArticle><MedlineCitation><PMID Version='1'>%s</PMID><Article>"
    b"<ArticleTitle>T</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
)


def pubmed_set(*articles: bytes) -> bytes:
    return b"<PubmedArticleSet>" + b"".join(articles) + b"</PubmedArticleSet>"


KNOWN_XML = {
    "pubmed: a PMID twice": (
        "pubmed",
        pubmed_set(PUBMED_ARTICLE % b"1", PUBMED_ARTICLE % b"1"),
    ),
    "pubmed: two PMIDs in one citation": (
        "pubmed",
        pubmed_set(PUBMED_ARTICLE.replace(b"</PMID>", b"</PMID><PMID>2</PMID>") % b"1"),
    ),
    "pubmed: a 30-digit PMID": ("pubmed", pubmed_set(PUBMED_ARTICLE % (b"9" * 30))),
    "pubmed: Version '²'": (
        "pubmed",
        pubmed_set(PUBMED_ARTICLE.replace(b"Version='1'", "Version='²'".encode()) % b"1"),
    ),
    "pubmed: a 5,000-digit Version": (
        "pubmed",
        pubmed_set(
            PUBMED_ARTICLE.replace(b"Version='1'", b"Version='" + b"9" * 5000 + b"'") % b"1"
        ),
    ),
    "pubmed: Day 10**30 in DateRevised": (
        "pubmed",
        pubmed_set(
            PUBMED_ARTICLE.replace(
                b"<Article>",
                b"<DateRevised><Year>2020</Year><Month>01</Month><Day>"
                + b"1" * 31
                + b"</Day></DateRevised><Article>",
            )
            % b"1"
        ),
    ),
    "pubmed: deep nesting in a title": (
        "pubmed",
        pubmed_set(
            PUBMED_ARTICLE.replace(
                b"<ArticleTitle>T", b"<ArticleTitle>" + b"<i>" * 5000 + b"T" + b"</i>" * 5000
            )
            % b"1"
        ),
    ),
    "pubmed: 300,000-deep nesting": (
        "pubmed",
        b"<PubmedArticleSet>" + b"<a>" * 300_000 + b"</a>" * 300_000 + b"</PubmedArticleSet>",
    ),
    "oai: 300,000-deep nesting": (
        "oai",
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        + b"<a>" * 300_000
        + b"</a>" * 300_000
        + b"</OAI-PMH>",
    ),
    "pubmed: billion laughs": (
        "pubmed",
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b"<!ENTITY %c '%s'>" % (98 + i, (b"&" + bytes([97 + i]) + b";") * 10) for i in range(8)
        )
        + b"]><PubmedArticleSet>"
        + PUBMED_ARTICLE.replace(b">T<", b">&i;<") % b"1"
        + b"</PubmedArticleSet>",
    ),
}


@pytest.mark.parametrize("fmt, payload", KNOWN_XML.values(), ids=KNOWN_XML.keys())
def test_known_hostile_xml_inputs(fmt: str, payload: bytes) -> None:
    check_parse(fmt, payload)
