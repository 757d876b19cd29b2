"""CERIF XML of the OpenAIRE Guidelines for CRIS Managers 1.1 (`oai_cerif_openaire`): a
hand-written record that follows the profile's schema parses into exact values, and the
Pure-like portal offers the format for every record, the seed's facts included."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.http import PoliteSession
from connectors.oaipmh.client import OaiClient
from connectors.oaipmh.envelope import MetadataFormat
from connectors.oaipmh.errors import UnsupportedMetadataError
from connectors.oaipmh.parse import parse_records
from sandbox.oaipmh import PURE_PATH, OaiEmulator, pure_repository
from sandbox.pure_corpus import SEED_DATESTAMP, SEED_IDENTIFIER, SEED_OUTPUT
from sandbox.server import serve
from schemas.arrow import records_table
from schemas.record import AbstractSection, Author, Deletion, Grant, Identifier, Record, Subject

CERIF = "oai_cerif_openaire"
CERIF_FORMAT = MetadataFormat(
    CERIF,
    "https://www.openaire.eu/schema/cris/1.1.1/openaire-cerif-profile.xsd",
    "https://www.openaire.eu/cerif-profile/1.1/",
)
COAR = "http://purl.org/coar/resource_type/"
SEED_FILE = "000_d97e390f4f84cdba.txt"

# Written after the profile's XML Schema (element order, namespaces, @medium, @trans) and the
# examples that accompany the Guidelines (openaire_cerif_xml_example_publications.xml).
SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
 <responseDate>2024-05-02T10:00:00Z</responseDate>
 <request verb="GetRecord" metadataPrefix="oai_cerif_openaire"
   identifier="oai:cris.example.org:Publications/4711">https://cris.example.org/oai</request>
 <GetRecord><record>
  <header><identifier>oai:cris.example.org:Publications/4711</identifier>
   <datestamp>2024-05-01T08:30:00Z</datestamp><setSpec>openaire_cris_publications</setSpec>
  </header>
  <metadata>
   <Publication xmlns="https://www.openaire.eu/cerif-profile/1.1/" id="4711">
    <Type xmlns="https://www.openaire.eu/cerif-profile/vocab/COAR_Publication_Types">http://purl.org/coar/resource_type/c_2df8fbb1<!-- research article --></Type>
    <Language>en</Language>
    <Title xml:lang="en">Cytokine signalling in tumour immunity</Title>
    <Title xml:lang="de" trans="h">Zytokinsignalisierung in der Tumorimmunität</Title>
    <Subtitle xml:lang="en">a cohort study</Subtitle>
    <PublishedIn>
     <Publication id="900">
      <Type xmlns="https://www.openaire.eu/cerif-profile/vocab/COAR_Publication_Types">http://purl.org/coar/resource_type/c_0640</Type>
      <Title xml:lang="en">Journal of Example Immunology</Title>
      <ISSN medium="http://issn.org/vocabularies/Medium#Print">1234-5679</ISSN>
      <ISSN medium="http://issn.org/vocabularies/Medium#Online">2049-3630</ISSN>
      <Publishers><Publisher><OrgUnit id="301"><Name xml:lang="en">Example Society Press</Name></OrgUnit></Publisher></Publishers>
     </Publication>
    </PublishedIn>
    <PublicationDate>2023-11-07</PublicationDate>
    <Number>e1042</Number>
    <Volume>12</Volume>
    <Issue>3</Issue>
    <StartPage>101</StartPage>
    <EndPage>118</EndPage>
    <DOI>10.5555/EXAMPLE.2023.1042</DOI>
    <Handle>11245/1.583920</Handle>
    <URL>https://cris.example.org/publications/4711</URL>
    <Authors>
     <Author>
      <DisplayName>Ana María López-García</DisplayName>
      <Person id="p1">
       <PersonName><FamilyNames>López-García</FamilyNames><FirstNames>Ana María</FirstNames></PersonName>
       <ORCID>https://orcid.org/0000-0002-1825-0097</ORCID>
      </Person>
      <Affiliation>
       <OrgUnit id="o1"><Name xml:lang="en">Department of Immunology</Name>
        <PartOf><OrgUnit id="o0"><Name xml:lang="en">Example University</Name></OrgUnit></PartOf>
       </OrgUnit>
      </Affiliation>
      <Affiliation><DisplayName>Example Cancer Centre, Utrecht</DisplayName><OrgUnit id="o9"><Acronym>ECC</Acronym></OrgUnit></Affiliation>
     </Author>
     <Author>
      <Person id="p2"><PersonName><FamilyNames>O’Neill</FamilyNames><FirstNames>Seán</FirstNames></PersonName></Person>
      <Affiliation><OrgUnit id="o3"><Acronym>EMBL</Acronym></OrgUnit></Affiliation>
     </Author>
     <Author>
      <DisplayName>The Example Consortium</DisplayName>
      <OrgUnit id="o7"><Name xml:lang="en">Example Consortium</Name></OrgUnit>
     </Author>
    </Authors>
    <Editors>
     <Editor><Person id="p5"><PersonName><FamilyNames>Jansen</FamilyNames><FirstNames>Pieter</FirstNames></PersonName></Person></Editor>
    </Editors>
    <License scheme="https://creativecommons.org/licenses/">https://creativecommons.org/licenses/by/4.0/</License>
    <Subject scheme="http://www.ebi.ac.uk/efo/">http://www.ebi.ac.uk/efo/EFO_0000311</Subject>
    <Keyword xml:lang="en">cytokines</Keyword>
    <Keyword xml:lang="en">tumour immunology</Keyword>
    <Abstract xml:lang="en">Cytokines shape the tumour microenvironment.
     We followed 412 patients for five years.</Abstract>
    <Abstract xml:lang="de" trans="h">Zytokine prägen die Tumormikroumgebung.</Abstract>
    <Status scheme="https://w3id.org/cerif/vocab/PeerReviews">https://w3id.org/cerif/vocab/PeerReviews#Yes</Status>
    <Status scheme="https://w3id.org/cerif/vocab/PublicationStatuses">https://w3id.org/cerif/vocab/PublicationStatuses#Published</Status>
    <Status scheme="http://purl.org/coar/version">http://purl.org/coar/version/c_970fb48d4fbd8a85</Status>
    <OriginatesFrom>
     <Project id="pr1"><Acronym>IMMUNO-X</Acronym>
      <Title xml:lang="en">Immune signalling across cancers</Title>
      <Identifier type="https://w3id.org/cerif/vocab/IdentifierTypes#ProjectReference">101012345</Identifier>
      <Funded><By><OrgUnit id="f1"><Acronym>EC</Acronym><Name xml:lang="en">European Commission</Name></OrgUnit></By></Funded>
     </Project>
    </OriginatesFrom>
    <Access xmlns="http://purl.org/coar/access_right">http://purl.org/coar/access_right/c_abf2</Access>
   </Publication>
  </metadata>
 </record></GetRecord>
</OAI-PMH>
"""


