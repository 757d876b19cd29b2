"""What the warehouse derives from the current records, brought up to date after a load: the
canonical works (`warehouse.works`) and the full-text index (`warehouse.search`).

Called once per run that changed records, with the writer's connection, after its data is
committed, and told the run: the works its records touched are updated, not all rebuilt. A
failure here is a warning, not a failed run: the records are loaded, and the next load (whose
update takes every change since the last one) or `biblioduck works build` / `biblioduck index`
brings works and the index up again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import duckdb

from warehouse.search import refresh_search_index
from warehouse.works import WorksBuilt, build_works, full_build_reason, update_works

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
# The default of `Settings.derive_memory_limit` (BIBLIODUCK_DERIVE_MEMORY_LIMIT).
DERIVE_MEMORY_LIMIT = "2GB"


def refresh_derived(
    con: duckdb.DuckDBPyConnection,
    logger: Logger,
    *,
    max_records: int,
    run_id: str | Sequence[str] | None = None,
    memory_limit: str = DERIVE_MEMORY_LIMIT,
) -> dict[str, Any]:
    """`_refresh` with DuckDB's memory limit raised to `memory_limit` (a writer's connection
    has 256MB: enough to load a batch, not to rebuild an index or regroup works), then put
    back."""
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or ("256MB",)
    con.execute(f"SET memory_limit = '{_checked_limit(memory_limit)}'")
    try:
        return _refresh(con, logger, max_records=max_records, run_id=run_id)
    finally:
        con.execute(f"SET memory_limit = '{_checked_limit(str(before))}'")


def _checked_limit(limit: str) -> str:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*[KMGT]?i?B", limit.strip()):
        raise ValueError(f"not a memory limit: {limit!r}")
    return limit.strip()


def _refresh(
    con: duckdb.DuckDBPyConnection,
    logger: Logger,
    *,
    max_records: int,
    run_id: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """Bring works and, when the records changed since it was built, the search index up to
    date. Given the run(s) that loaded, the works touched by their records are updated
    (`update_works`, whatever the warehouse's size); without a run, or when the works need a
    full build (`full_build_reason`: never built, or built under other matching rules), they
    are rebuilt whole. Returns what each did (`None` for one that failed, after a warning
    naming the cause, or that was left because it needed a whole rebuild and the warehouse
    holds more than `max_records` current records: minutes at tens of millions)."""
    done: dict[str, Any] = {"works": None, "search_index": None}
    (current,) = con.execute(
        "SELECT count(*) FROM source_records WHERE NOT deleted"
    ).fetchone() or (0,)
    too_many = current > max_records
    try:
        full_reason = full_build_reason(con) if run_id is not None else "no run was named"
        if full_reason is not None and too_many:
            logger.warning(
                "works were left as they were: they need a full rebuild (%s), and %d current "
                "records is more than BIBLIODUCK_DERIVE_MAX_RECORDS (%d), the limit of a full "
                "rebuild after a load; run `biblioduck works build` when the loads are done",
                full_reason,
                current,
                max_records,
            )
        else:  # an update does a full build itself when it must, and says why
            built = build_works(con) if run_id is None else update_works(con, run_id=run_id)
            done["works"] = _log_works(logger, built)
    except (duckdb.Error, OSError) as exc:
        logger.warning("works were not brought up to date (%s); run `biblioduck works build`", exc)
    if too_many:
        logger.warning(
            "the search index was left as it was: %d current records is more than "
            "BIBLIODUCK_DERIVE_MAX_RECORDS (%d); run `biblioduck index` when the loads are done",
            current,
            max_records,
        )
        return done
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


def _log_works(logger: Logger, built: WorksBuilt) -> WorksBuilt:
    if built.mode == "incremental":
        logger.info(
            "works updated: %d changed records, %d records recomputed into %d works "
            "(%d merged) in %.1f s",
            built.changed,
            built.records,
            built.works,
            built.merged,
            built.seconds,
        )
    else:
        logger.info(
            "works rebuilt whole%s: %d records are %d works (%d merged) in %.1f s",
            f" ({built.full_reason})" if built.full_reason else "",
            built.records,
            built.works,
            built.merged,
            built.seconds,
        )
    return built
