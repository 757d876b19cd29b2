"""The field groups of a JATS article's front matter, one function each (contributors,
dates and references have modules of their own).

- Ids: `article-id` by `pub-id-type`: pmid, pmc/pmcid, doi normalised (`schemas.identifiers`;
  one that does not normalise is not kept), every other type (publisher-id, pii, manuscript,
  …) kept as given under its type, lower-cased.
- Title: `article-title` (plain, and its markup when it has any), with a `subtitle` as
  "Title: Subtitle".
- Abstracts: every `abstract` and `trans-abstract`. Kind: "abstract" for the main one, else
  its `abstract-type` ("summary", "plain-language-summary", …); a `trans-abstract` is
  "trans-abstract" (or its type), with its `xml:lang`. An abstract of `sec`s gives one
  section per `sec`, labelled by its title (a trailing colon dropped); `sec-type` gives the
  NLM category where it names one. A leading heading ("Abstract") is dropped.
- Journal: `journal-title`, `abbrev-journal-title` (else the iso-abbrev, else the nlm-ta
  journal-id), ISSNs by `pub-type` (ppub/epub) or `publication-format` (print/electronic),
  `issn-l`, publisher-name; the NLM id from `journal-id[@journal-id-type="nlm-journal-id"]`.
- Licence: `license/@xlink:href`, else `ali:license_ref`, else the licence text.
- Funding: each `award-group` → one `Grant` per `award-id` (agency: its `funding-source`);
  none → one `Grant` without id. NLM 2.3's `contract-num`/`contract-sponsor` likewise.
- Keywords: every `kwd` of every `kwd-group` → Subject("keyword"); subjects: every `subject`
  of `article-categories` (nested groups included) → Subject(scheme = the group's
  `subj-group-type` as given, inherited by nested groups; "subject" when none), once each.
- Related articles: `related-article` → Link(relation = `related-article-type` as given,
  "corrected-article", "retracted-article", "correction-forward", …; target by
  `ext-link-type` doi/pubmed/pmc); `connectors.jats.RELATIONS` says what each term means in
  `warehouse.relations`' vocabulary.
"""

from __future__ import annotations

import re

from connectors.jats.text import (
    XLINK_HREF,
    Element,
    attribute,
    inner_markup,
    plain_text,
)
from schemas.identifiers import normalise_doi, normalise_issn, normalise_pmcid, normalise_pmid
from schemas.record import AbstractSection, Grant, Identifier, Link, Record, Subject

__all__ = [
    "RELATIONS",
    "parse_abstracts",
    "parse_funding",
    "parse_ids",
    "parse_journal_meta",
    "parse_keywords",
    "parse_license",
    "parse_related_articles",
    "parse_subjects",
    "parse_title",
]

_ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ID_NORMALISERS = {
    "pmid": ("pmid", normalise_pmid),
    "pmc": ("pmcid", normalise_pmcid),
    "pmcid": ("pmcid", normalise_pmcid),
    "doi": ("doi", normalise_doi),
}
_SECTION_CATEGORIES = {
    "background": "BACKGROUND",
    "intro": "BACKGROUND",
    "introduction": "BACKGROUND",
    "objective": "OBJECTIVE",
    "objectives": "OBJECTIVE",
    "purpose": "OBJECTIVE",
    "methods": "METHODS",
    "materials|methods": "METHODS",
    "results": "RESULTS",
    "conclusion": "CONCLUSIONS",
    "conclusions": "CONCLUSIONS",
}
_TRAILING_COLON = re.compile(r"\s*[:.]\s*$")
_LINK_SCHEMES = {
    "doi": ("doi", normalise_doi),
    "pubmed": ("pmid", normalise_pmid),
    "pmid": ("pmid", normalise_pmid),
    "pmc": ("pmcid", normalise_pmcid),
    "pmcid": ("pmcid", normalise_pmcid),
}

# What each JATS `related-article-type` (the JATS 1.3 tag library's suggested values, and
# PMC's) says in `warehouse.relations`' vocabulary, read "this article <relation> the
# related one". For `warehouse.relations.SOURCE_TERMS["jats"]`. "addendum" and "update" are
# left out: JATS means "the related article is this one's addendum/update" (added_to_by,
# updated_by) where Crossref's update types of those names mean the opposite, and the
# vocabulary matches terms whatever their source, so they read as `related` (term kept).
RELATIONS: dict[str, str] = {
    "corrected-article": "corrects",
    "correction-forward": "corrected_by",
    "retracted-article": "retracts",
    "retraction-forward": "retracted_by",
    "object-of-concern": "expresses_concern_about",
    "concern-forward": "concern_expressed_by",
    "expression-of-concern": "concern_expressed_by",
    "addended-article": "adds_to",
    "commentary-article": "comments_on",
    "commentary": "commented_by",
    "reply-to": "replies_to",
    "reply": "replied_to_by",
    "letter": "commented_by",
    "peer-reviewed-article": "reviews",
    "peer-review": "reviewed_by",
    "republished-article": "republishes",
    "companion": "associated_with",
    "article-reference": "related",
}


