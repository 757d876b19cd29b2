"""`python -m benchmarks landing-parse`: our landing-page parser against `extruct.extract` (its
nearest peer, the library scrapers use for embedded metadata) on the same recorded pages of
`fixtures/landing_html/` (`../shared/fixtures`, or `$BIBLIODUCK_FIXTURES`): pages per second
(best of `--repeat` rounds over every page, in this one process) and the bibliographic fields
each finds per page.

A field counts as found for extruct when any syntax it returns (JSON-LD, microdata, RDFa,
OpenGraph, Dublin Core, microformats) holds a property that states it (`EXTRUCT_PROPERTIES`;
generous: `og:description` and a plain `description` count as an abstract). extruct does not
read Highwire `citation_*` or PRISM tags, where most presses put their metadata; the count
shows what that costs. The report is printed and written to
`benchmarks/results/latest-landing-parse.md`.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from connectors.landing.parse import parse_landing_page
from schemas.record import Record

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
REPORT_NAME = "latest-landing-parse.md"
FIELDS = (
    "title",
    "doi",
    "authors",
    "affiliations",
    "orcid",
    "date",
    "journal",
    "volume",
    "issue",
    "pages",
    "issn",
    "publisher",
    "language",
    "license",
    "abstract",
    "keywords",
    "pdf",
    "references",
)
# Property names (lower-cased, prefixes "dc."/"og:"/schema URLs removed) that state each field.
EXTRUCT_PROPERTIES: dict[str, frozenset[str]] = {
    "title": frozenset({"title", "name", "headline"}),
    "authors": frozenset({"creator", "author", "creator.personalname"}),
    "affiliations": frozenset({"affiliation"}),
    "date": frozenset({"date", "datepublished", "date.issued", "issued", "publicationdate"}),
    "journal": frozenset({"ispartof", "publicationname"}),
    "volume": frozenset({"volumenumber", "source.volume"}),
    "issue": frozenset({"issuenumber", "source.issue"}),
    "pages": frozenset({"pagestart", "pagination", "startingpage"}),
    "issn": frozenset({"issn", "source.issn"}),
    "publisher": frozenset({"publisher"}),
    "language": frozenset({"language", "inlanguage"}),
    "license": frozenset({"license", "rights"}),
    "abstract": frozenset({"description", "abstract"}),
    "keywords": frozenset({"keywords", "subject"}),
    "references": frozenset({"citation"}),
}
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_PREFIX = re.compile(
    r"^(?:https?://schema\.org/|https?://purl\.org/dc/(?:terms|elements/1\.1)/"
    r"|dc\.|dcterms\.|og:|prism\.)",
    re.IGNORECASE,
)


def default_pages_dir() -> Path:
    configured = os.environ.get("BIBLIODUCK_FIXTURES")
    fixtures = Path(configured) if configured else REPO_ROOT.parent / "shared" / "fixtures"
    return fixtures / "landing_html"


def ours_fields(body: bytes) -> set[str]:
    """The fields our parser fills for one page (none for a `NoRecord`)."""
    parsed = parse_landing_page(body)
    if not isinstance(parsed, Record):
        return set()
    found = {
        "title": parsed.title,
        "doi": parsed.doi,
        "authors": parsed.authors,
        "affiliations": any(a.affiliations for a in parsed.authors),
        "orcid": any(a.orcid for a in parsed.authors),
        "date": parsed.pub_date,
        "journal": parsed.journal,
        "volume": parsed.volume,
        "issue": parsed.issue,
        "pages": parsed.first_page,
        "issn": parsed.issn,
        "publisher": parsed.publisher,
        "language": parsed.languages,
        "license": parsed.license,
        "abstract": parsed.abstract,
        "keywords": parsed.subjects,
        "pdf": parsed.links,
        "references": parsed.references,
    }
    return {name for name, value in found.items() if value}


def _properties(value: Any, names: set[str], texts: list[str]) -> None:
    """Every property name under `value` (normalised) into `names`, every string into `texts`."""
    if isinstance(value, dict):
        if "name" in value and "content" in value and isinstance(value["name"], str):
            if str(value["content"]).strip():  # extruct's Dublin Core element
                names.add(_PREFIX.sub("", value["name"]).lower())
                texts.append(str(value["content"]))
            return
        for key, item in value.items():
            if key == "properties" and isinstance(item, list):  # OpenGraph pairs
                for pair in item:
                    if isinstance(pair, list | tuple) and len(pair) == 2 and str(pair[1]).strip():
                        names.add(_PREFIX.sub("", str(pair[0])).lower())
                        texts.append(str(pair[1]))
                continue
            if item not in (None, "", [], {}):
                names.add(_PREFIX.sub("", str(key)).lower())
            _properties(item, names, texts)
    elif isinstance(value, list):
        for item in value:
            _properties(item, names, texts)
    elif isinstance(value, str):
        texts.append(value)


def extruct_fields(body: bytes) -> set[str]:
    """The fields `extruct.extract` (every syntax, as its users call it) states for one page."""
    import extruct

    extracted = extruct.extract(body, base_url="https://example.org/", errors="ignore")
    names: set[str] = set()
    texts: list[str] = []
    for syntax in extracted.values():
        _properties(syntax, names, texts)
    found = {field for field, wanted in EXTRUCT_PROPERTIES.items() if names & wanted}
    if any(_DOI.search(text) for text in texts if "doi" in text.lower()):
        found.add("doi")
    if any("orcid.org/" in text for text in texts):
        found.add("orcid")
    return found


def pages_per_second(parse: Callable[[bytes], object], pages: list[bytes], repeat: int) -> float:
    """Best of `repeat` rounds over every page (the least disturbed round)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for body in pages:
            parse(body)
        best = min(best, time.perf_counter() - started)
    return len(pages) / best


def report(rows: Iterable[tuple[str, set[str], set[str]]], rates: dict[str, float]) -> str:
    rows = list(rows)
    lines = [
        "# Landing pages: biblioduck vs extruct.extract",
        "",
        "| contender | pages/s | fields found (all pages) |",
        "|---|---:|---:|",
        f"| biblioduck | {rates['biblioduck']:.1f} | {sum(len(o) for _, o, _ in rows)} |",
        f"| extruct 0.18.0 | {rates['extruct']:.1f} | {sum(len(e) for _, _, e in rows)} |",
        "",
        "| page | biblioduck | extruct | only biblioduck | only extruct |",
        "|---|---:|---:|---|---|",
    ]
    for name, ours, theirs in rows:
        lines.append(
            f"| {name} | {len(ours)} | {len(theirs)} | {', '.join(sorted(ours - theirs)) or '-'} "
            f"| {', '.join(sorted(theirs - ours)) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks landing-parse", description=__doc__)
    parser.add_argument("--pages", type=Path, default=default_pages_dir(), help="a folder of .html")
    parser.add_argument("--repeat", type=int, default=20, help="rounds over every page (best kept)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    files = sorted(args.pages.glob("*.html"))
    if not files:
        parser.error(f"no .html pages in {args.pages}")
    bodies = [page.read_bytes() for page in files]
    rows = [
        (page.name, ours_fields(body), extruct_fields(body))
        for page, body in zip(files, bodies, strict=True)
    ]
    rates = {
        "biblioduck": pages_per_second(parse_landing_page, bodies, args.repeat),
        "extruct": pages_per_second(extruct_fields, bodies, max(1, args.repeat // 4)),
    }
    text = report(rows, rates)
    print(text)
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / REPORT_NAME).write_text(text, encoding="utf-8")
    return 0
