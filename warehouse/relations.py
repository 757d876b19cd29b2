"""Relations between works: errata, retractions, expressions of concern, comments, updates,
versions, reviews… as the sources link records to one another (PubMed's `CommentsCorrections`,
Crossref's `update-to`, `updated-by` and `relation`, DataCite's and Dublin Core's relations),
named in one vocabulary and resolved to the works the warehouse holds.

A notice never merges into the article it is about (`warehouse.matching` keeps them apart); the
`work_relations` view is where the two meet: one row per (work, relation, related work), read
from the `links` of each work's current member records. Each link also gives the related work
the inverse row (an erratum's `corrects` is its article's `corrected_by`), whether or not the
article's own record carries the reverse link, so both directions are always queryable.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from connectors.jats.fields import RELATIONS as JATS_RELATIONS
from schemas.identifiers import doi_key, normalise_pmcid, normalise_pmid
from warehouse.works import SURVIVORSHIP

# The vocabulary: each relation and its inverse, read "this work <relation> the related work".
# Symmetric relations are their own inverse.
INVERSES: dict[str, str] = {
    # notices about a work
    "corrects": "corrected_by",
    "retracts": "retracted_by",
    "partially_retracts": "partially_retracted_by",
    "withdraws": "withdrawn_by",
    "removes": "removed_by",
    "expresses_concern_about": "concern_expressed_by",
    "adds_to": "added_to_by",
    "clarifies": "clarified_by",
    "updates": "updated_by",
    "corrects_and_republishes": "corrected_and_republished_by",
    "retracts_and_republishes": "retracted_and_republished_by",
    "republishes": "republished_by",
    "reprints": "reprinted_by",
    # discussion
    "comments_on": "commented_by",
    "replies_to": "replied_to_by",
    "reviews": "reviewed_by",
    "summarises": "summarised_by",
    # versions and forms of one work
    "preprint_of": "has_preprint",
    "manuscript_of": "has_manuscript",
    "version_of": "has_version",
    "new_version_of": "has_new_version",
    "new_edition_of": "has_new_edition",
    "translation_of": "has_translation",
    "expression_of": "has_expression",
    "manifestation_of": "has_manifestation",
    "format_of": "has_format",
    "variant_form_of": "original_form_of",
    "replaces": "replaced_by",
    "obsoletes": "obsoleted_by",
    # other works it rests on or goes with
    "cites": "cited_by",
    "supplements": "supplemented_by",
    "has_dataset": "dataset_of",
    "based_on_data": "data_basis_for",
    "based_on": "basis_for",
    "derived_from": "source_of",
    "part_of": "has_part",
    "published_in": "publishes",
    "continues": "continued_by",
    "documents": "documented_by",
    "describes": "described_by",
    "metadata_for": "has_metadata",
    "compiles": "compiled_by",
    "collects": "collected_by",
    "requires": "required_by",
    "finances": "financed_by",
    "has_related_material": "related_material_of",
    # symmetric
    "associated_with": "associated_with",
    "same_as": "same_as",
    "identical_to": "identical_to",
    "related": "related",
}
INVERSES.update({inverse: relation for relation, inverse in list(INVERSES.items())})

CROSSREF_UPDATES = {
    "correction": "corrects",
    "corrigendum": "corrects",
    "erratum": "corrects",
    "retraction": "retracts",
    "partial_retraction": "partially_retracts",
    "withdrawal": "withdraws",
    "removal": "removes",
    "expression_of_concern": "expresses_concern_about",
    "addendum": "adds_to",
    "clarification": "clarifies",
    "new_version": "new_version_of",
    "new_edition": "new_edition_of",
    "update": "updates",  # an entry without a type
}

# Every source term the parsers write into `links.relation`, by where it comes from, and the
# relation it says. A term no table lists reads as `related` (its own term stays in
# `source_relation`). Terms are matched without regard to case.
SOURCE_TERMS: dict[str, dict[str, str]] = {
    # PubMed CommentsCorrections@RefType (the DTD's whole list), the record's side of it:
    # "ErratumIn" = this article's erratum is in the target.
    "pubmed": {
        "ErratumFor": "corrects",
        "ErratumIn": "corrected_by",
        "RetractionOf": "retracts",
        "RetractionIn": "retracted_by",
        "ExpressionOfConcernFor": "expresses_concern_about",
        "ExpressionOfConcernIn": "concern_expressed_by",
        "CorrectedandRepublishedFrom": "corrects_and_republishes",
        "CorrectedandRepublishedIn": "corrected_and_republished_by",
        "RetractedandRepublishedFrom": "retracts_and_republishes",
        "RetractedandRepublishedIn": "retracted_and_republished_by",
        "RepublishedFrom": "republishes",
        "RepublishedIn": "republished_by",
        "ReprintOf": "reprints",
        "ReprintIn": "reprinted_by",
        "UpdateOf": "updates",
        "UpdateIn": "updated_by",
        "CommentOn": "comments_on",
        "CommentIn": "commented_by",
        "OriginalReportIn": "summarises",  # a summary for patients, its report is the target
        "SummaryForPatientsIn": "summarised_by",
        "AssociatedDataset": "has_dataset",
        "AssociatedPublication": "associated_with",
        "Cites": "cites",
    },
    # JATS `related-article/@related-article-type` (connectors.jats.fields.RELATIONS).
    "jats": JATS_RELATIONS,
    # A landing page's `citation_pdf_url`: the article's PDF, another format of the work.
    "landing": {"pdf": "has_format"},
    # Crossref (Crossmark) update types: the parser writes an `update-to` entry as its type
    # (this notice updates the target) and an `updated-by` entry as "has-<type>" (below).
    "crossref update-to": CROSSREF_UPDATES,
    "crossref updated-by": {
        f"has-{term}": INVERSES[relation] for term, relation in CROSSREF_UPDATES.items()
    },
    # Crossref `relation` keys (the relations schema's inter- and intra-work types, as the
    # REST API spells them).
    "crossref relation": {
        "is-preprint-of": "preprint_of",
        "has-preprint": "has_preprint",
        "is-manuscript-of": "manuscript_of",
        "has-manuscript": "has_manuscript",
        "is-version-of": "version_of",
        "has-version": "has_version",
        "is-translation-of": "translation_of",
        "has-translation": "has_translation",
        "is-expression-of": "expression_of",
        "has-expression": "has_expression",
        "is-manifestation-of": "manifestation_of",
        "has-manifestation": "has_manifestation",
        "is-format-of": "format_of",
        "has-format": "has_format",
        "is-variant-form-of": "variant_form_of",
        "is-original-form-of": "original_form_of",
        "is-replaced-by": "replaced_by",
        "replaces": "replaces",
        "is-same-as": "same_as",
        "is-identical-to": "identical_to",
        "is-review-of": "reviews",
        "has-review": "reviewed_by",
        "is-comment-on": "comments_on",
        "has-comment": "commented_by",
        "is-reply-to": "replies_to",
        "has-reply": "replied_to_by",
        "is-supplement-to": "supplements",
        "is-supplemented-by": "supplemented_by",
        "is-derived-from": "derived_from",
        "has-derivation": "source_of",
        "based-on-data": "based_on_data",
        "is-data-basis-for": "data_basis_for",
        "is-based-on": "based_on",
        "is-basis-for": "basis_for",
        "has-related-material": "has_related_material",
        "is-related-material": "related_material_of",
        "is-part-of": "part_of",
        "has-part": "has_part",
        "references": "cites",
        "is-referenced-by": "cited_by",
        "continues": "continues",
        "is-continued-by": "continued_by",
        "documents": "documents",
        "is-documented-by": "documented_by",
        "compiles": "compiles",
        "is-compiled-by": "compiled_by",
        "requires": "requires",
        "is-required-by": "required_by",
        "finances": "finances",
        "is-financed-by": "financed_by",
    },
    # DataCite relationType (OAI-PMH `oai_datacite`), kernel 4.
    "datacite": {
        "Cites": "cites",
        "IsCitedBy": "cited_by",
        "References": "cites",
        "IsReferencedBy": "cited_by",
        "IsSupplementTo": "supplements",
        "IsSupplementedBy": "supplemented_by",
        "IsContinuedBy": "continued_by",
        "Continues": "continues",
        "Describes": "describes",
        "IsDescribedBy": "described_by",
        "HasMetadata": "has_metadata",
        "IsMetadataFor": "metadata_for",
        "HasVersion": "has_version",
        "IsVersionOf": "version_of",
        "IsNewVersionOf": "new_version_of",
        "IsPreviousVersionOf": "has_new_version",
        "IsPartOf": "part_of",
        "HasPart": "has_part",
        "IsPublishedIn": "published_in",
        "IsDocumentedBy": "documented_by",
        "Documents": "documents",
        "IsCompiledBy": "compiled_by",
        "Compiles": "compiles",
        "IsVariantFormOf": "variant_form_of",
        "IsOriginalFormOf": "original_form_of",
        "IsIdenticalTo": "identical_to",
        "IsReviewedBy": "reviewed_by",
        "Reviews": "reviews",
        "IsDerivedFrom": "derived_from",
        "IsSourceOf": "source_of",
        "IsRequiredBy": "required_by",
        "Requires": "requires",
        "IsObsoletedBy": "obsoleted_by",
        "Obsoletes": "obsoletes",
        "Collects": "collects",
        "IsCollectedBy": "collected_by",
        "HasTranslation": "has_translation",
        "IsTranslationOf": "translation_of",
        "Other": "related",
    },
    # Dublin Core (OAI-PMH `oai_dc`): dc:relation says no more than that; dc:source is "a
    # related resource from which the described resource is derived".
    "dublin core": {
        "relation": "related",
        "source": "derived_from",
    },
}


def vocabulary() -> dict[str, str]:
    """Each source term, lower-cased, and the relation it says. Raises when two sources use
    one term for two relations (they are matched without regard to case)."""
    terms: dict[str, str] = {}
    for source, table in SOURCE_TERMS.items():
        for term, relation in table.items():
            if relation not in INVERSES:
                raise ValueError(f"{source} {term!r}: {relation!r} is not in the vocabulary")
            key = term.lower()
            if terms.setdefault(key, relation) != relation:
                raise ValueError(f"{source} {term!r} is {relation}, elsewhere {terms[key]}")
    return terms


# The normal forms of `schemas.identifiers` in SQL, so that the view needs no Python: a link's
# target is compared with the normalised identifiers records store. Whitespace is what
# Python's str.strip() and `\s` take (RE2's `\s` is ASCII only).
_SPACE = r"[\s\v\x{1c}-\x{1f}\x{85}\pZ]"
_DOI_LABEL = rf"^(?i)(?:doi:{_SPACE}*|doi{_SPACE}+|info:doi/)"
_DOI_URL = r"^(?i)(?:https?://)?(?:www\.|dx\.)?doi\.org/"
_DOI = r"10\.[0-9]+(?:\.[0-9]+)*/[^\s\v\x{1c}-\x{1f}\x{85}\pZ]+"
_NUMBER = "0*([1-9][0-9]{0,18})"  # digits without leading zeros, at most 19 (`_positive_digits`)


def _stripped(expr: str) -> str:
    return f"regexp_replace({expr}, '^{_SPACE}+|{_SPACE}+$', '', 'g')"


def pmid_key_sql(expr: str) -> str:
    """SQL for `normalise_pmid(expr)`: the PMID's digits without leading zeros, else NULL."""
    pattern = rf"^{_SPACE}*(?i:pmid:?{_SPACE}*)?{_NUMBER}{_SPACE}*$"
    return f"nullif(regexp_extract({expr}, '{pattern}', 1), '')"


