"""schemas.identifiers: the one normal form of DOI, PMID, PMCID, ORCID, ISBN and ISSN, on exact
cases (prefixes, whitespace, case, right and wrong check digits), then on every identifier of
every real recorded PubMed, Crossref and OAI-PMH fixture, read from the files themselves (not
through the parsers), and on what the parsers store from them."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from schemas.identifiers import (
    doi_key,
    normalise_doi,
    normalise_isbn,
    normalise_issn,
    normalise_orcid,
    normalise_pmcid,
    normalise_pmid,
)
from schemas.record import Record

NORMALISERS: dict[str, Callable[[str | None], str | None]] = {
    "doi": normalise_doi,
    "pmid": normalise_pmid,
    "pmcid": normalise_pmcid,
    "orcid": normalise_orcid,
    "isbn": normalise_isbn,
    "issn": normalise_issn,
}
# The shape of each normal form.
NORMAL_FORMS = {
    "doi": re.compile(r"10\.[0-9]+(?:\.[0-9]+)*/\S+"),
    "pmid": re.compile(r"[1-9][0-9]*"),
    "pmcid": re.compile(r"PMC[1-9][0-9]*"),
    "orcid": re.compile(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]"),
    "isbn": re.compile(r"[0-9]{9}[0-9X]|[0-9]{13}"),
    "issn": re.compile(r"[0-9]{4}-[0-9]{3}[0-9X]"),
}


# --- exact cases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "doi"),
    [
        ("10.1000/xyz123", "10.1000/xyz123"),
        ("  10.1000/XYZ123\n", "10.1000/xyz123"),  # trimmed, lower-cased
        ("https://doi.org/10.1000/ABC", "10.1000/abc"),
        ("http://dx.doi.org/10.1000/abc", "10.1000/abc"),
        ("HTTPS://DOI.ORG/10.1000/abc", "10.1000/abc"),
        ("https://www.doi.org/10.1000/abc", "10.1000/abc"),
        ("doi.org/10.1000/abc", "10.1000/abc"),
        ("doi:10.1000/abc", "10.1000/abc"),
        ("DOI: 10.1000/abc", "10.1000/abc"),
        ("DOI 10.1000/abc", "10.1000/abc"),
        ("info:doi/10.1000/abc", "10.1000/abc"),
        ("doi: https://doi.org/10.1000/abc", "10.1000/abc"),
        ("10.1/x", "10.1/x"),  # any number of registrant digits
        ("10.1000.10/abc", "10.1000.10/abc"),  # sub-registrant
        (
            "10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D",
            "10.1002/(sici)1097-4636(199706)35:4<477::aid-jbm8>3.0.co;2-d",
        ),
        # A resolver URL is percent-decoded; a bare DOI keeps its "%" (it is a character).
        ("https://doi.org/10.1002/%28SICI%291097", "10.1002/(sici)1097"),
        ("10.1000/a#b?c&d=e%f+g", "10.1000/a#b?c&d=e%f+g"),
        ("10.1000/100%25", "10.1000/100%25"),
        ("10.1000/a/b/c", "10.1000/a/b/c"),  # the suffix may hold slashes
    ],
)
def test_doi(text: str, doi: str) -> None:
    assert normalise_doi(text) == doi
    assert normalise_doi(doi) == doi  # idempotent
    assert doi_key(text) == doi.lower()


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "10.1000/",  # empty suffix
        "10.1000",
        "10./abc",
        "10.abc/def",
        "11.1000/abc",
        "1000/abc",
        "doi:",
        "https://doi.org/",
        "10.3129/can j ophthalmol.06-124",  # a space: not a DOI
        "10.1000/a\tb",
        "10.1007%252fs00586-011-2029-6",  # double-encoded "/", no slash left
        "see 10.1000/abc",
        "https://example.org/10.1000/abc",
        "١٠.1000/abc",  # Arabic-Indic digits
    ],
)
def test_not_a_doi(text: str | None) -> None:
    assert normalise_doi(text) is None
    assert doi_key(text) is None


def test_doi_key_matches_across_case_and_prefix() -> None:
    forms = [
        "10.1200/JCO.2012.44.6112",
        "https://doi.org/10.1200/jco.2012.44.6112",
        "doi:10.1200/Jco.2012.44.6112",
    ]
    assert {doi_key(form) for form in forms} == {"10.1200/jco.2012.44.6112"}


@pytest.mark.parametrize(
    ("text", "pmid"),
    [
        ("123", "123"),
        (" 38147649 ", "38147649"),
        ("00123", "123"),
        ("PMID: 123", "123"),
        ("pmid:123", "123"),
    ],
)
def test_pmid(text: str, pmid: str) -> None:
    assert normalise_pmid(text) == pmid


@pytest.mark.parametrize(
    "text", [None, "", " ", "0", "000", "-1", "12a", "1 2", "1.0", "²", "١٢٣", "PMC123"]
)
def test_not_a_pmid(text: str | None) -> None:
    assert normalise_pmid(text) is None


@pytest.mark.parametrize(
    ("text", "pmcid"),
    [
        ("PMC1234567", "PMC1234567"),
        ("pmc1234567", "PMC1234567"),
        ("1234567", "PMC1234567"),  # PubMed's IdType="pmc" without the prefix
        (" PMC10769841 ", "PMC10769841"),
        ("PMCID: PMC1234567", "PMC1234567"),
        ("PMC6134338.4", "PMC6134338"),  # a version: the article's id
        ("PMC00123", "PMC123"),
    ],
)
def test_pmcid(text: str, pmcid: str) -> None:
    assert normalise_pmcid(text) == pmcid


@pytest.mark.parametrize(
    "text", [None, "", "PMC", "PMC0", "PMC12a", "PMC-12", "NIHMS857349", "12.x"]
)
def test_not_a_pmcid(text: str | None) -> None:
    assert normalise_pmcid(text) is None


@pytest.mark.parametrize(
    ("text", "orcid"),
    [
        ("0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("https://orcid.org/0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("http://orcid.org/0000-0002-1825-0097/", "0000-0002-1825-0097"),
        ("0000000218250097", "0000-0002-1825-0097"),
        ("0000 0002 1825 0097", "0000-0002-1825-0097"),
        (" ORCID: 0000-0002-1825-0097 ", "0000-0002-1825-0097"),
        ("0000-0002-1694-233X", "0000-0002-1694-233X"),  # check character X
        ("https://orcid.org/0000-0002-1694-233x", "0000-0002-1694-233X"),
        ("0000-0001-5109-3700", "0000-0001-5109-3700"),  # check digit 0
    ],
)
def test_orcid(text: str, orcid: str) -> None:
    assert normalise_orcid(text) == orcid


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "0000-0002-1825-0098",  # wrong check digit
        "0000-0002-1825-009X",
        "0000-0002-1694-2330",
        "0000-0003-1234-567X",
        "0000-0001-9206-317",  # a digit short
        "000000021825009",
        "10000-0002-1825-0097",  # a digit too many
        "0000-0002-1825-0097-1",
        "https://orcid.org/",
    ],
)
def test_not_an_orcid(text: str | None) -> None:
    assert normalise_orcid(text) is None


@pytest.mark.parametrize(
    ("text", "isbn"),
    [
        ("9780306406157", "9780306406157"),
        ("978-0-306-40615-7", "9780306406157"),
        ("ISBN 978-0-306-40615-7", "9780306406157"),
        ("ISBN-13: 978-0-306-40615-7", "9780306406157"),
        ("http://id.crossref.org/isbn/978-3-16-148410-0", "9783161484100"),
        ("0-306-40615-2", "0306406152"),  # an ISBN-10 stays an ISBN-10
        ("0-8044-2957-x", "080442957X"),
        ("90 - 5892 - 032 - 1", "9058920321"),  # as the EUR DSpace repository writes them
        (" 90-9014980-5 ", "9090149805"),
    ],
)
def test_isbn(text: str, isbn: str) -> None:
    assert normalise_isbn(text) == isbn


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "978-0-306-40615-8",  # wrong check digit
        "0-306-40615-3",
        "90-5892-036-5",
        "978030640615X",  # X is no ISBN-13 check digit
        "X306406152",
        "030640615",  # nine digits
        "97803064061577",
        "ISBN",
        "0-306-40615-2a",
    ],
)
def test_not_an_isbn(text: str | None) -> None:
    assert normalise_isbn(text) is None


@pytest.mark.parametrize(
    ("text", "issn"),
    [
        ("0378-5955", "0378-5955"),
        ("03785955", "0378-5955"),
        ("2050-084x", "2050-084X"),
        ("ISSN 2050-084X", "2050-084X"),
        ("issn:1566-5283", "1566-5283"),
        (" 0317-8471 ", "0317-8471"),
    ],
)
def test_issn(text: str, issn: str) -> None:
    assert normalise_issn(text) == issn


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "0378-5956",
        "2050-0840",
        "1761-7727",
        "0972-8270",
        "0378-595",
        "0378-59555",
        "X378-5955",
    ],
)
def test_not_an_issn(text: str | None) -> None:
    assert normalise_issn(text) is None


# --- every identifier of the recorded fixtures -----------------------------------------------

_PUBMED_ID_TYPES = {"doi": "doi", "pubmed": "pmid", "pmc": "pmcid"}
# A dc:identifier/dc:relation that is written as a DOI (the others are handles, URLs, …).
_DOI_LIKE = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:|10\.)", re.IGNORECASE)
# A dc:identifier of the EUR DSpace records that is an ISBN or an ISSN as written there.
_ISBN_LIKE = re.compile(r"^[0-9][0-9 -]{9,}[0-9Xx]$")
_ISSN_LIKE = re.compile(r"^[0-9]{4}-[0-9]{3}[0-9Xx]$")


def _xml(path: Path) -> etree._Element:
    body = path.read_bytes()
    if path.name.endswith(".gz"):
        body = gzip.decompress(body)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.fromstring(body, parser)


def pubmed_identifiers(fixtures_dir: Path) -> Iterator[tuple[str, str, str]]:
    """(file, scheme, text) of every identifier written in the PubMed fixtures: ArticleIds and
    ELocationIDs (doi, pubmed, pmc), every PMID (records, links, deletions), ORCIDs, ISSNs."""
    for folder in ("pubmed_efetch", "pubmed_baseline"):
        for path in sorted((fixtures_dir / folder).glob("*.xml*")):
            if path.name.endswith(".md5"):
                continue
            root = _xml(path)
            for element in root.iter(
                "ArticleId", "ELocationID", "PMID", "Identifier", "ISSN", "ISSNLinking"
            ):
                text = element.text
                if text is None:
                    continue
                tag = element.tag
                if tag in ("ArticleId", "ELocationID"):
                    kind = (element.get("IdType") or element.get("EIdType") or "pubmed").lower()
                    if kind in _PUBMED_ID_TYPES:
                        yield path.name, _PUBMED_ID_TYPES[kind], text
                elif tag == "PMID":
                    yield path.name, "pmid", text
                elif tag == "Identifier":
                    if (element.get("Source") or "").upper() == "ORCID":
                        yield path.name, "orcid", text
                else:
                    yield path.name, "issn", text


def _crossref_walk(node: Any, name: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("DOI", "ORCID") and isinstance(value, str):
                yield name, key.lower(), value
            elif key in ("ISSN", "ISBN") and isinstance(value, list):
                yield from ((name, key.lower(), v) for v in value)
            elif key in ("issn-type", "isbn-type") and isinstance(value, list):
                yield from ((name, key[:4], entry["value"]) for entry in value)
            elif key == "id-type" and value == "doi":
                yield name, "doi", node["id"]
            yield from _crossref_walk(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _crossref_walk(value, name)


def crossref_identifiers(fixtures_dir: Path) -> Iterator[tuple[str, str, str]]:
    """Every DOI (works, references, funders, updates, relations), ORCID, ISSN and ISBN of the
    Crossref JSON fixtures."""
    for path in sorted((fixtures_dir / "crossref").glob("*.json")):
        yield from _crossref_walk(json.loads(path.read_bytes()), path.name)


def oai_identifiers(fixtures_dir: Path) -> Iterator[tuple[str, str, str]]:
    """Every DOI (declared by DataCite, or written as one in Dublin Core), ORCID, ISSN and ISBN
    of the OAI-PMH fixtures."""
    declared = {"identifier", "alternateIdentifier", "relatedIdentifier", "nameIdentifier"}
    for path in sorted((fixtures_dir / "oaipmh").glob("*.xml")):
        if "broken" in path.name:
            continue
        for element in _xml(path).iter():
            if not isinstance(element.tag, str) or element.text is None:
                continue
            name = etree.QName(element)
            text = element.text.strip()
            kind = next(
                (
                    element.get(attribute)
                    for attribute in (
                        "identifierType",
                        "alternateIdentifierType",
                        "relatedIdentifierType",
                        "nameIdentifierScheme",
                    )
                    if element.get(attribute)
                ),
                None,
            )
            if name.localname in declared and kind is not None:
                if kind.lower() in NORMALISERS:
                    yield path.name, kind.lower(), text
            elif name.namespace == "http://purl.org/dc/elements/1.1/" and name.localname in (
                "identifier",
                "relation",
                "source",
            ):
                if _DOI_LIKE.match(text):
                    yield path.name, "doi", text
                elif _ISBN_LIKE.match(text):
                    yield path.name, "isbn", text
                elif _ISSN_LIKE.match(text):
                    yield path.name, "issn", text


WALKS = {"pubmed": pubmed_identifiers, "crossref": crossref_identifiers, "oai": oai_identifiers}
# How many identifiers of each scheme the recorded fixtures hold (duplicates counted).
EXPECTED_COUNTS = {
    "pubmed": {"pmid": 1201, "doi": 232, "issn": 150, "pmcid": 142, "orcid": 107},
    "crossref": {"doi": 317, "isbn": 84, "issn": 42, "orcid": 4},
    "oai": {"doi": 121, "orcid": 27, "isbn": 4, "issn": 2},
}


@pytest.mark.parametrize("source", sorted(WALKS))
def test_every_recorded_identifier_normalises(fixtures_dir: Path, source: str) -> None:
    found = list(WALKS[source](fixtures_dir))
    assert Counter(scheme for _, scheme, _ in found) == Counter(EXPECTED_COUNTS[source])
    failures = []
    for name, scheme, text in found:
        normal = NORMALISERS[scheme](text)
        if normal is None or not NORMAL_FORMS[scheme].fullmatch(normal):
            failures.append((name, scheme, text, normal))
            continue
        assert NORMALISERS[scheme](normal) == normal, (name, text)  # idempotent
        if scheme == "doi":
            assert doi_key(text) == normal.lower() == normal, (name, text)
    assert failures == []


def _stored_identifiers(record: Record) -> Iterator[tuple[str, str]]:
    for scheme in ("doi", "pmid", "pmcid"):
        value = getattr(record, scheme)
        if value is not None:
            yield scheme, value
    for identifier in record.identifiers:
        yield identifier.scheme, identifier.value
    for reference in record.references:
        for identifier in reference.identifiers:
            yield identifier.scheme, identifier.value
    for author in record.authors:
        if author.orcid is not None:
            yield "orcid", author.orcid
    for field in ("issn", "issn_print", "issn_electronic"):
        value = getattr(record, field)
        if value is not None and record.source != "pubmed":  # PubMed's are stored as given
            yield "issn", value


def test_what_the_parsers_store_is_already_normal(fixtures_dir: Path) -> None:
    """Every DOI, PMID, PMCID, ORCID, ISBN and ISSN the three parsers store from the fixtures
    is a fixed point of its normaliser: all three use the one normal form."""
    from connectors.crossref import iter_crossref_records
    from connectors.oaipmh.parse import iter_oai_records
    from connectors.pubmed.parse import iter_pubmed_records

    files = [
        (iter_pubmed_records, fixtures_dir / "pubmed_efetch", ("*.xml", "*.xml.gz")),
        (iter_pubmed_records, fixtures_dir / "pubmed_baseline", ("*.xml", "*.xml.gz")),
        (
            iter_crossref_records,
            fixtures_dir / "crossref",
            ("*work*.json", "commonmeta__crossref.json"),
        ),
        (iter_oai_records, fixtures_dir / "oaipmh", ("*ListRecords*.xml", "*GetRecord*.xml")),
    ]
    counts: Counter[tuple[str, str]] = Counter()
    for parse, folder, patterns in files:
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                for item in parse(path, origin=path.name):
                    if not isinstance(item, Record):
                        continue
                    for scheme, value in _stored_identifiers(item):
                        if scheme in NORMALISERS:
                            counts[item.source, scheme] += 1
                            assert NORMALISERS[scheme](value) == value, (path.name, scheme, value)
    assert counts == Counter(
        {
            ("pubmed", "pmid"): 787,
            ("pubmed", "doi"): 236,
            ("pubmed", "pmcid"): 171,
            ("pubmed", "orcid"): 107,
            ("crossref", "doi"): 379,
            ("crossref", "isbn"): 42,
            ("crossref", "issn"): 39,
            ("crossref", "orcid"): 4,
            ("oai", "doi"): 116,
            ("oai", "orcid"): 27,
            ("oai", "isbn"): 4,
            ("oai", "issn"): 4,
        }
    )


@pytest.mark.parametrize("value", ["9" * 5000, "PMC" + "9" * 5000, "1" * 20])
def test_an_implausibly_long_number_is_no_id_and_never_raises(value: str) -> None:
    # 5,000 digits raised ValueError from int() (found by tests/test_fuzz_parsers.py).
    assert normalise_pmid(value) is None
    assert normalise_pmcid(value) is None
