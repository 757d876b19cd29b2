"""JATS contributors → `Author`s, with their affiliations resolved.

- Every `contrib` of the article's `contrib-group`s, in document order: `contrib-type`
  "author" (or none) → role author; "editor" and its kinds (guest-editor, series-editor,
  reviewing editor…) → role editor; other types (reviewer, translator, …) are not kept (the
  record's roles are author, investigator, editor). Positions count per role from 1.
- Names: `name` (or the first `name` of `name-alternatives`, else a `string-name`):
  "Given Family" with `suffix`; `given-names/@initials` → initials. `collab` → a collective
  author, its name without its member list (JATS 1.1 nests a `contrib-group` of members in
  it). `anonymous` → an author without a name.
- ORCID: `contrib-id[@contrib-id-type="orcid"]` (or any contrib-id, or NLM's
  `uri[@content-type="orcid"]`, that holds an orcid.org iD), check digit verified.
- Affiliations, in order: the contrib's own `aff`s, then those its `xref[@ref-type="aff"]`
  point at (`rid` may list several ids) wherever they are in the front matter; an `aff` of a
  `contrib-group` that no xref points at belongs to every contrib of that group without one
  (JATS's rule for group-level affiliations). Each is the aff's text (institution, address,
  country) with its `label`, `institution-id`s (ROR, Ringgold) and any `email` left out;
  `aff-alternatives` give their first.
- Equal contribution: `equal-contrib="yes"` (True) / "no" (False), or an xref to a footnote
  of `fn-type="equal"` (True); else None.
- Corresponding author (role author): `corresp="yes"` or an `xref[@ref-type="corresp"]` →
  `corresponding` True; else None (an article that marks none says nothing of the others).
"""

from __future__ import annotations

from connectors.jats.text import Element, attribute, plain_text, text_without
from schemas.identifiers import normalise_orcid
from schemas.record import Author

__all__ = ["affiliations_by_id", "corresponding_positions", "parse_contributors"]

_EDITOR_TYPES = frozenset({"editor", "guest-editor", "series-editor", "reviewing-editor"})
_AFF_SKIP = frozenset({"label", "email", "sup", "fn", "xref", "institution-id"})
_COLLAB_SKIP = frozenset({"contrib-group", "xref", "address", "email"})


def affiliations_by_id(front: Element) -> dict[str, str]:
    """Every `aff` of the front matter with an id → its text."""
    found: dict[str, str] = {}
    for aff in front.iter("aff"):
        identifier = aff.get("id")
        if identifier is None:
            parent = aff.getparent()
            if parent is not None and parent.tag == "aff-alternatives":
                identifier = parent.get("id")
        if identifier is not None and identifier not in found:
            text = affiliation_text(aff)
            if text is not None:
                found[identifier] = text
    return found


def affiliation_text(aff: Element) -> str | None:
    """An affiliation's text: institution, address and country, label and email left out."""
    return text_without(aff, _AFF_SKIP)


def _contrib_groups(article_meta: Element) -> list[Element]:
    """The contrib-groups of the article (not those nested in a collab's member list)."""
    return list(article_meta.iterchildren("contrib-group"))


def parse_contributors(
    article_meta: Element, affiliations: dict[str, str], equal_notes: frozenset[str]
) -> list[Author]:
    """The article's authors then editors (see the module docstring). `affiliations` are
    `affiliations_by_id` of the front matter, `equal_notes` the ids of its footnotes of
    fn-type "equal"."""
    authors: list[Author] = []
    editors: list[Author] = []
    referenced = _referenced_affiliations(article_meta)
    for group in _contrib_groups(article_meta):
        shared = [
            text
            for aff in group.iterchildren("aff")
            if aff.get("id") not in referenced and (text := affiliation_text(aff)) is not None
        ]
        for contrib in group.iterchildren("contrib"):
            kind = (attribute(contrib, "contrib-type") or "author").lower()
            if kind in _EDITOR_TYPES:
                into, role = editors, "editor"
            elif kind == "author":
                into, role = authors, "author"
            else:
                continue
            author = _person(contrib, len(into) + 1, role, affiliations, equal_notes)
            if not author.affiliations:
                author.affiliations = list(shared)
            into.append(author)
    return authors + editors