def pmcid_key_sql(expr: str) -> str:
    """SQL for `normalise_pmcid(expr)`: "PMC" + digits (any version suffix dropped), else NULL."""
    pattern = rf"^{_SPACE}*(?i:pmc(?:id)?:?{_SPACE}*)?(?i:pmc)?{_NUMBER}(?:\.[0-9]+)?{_SPACE}*$"
    return f"('PMC' || nullif(regexp_extract({expr}, '{pattern}', 1), ''))"


def doi_key_sql(expr: str) -> str:
    """SQL for `doi_key(expr)`: the bare DOI, lower-cased, else NULL. (A resolver URL whose
    percent-escapes are not UTF-8 gives NULL, where Python decodes them to U+FFFD.)"""
    unlabelled = f"regexp_replace({_stripped(expr)}, '{_DOI_LABEL}', '')"
    from_url = _stripped(f"try(url_decode(regexp_replace({unlabelled}, '{_DOI_URL}', '')))")
    bare = (
        f"(CASE WHEN regexp_matches({unlabelled}, '{_DOI_URL}') THEN {from_url} "
        f"ELSE {unlabelled} END)"
    )
    return f"(CASE WHEN regexp_full_match({bare}, '{_DOI}') THEN lower({bare}) END)"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Every current member record of a work, with what the links are resolved by.
