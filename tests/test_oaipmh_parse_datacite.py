"""DataCite records → Record, on real data: Zenodo's ListRecords metadataPrefix=datacite
(50 records) and a DataCite kernel-4 export of an Elsevier Pure instance."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from lxml import etree

from connectors.oaipmh.datacite import fill_from_datacite
from connectors.oaipmh.parse import parse_records
from schemas.record import (
    Author,
    DateEntry,
    Grant,
    Identifier,
    Link,
    Record,
    Subject,
)


def _zenodo(fixtures_dir: Path) -> list[Record]:
    body = (fixtures_dir / "oaipmh" / "zenodo__ListRecords_datacite.xml").read_bytes()
    items = parse_records(body, origin="zenodo datacite")
    records = [item for item in items if isinstance(item, Record)]
    assert len(records) == len(items)
    return records


def test_fifty_records_and_their_shape(fixtures_dir: Path) -> None:
    records = _zenodo(fixtures_dir)
    assert len(records) == 50
    assert records[0].source_id == "oai:zenodo.org:8435696#datacite"
    assert records[-1].source_id == "oai:zenodo.org:8433919#datacite"
    assert len({r.source_id for r in records}) == 50
    # Dryad deposits keep their own DOIs on Zenodo.
    prefixes = Counter((r.doi or "").split("/")[0] for r in records)
    assert prefixes == Counter({"10.5281": 42, "10.5061": 8})
    dryad = next(r for r in records if r.source_id == "oai:zenodo.org:8433037#datacite")
    assert dryad.doi == "10.5061/dryad.cz8w9gj8q"
    assert all(r.title for r in records)
    assert Counter(tuple(r.output_type) for r in records) == Counter(
        {
            ("Dataset",): 29,
            ("JournalArticle",): 6,
            ("Software",): 4,
            ("Other",): 3,
            ("Text", "Presentation"): 2,
            ("Preprint",): 2,
            ("Text", "Other"): 1,
            ("Text", "Taxonomic treatment"): 1,
            ("Audiovisual",): 1,
            ("Image", "Figure"): 1,
        }
    )
    authors = [a for r in records for a in r.authors]
    assert len(authors) == 160
    assert sum(1 for a in authors if a.orcid) == 27
    assert sum(len(r.grants) for r in records) == 3
    assert sum(1 for r in records if r.languages == ["eng"]) == 12
    assert sum(1 for r in records if r.languages == ["ang"]) == 1


def test_one_record_every_field(fixtures_dir: Path) -> None:
    record = next(
        r for r in _zenodo(fixtures_dir) if r.source_id == "oai:zenodo.org:8433301#datacite"
    )
    assert record.source_version == "2023-10-12T02:36:57Z"
    assert record.endpoint == "https://zenodo.org/oai2d"
    assert record.identifiers == [
        Identifier("oai", "oai:zenodo.org:8433301"),
        Identifier("doi", "10.5281/zenodo.8433301"),
    ]
    assert record.authors == [
        Author(
            position=1,
            name="Sam Lin",
            family="Lin",
            given="Sam",
            orcid="0000-0001-6834-2646",
            affiliations=["University of Wollongong"],
        )
    ]
    assert record.title == (
        "A new method for quantifying flake scar organisation on cores using orientation statistics"
    )
    assert record.publisher == "Zenodo"
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw, record.pub_year) == (
        dt.date(2023, 10, 12),
        "day",
        "2023-10-12",
        2023,
    )
    assert record.dates == [
        DateEntry("issued", dt.date(2023, 10, 12), "day", "2023-10-12"),
        DateEntry("updated", dt.date(2023, 10, 12), "day", "2023-10-12"),
    ]
    assert (record.output_type, record.publication_types) == (["Dataset"], ["Dataset"])
    assert record.subjects == [
        Subject("keyword", "Archaeology"),
        Subject("keyword", "Stone tools"),
        Subject("keyword", "3D modeling"),
        Subject("keyword", "Orientation analysis"),
    ]
    assert record.abstract == (
        "Data and R code for reproducing the results presented in 'in “A new method for "
        "quantifying flake scar organisation on cores using orientation statistics” by Lin et al."
    )
    assert record.links == [Link("IsVersionOf", "doi", "10.5281/zenodo.8433300")]
    assert record.license == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert record.grants == [Grant(grant_id="DE200100502", agency="Australian Research Council")]


def test_twelve_authors_in_order_with_diacritics(fixtures_dir: Path) -> None:
    record = next(
        r for r in _zenodo(fixtures_dir) if r.source_id == "oai:zenodo.org:8434414#datacite"
    )
    assert [(a.position, a.name) for a in record.authors] == [
        (1, "Johannes Textor"),
        (2, "Franka Buytenhuijs"),
        (3, "Dakota Rogers"),
        (4, "Ève Mallet Gauthier"),
        (5, "Shabaz Sultan"),
        (6, "Inge M. N. Wortel"),
        (7, "Kathrin Kalies"),
        (8, "Anke Fähnrich"),
        (9, "René Pagel"),
        (10, "Heather J. Melichar"),
        (11, "Jürgen Westermann"),
        (12, "Judith N. Mandl"),
    ]
    assert record.authors[3].affiliations == ["Université de Montréal, Canada"]
    assert record.output_type == ["Software"]
    assert record.abstract == (
        "This repository contains code for generating the figures in the paper:\xa0Machine "
        "learning analysis of the T cell receptor repertoire identifies sequence features that "
        "predict self-reactivity."
    )


def test_unsplit_names_contributors_and_other_descriptions(fixtures_dir: Path) -> None:
    records = _zenodo(fixtures_dir)
    first = records[0]
    # Zenodo repeats an unsplit name as familyName: kept as given, displayed whole.
    assert first.authors == [
        Author(
            position=1,
            name="Matteo Marchegiani",
            family="Matteo Marchegiani",
            affiliations=["ETH Zurich"],
        )
    ]
    assert (first.output_type, first.publication_types) == (
        ["Text", "Presentation"],
        ["Presentation"],
    )
    supervised = next(r for r in records if any(a.role == "supervisor" for a in r.authors))
    assert [(a.role, a.position, a.name) for a in supervised.authors if a.role != "author"] == [
        ("supervisor", 1, "Wilhelm Hasselbring"),
        ("supervisor", 2, "Alexander Krause-Glau"),
    ]
    with_other = [r for r in records if any(s.kind == "other" for s in r.abstract_sections)]
    assert len(with_other) == 12
    for record in with_other:
        abstracts = [s.text for s in record.abstract_sections if s.kind == "abstract"]
        assert record.abstract == ("\n\n".join(abstracts) or None)
    funded = next(r for r in records if r.source_id == "oai:zenodo.org:8435639#datacite")
    assert funded.grants == [Grant(grant_id="864300", agency="European Commission")]
    assert funded.output_type == ["Dataset"]


def test_pure_datacite_export(fixtures_dir: Path) -> None:
    """commonmeta's fixture: DataCite from Elsevier Pure (St Andrews), with xsi:type on names,
    trailing spaces in given names, an empty abstract and six funding references."""
    path = fixtures_dir / "other" / "commonmeta__pure_datacite.xml"
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    resource = etree.fromstring(path.read_bytes(), parser)
    record = Record(source="oai", source_id="pure-export")
    fill_from_datacite(record, resource)
    assert record.doi == "10.17630/bb43e6a3-72e0-464c-9fdd-fbe5d3e56a09"
    assert record.identifiers == [
        Identifier("doi", "10.17630/bb43e6a3-72e0-464c-9fdd-fbe5d3e56a09")
    ]
    assert len([a for a in record.authors if a.role == "author"]) == 14
    assert record.authors[0] == Author(
        position=1,
        name="Raphaelle Dawn Haywood",
        family="Haywood",
        given="Raphaelle Dawn",
        affiliations=["School of Physics and Astronomy"],
    )
    assert record.authors[2] == Author(
        position=3, name="Y. C. Unruh", family="Unruh", given="Y. C."
    )
    assert record.authors[13].name == "D. Ségransan"
    assert record.authors[14] == Author(
        position=1,
        name="Raphaelle Dawn Haywood",
        family="Haywood",
        given="Raphaelle Dawn",
        role="contact_person",
    )
    assert record.title == (
        "Data underpinning - The Sun as a planet-host star: Proxies from SDO images for HARPS "
        "radial-velocity variations"
    )
    assert record.publisher == "University of St Andrews"
    # No Issued date: the publication year is the publication date.
    assert (record.pub_date, record.pub_date_precision, record.pub_year) == (
        dt.date(2016, 1, 1),
        "year",
        2016,
    )
    assert record.dates == [DateEntry("available", dt.date(2016, 1, 20), "day", "2016-01-20")]
    assert (record.output_type, record.publication_types) == (
        ["Audiovisual", "Dataset"],
        ["Dataset"],
    )
    assert record.abstract is None and record.abstract_sections == []
    assert record.license == "http://creativecommons.org/licenses/by/4.0/"
    assert record.grants == [
        Grant(grant_id="ST/M001296/1", agency="Science & Technology Facilities Council"),
        Grant(grant_id=None, agency="European Commission"),
        Grant(grant_id="ST/I000666/1", agency="Science & Technology Facilities Council"),
        Grant(grant_id="ST/J001651/1", agency="Science & Technology Facilities Council"),
        Grant(grant_id="PP/D000890/1", agency="PPARC - Now STFC"),
        Grant(grant_id="ST/G001006/1", agency="Science & Technology Facilities Council"),
    ]