def parse_ids(article_meta: Element, record: Record) -> None:
    """`article-id`s → `identifiers` in document order, and `pmid`/`pmcid`/`doi`."""
    for article_id in article_meta.iterchildren("article-id"):
        kind = (attribute(article_id, "pub-id-type") or "other").lower()
        text = plain_text(article_id)
        if text is None:
            continue
        known = _ID_NORMALISERS.get(kind)
        if known is None:
            record.identifiers.append(Identifier(kind, text))
            continue
        scheme, normalise = known
        value = normalise(text)
        if value is None:
            continue
        record.identifiers.append(Identifier(scheme, value))
        if scheme == "pmid" and record.pmid is None:
            record.pmid = value
        elif scheme == "pmcid" and record.pmcid is None:
            record.pmcid = value
        elif scheme == "doi" and record.doi is None:
            record.doi = value


def parse_title(article_meta: Element) -> tuple[str | None, str | None]:
    """(plain title, title with its markup or None) of `title-group`."""
    group = article_meta.find("title-group")
    if group is None:
        return None, None
    title = group.find("article-title")
    plain, markup = plain_text(title), inner_markup(title)
    subtitle = group.find("subtitle")
    sub_plain = plain_text(subtitle)
    if sub_plain is not None and plain is not None:
        separator = " " if plain.endswith((":", ";", "?", "!", ".")) else ": "
        plain = f"{plain}{separator}{sub_plain}"
        if markup is not None or inner_markup(subtitle) is not None:
            assert title is not None and subtitle is not None
            title_xml = inner_markup(title) or plain_text(title)
            markup = f"{title_xml}{separator}{inner_markup(subtitle) or sub_plain}"
    return plain, markup


def parse_abstracts(article_meta: Element) -> list[AbstractSection]:
    """Every abstract's sections, in document order (see the module docstring)."""
    sections: list[AbstractSection] = []
    for abstract in article_meta.iterchildren("abstract", "trans-abstract"):
        kind = attribute(abstract, "abstract-type") or (
            "abstract" if abstract.tag == "abstract" else "trans-abstract"
        )
        language = attribute(abstract, _XML_LANG)
        loose: list[str] = []
        for child in abstract:
            tag = child.tag
            if tag == "sec":
                if loose:
                    sections.append(AbstractSection("\n\n".join(loose), kind=kind))
                    loose = []
                section = _section(child, kind, language)
                if section is not None:
                    sections.append(section)
            elif tag in ("title", "label", "object-id"):
                continue
            elif isinstance(tag, str):
                text = plain_text(child)
                if text is not None:
                    loose.append(text)
        if loose:
            sections.append(AbstractSection("\n\n".join(loose), kind=kind, language=language))
    return sections


def _section(sec: Element, kind: str, language: str | None) -> AbstractSection | None:
    title = plain_text(sec.find("title"))
    label = _TRAILING_COLON.sub("", title) if title is not None else None
    paragraphs = [
        text
        for child in sec
        if isinstance(child.tag, str) and child.tag not in ("title", "label")
        if (text := plain_text(child)) is not None
    ]
    if not paragraphs:
        return None
    category = _SECTION_CATEGORIES.get((attribute(sec, "sec-type") or "").lower())
    if category is None and label is not None:
        category = _SECTION_CATEGORIES.get(label.lower())
    return AbstractSection(
        "\n\n".join(paragraphs),
        label=label or None,
        category=category,
        kind=kind,
        language=language,
    )


def parse_journal_meta(journal_meta: Element | None, record: Record) -> None:
    """Journal title and abbreviation, ISSNs, NLM id and publisher."""
    if journal_meta is None:
        return
    ids: dict[str, str] = {}
    for child in journal_meta.iter(
        "journal-id", "journal-title", "abbrev-journal-title", "issn", "issn-l", "publisher-name"
    ):
        tag = child.tag
        text = plain_text(child)
        if text is None:
            continue
        if tag == "journal-id":
            ids.setdefault((attribute(child, "journal-id-type") or "").lower(), text)
        elif tag == "journal-title" and record.journal is None:
            record.journal = text
        elif tag == "abbrev-journal-title" and record.journal_abbrev is None:
            record.journal_abbrev = text
        elif tag == "issn":
            _set_issn(record, child, normalise_issn(text))
        elif tag == "issn-l" and record.issn_linking is None:
            record.issn_linking = normalise_issn(text)
        elif tag == "publisher-name" and record.publisher is None:
            record.publisher = text
    record.journal_abbrev = record.journal_abbrev or ids.get("iso-abbrev") or ids.get("nlm-ta")
    record.nlm_unique_id = ids.get("nlm-journal-id")
    record.issn = record.issn_linking or record.issn_print or record.issn_electronic