ALL_MEMBERS = """
    SELECT w.work_id, r.source, r.source_id, r.pmid, r.doi, r.pmcid, r.links
    FROM work_members w JOIN records r USING (source, source_id)"""
# The identifiers that name each work (a work with two members of one DOI lists it twice:
# the rows it gives are one after the grouping).
ALL_IDENTIFIERS = """
    SELECT work_id, 'pmid' AS scheme, pmid AS value FROM members WHERE pmid IS NOT NULL
    UNION ALL SELECT work_id, 'doi', doi FROM members WHERE doi IS NOT NULL
    UNION ALL SELECT work_id, 'pmcid', pmcid FROM members WHERE pmcid IS NOT NULL"""


def relations_sql(members: str = ALL_MEMBERS, identified: str = ALL_IDENTIFIERS) -> str:
    """The query of `work_relations`, over the member records `members` selects (work_id,
    source, source_id, pmid, doi, pmcid, links) with their links' targets resolved against
    the (work_id, scheme, value) rows of `identified`."""
    terms = ",\n        ".join(
        f"({_quoted(term)}, {_quoted(relation)}, {_quoted(INVERSES[relation])})"
        for term, relation in sorted(vocabulary().items())
    )
    target_key = (
        "CASE lower(l.target_scheme) "
        f"WHEN 'pmid' THEN {pmid_key_sql('l.target_id')} "
        f"WHEN 'doi' THEN {doi_key_sql('l.target_id')} "
        f"WHEN 'pmcid' THEN {pmcid_key_sql('l.target_id')} END"
    )
    return f"""
WITH vocabulary(term, relation, inverse) AS (
    VALUES
        {terms}
),
members AS ({members}
),
identified AS ({identified}
),
asserted AS (
    SELECT m.work_id, m.source || ':' || m.source_id AS from_member,
           l.relation AS source_relation,
           coalesce(v.relation, 'related') AS relation,
           coalesce(v.inverse, 'related') AS inverse,
           lower(l.target_scheme) AS target_scheme, l.target_id, l.citation,
           {target_key} AS target_key,
           -- how the related work names this one, for the inverse row: by the link's
           -- scheme where this record has an identifier of it, else its DOI, PMID, PMCID
           coalesce(
               CASE lower(l.target_scheme)
                   WHEN 'pmid' THEN CASE WHEN m.pmid IS NOT NULL THEN ['pmid', m.pmid] END
                   WHEN 'pmcid' THEN CASE WHEN m.pmcid IS NOT NULL THEN ['pmcid', m.pmcid] END
               END,
               CASE WHEN m.doi IS NOT NULL THEN ['doi', m.doi]
                    WHEN m.pmid IS NOT NULL THEN ['pmid', m.pmid]
                    WHEN m.pmcid IS NOT NULL THEN ['pmcid', m.pmcid]
                    ELSE [m.source, m.source_id] END) AS named_as
    FROM members m, unnest(m.links) AS t(l)
    LEFT JOIN vocabulary v ON v.term = lower(l.relation)
),
resolved AS (
    SELECT a.*, i.work_id AS related_work_id
    FROM asserted a
    LEFT JOIN identified i ON i.scheme = a.target_scheme AND i.value = a.target_key
),
both_ways AS (
    SELECT work_id, relation, related_work_id, target_scheme, target_id, target_key, citation,
           source_relation, from_member, false AS inferred
    FROM resolved
    UNION ALL
    SELECT related_work_id, inverse, work_id, named_as[1], named_as[2], named_as[2], NULL,
           source_relation, from_member, true
    FROM resolved WHERE related_work_id IS NOT NULL
),
chosen AS (
    -- one row per (work, relation, related work); a target not in the warehouse is told
    -- apart by its identifier, or by its citation when it has none. The row a member of
    -- the work asserts is preferred to the inverse of the related work's link.
    SELECT work_id, relation, related_work_id,
           arg_min({{'target_scheme': target_scheme, 'target_id': target_id,
                    'citation': citation, 'source_relation': source_relation,
                    'from_member': from_member, 'inferred': inferred}},
                   {{'inferred': inferred, 'member': from_member,
                    'term': source_relation, 'target': target_id, 'citation': citation}})
               AS row
    FROM both_ways
    GROUP BY work_id, relation, related_work_id,
             CASE WHEN related_work_id IS NULL THEN
                 CASE WHEN target_id IS NULL THEN ['citation', citation]
                      ELSE [target_scheme, coalesce(target_key, target_id)] END END
)
SELECT work_id, relation, related_work_id, row.target_scheme, row.target_id, row.citation,
       row.source_relation, row.from_member, row.inferred
FROM chosen"""