def _one(body: str) -> Record:
    (record,) = parse_records(body.encode(), origin="test")
    assert isinstance(record, Record)
    return record


def test_a_profile_sample_every_field() -> None:
    record = _one(SAMPLE)
    assert (record.source, record.source_id, record.source_version, record.endpoint) == (
        "oai",
        "oai:cris.example.org:Publications/4711#oai_cerif_openaire",
        "2024-05-01T08:30:00Z",
        "https://cris.example.org/oai",
    )
    assert record.identifiers == [
        Identifier("oai", "oai:cris.example.org:Publications/4711"),
        Identifier("doi", "10.5555/example.2023.1042"),
        Identifier("handle", "11245/1.583920"),
        Identifier("url", "https://cris.example.org/publications/4711"),
    ]
    assert record.doi == "10.5555/example.2023.1042"
    assert record.title == "Cytokine signalling in tumour immunity: a cohort study"
    assert record.languages == ["en"]
    assert record.publication_types == [COAR + "c_2df8fbb1"]
    assert record.output_type == ["journal", "journal article", "research article"]
    assert (record.journal, record.issn, record.issn_print, record.issn_electronic) == (
        "Journal of Example Immunology",
        "1234-5679",
        "1234-5679",
        "2049-3630",
    )
    assert record.publisher == "Example Society Press"  # the journal's: the work names none
    assert (record.volume, record.issue, record.elocation) == ("12", "3", "e1042")
    assert (record.pages, record.first_page, record.last_page, record.page_count) == (
        "101-118",
        "101",
        "118",
        18,
    )
    assert (record.pub_date, record.pub_date_precision, record.pub_date_raw, record.pub_year) == (
        dt.date(2023, 11, 7),
        "day",
        "2023-11-07",
        2023,
    )
    assert record.authors == [
        Author(
            position=1,
            name="Ana María López-García",
            family="López-García",
            given="Ana María",
            orcid="0000-0002-1825-0097",
            affiliations=[
                "Department of Immunology, Example University",
                "Example Cancer Centre, Utrecht",
            ],
        ),
        Author(
            position=2, name="Seán O’Neill", family="O’Neill", given="Seán", affiliations=["EMBL"]
        ),
        Author(position=3, name="The Example Consortium", collective="The Example Consortium"),
        Author(position=1, name="Pieter Jansen", family="Jansen", given="Pieter", role="editor"),
    ]
    assert record.license == "https://creativecommons.org/licenses/by/4.0/"
    assert record.subjects == [
        Subject("http://www.ebi.ac.uk/efo/", "http://www.ebi.ac.uk/efo/EFO_0000311"),
        Subject("keyword", "cytokines"),
        Subject("keyword", "tumour immunology"),
    ]
    assert record.abstract_sections == [
        AbstractSection(
            "Cytokines shape the tumour microenvironment.\n"
            "     We followed 412 patients for five years.",
            language="en",
        ),
        AbstractSection("Zytokine prägen die Tumormikroumgebung.", language="de"),
    ]
    assert record.abstract == record.abstract_sections[0].text  # the translation is not joined
    assert (record.peer_reviewed, record.publication_state) == (True, "Published")
    assert record.grants == [
        Grant(grant_id="101012345", acronym="IMMUNO-X", agency="European Commission")
    ]
    assert (record.metrics, record.links, record.references) == ([], [], [])