def _set_issn(record: Record, issn: Element, value: str | None) -> None:
    if value is None:
        return
    kind = (attribute(issn, "pub-type") or attribute(issn, "publication-format") or "").lower()
    if kind in ("ppub", "print") and record.issn_print is None:
        record.issn_print = value
    elif kind in ("epub", "electronic", "online") and record.issn_electronic is None:
        record.issn_electronic = value
    elif kind == "linking" and record.issn_linking is None:
        record.issn_linking = value
    elif record.issn_print is None and record.issn_electronic is None:
        record.issn_print = value  # an ISSN of no stated medium: the journal's one ISSN


def parse_license(article_meta: Element) -> str | None:
    """The licence's URL, else its text."""
    permissions = article_meta.find("permissions")
    if permissions is None:
        return None
    for license_element in permissions.iterchildren("license"):
        href = attribute(license_element, XLINK_HREF)
        if href is not None:
            return href
        for ref in license_element.iter(_ALI_LICENSE_REF):
            text = plain_text(ref)
            if text is not None:
                return text
        text = plain_text(license_element)
        if text is not None:
            return text
    for ref in permissions.iterchildren(_ALI_LICENSE_REF):
        text = plain_text(ref)
        if text is not None:
            return text
    return None


def parse_funding(article_meta: Element) -> list[Grant]:
    """`award-group`s (and NLM 2.3's contract numbers) → `Grant`s, exact duplicates once."""
    grants: list[Grant] = []
    for group in article_meta.iter("award-group"):
        agency = "; ".join(
            text
            for source in group.iterchildren("funding-source")
            if (text := plain_text(source, frozenset({"institution-id"}))) is not None
        )
        award_ids: list[str | None] = [
            text for award in group.iterchildren("award-id") if (text := plain_text(award))
        ]
        for award_id in award_ids or [None]:
            _add_grant(grants, Grant(grant_id=award_id, agency=agency or None))
    sponsors = [plain_text(s) for s in article_meta.iterchildren("contract-sponsor")]
    for number, contract in enumerate(article_meta.iterchildren("contract-num")):
        sponsor = sponsors[number] if number < len(sponsors) else None
        _add_grant(grants, Grant(grant_id=plain_text(contract), agency=sponsor))
    return grants


def _add_grant(grants: list[Grant], grant: Grant) -> None:
    if (grant.grant_id or grant.agency) and grant not in grants:
        grants.append(grant)


def parse_keywords(article_meta: Element) -> list[Subject]:
    """Every `kwd` of every `kwd-group`, as Subject("keyword"), once each."""
    subjects: list[Subject] = []
    for group in article_meta.iterchildren("kwd-group"):
        for kwd in group.iterchildren("kwd"):
            term = plain_text(kwd)
            if term is not None and not any(s.term == term for s in subjects):
                subjects.append(Subject("keyword", term))
    return subjects


def parse_subjects(article_meta: Element) -> list[Subject]:
    """Every `subject` of `article-categories`, schemes from their groups' types."""
    categories = article_meta.find("article-categories")
    subjects: list[Subject] = []
    if categories is not None:
        for group in categories.iterchildren("subj-group"):
            _read_subject_group(group, "subject", subjects)
    return subjects


def _read_subject_group(group: Element, inherited: str, into: list[Subject]) -> None:
    scheme = (attribute(group, "subj-group-type") or inherited).lower()
    for child in group:
        if child.tag == "subject":
            term = plain_text(child)
            if term is not None and not any(s.scheme == scheme and s.term == term for s in into):
                into.append(Subject(scheme, term))
        elif child.tag == "subj-group":
            _read_subject_group(child, scheme, into)


def parse_related_articles(article_meta: Element) -> list[Link]:
    """`related-article`s → `Link`s (see the module docstring)."""
    links = []
    for related in article_meta.iterchildren("related-article"):
        relation = attribute(related, "related-article-type") or "related"
        href = attribute(related, XLINK_HREF)
        scheme = value = None
        known = _LINK_SCHEMES.get((attribute(related, "ext-link-type") or "").lower())
        if known is not None:
            scheme, value = known[0], known[1](href)
        elif href is not None and normalise_doi(href) is not None:
            scheme, value = "doi", normalise_doi(href)
        elif href is not None:
            scheme, value = "uri", href
        links.append(Link(relation, scheme, value, plain_text(related)))
    return links