def work_relations_view_sql() -> str:
    """The `work_relations` view, its vocabulary generated from `SOURCE_TERMS`."""
    return f"CREATE OR REPLACE VIEW work_relations AS {relations_sql()}\n"


# For one work, only the records that may take part: its own members, and those with a link
# that may name one of its identifiers. `$needles` are the work's PMIDs, DOIs and PMCIDs'
# digits: a link whose target normalises to one of them contains it (lower-cased), unless its
# percent-escapes hide it. The view would read and resolve every link of the warehouse.
ONE_WORK_MEMBERS = """
    SELECT w.work_id, r.source, r.source_id, r.pmid, r.doi, r.pmcid, r.links FROM (
        SELECT source, source_id, pmid, doi, pmcid, links FROM records
        WHERE list_bool_or(list_transform(links, l ->
            contains(l.target_id, '%') OR list_bool_or(list_transform(
                $needles::VARCHAR[], n -> contains(lower(l.target_id), n)))))
        UNION ALL
        SELECT source, source_id, pmid, doi, pmcid, links FROM records
        WHERE (source, source_id) IN (
            SELECT source, source_id FROM work_members WHERE work_id = $work)
    ) r JOIN work_members w USING (source, source_id)"""
# … and only the identifiers those records' links and the work's own can resolve to.
ONE_WORK_IDENTIFIERS = """
    SELECT w.work_id, k.scheme, k.value FROM (
        UNPIVOT (
            SELECT source, source_id, pmid, doi, pmcid FROM records
            WHERE list_contains($pmids::VARCHAR[], pmid) OR list_contains($dois::VARCHAR[], doi)
                OR list_contains($pmcids::VARCHAR[], pmcid))
        ON pmid, doi, pmcid INTO NAME scheme VALUE value) k
    JOIN work_members w USING (source, source_id)"""

