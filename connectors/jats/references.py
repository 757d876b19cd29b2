"""JATS `ref-list` → `Reference`s.

Every `ref` of the back matter's ref-lists (nested ones included), in document order, is one
reference; its citation is the first of `mixed-citation`, `element-citation`, NLM 3.0's
`nlm-citation` and NLM 2.3's `citation` (in `citation-alternatives` too).

- Text: a `mixed-citation` (and a `citation` with punctuation of its own) is the citation as
  the publisher wrote it, read whole with whitespace collapsed; an `element-citation` or
  `nlm-citation` holds bare parts, assembled as Crossref's are:
  "Authors. Year. Title. Source. Volume(Issue):First-Last"; so is a mixed one without any
  punctuation between its parts (some publishers tag every part and write nothing between).
  Parts that meet with nothing between them are read apart ("Akhter M", not "AkhterM").
- Identifiers: `pub-id` of type doi, pmid, pmcid (PMC's "pmc"), normalised, in order; an
  `ext-link` or `uri` to doi.org is a DOI too (publishers that link instead of tagging).
"""

from __future__ import annotations

from connectors.jats.text import XLINK_HREF, Element, attribute, plain_text, spaced_text
from schemas.identifiers import normalise_doi, normalise_pmcid, normalise_pmid
from schemas.record import Identifier, Reference

__all__ = ["parse_references"]

_CITATION_TAGS = ("mixed-citation", "element-citation", "nlm-citation", "citation")
_ASSEMBLED = frozenset({"element-citation", "nlm-citation"})
_PUB_IDS = {
    "doi": ("doi", normalise_doi),
    "pmid": ("pmid", normalise_pmid),
    "pmc": ("pmcid", normalise_pmcid),
    "pmcid": ("pmcid", normalise_pmcid),
}
# Parts a bare citation is assembled from, and what a mixed one's text leaves out: the
# ids are kept as identifiers, a comment ("[PubMed]") is the publisher's note.
_ID_TAGS = frozenset({"pub-id", "comment", "ext-link", "uri"})


def parse_references(back: Element | None) -> list[Reference]:
    """The references of the article's back matter, positions from 1."""
    if back is None:
        return []
    references: list[Reference] = []
    for ref in back.iter("ref"):
        citation = _citation_element(ref)
        if citation is None:
            text = plain_text(ref, frozenset({"label"}))
            identifiers: list[Identifier] = []
        else:
            text = _citation_text(citation)
            identifiers = _identifiers(citation)
        references.append(Reference(len(references) + 1, text, identifiers))
    return references


def _citation_element(ref: Element) -> Element | None:
    for child in ref:
        if child.tag in _CITATION_TAGS:
            return child
        if child.tag == "citation-alternatives":
            for alternative in child:
                if alternative.tag in _CITATION_TAGS:
                    return alternative
    return None


def _citation_text(citation: Element) -> str | None:
    if citation.tag in _ASSEMBLED or not _punctuated(citation):
        return _assembled(citation) or spaced_text(citation, _ID_TAGS)
    return spaced_text(citation, _ID_TAGS)


def _punctuated(citation: Element) -> bool:
    """Whether a legacy `citation` carries its own punctuation between its parts (mixed),
    rather than bare parts (element-like)."""
    for child in citation:
        tail = child.tail
        if tail is not None and not tail.isspace() and isinstance(child.tag, str):
            return True
    return False


def _assembled(citation: Element) -> str | None:
    names: list[str] = []
    parts: dict[str, str] = {}
    for child in citation:
        tag = child.tag
        if tag == "person-group":
            if (child.get("person-group-type") or "author") == "author":
                _read_people(child, names)
        elif tag in ("name", "string-name", "collab"):
            _read_person(child, names)
        elif isinstance(tag, str) and tag in _PARTS and tag not in parts:
            text = plain_text(child)
            if text is not None:
                parts[tag] = text
    locator = parts.get("volume", "")
    if "issue" in parts:
        locator += f"({parts['issue']})"
    first, last = parts.get("fpage"), parts.get("lpage")
    if first:
        locator += f":{first}" + (f"-{last}" if last and last != first else "")
    pieces = [
        ", ".join(names),
        parts.get("year"),
        parts.get("article-title") or parts.get("chapter-title"),
        parts.get("source"),
        locator,
    ]
    text = ". ".join(piece.rstrip(".") for piece in pieces if piece)
    return text or None


_PARTS = frozenset(
    {"year", "article-title", "chapter-title", "source", "volume", "issue", "fpage", "lpage"}
)


def _read_people(group: Element, names: list[str]) -> None:
    for person in group:
        _read_person(person, names)


def _read_person(person: Element, names: list[str]) -> None:
    tag = person.tag
    if tag in ("name", "string-name"):
        family = given = None
        for part in person:
            if part.tag == "surname":
                family = plain_text(part)
            elif part.tag == "given-names":
                given = plain_text(part)
        name = " ".join(p for p in (family, given) if p) if family else plain_text(person)
        if name:
            names.append(name)
    elif tag == "collab":
        name = plain_text(person)
        if name:
            names.append(name)
    elif tag == "etal":
        names.append("et al.")


def _identifiers(citation: Element) -> list[Identifier]:
    found: list[Identifier] = []
    for element in citation.iter("pub-id", "ext-link", "uri"):
        if element.tag == "pub-id":
            known = _PUB_IDS.get((attribute(element, "pub-id-type") or "").lower())
            if known is None:
                continue
            scheme, normalise = known
            value = normalise(plain_text(element))
        else:
            href = attribute(element, XLINK_HREF) or plain_text(element)
            if href is None or "doi.org/" not in href.lower():
                continue
            scheme, value = "doi", normalise_doi(href)
        if value is not None and not any(i.scheme == scheme and i.value == value for i in found):
            found.append(Identifier(scheme, value))
    return found
