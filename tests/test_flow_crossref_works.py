"""The crossref_works flow: DOIs looked up one by one, a 404 reported for its DOI while the others
load; the loaded works sit in `records` next to PubMed's rows for the same DOIs."""

from __future__ import annotations

from typing import Any

import pytest

from flows.crossref import crossref_works
from flows.pubmed import pubmed_sync
from sandbox.corpus import demo_corpus
from sandbox.crossref import CrossrefEmulator
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve
from tests.flow_helpers import fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

MISSING = "10.5555/not-in-crossref.0001"
SHARED = """
SELECT p.doi,
       p.title = c.title, p.journal = c.journal, p.pub_year = c.pub_year,
       [a.name FOR a IN p.authors] = [a.name FOR a IN c.authors],
       c.doi = lower(c.doi), len(c.authors) > 0, c.pub_year IS NOT NULL
FROM records p JOIN records c ON p.doi = c.doi
WHERE p.source = 'pubmed' AND c.source = 'crossref'
ORDER BY p.doi
"""


@pytest.fixture(scope="module")
def crossref_corpus() -> list[dict[str, Any]]:
    return crossref_demo_corpus()


def test_one_404_among_three_and_records_next_to_pubmed(
    crossref_corpus, warehouse_location, monkeypatch
):
    fast_http(monkeypatch)
    monkeypatch.setenv("CROSSREF_MAILTO", "dev@example.org")
    path = warehouse_location
    # Every 8th PubMed demo record is also in the Crossref demo corpus, under the same DOI.
    with serve(EutilsEmulator(demo_corpus()[::8], rate_limits=None)) as url:
        pubmed = pubmed_sync(query="all[sb]", db=str(path), eutils_url=url)
    assert pubmed["inserted"] == 50
    shared = [w["DOI"] for w in crossref_corpus[:2]]
    asked = [shared[0].upper(), MISSING, f"https://doi.org/{shared[1]}", "", shared[0]]
    emulator = CrossrefEmulator(crossref_corpus, rate_limit=(500, "1s"))
    with serve(emulator) as url:
        result = crossref_works(dois=asked, db=str(path), crossref_url=url)

    assert result["status"] == "completed"
    assert (result["fetched"], result["inserted"], result["quarantined"]) == (2, 2, 0)
    assert list(result["not_found"]) == [MISSING]
    assert "Resource not found." in result["not_found"][MISSING]
    assert MISSING in result["not_found"][MISSING]
    assert result["invalid"] == [""]
    # One request per distinct DOI: the duplicate and the blank entry are not asked.
    assert [(r.path, r.status) for r in emulator.requests] == [
        (f"/works/{shared[0]}", 200),
        (f"/works/{MISSING}", 404),
        (f"/works/{shared[1]}", 200),
    ]
    assert warehouse_rows(path, "SELECT kind, status, fetched FROM runs ORDER BY started_at") == [
        ("eutils-sync", "completed", 50),
        ("works-by-doi", "completed", 2),
    ]
    assert warehouse_rows(path, SHARED) == [
        (doi.lower(), True, True, True, True, True, True, True) for doi in sorted(shared)
    ]
    assert warehouse_rows(
        path, "SELECT source, count(*) FROM records GROUP BY source ORDER BY source"
    ) == [("crossref", 2), ("pubmed", 50)]