def _referenced_affiliations(article_meta: Element) -> set[str]:
    return {
        rid
        for xref in article_meta.iter("xref")
        if xref.get("ref-type") == "aff"
        for rid in (xref.get("rid") or "").split()
    }


def _person(
    contrib: Element,
    position: int,
    role: str,
    affiliations: dict[str, str],
    equal_notes: frozenset[str],
) -> Author:
    author = Author(position, None, role=role)
    equal = attribute(contrib, "equal-contrib")
    author.equal_contrib = None if equal is None else equal.lower() == "yes"
    author.corresponding = True if role == "author" and _is_corresponding(contrib) else None
    name = _name_element(contrib)
    if name is not None:
        _read_name(author, name)
    else:
        collab = contrib.find("collab")
        if collab is None:
            collab = contrib.find("collab-alternatives/collab")
        if collab is not None:
            author.collective = text_without(collab, _COLLAB_SKIP)
            author.name = author.collective
    for child in contrib:
        tag = child.tag
        if tag == "contrib-id" and author.orcid is None:
            author.orcid = _orcid(child)
        elif tag == "uri" and author.orcid is None and child.get("content-type") == "orcid":
            author.orcid = normalise_orcid(plain_text(child))
        elif tag == "aff":
            text = affiliation_text(child)
            if text is not None and text not in author.affiliations:
                author.affiliations.append(text)
        elif tag == "aff-alternatives":
            first = child.find("aff")
            text = None if first is None else affiliation_text(first)
            if text is not None and text not in author.affiliations:
                author.affiliations.append(text)
        elif tag == "xref":
            kind = child.get("ref-type")
            for rid in (child.get("rid") or "").split():
                if kind == "aff":
                    text = affiliations.get(rid)
                    if text is not None and text not in author.affiliations:
                        author.affiliations.append(text)
                elif kind == "fn" and rid in equal_notes and author.equal_contrib is None:
                    author.equal_contrib = True
    return author


def _name_element(contrib: Element) -> Element | None:
    name = contrib.find("name")
    if name is None:
        name = contrib.find("name-alternatives/name")
    if name is None:
        name = contrib.find("string-name")
    return name


def _read_name(author: Author, name: Element) -> None:
    surname = name.find("surname")
    given = name.find("given-names")
    suffix = name.find("suffix")
    author.family = plain_text(surname)
    author.given = plain_text(given)
    author.suffix = plain_text(suffix)
    if given is not None:
        author.initials = attribute(given, "initials")
    if author.family is None and author.given is None:
        # A string-name without parts: the name as written.
        author.name = plain_text(name)
        return
    display = " ".join(part for part in (author.given, author.family) if part)
    author.name = f"{display} {author.suffix}" if author.suffix else display


def _orcid(contrib_id: Element) -> str | None:
    kind = (attribute(contrib_id, "contrib-id-type") or "").lower()
    text = plain_text(contrib_id)
    if kind == "orcid" or (text is not None and "orcid" in text.lower()):
        return normalise_orcid(text)
    return None


def _is_corresponding(contrib: Element) -> bool:
    return (attribute(contrib, "corresp") or "").lower() == "yes" or any(
        xref.get("ref-type") == "corresp" for xref in contrib.iterchildren("xref")
    )


def corresponding_positions(article_meta: Element) -> list[int]:
    """The positions of the corresponding authors (role author): `corresp="yes"` or an xref
    to a `corresp` note; `parse_contributors` marks the same authors `corresponding`."""
    positions = []
    position = 0
    for group in _contrib_groups(article_meta):
        for contrib in group.iterchildren("contrib"):
            if (attribute(contrib, "contrib-type") or "author").lower() != "author":
                continue
            position += 1
            if _is_corresponding(contrib):
                positions.append(position)
    return positions
