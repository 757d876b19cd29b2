"""Prefect tasks every flow shares: validate and load one batch; the retry condition."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows import pipeline
from schemas.batch import StateUpdate
from schemas.errors import TransientError
from warehouse.store import Warehouse


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only what may succeed later."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


@task(cache_policy=NO_CACHE)
def validate_and_load(
    warehouse: Warehouse,
    items: list[pipeline.Item],
    *,
    batch_id: str,
    run_id: str,
    state: StateUpdate | None,
    max_failed_fraction: float,
    source: str,
) -> pipeline.BatchOutcome:
    """Validate one batch and load it, with `state`, in one transaction."""
    return pipeline.process_items(
        warehouse,
        items,
        source=source,
        batch_id=batch_id,
        run_id=run_id,
        state=state,
        max_failed_fraction=max_failed_fraction,
    )
