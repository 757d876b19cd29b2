"""The generated Crossref demo corpus: about 150 work dicts shaped like Crossref's, part of which
share DOIs (and titles, journals, authors) with the PubMed demo corpus of `sandbox.corpus`.
Served by `sandbox.crossref.CrossrefEmulator` in `biblioduck demo` and the tests; deterministic
(the same works on every call)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from lxml import etree

from sandbox.corpus import DEMO_FIRST_DAY, DEMO_LAST_DAY, demo_corpus
from schemas.identifiers import orcid_check_character

__all__ = ["crossref_demo_corpus"]

_SHARED_EVERY = 8  # every 8th PubMed demo record is also in Crossref (same DOI)
_OWN_WORKS = 100
_BURST_DAY = dt.date(2025, 3, 3)  # many deposits on one day: cursor restarts repeat a day

_PUBLISHERS = (
    ("10.1234", "312", "Example University Press"),
    ("10.5555", "7822", "Sandbox Scientific Publishing"),
    ("10.4321", "1965", "Loopback Academic"),
)
_GIVEN = ("Ana", "Björn", "Chidi", "Dana", "Élodie", "Farid", "Grete", "Hana", "Ivo", "Jun")
_FAMILY = ("Abara", "Berg", "Castro", "Dahl", "Eze", "Fischer", "Gómez", "Hoang", "Ito", "Jansen")
_TOPICS = (
    "graph neural networks",
    "soil microbiomes",
    "urban heat islands",
    "protein folding",
    "coral bleaching",
    "battery degradation",
    "language acquisition",
    "glacier retreat",
)
_SUBJECTS = ("General Medicine", "Computer Science Applications", "Ecology", "Biochemistry")
_FUNDERS = (
    ("10.13039/501100000780", "European Commission"),
    ("10.13039/100000001", "National Science Foundation"),
    (None, "Sandbox Foundation"),
)


def crossref_demo_corpus(seed: int = 20240102) -> list[dict[str, Any]]:
    """About 150 Crossref works, generated deterministically (the same on every call).

    Every 8th PubMed demo record (`sandbox.corpus.demo_corpus`) reappears here with the same
    DOI, title, journal, volume/issue/pages, authors and year, as Crossref would describe it;
    the others are books, chapters, proceedings papers, datasets, preprints, corrections and
    retractions (with `update-to`/`updated-by`), a SICI DOI, year-only and `[[null]]` dates,
    a family-only author, and one consortium paper with 1,200 authors. Deposit dates spread
    over the PubMed demo window; a dozen share one day."""
    rng = random.Random(seed)
    works = [_from_pubmed(rng, record.xml) for record in demo_corpus()[::_SHARED_EVERY]]
    works.extend(_own_works(rng, works))
    return works


def _stamp(moment: dt.datetime) -> dict[str, Any]:
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    return {
        "date-parts": [[moment.year, moment.month, moment.day]],
        "date-time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timestamp": int(moment.timestamp() * 1000),
    }


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
        seconds=rng.randrange(86400)
    )


def _demo_day(rng: random.Random) -> dt.date:
    return DEMO_FIRST_DAY + dt.timedelta(days=rng.randrange((DEMO_LAST_DAY - DEMO_FIRST_DAY).days))


def _lifecycle(rng: random.Random, deposited_day: dt.date) -> dict[str, Any]:
    """created ≤ deposited ≤ indexed, all inside the demo window."""
    deposited = _moment(rng, deposited_day)
    created = deposited - dt.timedelta(days=rng.randrange(0, 60), seconds=rng.randrange(3600))
    indexed = min(
        deposited + dt.timedelta(days=rng.randrange(0, 20), seconds=rng.randrange(86400)),
        dt.datetime.combine(DEMO_LAST_DAY, dt.time(23, 59, 59), tzinfo=dt.UTC),
    )
    created = max(created, dt.datetime.combine(DEMO_FIRST_DAY, dt.time(), tzinfo=dt.UTC))
    return {"created": _stamp(created), "deposited": _stamp(deposited), "indexed": _stamp(indexed)}


def _person(rng: random.Random, *, sequence: str, orcid: bool = False) -> dict[str, Any]:
    person: dict[str, Any] = {}
    if orcid:
        digits = "".join(str(rng.randrange(10)) for _ in range(15))
        base = f"0000{digits[3:14]}"  # an iD ends in its ISO 7064 check character
        iid = f"{base}{orcid_check_character(base)}"
        person["ORCID"] = f"https://orcid.org/{iid[:4]}-{iid[4:8]}-{iid[8:12]}-{iid[12:]}"
        person["authenticated-orcid"] = rng.random() < 0.5
    person.update(
        {
            "given": rng.choice(_GIVEN),
            "family": rng.choice(_FAMILY),
            "sequence": sequence,
            "affiliation": [{"name": f"Department of {rng.choice(_SUBJECTS)}, Sandbox University"}]
            if rng.random() < 0.6
            else [],
        }
    )
    return person


def _from_pubmed(rng: random.Random, xml: bytes) -> dict[str, Any]:
    """The Crossref description of a PubMed demo record (the same article)."""
    article = etree.fromstring(xml)
    doi = article.findtext(".//ArticleIdList/ArticleId[@IdType='doi']")
    title_element = article.find(".//ArticleTitle")
    # Crossref keeps inline markup in titles as given: <i>Candida auris</i>.
    title = (
        (title_element.text or "")
        + "".join(etree.tostring(child, encoding="unicode") for child in title_element)
        if title_element is not None
        else ""
    )
    journal = article.findtext(".//Journal/Title") or ""
    abbrev = article.findtext(".//Journal/ISOAbbreviation")
    issns = [
        ((e.get("IssnType") or "").lower(), e.text) for e in article.iterfind(".//Journal/ISSN")
    ]
    year = int(article.findtext(".//JournalIssue/PubDate/Year") or 2024)
    month_text = article.findtext(".//JournalIssue/PubDate/Month")
    month = _MONTHS.get((month_text or "")[:3].lower()) or (
        int(month_text) if month_text and month_text.isdigit() else None
    )
    authors = []
    for index, element in enumerate(article.iterfind(".//AuthorList/Author")):
        sequence = "first" if index == 0 else "additional"
        collective = element.findtext("CollectiveName")
        if collective:
            authors.append({"name": collective, "sequence": sequence, "affiliation": []})
            continue
        person: dict[str, Any] = {}
        orcid = element.findtext("Identifier[@Source='ORCID']")
        if orcid:
            person["ORCID"] = f"https://orcid.org/{orcid}"
            person["authenticated-orcid"] = False
        if element.findtext("ForeName"):
            person["given"] = element.findtext("ForeName")
        person["family"] = element.findtext("LastName")
        person["sequence"] = sequence
        person["affiliation"] = [
            {"name": _text_of(affiliation)}
            for affiliation in element.iterfind("AffiliationInfo/Affiliation")
        ]
        authors.append(person)
    abstract = " ".join(_text_of(e) for e in article.iterfind(".//Abstract/AbstractText"))
    pages = article.findtext(".//Pagination/MedlinePgn")
    parts = [year] + ([month] if month else [])
    deposited_day = _demo_day(rng)
    work: dict[str, Any] = {
        **_lifecycle(rng, deposited_day),
        "reference-count": 0,
        "publisher": "Sandbox Scientific Publishing",
        "issue": article.findtext(".//JournalIssue/Issue"),
        "DOI": doi,
        "type": "journal-article",
        "page": pages,
        "source": "Crossref",
        "is-referenced-by-count": rng.randrange(0, 400),
        "title": [title],
        "prefix": doi.split("/", 1)[0] if doi else None,
        "volume": article.findtext(".//JournalIssue/Volume"),
        "author": authors,
        "member": "7822",
        "container-title": [journal],
        "short-container-title": [abbrev] if abbrev else [],
        "language": "en",
        "issued": {"date-parts": [parts]},
        "published-print": {"date-parts": [parts]},
        "ISSN": [value for _kind, value in issns],
        "issn-type": [{"type": kind, "value": value} for kind, value in issns],
        "URL": f"https://doi.org/{doi}",
        "resource": {"primary": {"URL": f"https://publisher.example.org/{doi}"}},
    }
    if abstract:
        work["abstract"] = f"<jats:title>Abstract</jats:title><jats:p>{_escape(abstract)}</jats:p>"
    return {key: value for key, value in work.items() if value is not None}


def _text_of(element: etree._Element) -> str:
    return "".join(str(part) for part in element.itertext())


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _own_works(rng: random.Random, shared: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The works only Crossref has, one kind after another (see `crossref_demo_corpus`)."""
    kinds = (
        "journal-article",
        "book-chapter",
        "proceedings-article",
        "dataset",
        "posted-content",
        "journal-article",
    )
    made: list[dict[str, Any]] = []
    for index in range(_OWN_WORKS):
        prefix, member, publisher = _PUBLISHERS[index % len(_PUBLISHERS)]
        kind = kinds[index % len(kinds)]
        topic = rng.choice(_TOPICS)
        day = _BURST_DAY if index % 8 == 3 else _demo_day(rng)
        doi = f"{prefix}/demo.{2024 + index % 3}.{index:04d}"
        year = 2018 + rng.randrange(8)
        work: dict[str, Any] = {
            **_lifecycle(rng, day),
            "publisher": publisher,
            "DOI": doi,
            "type": kind,
            "source": "Crossref",
            "is-referenced-by-count": rng.randrange(0, 120),
            "prefix": prefix,
            "member": member,
            "language": "en",
            "URL": f"https://doi.org/{doi}",
            "resource": {
                "primary": {"URL": f"https://{publisher.split()[0].lower()}.example.org/{index}"}
            },
            "title": [f"{topic.capitalize()} in practice, part {index}"],
            "issued": {"date-parts": [[year, rng.randrange(1, 13), rng.randrange(1, 29)]]},
            "author": [
                _person(rng, sequence="first" if n == 0 else "additional", orcid=n == 0)
                for n in range(rng.randrange(1, 6))
            ],
        }
        _dress(rng, work, kind, index, topic, year, made, shared)
        made.append(work)
    _add_special_cases(rng, made)
    yield from made


