"""What the warehouse derives from the current records, brought up to date after a load: the
canonical works (`warehouse.works`) and the full-text index (`warehouse.search`).

Called once per run that changed records, with the writer's connection, after its data is
committed. A failure here is a warning, not a failed run: the records are loaded, and the next
load (or `biblioduck works build` / `biblioduck index`) brings works and the index up again.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from warehouse.search import refresh_search_index
from warehouse.works import build_works

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def refresh_derived(
    con: duckdb.DuckDBPyConnection, logger: Logger, *, max_records: int
) -> dict[str, Any]:
    """Rebuild works and, when the records changed since it was built, the search index.
    Returns what each did (`None` for one that failed, after a warning naming the cause, or
    that was left because the warehouse holds more than `max_records` current records: both
    are rebuilt whole, minutes at tens of millions)."""
    done: dict[str, Any] = {"works": None, "search_index": None}
    (current,) = con.execute(
        "SELECT count(*) FROM source_records WHERE NOT deleted"
    ).fetchone() or (0,)
    if current > max_records:
        logger.warning(
            "works and the search index were left as they were: %d current records is more "
            "than BIBLIODUCK_DERIVE_MAX_RECORDS (%d); run `biblioduck works build` and "
            "`biblioduck index` when the loads are done",
            current,
            max_records,
        )
        return done
    try:
        built = build_works(con)
        done["works"] = built
        logger.info(
            "works: %d records are %d works (%d merged) in %.1f s",
            built.records,
            built.works,
            built.merged,
            built.seconds,
        )
    except (duckdb.Error, OSError) as exc:
        logger.warning("works were not rebuilt (%s); run `biblioduck works build`", exc)
    try:
        refreshed = refresh_search_index(con)
        done["search_index"] = refreshed
        if refreshed["rebuilt"]:
            logger.info(
                "search index: %d records in %.1f s", refreshed["documents"], refreshed["seconds"]
            )
    except (duckdb.Error, OSError) as exc:
        logger.warning("the search index was not rebuilt (%s); run `biblioduck index`", exc)
    return done
