"""JATS XML (JATS 1.x, NLM Archiving 2.3/3.0) → canonical `Record`s. Pure functions: bytes
(or a path, or a stream) in, records out.

What a payload may be, told apart by its content, never its name (gzip detected first, by
`connectors.payload`):

- one `<article>` (a PMC `.nxml`, a publisher's file, eLife's XML);
- a `<pmc-articleset>` of many (E-utilities `efetch db=pmc`), read one article at a time;
- a tar of such files (PMC's Open Access packages are `.tar.gz` of `.nxml`/`.xml`), known by
  its header ("ustar" at byte 257), streamed member after member (`tarfile` mode "r|": no
  seeking, nothing unpacked to disk), each member under the document cap, members whose names
  end otherwise (PDFs, images of per-article packages) skipped.

Streaming: lxml's iterparse reports only `<article>` ends (filtered in C), each article is
read and then cleared with the siblings before it, so memory holds one article. Parsing never
resolves an entity, loads a DTD or touches the network (an XXE or a billion-laughs document is
inert: its entity references stay unexpanded); broken XML raises `MalformedPayloadError`
naming the file (and tar member), line and column, never recovered.

For every record: `source` "jats"; `source_id` the PMCID, else the DOI, else the publisher's
id prefixed by the journal's ISSN ("2050-084X/06828"). Why this order: PMC (its packages,
`efetch db=pmc`) names every article it holds by PMCID, and many PMC articles have no PMID;
a publisher's own feed has the DOI; a publisher id alone is unique only within its journal.
`source_version` is None (JATS carries no version stamp that orders revisions: a changed
payload is an update). `raw` is the `<article>` element without its `<body>` and
`<floats-group>` (the full text and its figures: what no field reads and most of the bytes),
so a stored payload parses again to the same record. `publication_types` = [article-type];
`languages` = [xml:lang]. Field groups: `connectors.jats.fields`, `.contributors`, `.dates`,
`.references`.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import IO

from lxml import etree

from connectors.jats.contributors import affiliations_by_id, parse_contributors
from connectors.jats.dates import (
    date_kind,
    parse_date,
    parse_pub_dates,
    publication_date,
)
from connectors.jats.fields import (
    parse_abstracts,
    parse_funding,
    parse_ids,
    parse_journal_meta,
    parse_keywords,
    parse_license,
    parse_related_articles,
    parse_subjects,
    parse_title,
)
from connectors.jats.references import parse_references
from connectors.jats.text import Element, attribute, plain_text
from connectors.payload import (
    PayloadTooLargeError,
    Source,
    max_document_bytes,
    open_payload,
    read_whole,
)
from connectors.pubmed.fields import join_abstract
from schemas.errors import MalformedPayloadError
from schemas.record import Record

__all__ = ["MEMBER_SUFFIXES", "SOURCE", "iter_jats_records", "parse_article"]

SOURCE = "jats"
ARTICLE_TAG = "article"
ARTICLE_SET_TAG = "pmc-articleset"
# The members of a tar that hold articles (PMC: `.nxml` in per-article packages, `.xml` in
# the bulk ones).
MEMBER_SUFFIXES = (".nxml", ".xml", ".nxml.gz", ".xml.gz")
_TAR_MAGIC_AT = 257
_TAR_MAGIC = b"ustar"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Documents up to this size are parsed whole (see `_document_records`): a parsed tree takes
# about ten times its bytes.
_READ_WHOLE_BELOW = 4 << 20
_NOT_STORED = ("body", "floats-group")


def iter_jats_records(source: Source, *, origin: str) -> Iterator[Record]:
    """The records of a JATS payload: an article, a pmc-articleset, or a tar of their files
    (gzip detected), streamed (see the module docstring).

    Raises:
        MalformedPayloadError: broken XML, a document that is not JATS (naming its root), a
            tar member past the document cap, a broken tar.
    """
    with open_payload(source, origin) as stream:
        head = stream.peek(_TAR_MAGIC_AT + len(_TAR_MAGIC))
        if head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + len(_TAR_MAGIC)] == _TAR_MAGIC:
            yield from _tar_records(stream, origin)
        else:
            yield from _document_records(stream, origin)


def _tar_records(stream: IO[bytes], origin: str) -> Iterator[Record]:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if not member.isfile() or not member.name.lower().endswith(MEMBER_SUFFIXES):
                    continue
                where = f"{origin}[{member.name}]"
                if member.size > max_document_bytes():
                    raise PayloadTooLargeError(
                        f"{where}: a member of {member.size:,} bytes, more than "
                        f"{max_document_bytes():,} (the cap, BIBLIODUCK_MAX_DOCUMENT_BYTES)"
                    )
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                # Read whole: a member is one document, and the stream cannot seek back.
                body = read_whole(handle.read(), where)
                if len(body) <= _READ_WHOLE_BELOW:
                    yield from _whole_document_records(body, where)
                else:
                    yield from _streamed_records(io.BytesIO(body), where)
    except tarfile.TarError as error:
        raise MalformedPayloadError(f"{origin}: not a readable tar ({error})") from None


def _document_records(stream: IO[bytes], origin: str) -> Iterator[Record]:
    """The articles of one document. A document that fits in `_READ_WHOLE_BELOW` (one
    article, an efetch answer: nearly all) is parsed whole, twice as fast as iterparse; a
    larger one (a saved articleset of thousands) is streamed."""
    head = stream.read(_READ_WHOLE_BELOW + 1)
    if len(head) <= _READ_WHOLE_BELOW:
        yield from _whole_document_records(head, origin)
    else:
        yield from _streamed_records(io.BufferedReader(_Replayed(head, stream)), origin)


def _safe_parser() -> etree.XMLParser:
    """A parser that resolves no entity and loads no DTD or network resource (new per
    document: lxml parsers are not thread-safe)."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _whole_document_records(body: bytes, origin: str) -> Iterator[Record]:
    try:
        root = etree.fromstring(body, _safe_parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, origin) from None
    if root.tag == ARTICLE_TAG:
        yield parse_article(root, origin=origin)
    elif root.tag == ARTICLE_SET_TAG:
        for article in root.iterchildren(ARTICLE_TAG):
            yield parse_article(article, origin=origin)
    else:
        raise _not_jats(root, origin)