def _dress(
    rng: random.Random,
    work: dict[str, Any],
    kind: str,
    index: int,
    topic: str,
    year: int,
    earlier: Sequence[Mapping[str, Any]],
    shared: Sequence[Mapping[str, Any]],
) -> None:
    """The fields particular to each kind of work."""
    if kind == "journal-article":
        work["container-title"] = ["Journal of Sandbox Studies"]
        work["short-container-title"] = ["J Sandbox Stud"]
        work["ISSN"] = ["1234-5679", "2345-6787"]
        work["issn-type"] = [
            {"type": "print", "value": "1234-5679"},
            {"type": "electronic", "value": "2345-6787"},
        ]
        work["volume"], work["issue"] = str(year - 2000), str(rng.randrange(1, 13))
        first = rng.randrange(1, 900)
        work["page"] = f"{first}-{first + rng.randrange(3, 25)}"
        work["subject"] = rng.sample(_SUBJECTS, 2)
        work["abstract"] = (
            "<jats:title>Abstract</jats:title><jats:sec><jats:title>Background</jats:title>"
            f"<jats:p>We studied {topic} with <jats:italic>care</jats:italic>.</jats:p>"
            "</jats:sec><jats:sec><jats:title>Results</jats:title>"
            f"<jats:p>Effects were small (p &lt; 0.05) in {rng.randrange(20, 900)} sites.</jats:p>"
            "</jats:sec>"
        )
        work["license"] = [
            {
                "start": {"date-parts": [[year, 1, 1]]},
                "content-version": "vor",
                "delay-in-days": 0,
                "URL": "https://creativecommons.org/licenses/by/4.0/",
            }
        ]
        funder_doi, funder_name = rng.choice(_FUNDERS)
        funder: dict[str, Any] = {
            "name": funder_name,
            "award": [f"AW-{rng.randrange(1000, 9999)}" for _ in range(rng.randrange(0, 3))],
        }
        if funder_doi:
            funder["DOI"] = funder_doi
        work["funder"] = [funder]
        cited = [*rng.sample(list(shared), 2), *earlier[-2:]]
        work["reference"] = [
            {"key": f"ref{n}", "doi-asserted-by": "crossref", "DOI": c["DOI"]}
            for n, c in enumerate(cited, 1)
        ] + [{"key": f"ref{len(cited) + 1}", "unstructured": f"Anonymous. Notes on {topic}. 1999."}]
        work["reference-count"] = len(work["reference"])
        if index % 12 == 5:
            work["subtitle"] = ["a <i>field</i> guide"]
    elif kind == "book-chapter":
        work["container-title"] = [f"Handbook of {topic.title()}"]
        work["ISBN"] = ["978-1-23456-789-7", "9781234567903"]
        work["isbn-type"] = [
            {"type": "print", "value": "978-1-23456-789-7"},
            {"type": "electronic", "value": "9781234567903"},
        ]
        work["issued"] = {"date-parts": [[year]]}  # books: year only
        work["editor"] = [_person(rng, sequence="first"), _person(rng, sequence="additional")]
        first = rng.randrange(1, 400)
        work["page"] = f"{first}-{first + 30}"
    elif kind == "proceedings-article":
        work["container-title"] = [f"Proceedings of the Sandbox Conference on {topic.title()}"]
        work["event"] = {"name": f"SandboxConf {year}", "location": "Loopback, Localhost"}
        if index % 4 == 2:
            work["issued"] = {"date-parts": [[None]]}
    elif kind == "dataset":
        work["institution"] = [{"name": "Sandbox Data Archive", "acronym": ["SDA"]}]
        work["description"] = f"Measurements of {topic} at {rng.randrange(3, 40)} stations."
        work["container-title"] = ["Sandbox Data Archive"]
    else:  # posted-content
        work["subtype"] = "preprint"
        work["group-title"] = "SandboxRxiv"
        work["posted"] = work["issued"]
        if earlier:
            target = rng.choice([w for w in earlier if w["type"] == "journal-article"] or earlier)
            work["relation"] = {
                "is-preprint-of": [
                    {"id-type": "doi", "id": target["DOI"], "asserted-by": "subject"}
                ]
            }


