"""Hostile and broken input: no external entity, DTD or network is ever used, entity bombs do
not expand, and broken XML or gzip fails loudly with the origin, the line and the column."""

from __future__ import annotations

import gzip
import io
import socket
from pathlib import Path

import pytest

from connectors.pubmed.parse import iter_pubmed_records
from schemas.errors import FatalError, MalformedPayloadError
from schemas.record import Record

ARTICLE = (
    "<PubmedArticle><MedlineCitation Status='MEDLINE'><PMID Version='1'>{pmid}</PMID>"
    "<Article><ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
)


def article_set(*articles: str, doctype: str = "") -> bytes:
    return f'<?xml version="1.0"?>\n{doctype}<PubmedArticleSet>{"".join(articles)}</PubmedArticleSet>'.encode()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_an_external_entity_is_not_resolved(tmp_path: Path, no_network: None) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = article_set(
        ARTICLE.format(pmid=1, title="Before &xxe; after"),
        doctype=f'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file://{secret}">]>\n',
    )
    (record,) = iter_pubmed_records(xml, origin="xxe test")
    assert isinstance(record, Record)
    # Unexpanded: the reference stays as it was written, the file is never read.
    assert record.title == "Before &xxe; after"
    assert record.raw is not None
    assert b"TOP-SECRET" not in record.raw
    assert "TOP-SECRET" not in repr(record)


def test_a_well_known_local_file_does_not_leak(no_network: None) -> None:
    hostname = Path("/etc/hostname")
    if not hostname.is_file() or not hostname.read_text().strip():
        pytest.skip("no /etc/hostname to try to read")
    xml = article_set(
        ARTICLE.format(pmid=1, title="&xxe;"),
        doctype='<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n',
    )
    (record,) = iter_pubmed_records(xml, origin="xxe test")
    assert isinstance(record, Record)
    assert record.title == "&xxe;"
    assert hostname.read_text().strip() not in repr(record)


def test_an_external_dtd_is_not_fetched(no_network: None) -> None:
    doctype = (
        '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
        '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    )
    (record,) = iter_pubmed_records(
        article_set(ARTICLE.format(pmid=5, title="T"), doctype=doctype), origin="dtd test"
    )
    assert isinstance(record, Record)
    assert record.source_id == "5"


def test_a_parameter_entity_pointing_outside_is_not_loaded(tmp_path: Path) -> None:
    evil = tmp_path / "evil.dtd"
    evil.write_text('<!ENTITY leak "LEAKED-FROM-DTD">')
    doctype = f'<!DOCTYPE PubmedArticleSet [<!ENTITY % ext SYSTEM "file://{evil}"> %ext;]>\n'
    xml = article_set(ARTICLE.format(pmid=1, title="&leak;"), doctype=doctype)
    (record,) = iter_pubmed_records(xml, origin="pe test")
    assert isinstance(record, Record)
    # &leak; would be defined only by the external DTD, which is never read. With an external
    # parameter entity in the subset, an undeclared entity is not a well-formedness error
    # (XML 1.0 §4.1), so libxml2 keeps the reference as written.
    assert record.title == "&leak;"
    assert record.raw is not None
    assert b"LEAKED" not in record.raw


BILLION_LAUGHS = (
    '<!DOCTYPE PubmedArticleSet [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">\n'
        for n in range(1, 10)
    )
    + "]>\n"
)


def test_the_billion_laughs_bomb_is_refused() -> None:
    xml = article_set(ARTICLE.format(pmid=1, title="&lol9;"), doctype=BILLION_LAUGHS)
    # libxml2 counts what the entity would amplify to and stops: a MalformedPayloadError, not
    # 3 GB of "lol" and not a silently emptied record.
    with pytest.raises(MalformedPayloadError) as raised:
        list(iter_pubmed_records(xml, origin="bomb test"))
    message = str(raised.value)
    assert message.startswith("bomb test: not well-formed XML at line ")
    assert "Maximum entity amplification factor exceeded" in message
    assert isinstance(raised.value, FatalError)


def test_a_small_internal_entity_is_left_unexpanded() -> None:
    xml = article_set(ARTICLE.format(pmid=1, title="x &lol2; y"), doctype=BILLION_LAUGHS)
    # Below the amplification limit nothing is refused, and nothing is expanded either.
    (record,) = iter_pubmed_records(xml, origin="small entity test")
    assert isinstance(record, Record)
    assert record.title == "x &lol2; y"


def test_character_references_become_characters() -> None:
    xml = article_set(ARTICLE.format(pmid=1, title="Caf&#xe9; &#233;t&#xE9; &amp; &lt;3"))
    (record,) = iter_pubmed_records(xml, origin="char refs")
    assert isinstance(record, Record)
    assert record.title == "Café été & <3"
    assert record.title_markup == "Café été &amp; &lt;3"