def _minimal(inner: str) -> str:
    """A GetRecord answer with one Publication holding `inner` (after a journal-article Type)."""
    start, end = SAMPLE.index("<Publication xmlns"), SAMPLE.index("</metadata>")
    publication = (
        '<Publication xmlns="https://www.openaire.eu/cerif-profile/1.1/" id="1">'
        '<Type xmlns="https://www.openaire.eu/cerif-profile/vocab/COAR_Publication_Types">'
        f"{COAR}c_6501</Type>{inner}</Publication>"
    )
    return SAMPLE[:start] + publication + SAMPLE[end:]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1994", (dt.date(1994, 1, 1), "year", 1994)),
        ("1994-04", (dt.date(1994, 4, 1), "month", 1994)),
        ("1994-04-15", (dt.date(1994, 4, 15), "day", 1994)),
        ("2003-04-15T10:18:51Z", (dt.date(2003, 4, 15), "day", 2003)),
    ],
)
def test_publication_date_precision(raw: str, expected: tuple[object, ...]) -> None:
    record = _one(_minimal(f"<PublicationDate>{raw}</PublicationDate>"))
    assert (record.pub_date, record.pub_date_precision, record.pub_year) == expected
    assert record.pub_date_raw == raw


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ("", (None, None)),
        (
            '<Status scheme="https://w3id.org/cerif/vocab/PeerReviews">'
            "https://w3id.org/cerif/vocab/PeerReviews#No</Status>"
            '<Status scheme="https://w3id.org/cerif/vocab/PublicationStatuses">'
            "https://w3id.org/cerif/vocab/PublicationStatuses#InPress</Status>",
            (False, "Accepted/In press"),
        ),
        # The CERIF 1.5 Semantics class scheme and class UUIDs (Peer Reviews: Yes; Publication
        # Statuses: Submitted for Consideration).
        (
            '<Status scheme="4bdfc4ac-7c74-456d-9d3b-b1e4267b90a9">'
            "df943548-c67e-4c96-8c4f-1c0aa144b1c0</Status>"
            '<Status scheme="40e90e2f-446d-460a-98e5-5dce57550c48">'
            "1c774414-3a42-4e4c-b3c5-04b89202c40f</Status>",
            (True, "Submitted"),
        ),
        (
            '<Status scheme="https://w3id.org/cerif/vocab/PeerReviews">'
            "https://w3id.org/cerif/vocab/PeerReviews#Unknown</Status>"
            '<Status scheme="https://example.org/local-statuses">refereed</Status>',
            (None, None),
        ),
    ],
)
def test_status_vocabularies(statuses: str, expected: tuple[object, object]) -> None:
    record = _one(_minimal(statuses))
    assert (record.peer_reviewed, record.publication_state) == expected


