"""What a Crossref work object may hold, for drift: the keys of the REST API's `Work` schema
(api.crossref.org/swagger-docs), split into those `parse.parse_work` reads and those it knowingly
leaves in the raw payload. A key outside both is drift (Crossref adds fields), named in
`Record.unknown` as "key <name>". Only the work's own keys are checked: nested objects (an
author, a reference) change more rarely and are read field by field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Read by `parse.parse_work` (directly, or through the date, people and link readers).
READ = frozenset(
    {
        "DOI", "ISBN", "ISSN", "abstract", "accepted", "approved", "article-number",
        "assertion", "author", "container-title", "content-created", "created",
        "deposited", "description", "editor", "funder", "indexed", "is-referenced-by-count",
        "isbn-type", "issn-type", "issue", "issued", "language", "license", "original-title",
        "page", "posted", "published-online", "published-other", "published-print",
        "publisher", "reference", "relation", "resource", "short-container-title", "subject",
        "subtitle", "subtype", "title", "type", "update-to", "updated-by", "volume",
    }
)  # fmt: skip
# In the schema (or served and documented: `event`, `version`, `updated-by`), not read: kept
# in the raw payload only. `score` is the query's relevance, dropped from the payload too.
IGNORED = frozenset(
    {
        "URL", "alternative-id", "archive", "chair", "clinical-trial-number",
        "component-number", "content-domain", "content-updated", "degree", "edition-number",
        "event", "free-to-read", "group-title", "institution", "journal-issue", "link",
        "member", "part-number", "prefix", "published", "publisher-location",
        "reference-count", "references-count", "review", "score", "short-title", "source",
        "standards-body", "translator", "update-policy", "version",
    }
)  # fmt: skip
KNOWN_WORK_KEYS = READ | IGNORED


def unknown_keys(work: Mapping[str, Any]) -> list[str]:
    """The drift names ("key new-key") of `work`'s keys that the schema does not have."""
    return [f"key {key}" for key in work if key not in KNOWN_WORK_KEYS]