def _streamed_records(stream: IO[bytes], origin: str) -> Iterator[Record]:
    # Only <article> ends are reported (filtered in C): the rest of the tree is not walked
    # in Python.
    events = etree.iterparse(
        stream,
        events=("end",),
        tag=ARTICLE_TAG,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        for _event, article in events:
            parent = article.getparent()
            if parent is not None and parent.tag != ARTICLE_SET_TAG:
                continue  # an <article> quoted inside another element is not an article
            yield parse_article(article, origin=origin)
            article.clear(keep_tail=True)
            if parent is not None:
                while article.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, origin) from None
    root = events.root
    if root is None or root.tag not in (ARTICLE_TAG, ARTICLE_SET_TAG):
        raise _not_jats(root, origin)


def _syntax_error(error: etree.XMLSyntaxError, origin: str) -> MalformedPayloadError:
    line, column = error.position or (0, 0)
    return MalformedPayloadError(
        f"{origin}: not well-formed XML at line {line}, column {column}: {error.msg}"
    )


def _not_jats(root: Element | None, origin: str) -> MalformedPayloadError:
    name = "nothing" if root is None else f"<{etree.QName(root).localname}>"
    return MalformedPayloadError(
        f"{origin}: not JATS: the root element is {name}, not <article> or <pmc-articleset>; "
        "is it another format?"
    )