def test_types_pages_and_hosts_without_a_journal() -> None:
    record = _one(
        _minimal(
            "<PartOf><Publication>"
            '<Type xmlns="https://www.openaire.eu/cerif-profile/vocab/COAR_Publication_Types">'
            f"{COAR}c_2f33</Type><Title xml:lang='en'>Handbook of Examples</Title>"
            "<Publishers><Publisher><DisplayName>Example Academic Press, Leiden</DisplayName>"
            "<OrgUnit><Name xml:lang='en'>Example Academic Press</Name></OrgUnit></Publisher>"
            "</Publishers></Publication></PartOf>"
            "<StartPage>xi</StartPage><EndPage>xv</EndPage><ISBN>978-3-16-148410-0</ISBN>"
        )
    )
    assert record.output_type == ["journal", "journal article"]
    assert (record.journal, record.publisher) == (
        "Handbook of Examples",
        "Example Academic Press, Leiden",
    )
    assert (record.pages, record.page_count) == ("xi-xv", None)  # not numbers: no count
    assert record.identifiers[1:] == [Identifier("isbn", "9783161484100")]
    unknown = _one(_minimal("<StartPage>e17</StartPage>").replace("c_6501", "c_ffff"))
    assert (unknown.publication_types, unknown.output_type) == ([COAR + "c_ffff"], [])
    assert (unknown.pages, unknown.first_page, unknown.last_page) == ("e17", "e17", None)


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        ("1", "9" * 30, None),  # OverflowError in the Arrow table before
        ("²", "³", None),  # digits to `str.isdigit`, ValueError from `int()` before
        ("1", "9" * 5000, None),  # past `int()`'s limit, ValueError before
        ("7", "9", 3),
    ],
    ids=["30-digits", "superscripts", "5000-digits", "plain"],
)
def test_a_page_count_no_bigint_holds_is_dropped(start: str, end: str, count: int | None) -> None:
    record = _one(_minimal(f"<StartPage>{start}</StartPage><EndPage>{end}</EndPage>"))
    assert (record.pages, record.page_count) == (f"{start}-{end}", count)
    assert records_table([record]).column("page_count").to_pylist() == [count]


def test_other_cerif_entities_are_refused() -> None:
    start, end = SAMPLE.index("<Publication xmlns"), SAMPLE.index("</metadata>")
    person = (
        '<Person xmlns="https://www.openaire.eu/cerif-profile/1.1/" id="p1"><PersonName>'
        "<FamilyNames>Jansen</FamilyNames></PersonName></Person>"
    )
    with pytest.raises(UnsupportedMetadataError, match="openaire_cris_publications"):
        parse_records((SAMPLE[:start] + person + SAMPLE[end:]).encode(), origin="test")


# --- the Pure-like portal ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def portal_url() -> Iterator[str]:
    with serve(OaiEmulator({PURE_PATH: pure_repository()})) as base:
        yield base + PURE_PATH


def _client(url: str) -> OaiClient:
    session = PoliteSession(
        source="Pure-like portal", requests_per_second=500, backoff_base=0.01, rng=random.Random(5)
    )
    return OaiClient(url, session=session)


@pytest.fixture(scope="module")
def harvest(portal_url: str) -> list[Record | Deletion]:
    return list(_client(portal_url).list_records(CERIF))


@pytest.fixture(scope="module")
def seed(harvest: list[Record | Deletion]) -> Record:
    (record,) = [r for r in harvest if r.source_id == f"{SEED_IDENTIFIER}#{CERIF}"]
    assert isinstance(record, Record)
    return record


def test_the_portal_lists_the_format(portal_url: str) -> None:
    client = _client(portal_url)
    assert CERIF_FORMAT in client.list_metadata_formats()
    assert [f.prefix for f in client.list_metadata_formats(SEED_IDENTIFIER)] == [
        "oai_dc",
        "mods",
        CERIF,
    ]


