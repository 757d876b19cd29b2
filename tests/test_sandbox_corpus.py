"""The generated corpora: deterministic, valid against NCBI's PubMed DTD, with the features the
parsers and the demo need, and fast enough for volume tests."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import Bio
import pytest
from lxml import etree

from sandbox.corpus import CorpusRecord, demo_corpus, pubmed_article_set, synthetic_corpus

PUBMED_DTD = Path(Bio.__file__).parent / "Entrez" / "DTDs" / "pubmed_250101.dtd"


@pytest.fixture(scope="module")
def demo() -> list[CorpusRecord]:
    return demo_corpus()


@pytest.fixture(scope="module")
def demo_root(demo: list[CorpusRecord]) -> etree._Element:
    return etree.fromstring(pubmed_article_set(record.xml for record in demo))


def test_demo_is_deterministic(demo: list[CorpusRecord]) -> None:
    assert demo_corpus() == demo
    assert demo_corpus(seed=1) != demo


def test_demo_is_valid_against_the_pubmed_dtd(demo_root: etree._Element) -> None:
    dtd = etree.DTD(str(PUBMED_DTD))
    assert dtd.validate(demo_root), dtd.error_log.filter_from_errors()


def test_demo_dates_and_pmids(demo: list[CorpusRecord], demo_root: etree._Element) -> None:
    assert len(demo) == 400
    assert len({record.pmid for record in demo}) == 400
    assert all(dt.date(2024, 1, 1) <= r.entrez_date <= dt.date(2026, 10, 31) for r in demo)
    assert all(r.entrez_date <= r.modified_date <= dt.date(2026, 10, 31) for r in demo)
    by_entrez = sorted(demo, key=lambda record: (record.entrez_date, record.pmid))
    assert [record.pmid for record in by_entrez] == sorted(record.pmid for record in demo)
    assert [int(t) for t in demo_root.xpath("PubmedArticle/MedlineCitation/PMID/text()")] == [
        record.pmid for record in demo
    ]
    # The facts the emulator searches on agree with the XML.
    for record, article in zip(demo, demo_root, strict=True):
        citation = article.find("MedlineCitation")
        assert (citation.get("Status") == "MEDLINE") == record.medline
        assert (citation.find("Article/Abstract") is not None) == record.has_abstract
        assert citation.findtext("Article/Language") == record.language
        types = tuple(citation.xpath("Article/PublicationTypeList/PublicationType/text()"))
        assert types == record.publication_types
        revised = citation.find("DateRevised")
        assert dt.date(*(int(revised.findtext(p)) for p in ("Year", "Month", "Day"))) == (
            record.modified_date
        )


def test_demo_has_the_features_parsers_need(
    demo: list[CorpusRecord], demo_root: etree._Element
) -> None:
    def count(xpath: str) -> int:
        return len(demo_root.xpath(xpath))

    assert count("//Author/Identifier[@Source='ORCID']") >= 50
    assert count("//Author/CollectiveName") >= 5
    assert count("//InvestigatorList") >= 1
    assert count("//Author[@EqualContrib='Y']") >= 5
    assert count("//Author[count(AffiliationInfo) > 1]") >= 50
    assert count("//AbstractText[@Label and @NlmCategory]") >= 100
    assert count("//Abstract[count(AbstractText) = 1]") >= 50
    assert count("//ArticleTitle[i]") >= 20
    assert count("//ArticleTitle[sup]") >= 10
    assert count("//ArticleTitle[sub]") >= 5
    assert count("//PubDate/MedlineDate") >= 5
    assert count("//PubDate/Season") >= 5
    assert count("//VernacularTitle") >= 20
    assert count("//OtherAbstract") >= 5
    assert count("//MeshHeading/QualifierName") >= 50
    assert count("//KeywordList/Keyword") >= 100
    assert count("//GrantList/Grant") >= 50
    assert count("//ChemicalList/Chemical") >= 20
    assert count("//PubmedData/ArticleIdList/ArticleId[@IdType='doi']") == 400
    assert count("//PubmedData/ArticleIdList/ArticleId[@IdType='pmc']") >= 100
    assert count("//ReferenceList/Reference/ArticleIdList") >= 200
    assert count("//PubMedPubDate[@PubStatus='entrez']") == 400
    # Non-ASCII names travel as character references, as efetch sends them.
    raw = b"".join(record.xml for record in demo)
    assert b"&#xfc;" in raw and raw.isascii()
    assert "Müller" in demo_root.xpath("//LastName/text()")


def test_demo_links_are_reciprocal(demo_root: etree._Element) -> None:
    links = Counter()
    pairs = {"ErratumIn": "ErratumFor", "RetractionIn": "RetractionOf", "CommentIn": "CommentOn"}
    for article in demo_root:
        pmid = article.findtext("MedlineCitation/PMID")
        for link in article.iterfind("MedlineCitation/CommentsCorrectionsList/CommentsCorrections"):
            links[(link.get("RefType"), pmid, link.findtext("PMID"))] += 1
    assert sum(1 for ref_type, _, _ in links if ref_type == "ErratumIn") == 10
    assert sum(1 for ref_type, _, _ in links if ref_type == "RetractionIn") == 3
    for (ref_type, source, target), _ in links.items():
        back = pairs.get(ref_type) or {v: k for k, v in pairs.items()}[ref_type]
        assert (back, target, source) in links


def test_synthetic_is_fast_and_splits_one_day() -> None:
    started = time.perf_counter()
    records = synthetic_corpus(12_000, start_pmid=40_000_001, day=dt.date(2025, 6, 2))
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0  # typically ~0.3 s; the bound only guards against a slow rewrite
    assert [r.pmid for r in records] == list(range(40_000_001, 40_012_001))
    on_day = [r for r in records if r.modified_date == dt.date(2025, 6, 2)]
    assert len(on_day) > 9_999
    assert all(dt.date(2025, 6, 2) <= r.modified_date <= dt.date(2025, 6, 8) for r in records)
    share = sum(r.has_abstract for r in on_day) / len(on_day)
    assert 0.2 < share < 0.3
    root = etree.fromstring(pubmed_article_set(r.xml for r in records[:500]))
    dtd = etree.DTD(str(PUBMED_DTD))
    assert dtd.validate(root), dtd.error_log.filter_from_errors()
    assert synthetic_corpus(50) == synthetic_corpus(50)
