"""Single recorded Crossref works: funder awards, JATS abstracts, references with DOIs, licences,
relations, dates and the stored raw payload, asserted value by value."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from connectors.crossref import iter_crossref_records, parse_work
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Grant,
    Identifier,
    Link,
    Metric,
    Record,
    Reference,
    Subject,
)
from tests.test_crossref_parse_fixtures import load_cassette


@pytest.fixture(scope="module")
def crossref_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "crossref"


def only_record(crossref_dir: Path, name: str) -> Record:
    (record,) = iter_crossref_records(crossref_dir / name, origin=name)
    return record


def test_neurobiolaging_funders_relation_references(crossref_dir: Path) -> None:
    record = only_record(crossref_dir, "habanero__work_10.1016_j.neurobiolaging.2010.03.024.json")
    assert record.doi == record.source_id == "10.1016/j.neurobiolaging.2010.03.024"
    assert record.source_version == "2026-06-12T23:16:23Z"
    assert record.grants == [
        Grant(grant_id="R32-10064", agency="Ministry of Education, Science and Technology"),
        Grant(grant_id="SC4170", agency="Stem Cell Research Center"),
    ]
    assert record.links == [
        Link(relation="has-review", target_scheme="doi", target_id="10.3410/f.3904957.3650055")
    ]
    assert len(record.references) == 57
    assert record.references[0] == Reference(
        position=1,
        citation=(
            "Blasko. 1999. TNFalpha plus IFNgamma induce the production of Alzheimer "
            "beta-amyloid peptides and decrease the secretion of APPs. FASEB J. 13:63"
        ),
        identifiers=[Identifier("doi", "10.1096/fasebj.13.1.63")],
    )
    assert record.references[-1].position == 57
    assert record.references[-1].identifiers == [
        Identifier("doi", "10.1111/j.1471-4159.2006.04172.x")
    ]
    # Both licences are text-and-data-mining ones; without a "vor" licence the first counts.
    assert record.license == "https://www.elsevier.com/tdm/userlicense/1.0/"
    assert (record.issn, record.issn_print, record.issn_electronic) == ("0197-4580",) * 2 + (None,)
    assert (record.volume, record.issue, record.pages, record.first_page, record.last_page) == (
        "33",
        "3",
        "588-602",
        "588",
        "602",
    )
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw, record.pub_year) == (
        dt.date(2012, 3, 1),
        "month",
        "[[2012,3]]",
        2012,
    )
    assert record.dates == [
        DateEntry("published_print", dt.date(2012, 3, 1), "month", "[[2012,3]]"),
        DateEntry("created", dt.date(2010, 5, 18), "day", "2010-05-18T03:20:15Z"),
        DateEntry("deposited", dt.date(2025, 10, 1), "day", "2025-10-01T11:18:17Z"),
        DateEntry("indexed", dt.date(2026, 6, 12), "day", "2026-06-12T23:16:23Z"),
    ]
    assert record.metrics == [Metric("citations", 242, "crossref", dt.date(2026, 6, 12))]
    assert record.identifiers == [
        Identifier("doi", "10.1016/j.neurobiolaging.2010.03.024"),
        Identifier("url", "https://linkinghub.elsevier.com/retrieve/pii/S0197458010001570"),
    ]
    assert record.publisher == "Elsevier BV"
    assert [a.name for a in record.authors][:3] == ["Hyun Ju Lee", "Jong Kil Lee", "Hyun Lee"]
    assert [a.position for a in record.authors] == list(range(1, 12))


def test_raw_is_the_work_without_score_serialised_deterministically(crossref_dir: Path) -> None:
    name = "habanero__work_10.1016_j.neurobiolaging.2010.03.024.json"
    work = json.loads((crossref_dir / name).read_text(encoding="utf-8"))["message"]
    record = only_record(crossref_dir, name)
    without_score = {k: v for k, v in work.items() if k != "score"}
    assert (
        record.raw
        == json.dumps(
            without_score, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()
    )
    # The same version fetched by another query (another score) is the same payload.
    assert parse_work({**work, "score": 17.5}).raw == record.raw


def test_srep16696_jats_abstract_licence_article_number(crossref_dir: Path) -> None:
    record = only_record(crossref_dir, "habanero__work_10.1038_srep16696.json")
    expected = (
        "Oligomers of alpha-synuclein are toxic to cells and have been proposed to play a key "
        "role in the etiopathogenesis of Parkinson’s disease. As certain missense mutations in "
        "the gene encoding for alpha-synuclein induce early-onset forms of the disease, it has "
        "been suggested that these variants might have an inherent tendency to produce high "
        "concentrations of oligomers during aggregation, although a direct experimental "
        "evidence for this is still missing. We used single-molecule Förster Resonance Energy "
        "Transfer to visualize directly the protein self-assembly process by wild-type "
        "alpha-synuclein and A53T, A30P and E46K mutants and to compare the structural "
        "properties of the ensemble of oligomers generated. We found that the kinetics of "
        "oligomer formation correlates with the natural tendency of each variant to acquire "
        "beta-sheet structure. Moreover, A53T and A30P showed significant differences in the "
        "averaged FRET efficiency of one of the two types of oligomers formed compared to the "
        "wild-type oligomers, indicating possible structural variety among the ensemble of "
        "species generated. Importantly, we found similar concentrations of oligomers during "
        "the lag-phase of the aggregation of wild-type and mutated alpha-synuclein, suggesting "
        "that the properties of the ensemble of oligomers generated during self-assembly might "
        "be more relevant than their absolute concentration for triggering neurodegeneration."
    )
    assert record.abstract == expected  # the "Abstract" heading dropped, tags gone
    assert record.abstract_sections == [AbstractSection(text=expected)]
    assert record.license == "https://creativecommons.org/licenses/by/4.0"
    assert record.elocation == "16696"
    assert record.pages is None
    assert (record.issn, record.issn_electronic, record.issn_print) == (
        "2045-2322",
        "2045-2322",
        None,
    )
    assert record.journal == "Scientific Reports"
    assert record.journal_abbrev == "Sci Rep"
    assert len(record.references) == 62
    assert record.references[1] == Reference(
        position=2,
        citation="Spillantini, M. G. et al. Alpha-synuclein in Lewy bodies. Nature 388, 839–840 (1997).",
        identifiers=[Identifier("doi", "10.1038/42166")],
    )
    assert all(r.identifiers for r in record.references)
    assert record.metrics == [Metric("citations", 110, "crossref", dt.date(2026, 3, 19))]
    assert record.dates[:3] == [
        DateEntry("published_online", dt.date(2015, 11, 19), "day", "[[2015,11,19]]"),
        # From the publisher's ArticleHistory assertions, as written there.
        DateEntry("received", dt.date(2015, 7, 21), "day", "21 July 2015"),
        DateEntry("accepted", dt.date(2015, 10, 19), "day", "19 October 2015"),
    ]


def test_commonmeta_bare_work_funders_subjects_affiliations(crossref_dir: Path) -> None:
    record = only_record(crossref_dir, "commonmeta__crossref.json")
    assert record.doi == "10.7554/elife.01567"
    # Eight funder entries, two of them repeated, none with awards.
    assert record.grants == [
        Grant(agency="SystemsX"),
        Grant(agency="EMBO longterm post-doctoral fellowships"),
        Grant(agency="Marie Heim-Voegtlin"),
        Grant(agency="University of Lausanne"),
        Grant(agency="EMBO"),
        Grant(agency="Swiss National Science Foundation"),
    ]
    assert record.subjects == [
        Subject("crossref_subject", "General Immunology and Microbiology"),
        Subject("crossref_subject", "General Biochemistry, Genetics and Molecular Biology"),
        Subject("crossref_subject", "General Medicine"),
        Subject("crossref_subject", "General Neuroscience"),
    ]
    assert record.authors[4] == Author(
        position=5,
        name="Christian S Hardtke",
        family="Hardtke",
        given="Christian S",
        affiliations=[
            "Department of Plant Molecular Biology, University of Lausanne, Lausanne, Switzerland"
        ],
    )
    assert record.license == "http://creativecommons.org/licenses/by/3.0/"
    assert record.links == [
        Link(relation="is-supplemented-by", target_scheme="doi", target_id="10.5061/dryad.b835k")
    ]
    assert record.abstract is not None
    assert record.abstract.startswith("Among various advantages, their small size makes")
    assert record.abstract.endswith("for example equidistant phloem pole formation.")
    assert record.journal_abbrev is None  # short-container-title is []
    assert record.source_version == "2022-09-08T23:27:28Z"
    assert len(record.references) == 27
    assert [(d.kind, d.date, d.raw) for d in record.dates[1:3]] == [
        ("received", dt.date(2013, 9, 20), "2013-09-20"),
        ("accepted", dt.date(2013, 12, 24), "2013-12-24"),
    ]


def test_icdcsw_null_issued_and_assembled_citations(crossref_dir: Path) -> None:
    record = only_record(crossref_dir, "habanero__work_10.1109_icdcsw.2003.1203662.json")
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw, record.pub_year) == (
        None,
        None,
        "[[null]]",
        None,
    )
    assert record.publication_types == ["proceedings-article"]
    assert record.journal == (
        "23rd International Conference on Distributed Computing Systems Workshops, 2003. "
        "Proceedings."
    )
    assert record.references[:4] == [
        Reference(1, None, [Identifier("doi", "10.1109/wsc.1996.873340")]),
        Reference(2, "ramakrishnan. 2001. Addition of ECN to IP. RFC 3168"),
        Reference(
            3, "schulzrine. 1996. RTP: A transport protocol for real-time applications. RFC 1889"
        ),
        Reference(
            4,
            "tobe. 2000. Acheiving moderate fairness for UDP flows by pathstatus "
            "classification. The 25th Annual IEEE Conf on Local Computer Networks. p. 252",
        ),
    ]


def test_ijo_family_only_author(crossref_dir: Path) -> None:
    record = only_record(crossref_dir, "habanero__work_10.3892_ijo_00000353.json")
    assert record.authors == [Author(position=1, name="Stravopodis", family="Stravopodis")]
    assert record.references == []
    assert record.journal_abbrev == "Int J Oncol"
    assert (record.pub_date, record.pub_date_precision) == (dt.date(2009, 6, 26), "day")


def test_cassette_work_with_suffix_and_escaped_abstract(crossref_dir: Path) -> None:
    interactions = load_cassette(crossref_dir / "habanero__cassette_works_many_ids.yaml")
    assert interactions[1]["uri"] == "https://api.crossref.org/works/10.1002/jor.1100150407"
    (record,) = iter_crossref_records(interactions[1]["body"], origin="jor")
    assert [a for a in record.authors if a.suffix] == [
        Author(position=9, name="Donald Hora", family="Hora", given="Donald", suffix="Jr.")
    ]
    assert record.abstract is not None
    assert "declined by about 60% (p < 0.001) in both groups" in record.abstract
    assert "(p > 0.7)" in record.abstract
    assert record.license == "http://onlinelibrary.wiley.com/termsAndConditions#vor"
    assert record.journal_abbrev == "Journal Orthopaedic Research"
    assert record.references[2] == Reference(
        3,
        "Booth FW. 1979. Recovery of skeletal muscle after 3 mo of hindlimb immobilization in "
        "rats. J Appl Physiol. 47:435",
        [Identifier("doi", "10.1152/jappl.1979.47.2.435")],
    )
