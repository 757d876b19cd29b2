"""The sandbox machinery itself: the loopback server starts and stops, the fault plan counts
requests deterministically across threads, and the emulator's term grammar and date filters
select what PubMed would."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests
from lxml import etree

from sandbox.corpus import demo_corpus
from sandbox.eutils import EutilsEmulator
from sandbox.faults import Fault, FaultPlan
from sandbox.scripted import ScriptedApp
from sandbox.server import serve

CORPUS = demo_corpus()


def test_serve_binds_loopback_and_shuts_down() -> None:
    with serve(ScriptedApp()) as base:
        assert base.startswith("http://127.0.0.1:")
        assert requests.get(f"{base}/", timeout=5).content == b"ok"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/", timeout=5)


def test_fault_plan_numbers_requests_per_endpoint() -> None:
    plan = FaultPlan()
    plan.at("efetch", 2, fault=Fault.http_status(503))
    plan.at("any", 4, fault=Fault.reset_mid_body())
    assert plan.take("efetch") == (1, None)
    assert plan.take("esearch") == (1, None)
    assert plan.take("efetch") == (2, Fault.http_status(503))
    assert plan.take("esearch") == (2, Fault.reset_mid_body())  # the 4th request overall
    plan.next("esearch", Fault.expire(), times=2)
    assert [plan.take("esearch")[1] for _ in range(3)] == [
        Fault.expire(),
        Fault.expire(),
        None,
    ]
    assert plan.count("esearch") == 5 and plan.count("any") == 7


def test_fault_plan_is_thread_safe() -> None:
    plan = FaultPlan().at("efetch", 500, fault=Fault.short_body())
    taken: list[tuple[int, Fault | None]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            result = plan.take("efetch")
            with lock:
                taken.append(result)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(number for number, _ in taken) == list(range(1, 801))
    assert [number for number, fault in taken if fault] == [500]


def _count(base: str, **form: str) -> int:
    answer = requests.post(f"{base}/esearch.fcgi", data={"db": "pubmed", **form}, timeout=10)
    return int(etree.fromstring(answer.content).findtext("Count"))


@pytest.fixture(scope="module")
def base() -> object:
    with serve(EutilsEmulator(CORPUS, rate_limits=None)) as url:
        yield url


def test_complementary_filters_partition(base: str) -> None:
    for split in ("hasabstract", "english[la]", "journal article[pt]", "medline[sb]"):
        with_it = _count(base, term=f"(all[sb]) AND {split}")
        without = _count(base, term=f"(all[sb]) NOT {split}")
        assert with_it + without == len(CORPUS)
        assert 0 < with_it < len(CORPUS)
    assert _count(base, term="hasabstract") == sum(r.has_abstract for r in CORPUS)
    assert _count(base, term="medline[sb]") == sum(r.medline for r in CORPUS)
    assert _count(base, term="german[la]") == sum(r.language == "ger" for r in CORPUS)


def test_left_to_right_booleans_and_parentheses(base: str) -> None:
    english_abstract = sum(r.has_abstract and r.language == "eng" for r in CORPUS)
    assert _count(base, term="* AND hasabstract AND english[la]") == english_abstract
    assert _count(base, term="hasabstract NOT english[la] OR english[la]") == sum(
        r.has_abstract or r.language == "eng" for r in CORPUS
    )
    assert _count(base, term="hasabstract NOT (english[la] OR german[la])") == sum(
        r.has_abstract and r.language not in ("eng", "ger") for r in CORPUS
    )


def test_words_match_text_case_insensitively(base: str) -> None:
    expected = sum(b"Escherichia coli" in r.xml for r in CORPUS)
    assert expected > 0
    assert _count(base, term='"escherichia COLI"') == expected
    # A word written with a character reference in the XML is found by its character.
    assert _count(base, term="Müller") == sum(b"M&#xfc;ller" in r.xml for r in CORPUS) > 0


@pytest.mark.parametrize(
    ("datetype", "field"),
    [("edat", "entrez_date"), ("mdat", "modified_date"), ("pdat", "pub_date")],
)
def test_date_ranges_are_inclusive(base: str, datetype: str, field: str) -> None:
    low, high = dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    expected = sum(low <= getattr(r, field) <= high for r in CORPUS)
    got = _count(
        base, term="all[sb]", datetype=datetype, mindate="2025/01/01", maxdate="2025/03/31"
    )
    assert got == expected > 0
    assert _count(base, term="all[sb]", datetype=datetype, mindate="2025", maxdate="2025/03") == (
        expected
    )