def test_seed_record_in_cerif(seed: Record, portal_url: str) -> None:
    assert (seed.source, seed.source_version, seed.endpoint) == ("oai", SEED_DATESTAMP, portal_url)
    assert seed.title == "Interleukins in Cancer Therapy: Rationale and Current Status"
    assert seed.authors == [
        Author(position=1, name="Leslie Oleksowicz", family="Oleksowicz", given="Leslie"),
        Author(position=2, name="Joseph Sparano", family="Sparano", given="Joseph"),
        Author(position=3, name="Kevin O’Boyle", family="O’Boyle", given="Kevin"),
        Author(position=4, name="Usha Venkatraj", family="Venkatraj", given="Usha"),
        Author(position=5, name="Peter H. Wiernik", family="Wiernik", given="Peter H."),
        Author(position=6, name="Janice P. Dutcher", family="Dutcher", given="Janice P."),
    ]
    assert "\u2019" in seed.authors[2].name and "'" not in str(seed.authors[2].name)
    assert seed.abstract == SEED_OUTPUT.abstract
    assert seed.abstract_sections == [AbstractSection(str(SEED_OUTPUT.abstract), language="en")]
    assert (seed.journal, seed.issue, seed.volume, seed.issn) == (
        "Clinical Immunotherapeutics",
        "4",
        None,
        None,
    )
    assert (seed.pages, seed.first_page, seed.last_page, seed.page_count) == (
        "271-281",
        "271",
        "281",
        11,  # computed from the page range: CERIF has no page count of its own
    )
    assert (seed.pub_date, seed.pub_date_precision, seed.pub_date_raw, seed.pub_year) == (
        dt.date(1994, 4, 1),
        "month",
        "1994-04",
        1994,
    )
    assert seed.languages == ["en-US"]  # the BCP 47 tag: "English (US)" is MODS's only
    assert seed.publication_types == [COAR + "c_dcae04bc"]
    assert seed.output_type == ["journal", "journal article", "review article"]
    assert (seed.peer_reviewed, seed.publication_state) == (True, "Published")
    assert seed.identifiers == [
        Identifier("oai", SEED_IDENTIFIER),
        Identifier("url", SEED_OUTPUT.portal_url),
    ]
    # What CERIF cannot carry is absent, not approximated; nothing is made up either.
    assert (seed.metrics, seed.subjects, seed.grants) == ([], [], [])
    assert (seed.doi, seed.publisher, seed.license) == (None, None, None)
    assert seed.raw is not None and b"cerif-profile/1.1/" in seed.raw
    assert _client(portal_url).get_record(SEED_IDENTIFIER, CERIF) == seed


def test_seed_facts_match_the_seed_text(seed: Record, fixtures_dir: Path) -> None:
    path = fixtures_dir.parent / "seed" / SEED_FILE
    if not path.is_file():
        pytest.skip(f"the seed text is not at {path}")
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    title, authors, output, abstract, facts = (
        blocks[0],
        blocks[1],
        blocks[2],
        blocks[4].strip(),
        blocks[5].splitlines(),
    )
    assert seed.title == title
    assert [a.name for a in seed.authors] == authors.split(", ")
    assert output.endswith("Review articlepeer-review") and seed.output_type[-1] == "review article"
    assert seed.peer_reviewed is True
    assert seed.abstract == abstract
    month = seed.pub_date.strftime("%b %Y") if seed.pub_date else None
    assert facts[1:] == [
        f"Pages (from-to){seed.pages}",
        f"Number of pages{seed.page_count}",
        f"Journal{seed.journal}",
        f"Issue number{seed.issue}",
        f"State{seed.publication_state} - {month}",
    ]


def test_every_record_in_both_formats_says_the_same(
    harvest: list[Record | Deletion], portal_url: str
) -> None:
    # One item, two formats: two records, which share the OAI identifier.
    mods = {r.source_id.removesuffix("#mods"): r for r in _client(portal_url).list_records("mods")}
    assert len(harvest) == len(mods) == 48
    assert sum(isinstance(r, Deletion) for r in harvest) == 5
    records = [r for r in harvest if isinstance(r, Record)]
    for record in records:
        other = mods[record.source_id.removesuffix(f"#{CERIF}")]
        assert isinstance(other, Record)
        assert record.publication_types and record.output_type, record.source_id

        def facts(r: Record) -> tuple[object, ...]:
            return (
                r.title,
                [
                    (a.position, a.name, a.family, a.given, a.orcid, a.affiliations)
                    for a in r.authors
                ],
                r.abstract,
                (r.journal, r.issn, r.volume, r.issue, r.pages, r.first_page, r.last_page),
                (r.pub_date, r.pub_date_precision, r.pub_year),
                (r.doi, r.publisher, r.license, r.peer_reviewed),
                [s.term for s in r.subjects if s.scheme == "keyword"],
            )

        assert facts(record) == facts(other), record.source_id
        # Pure's "E-pub ahead of print" has no CERIF term: no state rather than a wrong one.
        state = other.publication_state
        assert record.publication_state == (None if state == "E-pub ahead of print" else state)
        if record.pages is not None:
            assert record.page_count == other.page_count
