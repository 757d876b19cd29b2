"""Text out of JATS elements: plain text with inline markup flattened, the markup itself, and
the attributes JATS spells two ways (xlink). Shared by the field readers of this package."""

from __future__ import annotations

import html
import re

from lxml import etree

from connectors.pubmed.fields import attribute  # one reading of attributes for both XMLs

__all__ = [
    "XLINK_HREF",
    "Element",
    "attribute",
    "inner_markup",
    "plain_text",
    "spaced_text",
    "text_without",
]

Element = etree._Element

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_WHITESPACE = re.compile(r"\s+")
# lxml repeats the namespaces in scope on every element it serialises out of a tree.
_NAMESPACE_DECLARATION = re.compile(r'\s+xmlns(?::[\w.-]+)?="[^"]*"')


def _joined(element: Element, skip: frozenset[str] = frozenset()) -> str:
    """Every text piece inside `element`, in order, leaving out the subtrees tagged `skip`.
    An entity reference the parser left unresolved (a named entity of the DTD, which is never
    loaded) reads as its character when HTML knows its name ("&ndash;" → "–"); any other
    ("&xxe;") stays as written, inert."""
    if not len(element):  # no child: no markup, no entity (most elements: a name, a year)
        return element.text or ""
    if not skip and next(element.iter(etree.Entity), None) is None:
        return "".join(element.itertext())  # type: ignore[arg-type]  # str only
    pieces: list[str] = []
    _walk(element, skip, pieces, top=True)
    return "".join(pieces)


def _walk(element: Element, skip: frozenset[str], pieces: list[str], *, top: bool) -> None:
    tag = element.tag
    if isinstance(tag, str):
        if top or tag not in skip:
            if element.text:
                pieces.append(element.text)
            for child in element:
                _walk(child, skip, pieces, top=False)
    elif tag is etree.Entity:
        pieces.append(html.unescape(element.text or ""))
    if not top and element.tail:
        pieces.append(element.tail)


def plain_text(element: Element | None, skip: frozenset[str] = frozenset()) -> str | None:
    """The element's text with inline markup flattened and whitespace runs collapsed (JATS
    files are often pretty-printed); None when blank."""
    if element is None:
        return None
    text = element.text if not len(element) else _joined(element, skip)
    return " ".join(text.split()) or None if text else None


def text_without(element: Element, skip: frozenset[str]) -> str | None:
    """`plain_text` leaving out the children tagged `skip` (an affiliation's label, a
    citation's pub-ids), with separators left dangling at either end removed."""
    text = plain_text(element, skip)
    if text is None:
        return None
    return text.strip(" ,;.") or None


def inner_markup(element: Element | None) -> str | None:
    """The element's content as XML, inline tags kept (`<italic>`, `<sup>`, MathML), the
    element's own tags not; None when the element holds no markup at all (the plain text
    says everything)."""
    if element is None or not any(isinstance(child.tag, str) for child in element):
        return None
    parts = [html.escape(element.text, quote=False)] if element.text else []
    parts.extend(etree.tostring(child, encoding="unicode", with_tail=True) for child in element)
    markup = _NAMESPACE_DECLARATION.sub("", "".join(parts))
    return _WHITESPACE.sub(" ", markup).strip() or None


def spaced_text(element: Element, skip: frozenset[str] = frozenset()) -> str | None:
    """`plain_text` with a space wherever two parts meet with nothing between them: a
    citation's `<surname>Akhter</surname><given-names>M</given-names>` reads "Akhter M".
    Parts are the children of containers (elements with no text of their own: a citation's
    person-group, a name); inline markup inside a part (an italic word) is read as is."""
    text = _BOUNDARY_BETWEEN_WORDS.sub(" ", _parts_text(element, skip)).replace("\0", "")
    return " ".join(text.split()) or None


def _parts_text(element: Element, skip: frozenset[str]) -> str:
    pieces = [element.text or ""]
    for child in element:
        tag = child.tag
        if isinstance(tag, str):
            if tag not in skip:
                container = len(child) and not (child.text and child.text.strip())
                inner = _parts_text(child, skip) if container else _joined(child)
                pieces += ("\0", inner, "\0")
        elif tag is etree.Entity:
            pieces.append(html.unescape(child.text or ""))
        if child.tail:
            pieces.append(child.tail)
    return "".join(pieces)


_BOUNDARY_BETWEEN_WORDS = re.compile(r"(?<=[\w?!.,;:)])\0+(?=\w)")