@pytest.mark.parametrize(
    ("xml", "where", "what"),
    [
        (b"<PubmedArticleSet>\n<PubmedArticle>&bogus;</PubmedArticle></PubmedArticleSet>", "line 2, column 23", "Entity 'bogus' not defined"),
        (b"<PubmedArticleSet>\n<PubmedArticle><a></b></PubmedArticle></PubmedArticleSet>", "line 2, column 23", "Opening and ending tag mismatch: a line 2 and b"),
        (b"<PubmedArticleSet>\n<PubmedArticle><MedlineCitation><PMID>1</PMID></MedlineCitation></PubmedArticle>\n<PubmedArt", "line 3, column 11", "Couldn't find end of Start Tag PubmedArt"),
        (b"", "line 0, column 0", "no element found"),
    ],
)  # fmt: skip
def test_broken_xml_says_where_and_what(xml: bytes, where: str, what: str) -> None:
    with pytest.raises(MalformedPayloadError) as raised:
        list(iter_pubmed_records(xml, origin="efetch retstart=500 of query q"))
    assert str(raised.value) == (
        f"efetch retstart=500 of query q: not well-formed XML at {where}: {what}"
    )


def test_records_before_a_truncation_come_out_before_the_error() -> None:
    xml = article_set(ARTICLE.format(pmid=1, title="A"), ARTICLE.format(pmid=2, title="B"))
    truncated = xml[: xml.index(b"<PMID Version='1'>2")]
    stream = iter_pubmed_records(truncated, origin="cut.xml")
    first = next(stream)
    assert isinstance(first, Record)
    assert first.source_id == "1"
    with pytest.raises(MalformedPayloadError, match=r"^cut\.xml: not well-formed XML at line 2"):
        next(stream)


def test_the_pyoai_broken_files_fail_with_their_position(fixtures_dir: Path) -> None:
    # Not PubMed, but real maintainer-corrupted XML: the error comes before any root check.
    undefined = fixtures_dir / "oaipmh/pyoai__broken_undefined_entity.xml"
    with pytest.raises(MalformedPayloadError) as raised:
        list(iter_pubmed_records(undefined, origin=undefined.name))
    assert str(raised.value) == (
        "pyoai__broken_undefined_entity.xml: not well-formed XML at line 1, column 295: "
        "Entity 'bogus' not defined"
    )
    bogus = fixtures_dir / "oaipmh/pyoai__broken_bogus_element.xml"
    with pytest.raises(MalformedPayloadError, match="Opening and ending tag mismatch: bogus"):
        list(iter_pubmed_records(bogus, origin=bogus.name))


def test_a_truncated_gzip_stream_is_malformed(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "pubmed_baseline/pmparser__pubmed26n1334.xml.gz").read_bytes()
    with pytest.raises(
        MalformedPayloadError, match=r"^half\.xml\.gz: the gzip stream is truncated"
    ):
        list(iter_pubmed_records(data[: len(data) // 2], origin="half.xml.gz"))


def test_a_corrupt_gzip_stream_is_malformed() -> None:
    data = bytearray(gzip.compress(article_set(ARTICLE.format(pmid=1, title="T"))))
    data[20:30] = b"\xff" * 10
    with pytest.raises(
        MalformedPayloadError, match=r"^bad\.gz: the gzip stream is truncated or corrupt"
    ):
        list(iter_pubmed_records(bytes(data), origin="bad.gz"))


@pytest.mark.parametrize(
    ("xml", "root"),
    [
        (b"<html><body>Service unavailable</body></html>", "html"),
        (b'<?xml version="1.0"?>\n<eFetchResult><ERROR>Empty id list</ERROR></eFetchResult>', "eFetchResult"),
        (b"<Wrapper>" + ARTICLE.format(pmid=1, title="T").encode() + b"</Wrapper>", "Wrapper"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_a_pubmed_set_is_refused(xml: bytes, root: str) -> None:
    items = iter_pubmed_records(xml, origin="efetch page 3")
    with pytest.raises(MalformedPayloadError) as raised:
        next(items)  # nothing is yielded, not even the wrapped article
    assert str(raised.value).startswith(f"efetch page 3: the root element is <{root}>")


def test_an_empty_set_yields_nothing() -> None:
    assert list(iter_pubmed_records(b"<PubmedArticleSet/>", origin="empty")) == []
    assert list(iter_pubmed_records(b"<PubmedArticleSet></PubmedArticleSet>", origin="e")) == []


def test_a_str_of_xml_is_a_mistake_not_a_path() -> None:
    with pytest.raises(TypeError, match="pass the payload as bytes; a str source is a path"):
        list(iter_pubmed_records("<PubmedArticleSet/>", origin="str"))


def test_a_text_mode_file_is_a_mistake() -> None:
    with pytest.raises(TypeError, match="binary mode"):
        list(iter_pubmed_records(io.StringIO("<PubmedArticleSet/>"), origin="text"))  # type: ignore[arg-type]


@pytest.mark.parametrize("inner", ["PubmedArticle", "DeleteCitation", "PubmedBookArticle"])
def test_a_record_inside_a_record_is_refused(inner: str) -> None:
    # Freeing the inner record cut the outer one short by however much the parser had read:
    # the result depended on how the stream was chunked (found by tests/test_fuzz_parsers.py).
    xml = (
        b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID></MedlineCitation>"
        b"<" + inner.encode() + b"><PMID>2</PMID></" + inner.encode() + b">"
        b"</PubmedArticle></PubmedArticleSet>"
    )
    with pytest.raises(
        MalformedPayloadError, match=f"a <{inner}> inside a <PubmedArticle> at line 1"
    ):
        list(iter_pubmed_records(xml, origin="nested.xml"))
