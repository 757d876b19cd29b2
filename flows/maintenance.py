"""The weekly upkeep of a DuckLake warehouse (`warehouse.maintenance`) as a Prefect flow, with
its own deployment (`lake-maintenance` in prefect.yaml) and command (`biblioduck
lake-maintenance`). On a DuckDB file warehouse it says there is nothing to do and succeeds."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.orchestration import publish_summary, run_logger
from flows.settings import load_settings
from warehouse.maintenance import DEFAULT_KEEP_DAYS, maintain_lake
from warehouse.store import Warehouse


def _markdown(result: dict[str, Any]) -> str:
    if not result["lake"]:
        return "# Lake maintenance\n\nThe warehouse is a DuckDB file: nothing to do."
    steps = ", ".join(f"{name} {s:.1f} s" for name, s in result["seconds"].items())
    return (
        "# Lake maintenance\n\n"
        f"| | before | after |\n|---|---:|---:|\n"
        f"| data files | {result['files_before']} | {result['files_after']} |\n"
        f"| bytes | {result['bytes_before']} | {result['bytes_after']} |\n"
        f"| snapshots | {result['snapshots_before']} | {result['snapshots_after']} |\n\n"
        f"Snapshots older than {result['keep_days']} days expired. Steps: {steps}."
    )


@flow(name="lake-maintenance", log_prints=False)
def lake_maintenance(db: str | None = None, keep_days: int = DEFAULT_KEEP_DAYS) -> dict[str, Any]:
    """Compact a DuckLake warehouse's files and expire snapshots older than `keep_days`."""
    settings = load_settings(db=db)
    logger = run_logger()
    with Warehouse(settings.db) as warehouse:
        result = maintain_lake(warehouse.con, keep_days=keep_days)
    if result["lake"]:
        logger.info(
            "lake maintenance: %d files → %d, %d snapshots → %d",
            result["files_before"],
            result["files_after"],
            result["snapshots_before"],
            result["snapshots_after"],
        )
    else:
        logger.info("lake maintenance: the warehouse is a DuckDB file, nothing to do")
    publish_summary("lake-maintenance", _markdown(result))
    return result
