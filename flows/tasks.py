"""Prefect tasks every flow shares: load one fetched page (parse, validate, load); the retry
condition. A page's records are made and consumed inside its task: nothing Prefect sees holds
them (see `flows.orchestration`)."""

from __future__ import annotations

from typing import Any, Protocol

from prefect.cache_policies import NO_CACHE

from flows import pipeline
from flows.orchestration import tracked_task
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


class Page(Protocol):
    """What a connector fetched, not yet parsed: one page, or a few single-record answers."""

    def items(self) -> list[pipeline.Item]:
        """The page's records and deletions, parsed."""
        ...


@tracked_task(name="load-page", cache_policy=NO_CACHE)
def load_page(
    warehouse: Warehouse,
    page: Page,
    *,
    batch_id: str,
    run_id: str,
    state: StateUpdate | None,
    max_failed_fraction: float,
    source: str,
) -> pipeline.BatchOutcome:
    """Parse one page, validate it and load it, with `state`, in one transaction."""
    return pipeline.process_items(
        warehouse,
        page.items(),
        source=source,
        batch_id=batch_id,
        run_id=run_id,
        state=state,
        max_failed_fraction=max_failed_fraction,
    )
