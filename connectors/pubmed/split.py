"""Cut one PubMed XML file (an NLM baseline or update file, or an efetch answer; gzip or plain)
into self-contained fragment documents, so that several processes can each parse a share of one
large file with `iter_pubmed_records`. Streaming and bounded: it scans bytes, it never parses.

Fragment i is a complete document: H + C_i + `</Root>`, where H is the file's own prolog (XML
declaration, DOCTYPE, comments: copied as written, so encoding and DOCTYPE apply the same) and
its root start tag as written, and C_1 + … + C_n is the root's content, byte for byte. The last
fragment keeps the file's own end instead of a made-up one: H + C_n + whatever the file has after
C_n (the root end tag, trailing lines), so a file that is truncated, or has junk after its root,
fails in its last fragment just as it fails whole. Each C_i but the last ends just after a
`</PubmedArticle>` or `</PubmedBookArticle>` end tag.

Exactness: parsing the fragments in turn yields exactly the items of the whole file, or fails.

1. If every fragment is well-formed, so is the file, with the same items. H + C_i + `</Root>`
   being well-formed makes C_i exactly the root's content: its elements balanced and nothing
   (comment, CDATA section, PI, tag, attribute value) left open, else the appended end tag would
   be swallowed or mismatched. Balanced contents concatenate into balanced content (a cut follows
   a tag's `>`, so no reference or `]]>` can straddle it), so the file parses, and each record
   element lies whole in one C_i under the same root start tag (namespaces, xml:space) and prolog
   (encoding, DOCTYPE). A record's items depend on its element alone (the origin string aside;
   and provided no record or DeleteCitation lies inside it, which is refused, see below), so the
   items are equal and in the same order. Hence a broken file always breaks a fragment,
   and a cut in the wrong place (say after `</PubmedArticle>` written inside a comment or CDATA
   section, where `<` is literal) can only ever give a parse error, never other valid items.
2. The splitter cuts only where a well-formed file splits into well-formed fragments: after the
   end tag of a record element that is a child of the root. The scan skips comments, CDATA
   sections and processing instructions (the only places where `<` is literal: in text and
   attribute values it must be escaped), so every record tag it sees is markup; it pairs record
   start and end tags; and it cuts after a record only when the next record starts with no tag
   in between (only text, comments and PIs). By induction from the root start tag, every record
   then starts and ends at root level.

So, for a file it does not refuse, a fragment that fails to parse means the file is broken:
parse the file whole for the error in the file's own lines (fragments count lines from their own
start; `Fragment.offset` says where one starts). Whatever the splitter yields, the caller must
drop the whole file's work when it then raises (as for `iter_pubmed_records`, load atomically).

It refuses with `NotSplittable` (parse the file whole: nothing is lost but parallelism) where the
argument's premises fail or checking them would cost a real parser, none of which NLM files do:
an encoding other than UTF-8, US-ASCII or Latin-1 (elsewhere a byte `<` need not be the
character); an internal DTD subset (finding the root would mean lexing declarations); a root
that is not PubmedArticleSet or PubmedBookArticleSet (a bare PubmedArticle is one record anyway);
a record tag in another form than `<PubmedArticle>`/`</PubmedArticle>` (attributes, spaces, an
empty element: counting records would mean lexing tags); a tag at root level before a record (a
DeleteCitation comes last in NLM files); a record or DeleteCitation inside a record (the parser
clears such an element as soon as it ends, and with it whatever text after it the parser had read
by then: how much depends on where its input's reads fall, which differ between a file and its
fragment; random damage in the tests found it); `<!` other than a comment or CDATA section
inside the root (not well-formed); a single record larger than `max_fragment_bytes` (never
buffer gigabytes for it); no root start tag in the first MiB. A refusal can come after fragments
were yielded: they are void.

Improvements on the first design, and why: comments, CDATA sections and PIs are skipped rather
than refused, as real files have PIs inside records (pubmed21n1298: 433 `<?pmcsd ?>` and
`<?nihms ?>` in PubmedData); the last fragment keeps the file's own end, as a made-up end tag
would let a file truncated just after a record parse in fragments; a cut is made only once the
next record starts, so no fragment is left with nothing but the file's end (a DeleteCitation and
the end go with the last records); the byte cap cuts a fragment early, at its last record,
rather than refusing. A broken gzip stream is reported by the splitter itself
(`MalformedPayloadError`, as the parser words it): what was inflated before the break may be
complete XML, which the fragments would not know to refuse.

Speed (best of 5, one process, the file in the page cache, default settings, the 2-core machine
shared with other work): pubmed20n0014 (174 MB of XML, 30,000 records) splits in 0.38 s, 13 µs
per record, 460 MB/s; pubmed21n1298 (233 MB, 20,788 records) in 0.47 s, 23 µs per record,
490 MB/s. Gunzipping is 0.08 s and 0.17 s of that (3 and 8 µs per record: these records are 6
and 11 KB of XML), work the workers then no longer do; the rest is one regular expression over
the bytes (~0.85 GB/s) and two matches per record. A few µs per record is out of reach in Python
here: bytes.find for one tag alone runs at ~1.9 GB/s, and comments and PIs need a look at every
`<`. Next to the parser (79 and 130 µs per record on these files) it is 16-18 % of one worker:
one splitting process keeps five workers fed.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from connectors.payload import Source, open_payload
from schemas.errors import BiblioduckError

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_MAX_FRAGMENT_BYTES",
    "Fragment",
    "NotSplittable",
    "split_pubmed_xml",
]

# Decompressed bytes read at a time: large enough that per-block work is nothing, small enough
# that a fragment overshoots `max_fragment_bytes` by little.
BLOCK_SIZE = 1 << 20
# The prolog and root start tag must fit in this (NLM's are ~200 bytes).
MAX_HEAD_BYTES = 1 << 20
# 1,000 of the largest recent records are ~15 MB: four times that leaves the cap for freaks.
DEFAULT_MAX_FRAGMENT_BYTES = 64 << 20

_SET_ROOTS = frozenset({b"PubmedArticleSet", b"PubmedBookArticleSet"})
# Encodings in which every byte below 0x80 is that ASCII character, never part of another one
# (Python's names for them, as codecs.lookup normalises).
_ASCII_SAFE_ENCODINGS = frozenset({"utf-8", "ascii", "iso8859-1"})

_XML_DECLARATION = re.compile(rb"<\?xml[ \t\r\n].*?\?>", re.DOTALL)
_ENCODING = re.compile(rb"""[ \t\r\n]encoding[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')""")
_BLANK = re.compile(rb"[ \t\r\n]*")
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_PI = re.compile(rb"<\?.*?\?>", re.DOTALL)
# Quoted literals may hold '>'; group 1 is '[' when an internal subset follows.
_DOCTYPE = re.compile(
    rb"""<!DOCTYPE [ \t\r\n]+ [^ \t\r\n>\[]+
         (?: [ \t\r\n]+ (?: SYSTEM | PUBLIC [ \t\r\n]* (?:"[^"]*"|'[^']*') )
             [ \t\r\n]* (?:"[^"]*"|'[^']*') )?
         [ \t\r\n]* ([\[>])""",
    re.VERBOSE,
)
# Attribute values may hold '>'; group 2 is '/' for an empty element.
_START_TAG = re.compile(
    rb"""<([^ \t\r\n/>]+)
         (?: [ \t\r\n]+ [^ \t\r\n=/>]+ [ \t\r\n]* = [ \t\r\n]* (?:"[^"<]*"|'[^'<]*') )*
         [ \t\r\n]* (/?)>""",
    re.VERBOSE,
)
# What the content scan stops at: the start of a comment, CDATA section or PI, a record tag, or
# a DeleteCitation start tag. A name char must follow the name for a match, so that a tag cut off
# by the end of the buffer is not taken for another one; `_TOKEN_SPAN` is the longest match.
_NAME_ENDS = rb"(?=[^A-Za-z0-9._:\x80-\xff-])"
_TOKEN = re.compile(
    rb"<(?:[!?]|/?Pubmed(?:Book)?Article" + _NAME_ENDS + rb"|DeleteCitation" + _NAME_ENDS + rb")"
)
_TOKEN_SPAN = len(b"</PubmedBookArticle>")
_CONSTRUCT_ENDS = ((b"<?", b"?>"), (b"<!--", b"-->"), (b"<![CDATA[", b"]]>"))
_LONGEST_OPENING = len(b"<![CDATA[")


class NotSplittable(BiblioduckError):
    """This file cannot be cut safely (see the module docstring for which and why): parse it
    whole with `iter_pubmed_records`. Fragments already yielded for it are void."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One self-contained share of a file: parse `data` with `iter_pubmed_records` (with the
    file's own origin, so Deletion reasons are the whole file's)."""

    number: int  # 0-based, in document order
    data: bytes  # a complete XML document
    records: int  # the Records parsing it yields (Deletions not counted)
    first_record: int  # records in the fragments before it: the file row of its first record
    offset: int  # where its share of the root's content starts in the decompressed file


def split_pubmed_xml(
    source: Source,
    *,
    origin: str,
    records_per_fragment: int = 1000,
    max_fragment_bytes: int = DEFAULT_MAX_FRAGMENT_BYTES,
) -> Iterator[Fragment]:
    """Yield the file's fragments in document order, each with up to `records_per_fragment`
    records (fewer where `max_fragment_bytes`, plus one block, would be passed).

    `source` is what `iter_pubmed_records` takes (bytes, a path or a binary file object; gzip
    recognised by its magic bytes). Raises `NotSplittable` for what it refuses (module
    docstring), `MalformedPayloadError` for a broken gzip stream, and leaves broken XML to the
    parsing of the fragments, which is certain to fail on it.
    """
    if records_per_fragment < 1:
        raise ValueError(f"records_per_fragment must be at least 1, not {records_per_fragment}")
    with open_payload(source, origin) as stream:
        blocks = _read_blocks(stream, origin)
        head, root_name, empty_root, rest = _read_head(blocks, origin)
        content = _Content(bytearray(rest), offset=len(head))
        end_tag = b"</" + root_name + b">"
        number = first_record = 0
        while True:
            # An empty root element has no content to scan: what follows it is the file's end.
            cut = None if empty_root else content.scan(records_per_fragment, origin)
            if cut is None and len(content.body) > max_fragment_bytes:
                cut = content.cut_candidate
                if cut is None:
                    raise NotSplittable(
                        f"{origin}: more than {max_fragment_bytes:,} bytes from byte "
                        f"{content.offset:,} without a place to cut (one huge record?)"
                    )
            if cut is not None:
                offset, records = content.offset, content.records_before_cut
                data = content.take(cut, head, end_tag)
                yield Fragment(number, data, records, first_record, offset)
                number += 1
                first_record += records
                continue  # (what is left may still pass the cap: the next round refuses it)
            block = next(blocks, b"")
            if not block:
                break
            content.body += block
        records = 0 if empty_root else content.records
        data = b"".join((head, content.body))
        yield Fragment(number, data, records, first_record, content.offset)


def _read_blocks(stream: IO[bytes], origin: str) -> Iterator[bytes]:
    # A broken gzip stream raises here (`open_payload`), as the parser would of the same
    # stream; the fragments could not say it, as they hold what was inflated, which may look
    # complete.
    while True:
        block = stream.read(BLOCK_SIZE)
        if not block:
            return
        yield block


def _read_head(blocks: Iterator[bytes], origin: str) -> tuple[bytes, bytes, bool, bytes]:
    """(prolog and root start tag, root name, whether the root is an empty element, the bytes
    read after it), reading blocks until the root start tag is complete."""
    head = b""
    while True:
        block = next(blocks, b"")
        head += block
        found = _find_root_start(head, origin)
        if found is not None:
            end, name, empty = found
            return head[:end], name, empty, head[end:]
        if not block or len(head) >= MAX_HEAD_BYTES:
            raise NotSplittable(
                f"{origin}: no root start tag in the first {len(head):,} bytes "
                "(not XML, or an unusual prolog)"
            )


def _find_root_start(head: bytes, origin: str) -> tuple[int, bytes, bool] | None:
    """(where the root start tag ends, the root's name, whether it is an empty element), or
    None when `head` ends before the start tag does (or is not a prolog this understands)."""
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\0" in head[:4]:
        raise NotSplittable(f"{origin}: UTF-16 or UTF-32, where a byte '<' may not be one")
    position = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    # (An unfinished declaration is taken for a PI below, which waits for more bytes.)
    declaration = _XML_DECLARATION.match(head, position)
    if declaration is not None:
        _check_encoding(declaration.group(), origin)
        position = declaration.end()
    while True:
        blank = _BLANK.match(head, position)
        position = position if blank is None else blank.end()
        if position == len(head):
            return None
        for opening, construct in ((b"<!--", _COMMENT), (b"<?", _PI)):
            if head.startswith(opening, position):
                match = construct.match(head, position)
                if match is None:
                    return None
                position = match.end()
                break
        else:
            if head.startswith(b"<!DOCTYPE", position):
                match = _DOCTYPE.match(head, position)
                if match is None:
                    return None
                if match.group(1) == b"[":
                    raise NotSplittable(f"{origin}: the DOCTYPE has an internal subset")
                position = match.end()
                continue
            match = _START_TAG.match(head, position)
            if match is None:
                return None
            name = match.group(1)
            if name not in _SET_ROOTS:
                raise NotSplittable(
                    f"{origin}: the root element is <{name.decode('utf-8', 'replace')}>, "
                    "not an article set"
                )
            return match.end(), name, match.group(2) == b"/"


def _check_encoding(declaration: bytes, origin: str) -> None:
    match = _ENCODING.search(declaration)
    if match is None:
        return  # UTF-8, as the BOM checks left nothing else
    name = (match.group(1) or match.group(2) or b"").decode("ascii", "replace")
    try:
        known = codecs.lookup(name).name
    except LookupError:
        known = None
    if known not in _ASCII_SAFE_ENCODINGS:
        raise NotSplittable(f"{origin}: encoding {name!r}, where a byte '<' may not be one")


class _Content:
    """The root content not yet yielded (`body`, from the current fragment's start) and what the
    scan found in it. Positions are indices into `body`."""

    __slots__ = (
        "body",
        "cut_candidate",
        "gap_has_tag",
        "gap_start",
        "in_record",
        "last_end",
        "offset",
        "open_construct",
        "records",
        "records_before_cut",
        "scanned",
    )

    def __init__(self, body: bytearray, *, offset: int) -> None:
        self.body = body
        self.offset = offset  # of body[0] in the decompressed file
        self.scanned = 0  # every token starting before this is accounted for
        self.records = 0  # record start tags seen in the fragment
        self.in_record = False  # between a record's start tag and its end tag
        self.last_end: int | None = None  # just after the last record end tag at root level
        # Where text at root level began (the fragment's start, or a record's or construct's
        # end), and whether a tag came between the last record and there.
        self.gap_start = 0
        self.gap_has_tag = False
        # Just after the record before the latest one to start at root level: where to cut.
        self.cut_candidate: int | None = None
        self.records_before_cut = 0
        # A comment, CDATA section or PI not closed within `body` yet: where to look on for its
        # end, and that end.
        self.open_construct: tuple[int, bytes] | None = None

    def scan(self, records_per_fragment: int, origin: str) -> int | None:
        """Scan on from `scanned`; return where to cut when the fragment is full (a record
        starts after `records_per_fragment` ones), or None at the end of `body`."""
        body = self.body
        while True:
            if self.open_construct is not None:
                search_from, terminator = self.open_construct
                end = body.find(terminator, search_from)
                if end < 0:
                    resume = max(search_from, len(body) - len(terminator) + 1)
                    self.open_construct = (resume, terminator)
                    return None
                self.open_construct = None
                self.scanned = end + len(terminator)
                if not self.in_record:
                    self.gap_start = self.scanned
                continue
            match = _TOKEN.search(body, self.scanned)
            if match is None:
                self.scanned = max(self.scanned, len(body) - _TOKEN_SPAN + 1)
                return None
            start = match.start()
            second = body[start + 1]
            if second in b"!?":
                if not self._open(start, origin):
                    return None
                continue
            end = match.end()
            self.scanned = end
            if second == ord("D"):
                # At root level a DeleteCitation is just a tag (no record may follow it).
                if self.in_record:
                    raise NotSplittable(
                        f"{origin}: a DeleteCitation inside a record at byte "
                        f"{self.offset + start:,}"
                    )
                continue
            if body[end] != ord(">"):
                raise NotSplittable(
                    f"{origin}: record tag {bytes(body[start : end + 1])!r} at byte "
                    f"{self.offset + start:,} (only plain <PubmedArticle> forms are cut)"
                )
            self.scanned = end + 1
            if second == ord("/"):
                if not self.in_record:
                    raise NotSplittable(
                        f"{origin}: a record end tag without its start at byte "
                        f"{self.offset + start:,}"
                    )
                self.in_record = False
                self.last_end = self.gap_start = self.scanned
                self.gap_has_tag = False
                continue
            if self.in_record:
                raise NotSplittable(
                    f"{origin}: a record inside a record at byte {self.offset + start:,}"
                )
            if self.gap_has_tag or body.find(b"<", self.gap_start, start) >= 0:
                raise NotSplittable(
                    f"{origin}: a tag at root level before the record at byte "
                    f"{self.offset + start:,}"
                )
            self.in_record = True
            if self.last_end is not None:
                self.cut_candidate = self.last_end
                self.records_before_cut = self.records
            self.records += 1
            if self.cut_candidate is not None and self.records_before_cut >= records_per_fragment:
                return self.cut_candidate

    def _open(self, start: int, origin: str) -> bool:
        """Start skipping the comment, CDATA section or PI at `start`; False when `body` ends
        too soon to tell which it is."""
        body = self.body
        if not self.in_record and body.find(b"<", self.gap_start, start) >= 0:
            self.gap_has_tag = True
        for opening, terminator in _CONSTRUCT_ENDS:
            if body.startswith(opening, start):
                self.open_construct = (start + len(opening), terminator)
                return True
        if len(body) - start < _LONGEST_OPENING:
            self.scanned = start
            return False
        raise NotSplittable(
            f"{origin}: {bytes(body[start : start + 12])!r} inside the root element at byte "
            f"{self.offset + start:,}"
        )

    def take(self, cut: int, head: bytes, end_tag: bytes) -> bytes:
        """The fragment document of `body[:cut]`, which then leaves `body`."""
        with memoryview(self.body) as view:
            data = b"".join((head, view[:cut], end_tag))
        del self.body[:cut]
        self.offset += cut
        self.scanned -= cut
        self.gap_start = max(self.gap_start - cut, 0)
        if self.last_end is not None:
            self.last_end = None if self.last_end == cut else self.last_end - cut
        if self.open_construct is not None:
            search_from, terminator = self.open_construct
            self.open_construct = (search_from - cut, terminator)
        self.records -= self.records_before_cut
        self.records_before_cut = 0
        self.cut_candidate = None
        return data
