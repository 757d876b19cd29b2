"""Small hand-built records for warehouse and validation tests (what no recording shows)."""

from __future__ import annotations

from schemas.record import Author, Record


def make_record(
    pmid: int,
    *,
    title: str = "A title",
    version: str | None = None,
    payload: str | None = None,
    **fields: object,
) -> Record:
    record = Record(
        source="pubmed",
        source_id=str(pmid),
        pmid=str(pmid),
        source_version=version,
        title=title,
        pub_year=1994,
        authors=[Author(position=1, name="Leslie Oleksowicz", family="Oleksowicz", given="Leslie")],
        raw=(
            payload or f"<PubmedArticle><PMID>{pmid}</PMID><T>{title}</T></PubmedArticle>"
        ).encode(),
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record
