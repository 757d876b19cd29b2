"""The emulator answers in the shapes of the real recorded E-utilities responses: the same
prolog, the same elements in the same order, parsed alike by Biopython's `Entrez.read` (which
validates against NCBI's DTDs) and by lxml."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
from Bio import Entrez
from lxml import etree

from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.server import serve

CORPUS = demo_corpus()


@pytest.fixture(scope="module")
def emulator_url() -> object:
    with serve(EutilsEmulator(CORPUS, rate_limits=None)) as base:
        yield f"{base}/entrez/eutils/"


def _post(url: str, endpoint: str, **form: str) -> bytes:
    answer = requests.post(url + endpoint, data={"db": "pubmed", **form}, timeout=10)
    answer.raise_for_status()
    return answer.content


def _shape(body: bytes) -> list[str]:
    """Root and child tags in order, ignoring the number of repeated Id elements."""
    root = etree.fromstring(body)
    children = [child.tag for child in root]
    return [root.tag, *children]


def _prolog(body: bytes) -> bytes:
    return body.split(b"\n")[0] + b"\n" + body.split(b"\n")[1]


def test_esearch_with_history_looks_like_the_recording(
    emulator_url: str, fixtures_dir: Path
) -> None:
    real = (fixtures_dir / "pubmed_esearch" / "biopython__esearch2.xml").read_bytes()
    ours = _post(emulator_url, "esearch.fcgi", term="all[sb]", usehistory="y", retmax="100")
    assert _prolog(ours) == _prolog(real)
    assert _shape(ours) == _shape(real)
    real_parsed = Entrez.read(io.BytesIO(real))
    ours_parsed = Entrez.read(io.BytesIO(ours))
    assert set(ours_parsed) == set(real_parsed)
    assert ours_parsed["Count"] == str(len(CORPUS))
    assert len(ours_parsed["IdList"]) == 100
    assert ours_parsed["WebEnv"].startswith("MCID_")
    assert ours_parsed["QueryKey"] == "1"
    assert ours.endswith(b"</eSearchResult>\n") and real.endswith(b"</eSearchResult>\n")


def test_esearch_paging_looks_like_the_recording(emulator_url: str, fixtures_dir: Path) -> None:
    real = (fixtures_dir / "pubmed_esearch" / "biopython__esearch1.xml").read_bytes()
    ours = _post(emulator_url, "esearch.fcgi", term="all[sb]", retmax="20")
    assert _shape(ours) == _shape(real)
    parsed = Entrez.read(io.BytesIO(ours))
    assert (parsed["RetMax"], parsed["RetStart"]) == ("20", "0")
    newest = sorted((record.pmid for record in CORPUS), reverse=True)[:20]
    assert [int(pmid) for pmid in parsed["IdList"]] == newest


def test_zero_hits_look_like_the_recording(emulator_url: str, fixtures_dir: Path) -> None:
    real = (fixtures_dir / "pubmed_esearch" / "biopython__esearch8.xml").read_bytes()
    ours = _post(emulator_url, "esearch.fcgi", term="abcXYZ")
    assert _shape(ours) == _shape(real)
    real_parsed = Entrez.read(io.BytesIO(real))
    ours_parsed = Entrez.read(io.BytesIO(ours))
    assert ours_parsed["ErrorList"] == real_parsed["ErrorList"]
    assert ours_parsed["WarningList"] == real_parsed["WarningList"]
    assert ours_parsed["Count"] == "0" and ours_parsed["IdList"] == []


def test_efetch_looks_like_the_recording(emulator_url: str, fixtures_dir: Path) -> None:
    real = (fixtures_dir / "pubmed_efetch" / "biopython__pubmed2.xml").read_bytes()
    ids = ",".join(str(record.pmid) for record in CORPUS[:25])
    ours = _post(emulator_url, "efetch.fcgi", id=ids, retmode="xml")
    assert _prolog(ours) == _prolog(real)
    assert ours.startswith(real.split(b"<PubmedArticle>")[0])
    assert ours.endswith(b"</PubmedArticle></PubmedArticleSet>")
    parsed = Entrez.read(io.BytesIO(ours))  # validates element names against pubmed_250101.dtd
    assert len(parsed["PubmedArticle"]) == 25
    assert parsed["PubmedBookArticle"] == []


def test_empty_efetch_looks_like_the_recording(emulator_url: str, fixtures_dir: Path) -> None:
    real = (fixtures_dir / "pubmed_efetch" / "metapub__37909814_empty.xml").read_bytes()
    assert _post(emulator_url, "efetch.fcgi", id="1", retmode="xml") == real


def test_the_paging_window_is_enforced_like_pubmed() -> None:
    emulator = EutilsEmulator(CORPUS, rate_limits=None, window=100)
    with serve(emulator) as base:
        url = f"{base}/entrez/eutils/"
        clipped = _post(url, "esearch.fcgi", term="all[sb]", retstart="90", retmax="20")
        parsed = Entrez.read(io.BytesIO(clipped))
        assert (parsed["RetStart"], parsed["RetMax"], len(parsed["IdList"])) == ("90", "10", 10)
        assert parsed["WarningList"]["OutputMessage"] == [
            "Restrictions achieved. start and count adjusted to 90, 10"
        ]
        refused = requests.post(
            url + "esearch.fcgi",
            data={"db": "pubmed", "term": "all[sb]", "retstart": "100"},
            timeout=10,
        )
        assert refused.status_code == 400
        assert b"'retstart' cannot be larger than 9998" in refused.content
