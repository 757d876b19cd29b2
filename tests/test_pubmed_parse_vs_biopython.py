"""Cross-check with Biopython's `Bio.Entrez.read` on every recorded payload it can read, on the
fields both parsers have. Biopython reads the DTDs it ships; it must not go to the network, so
its downloader is replaced by one that refuses, and a file it cannot read offline is skipped
with the reason."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from Bio import Entrez
from Bio.Entrez import Parser as BioParser

from connectors.pubmed.parse import iter_pubmed_records
from schemas.record import Record
from tests.test_pubmed_parse_counts import EXPECTED_COUNTS, payload_bytes

TAG = re.compile(r"</?[A-Za-z][^<>]*>")


class NetworkRefused(Exception):
    pass


@pytest.fixture
def offline_biopython(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Biopython with its bundled DTDs only: no download, no cache from earlier runs."""

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        raise NetworkRefused(str(url))

    monkeypatch.setattr(BioParser, "urlopen", refuse)
    previous = BioParser.DataHandler.directory
    BioParser.DataHandler.directory = str(tmp_path)
    yield
    BioParser.DataHandler.directory = previous


BARE_PROLOG = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticle PUBLIC "-//NLM//DTD PubMedArticle, '
    b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)


def bio_read(xml: bytes, name: str) -> Any:
    """Biopython's reading: the set's dictionary, or for a bare <PubmedArticle> a set-like
    dictionary holding it."""
    bare = not xml.lstrip().startswith(b"<?xml")
    if bare:
        # Bio.Entrez.read refuses input without an XML declaration, and validates against the
        # DTD named: give the bare article both (the DTD is one Biopython bundles).
        xml = BARE_PROLOG + xml
    # The baseline files name their DTD with http://, which Biopython refuses as insecure
    # before it even looks for its bundled copy of the same file: point it at https://.
    xml = xml.replace(b'"http://dtd.nlm.nih.gov/', b'"https://dtd.nlm.nih.gov/', 1)
    try:
        parsed = Entrez.read(io.BytesIO(xml))
    except NetworkRefused as refused:
        pytest.skip(f"{name}: Biopython wanted to download {refused} (DTD not bundled)")
    return {"PubmedArticle": [parsed], "PubmedBookArticle": []} if bare else parsed


def plain(text: str) -> str:
    """Biopython keeps inline tags (<i>, <sup>) in titles as text: drop them to compare."""
    return TAG.sub("", text).strip()


def _str(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def compare_article(bio: Any, ours: Record) -> None:
    citation = bio["MedlineCitation"]
    article = citation["Article"]
    journal = article["Journal"]
    assert ours.source_id == _str(citation.get("PMID"))
    assert ours.title == (plain(article["ArticleTitle"]) or None)
    assert ours.journal == _str(journal.get("Title"))
    assert ours.volume == _str(journal["JournalIssue"].get("Volume"))
    assert ours.issue == _str(journal["JournalIssue"].get("Issue"))
    assert ours.pages == _str(article.get("Pagination", {}).get("MedlinePgn"))
    assert [(a.family, a.given, a.collective) for a in ours.authors if a.role == "author"] == [
        (_str(a.get("LastName")), _str(a.get("ForeName")), _str(a.get("CollectiveName")))
        for a in article.get("AuthorList", [])
    ]
    investigators = [
        (_str(i.get("LastName")), _str(i.get("ForeName")))
        for investigator_list in _as_lists(citation.get("InvestigatorList"))
        for i in investigator_list
    ]
    assert [(a.family, a.given) for a in ours.authors if a.role == "investigator"] == investigators
    assert [s.term for s in ours.subjects if s.scheme == "mesh"] == [
        str(heading["DescriptorName"]) for heading in citation.get("MeshHeadingList", [])
    ]
    assert ours.publication_types == [str(t) for t in article["PublicationTypeList"]]
    assert ours.languages == [str(language) for language in article["Language"]]
    article_ids = [(i.attributes["IdType"], str(i)) for i in bio["PubmedData"]["ArticleIdList"]]
    dois = [value.lower() for kind, value in article_ids if kind == "doi"]
    if dois:
        assert ours.doi == dois[0]
    assert all(("doi", doi) in [(i.scheme, i.value) for i in ours.identifiers] for doi in dois)
    assert [i.value for i in ours.identifiers if i.scheme == "pmcid"] == [
        value for kind, value in article_ids if kind == "pmc"
    ]


def _as_lists(value: Any) -> list[Any]:
    """InvestigatorList is a list of investigators, or (several lists) a list of lists."""
    if not value:
        return []
    return value if isinstance(value[0], list) else [value]


def compare_book(bio: Any, ours: Record) -> None:
    document = bio["BookDocument"]
    assert ours.source_id == str(document["PMID"])
    assert ours.title == plain(document["ArticleTitle"])
    assert ours.journal == plain(document["Book"]["BookTitle"])
    assert ours.languages == [str(language) for language in document["Language"]]
    assert ours.publication_types == [str(t) for t in document["PublicationType"]]
    bio_people = {
        "author": [a for author_list in document["AuthorList"] for a in author_list],
        "editor": [a for author_list in document["Book"]["AuthorList"] for a in author_list],
    }
    for role, people in bio_people.items():
        assert [(a.family, a.given) for a in ours.authors if a.role == role] == [
            (_str(p.get("LastName")), _str(p.get("ForeName"))) for p in people
        ]
    assert [(i.scheme, i.value) for i in ours.identifiers if i.scheme == "bookaccession"] == [
        ("bookaccession", str(i)) for i in document["ArticleIdList"]
    ]


@pytest.mark.parametrize("name", sorted(n for n, (count, _) in EXPECTED_COUNTS.items() if count))
def test_same_values_as_biopython(fixtures_dir: Path, name: str, offline_biopython: None) -> None:
    xml = payload_bytes(fixtures_dir / name)
    bio = bio_read(xml, name)
    ours = [item for item in iter_pubmed_records(xml, origin=name) if isinstance(item, Record)]
    bio_articles = list(bio["PubmedArticle"])
    bio_books = list(bio["PubmedBookArticle"])
    assert len(ours) == len(bio_articles) + len(bio_books)
    articles = [
        record for record in ours if record.raw and record.raw.startswith(b"<PubmedArticle>")
    ]
    books = [record for record in ours if record not in articles]
    for bio_article, record in zip(bio_articles, articles, strict=True):
        compare_article(bio_article, record)
    for bio_book, record in zip(bio_books, books, strict=True):
        compare_book(bio_book, record)


def test_biopython_counts_the_same_deletions(fixtures_dir: Path, offline_biopython: None) -> None:
    name = "pubmed_baseline/pmparser__pubmed20n1016.xml.gz"
    xml = payload_bytes(fixtures_dir / name)
    bio = bio_read(xml, name)
    ours = [
        item.source_id
        for item in iter_pubmed_records(xml, origin=name)
        if not isinstance(item, Record)
    ]
    assert ours == [str(pmid) for pmid in bio["DeleteCitation"]]