def _add_special_cases(rng: random.Random, works: list[dict[str, Any]]) -> None:
    """Corrections and a retraction of earlier works, a SICI DOI, a family-only author, the
    1,200-author consortium paper (replacing generated works, so the count stays fixed)."""
    articles = [w for w in works if w["type"] == "journal-article"]
    for position, (kind, label) in zip(
        (12, 42, 72),
        (("correction", "Correction"), ("retraction", "Retraction"), ("erratum", "Erratum")),
        strict=True,
    ):
        notice = works[position]
        target = articles[len(articles) - 1 - position // 10]
        notice["type"] = "journal-article"
        notice["title"] = [f"{label}: {target['title'][0]}"]
        notice["update-to"] = [
            {
                "updated": notice["deposited"],
                "DOI": target["DOI"],
                "type": kind,
                "source": "publisher",
                "label": label,
            }
        ]
        target.setdefault("updated-by", []).append(
            {
                "updated": notice["deposited"],
                "DOI": notice["DOI"],
                "type": kind,
                "source": "publisher",
                "label": label,
            }
        )
    sici = works[20]
    sici["DOI"] = "10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D"
    sici["URL"] = "https://doi.org/10.1002/(SICI)1097-4636(199706)35:4<477::AID-JBM8>3.0.CO;2-D"
    sici["prefix"] = "10.1002"
    sici["issued"] = {"date-parts": [[1997, 6]]}
    works[30]["author"] = [{"family": "Okonkwo", "sequence": "first", "affiliation": []}]
    consortium = works[48]
    consortium["type"] = "journal-article"
    consortium["title"] = ["Genome-wide analysis of sandbox phenotypes in 1,200 volunteers"]
    consortium["author"] = [
        {"name": "The Sandbox Genomes Consortium", "sequence": "first", "affiliation": []}
    ] + [_person(rng, sequence="additional", orcid=n % 10 == 0) for n in range(1199)]
