"""JATS dates → `DateEntry`s and the record's publication date.

JATS spells the kind of a publication date two ways: `pub-type` (NLM 2.x/3.0, JATS 1.0:
"ppub", "epub", "epub-ppub", "collection", "pmc-release", …) and, since JATS 1.1,
`date-type` with `publication-format` ("pub" + "print" is the old "ppub", "pub" +
"electronic" the old "epub"). Both read as one vocabulary of kinds: `published_print`,
`published_online` (the names Crossref's dates have here), `published_print_online`
(epub-ppub), and any other type snake-cased as given (`collection`, `pmc_release`,
`ecorrected`, …). History dates: `received`, `accepted`, `revised` (rev-recd, as PubMed's
History names it), others snake-cased (`rev_request` …).

The record's publication date is that of the issue, as PubMed's PubDate is (so that the two
records of one article agree): print, else print-and-online, else the collection (an
online-only journal's volume), else online, else the first date given; PMC's own release
date only when nothing else is.
"""

from __future__ import annotations

import datetime as dt

from connectors.jats.text import Element, attribute
from connectors.pubmed.dates import date_from_parts
from schemas.record import DateEntry

__all__ = ["HISTORY_KINDS", "date_kind", "parse_date", "parse_pub_dates", "publication_date"]

_PUB_TYPES = {
    "ppub": "published_print",
    "epub": "published_online",
    "epub-ppub": "published_print_online",
}
_FORMATS = {"print": "published_print", "electronic": "published_online"}
HISTORY_KINDS = {"rev-recd": "revised"}
# The date first (see the module docstring); PMC's release date last.
_PREFERENCE = ("published_print", "published_print_online", "collection", "published_online")
_LAST_RESORT = "pmc_release"


def date_kind(date: Element) -> str:
    """The kind of a `pub-date` (either spelling) or of a history `date`."""
    pub_type = attribute(date, "pub-type")
    if pub_type is not None:
        return _PUB_TYPES.get(pub_type, _snake(pub_type))
    date_type = attribute(date, "date-type")
    if date_type in (None, "pub", "publication"):
        form = attribute(date, "publication-format")
        return _FORMATS.get(form or "", "published" if form is None else f"published_{form}")
    assert date_type is not None
    return HISTORY_KINDS.get(date_type, _snake(date_type))


def _snake(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def parse_date(kind: str, date: Element) -> DateEntry:
    """A `DateEntry` from a JATS date (`day`, `month`, `season`, `year`; `string-date` alone
    gives no date but is kept as raw). `raw` joins the parts' texts as given ("28 9 2012")."""
    parts: dict[str, str] = {}
    pieces = []
    for child in date:
        tag = child.tag
        text = child.text.strip() if isinstance(tag, str) and child.text else None
        if text:
            parts.setdefault(tag, text)
            pieces.append(text)
    value, precision = date_from_parts(
        parts.get("year"), parts.get("month"), parts.get("day"), parts.get("season")
    )
    if value is None and attribute(date, "iso-8601-date") is not None:
        value, precision = _iso_date(attribute(date, "iso-8601-date") or "")
    return DateEntry(kind, value, precision, " ".join(pieces) or None)


def _iso_date(text: str) -> tuple[dt.date | None, str | None]:
    """JATS 1.1's `iso-8601-date` ("2012-09-28", "2012-09", "2012") when the parts say
    nothing."""
    year, _, rest = text.partition("-")
    month, _, day = rest.partition("-")
    return date_from_parts(year, month or None, day or None)


def parse_pub_dates(article_meta: Element) -> list[DateEntry]:
    """Every `pub-date` of the article, in document order."""
    return [parse_date(date_kind(date), date) for date in article_meta.iterchildren("pub-date")]


def publication_date(dates: list[DateEntry]) -> DateEntry | None:
    """The record's publication date among its `pub-date`s (see the module docstring)."""
    dated = [entry for entry in dates if entry.date is not None]
    for kind in _PREFERENCE:
        for entry in dated:
            if entry.kind == kind:
                return entry
    for entry in dated:
        if entry.kind != _LAST_RESORT:
            return entry
    return dated[0] if dated else None
