"""The seed record's home, end to end: harvest the Pure-like portal (mods) into a warehouse, and
ONE query over the `records` view (`flows.oai.SEED_QUERY`) gives back every fact of the seed
text exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flows.oai import SEED_QUERY, oai_harvest
from sandbox.oaipmh import PURE_PATH, build_emulator
from sandbox.pure_corpus import SEED_IDENTIFIER
from sandbox.server import serve
from tests.conftest import BACKENDS, location_in
from tests.flow_helpers import fast_http
from warehouse.status import read_only_query

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

SEED_FILE = "000_d97e390f4f84cdba.txt"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    """Each backend in turn, for the whole module: the portal is harvested once."""
    return str(request.param)


@pytest.fixture(scope="module")
def seed_row(tmp_path_factory, backend) -> dict[str, object]:
    path = location_in(tmp_path_factory.mktemp("seed"), backend, "seed")
    app, _portal = build_emulator(page_size=50)  # no recorded fixtures needed (as the demo)
    with pytest.MonkeyPatch.context() as mp:
        fast_http(mp)
        with serve(app) as base:
            result = oai_harvest(
                endpoint=base + PURE_PATH,
                metadata_prefix="mods",
                db=str(path),
                requests_per_second=500.0,
            )
    assert (result["status"], result["inserted"], result["quarantined"]) == ("completed", 43, 0)
    columns, rows = read_only_query(path, SEED_QUERY)
    assert len(rows) == 1  # ONE row: the seed, whatever else the portal holds
    return dict(zip(columns, rows[0], strict=True))


def test_one_query_returns_every_seed_fact(seed_row):
    assert seed_row == {
        "source_id": f"{SEED_IDENTIFIER}#mods",
        "title": "Interleukins in Cancer Therapy: Rationale and Current Status",
        "authors": [
            "Leslie Oleksowicz",
            "Joseph Sparano",
            "Kevin O’Boyle",  # the typographic apostrophe (U+2019), as the portal shows it
            "Usha Venkatraj",
            "Peter H. Wiernik",
            "Janice P. Dutcher",
        ],
        "abstract": seed_row["abstract"],  # compared with the seed text below, in full
        "journal": "Clinical Immunotherapeutics",
        "issue": "4",
        "pages": "271-281",
        "page_count": 11,
        "pub_date": dt.date(1994, 4, 1),
        "pub_date_precision": "month",
        "publication_state": "Published",
        "language": "English (US)",
        "output_type": ["Contribution to journal", "Review article"],
        "peer_reviewed": True,
        "metrics": [{"name": "citations", "value": 4, "provider": "scopus"}],
        "asjc": [
            {"scheme": "asjc", "term": "Immunology and Allergy", "code": "2723"},
            {"scheme": "asjc", "term": "Pharmacology (medical)", "code": "2736"},
        ],
    }
    assert "\u2019" in seed_row["authors"][2] and "'" not in seed_row["authors"][2]
    assert str(seed_row["abstract"]).startswith("The interleukins function as intercellular")


def test_the_row_says_what_the_seed_text_says(seed_row, fixtures_dir: Path):
    path = fixtures_dir.parent / "seed" / SEED_FILE
    if not path.is_file():
        pytest.skip(f"the seed text is not at {path}")
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    title, authors, output, citations, abstract = blocks[:5]
    facts, asjc_heading, asjc = blocks[5].splitlines(), blocks[6], blocks[7]
    assert seed_row["title"] == title
    assert seed_row["authors"] == authors.split(", ")
    assert output == "Research output: " + "".join(seed_row["output_type"]) + "peer-review"
    assert seed_row["peer_reviewed"] is True
    (metric,) = seed_row["metrics"]
    assert citations == f"{metric['value']} {metric['provider'].capitalize()} citations"
    assert seed_row["abstract"] == abstract.strip()
    assert facts == [
        f"Original language{seed_row['language']}",
        f"Pages (from-to){seed_row['pages']}",
        f"Number of pages{seed_row['page_count']}",
        f"Journal{seed_row['journal']}",
        f"Issue number{seed_row['issue']}",
        f"State{seed_row['publication_state']} - {seed_row['pub_date']:%b %Y}",
    ]
    assert seed_row["pub_date_precision"] == "month"  # "Apr 1994": a month, not a day
    assert asjc_heading == "ASJC Scopus subject areas"
    assert [s["term"] for s in seed_row["asjc"]] == [
        line.strip().removeprefix("• ") for line in asjc.splitlines()
    ]