_NORMALISERS = {"pmid": normalise_pmid, "doi": doi_key, "pmcid": normalise_pmcid}


@dataclass(frozen=True, slots=True)
class WorkRelation:
    """One relation of a work, as `work_relations` has it, with the related work's title."""

    relation: str
    related_work_id: str | None
    related_title: str | None
    target_scheme: str | None
    target_id: str | None
    citation: str | None
    source_relation: str
    from_member: str
    inferred: bool


def work_relations_of(con: duckdb.DuckDBPyConnection, work_id: str) -> list[WorkRelation]:
    """The rows of `work_relations` of one work, by relation, then related work, each with
    the related work's title. Reads only the records that may take part (`ONE_WORK_MEMBERS`)."""
    own = con.execute(
        "SELECT r.pmid, r.doi, r.pmcid, r.links FROM work_members w "
        "JOIN records r USING (source, source_id) WHERE w.work_id = ?",
        [work_id],
    ).fetchall()
    names: dict[str, set[str]] = {"pmid": set(), "doi": set(), "pmcid": set()}
    for pmid, doi, pmcid, _ in own:
        for scheme, value in (("pmid", pmid), ("doi", doi), ("pmcid", pmcid)):
            if value is not None:
                names[scheme].add(value)
    needles = sorted(names["pmid"] | names["doi"] | {p.removeprefix("PMC") for p in names["pmcid"]})
    for *_, links in own:  # what the work's own links can resolve to
        for link in links:
            scheme = (link["target_scheme"] or "").lower()
            if scheme in _NORMALISERS:
                value = _NORMALISERS[scheme](link["target_id"])
                if value is not None:
                    names[scheme].add(value)
    rows = con.execute(
        f"SELECT * FROM ({relations_sql(ONE_WORK_MEMBERS, ONE_WORK_IDENTIFIERS)})\n"
        "WHERE work_id = $work "
        "ORDER BY relation, related_work_id NULLS LAST, target_scheme, target_id, citation",
        {
            "work": work_id,
            "needles": needles,
            **{f"{scheme}s": sorted(values) for scheme, values in names.items()},
        },
    ).fetchall()
    related = sorted({row[2] for row in rows if row[2] is not None})
    # Each related work's title as `works` chooses it, from its members alone.
    titles = dict(
        con.execute(
            "SELECT w.work_id, arg_min(r.title, {'rank': coalesce(list_position($order, "
            "r.source), 99), 'member': r.source || ':' || r.source_id}) "
            "FILTER (WHERE r.title IS NOT NULL) FROM work_members w "
            "JOIN records r USING (source, source_id) "
            "WHERE list_contains($related::VARCHAR[], w.work_id) GROUP BY w.work_id",
            {"order": list(SURVIVORSHIP["title"]), "related": related},
        ).fetchall()
    )
    return [
        WorkRelation(relation, related_id, titles.get(related_id), *rest)
        for _, relation, related_id, *rest in rows
    ]
