"""The seed record's home: harvested from the sandbox's Pure-like portal over real HTTP, every
fact the portal page shows lands in the Record, checked against the seed text itself."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.http import PoliteSession
from connectors.oaipmh.client import OaiClient
from sandbox.oaipmh import PURE_PATH, OaiEmulator, pure_repository
from sandbox.pure_corpus import SEED_DATESTAMP, SEED_IDENTIFIER, SEED_OUTPUT
from sandbox.server import serve
from schemas.record import Author, Deletion, Identifier, Link, Metric, Record, Subject

SEED_FILE = "000_d97e390f4f84cdba.txt"


@pytest.fixture(scope="module")
def portal_url() -> Iterator[str]:
    app = OaiEmulator({PURE_PATH: pure_repository()})
    with serve(app) as base:
        yield base + PURE_PATH


def _client(url: str) -> OaiClient:
    session = PoliteSession(
        source="Pure-like portal", requests_per_second=500, backoff_base=0.01, rng=random.Random(3)
    )
    return OaiClient(url, session=session)


@pytest.fixture(scope="module")
def harvest(portal_url: str) -> list[Record | Deletion]:
    return list(_client(portal_url).list_records("mods"))


@pytest.fixture(scope="module")
def seed(harvest: list[Record | Deletion]) -> Record:
    (record,) = [r for r in harvest if r.source_id == f"{SEED_IDENTIFIER}#mods"]
    assert isinstance(record, Record)
    return record


def test_seed_record_every_fact(seed: Record, portal_url: str) -> None:
    assert seed.source == "oai"
    assert seed.source_version == SEED_DATESTAMP
    assert seed.endpoint == portal_url
    assert seed.title == "Interleukins in Cancer Therapy: Rationale and Current Status"
    assert seed.authors == [
        Author(position=1, name="Leslie Oleksowicz", family="Oleksowicz", given="Leslie"),
        Author(position=2, name="Joseph Sparano", family="Sparano", given="Joseph"),
        Author(position=3, name="Kevin O’Boyle", family="O’Boyle", given="Kevin"),
        Author(position=4, name="Usha Venkatraj", family="Venkatraj", given="Usha"),
        Author(position=5, name="Peter H. Wiernik", family="Wiernik", given="Peter H."),
        Author(position=6, name="Janice P. Dutcher", family="Dutcher", given="Janice P."),
    ]
    assert seed.output_type == ["Contribution to journal", "Review article"]
    assert seed.publication_types == [
        "/dk/atira/pure/researchoutput/researchoutputtypes/contributiontojournal/systematicreview"
    ]
    assert seed.peer_reviewed is True
    assert seed.metrics == [
        Metric("citations", 4, "scopus", as_of=dt.date.fromisoformat(SEED_DATESTAMP[:10]))
    ]
    assert seed.languages == ["English (US)"]
    assert (seed.pages, seed.first_page, seed.last_page, seed.page_count) == (
        "271-281",
        "271",
        "281",
        11,
    )
    assert (seed.journal, seed.issue, seed.volume, seed.issn) == (
        "Clinical Immunotherapeutics",
        "4",
        None,
        None,
    )
    assert seed.publication_state == "Published"
    assert (seed.pub_date, seed.pub_date_precision, seed.pub_date_raw, seed.pub_year) == (
        dt.date(1994, 4, 1),
        "month",
        "1994-04",
        1994,
    )
    assert seed.subjects == [
        Subject("asjc", "Immunology and Allergy", "2723"),
        Subject("asjc", "Pharmacology (medical)", "2736"),
    ]
    assert seed.abstract == SEED_OUTPUT.abstract
    assert len(seed.abstract_sections) == 1 and seed.abstract_sections[0].language == "eng"
    assert seed.identifiers == [
        Identifier("oai", SEED_IDENTIFIER),
        Identifier("pure", SEED_OUTPUT.uuid),
        Identifier("url", SEED_OUTPUT.portal_url),
    ]
    # Nothing the portal page does not show is made up.
    assert (seed.doi, seed.publisher, seed.license) == (None, None, None)
    assert seed.raw is not None and seed.raw.startswith(b"<record")


def test_seed_record_matches_the_seed_text(seed: Record, fixtures_dir: Path) -> None:
    path = fixtures_dir.parent / "seed" / SEED_FILE
    if not path.is_file():
        pytest.skip(f"the seed text is not at {path}")
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    title, authors, output, citations, abstract, facts, asjc_heading, asjc, fingerprint = (
        blocks[0],
        blocks[1],
        blocks[2],
        blocks[3],
        blocks[4].strip(),
        blocks[5].splitlines(),
        blocks[6],
        blocks[7],
        blocks[8].strip(),
    )
    assert seed.title == title
    assert [a.name for a in seed.authors] == authors.split(", ")
    assert "O’Boyle" in authors  # the typographic apostrophe, not '
    assert output == "Research output: " + "".join(seed.output_type) + (
        "peer-review" if seed.peer_reviewed else ""
    )
    (metric,) = seed.metrics
    assert citations == f"{metric.value} {metric.provider.capitalize()} citations"
    assert seed.abstract == abstract
    month = seed.pub_date.strftime("%b %Y") if seed.pub_date else None
    assert facts == [
        f"Original language{seed.languages[0]}",
        f"Pages (from-to){seed.pages}",
        f"Number of pages{seed.page_count}",
        f"Journal{seed.journal}",
        f"Issue number{seed.issue}",
        f"State{seed.publication_state} - {month}",
    ]
    assert asjc_heading == "ASJC Scopus subject areas"
    terms = [line.strip().removeprefix("• ") for line in asjc.splitlines()]
    assert [s.term for s in seed.subjects if s.scheme == "asjc"] == terms
    # The page names the fingerprint section but lists no concept: none is invented.
    assert fingerprint.startswith("Dive into the research topics of 'Interleukins in Cancer")
    assert [s for s in seed.subjects if s.scheme == "fingerprint"] == []


def test_seed_record_in_oai_dc(portal_url: str) -> None:
    record = _client(portal_url).get_record(SEED_IDENTIFIER, "oai_dc")
    assert isinstance(record, Record)
    assert record.title == SEED_OUTPUT.title
    assert [(a.name, a.family, a.given) for a in record.authors][2] == (
        "Kevin O’Boyle",
        "O’Boyle",
        "Kevin",
    )
    assert len(record.authors) == 6
    assert (record.pub_date, record.pub_date_precision) == (dt.date(1994, 4, 1), "month")
    assert record.languages == ["eng"]
    assert record.publication_types == ["info:eu-repo/semantics/review"]
    assert record.links == [
        Link("source", citation="Clinical Immunotherapeutics, no. 4, pp. 271-281")
    ]
    assert record.identifiers == [
        Identifier("oai", SEED_IDENTIFIER),
        Identifier("url", SEED_OUTPUT.portal_url),
    ]
    assert record.abstract == SEED_OUTPUT.abstract
    # oai_dc has no home for these: they come with the mods format only.
    assert (record.output_type, record.peer_reviewed, record.metrics) == ([], None, [])


def test_the_whole_portal(harvest: list[Record | Deletion]) -> None:
    assert len(harvest) == 48
    deletions = [item for item in harvest if isinstance(item, Deletion)]
    records = [item for item in harvest if isinstance(item, Record)]
    assert (len(records), len(deletions)) == (43, 5)
    assert len({item.source_id for item in harvest}) == 48
    versions = [r.source_version for r in records]
    assert all(v is not None for v in versions)
    assert all(r.title and r.authors and len(r.output_type) == 2 for r in records)
    assert Counter(r.output_type[0] for r in records)["Contribution to journal"] >= 20
    with_metrics = [r for r in records if r.metrics]
    assert with_metrics and all(m.provider == "scopus" for r in with_metrics for m in r.metrics)
    assert any(s.scheme == "fingerprint" for r in records for s in r.subjects)
    assert any(a.orcid for r in records for a in r.authors)
    assert {r.publication_state for r in records} <= {
        "Published",
        "Accepted/In press",
        "E-pub ahead of print",
    }
    # Owning organisations (corporate names, role pbl) are not contributors.
    assert all(a.collective is None for r in records for a in r.authors)