class _Replayed(io.RawIOBase):
    """A read-only raw stream: `head` (already read from `rest`), then the rest of `rest`."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            size = min(len(view), len(self._head))
            view[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def parse_article(article: Element, *, origin: str = "JATS") -> Record:
    """A `Record` from one `<article>` element (see the module docstring)."""
    record = Record(source=SOURCE, source_id=None)
    front = article.find("front")
    article_meta = None if front is None else front.find("article-meta")
    if front is None or article_meta is None:
        raise MalformedPayloadError(
            f"{origin}: an <article> at line {article.sourceline} has no front/article-meta"
        )
    parse_ids(article_meta, record)
    parse_journal_meta(front.find("journal-meta"), record)
    record.title, record.title_markup = parse_title(article_meta)
    record.abstract_sections = parse_abstracts(article_meta)
    record.abstract = join_abstract([s for s in record.abstract_sections if s.kind == "abstract"])
    equal_notes = frozenset(
        identifier
        for fn in front.iter("fn")
        if fn.get("fn-type") == "equal" and (identifier := fn.get("id")) is not None
    )
    record.authors = parse_contributors(article_meta, affiliations_by_id(front), equal_notes)
    _fill_issue(article_meta, record)
    record.dates = parse_pub_dates(article_meta)
    published = publication_date(record.dates)
    if published is not None:
        record.pub_date, record.pub_date_precision = published.date, published.precision
        record.pub_date_raw = published.raw
        record.pub_year = published.date.year if published.date is not None else None
    history = article_meta.find("history")
    if history is not None:
        record.dates += [parse_date(date_kind(d), d) for d in history.iterchildren("date")]
    record.license = parse_license(article_meta)
    record.grants = parse_funding(article_meta)
    record.subjects = parse_subjects(article_meta) + parse_keywords(article_meta)
    record.links = parse_related_articles(article_meta)
    record.references = parse_references(article.find("back"))
    article_type = attribute(article, "article-type")
    record.publication_types = [article_type] if article_type else []
    language = attribute(article, _XML_LANG)
    record.languages = [language] if language else []
    record.source_id = _source_id(record)
    record.raw = _stored_payload(article)
    return record


def _fill_issue(article_meta: Element, record: Record) -> None:
    """Volume, issue, pages (fpage-lpage, else page-range), elocation-id, page count."""
    for child in article_meta:
        tag = child.tag
        if tag == "volume" and record.volume is None:
            record.volume = plain_text(child)
        elif tag == "issue" and record.issue is None:
            record.issue = plain_text(child)
        elif tag == "fpage" and record.first_page is None:
            record.first_page = plain_text(child)
        elif tag == "lpage" and record.last_page is None:
            record.last_page = plain_text(child)
        elif tag == "page-range" and record.pages is None:
            record.pages = plain_text(child)
        elif tag == "elocation-id" and record.elocation is None:
            record.elocation = plain_text(child)
        elif tag == "counts":
            count = child.find("page-count")
            digits = None if count is None else attribute(count, "count")
            if digits is not None and digits.isascii() and digits.isdigit() and len(digits) < 7:
                record.page_count = int(digits)
    if record.pages is None and record.first_page is not None:
        last = record.last_page
        record.pages = (
            f"{record.first_page}-{last}"
            if last and last != record.first_page
            else record.first_page
        )


def _source_id(record: Record) -> str | None:
    if record.pmcid is not None:
        return record.pmcid
    if record.doi is not None:
        return record.doi
    publisher_id = next((i.value for i in record.identifiers if i.scheme == "publisher-id"), None)
    if publisher_id is None:
        return None  # validation quarantines it: nothing names the article
    journal = record.issn_electronic or record.issn_print or record.journal
    return f"{journal}/{publisher_id}" if journal else publisher_id


def _stored_payload(article: Element) -> bytes:
    """The article's XML without the parts no field reads (see the module docstring). The
    element is cleared right after parsing, so it is changed in place."""
    for tag in _NOT_STORED:
        for part in article.findall(tag):
            article.remove(part)
    return etree.tostring(article, encoding="utf-8", with_tail=False)
