"""Tasks inside a flow run are Prefect task runs that receive their arguments untouched (quoted:
Prefect does not walk them, which cost 70% of an import when a task was handed 5,000 records);
outside a flow run they are plain calls."""

from __future__ import annotations

import pytest
from prefect import flow, task

from flows.orchestration import in_prefect_run, tracked_task

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


@tracked_task(name="first-item-kind")
def first_item_kind(values: list[object]) -> tuple[str, bool]:
    """The type of what the task was handed, and whether it ran as a Prefect task run."""
    return type(values[0]).__name__, in_prefect_run()


@task
def one() -> int:
    return 1


@flow
def hand_a_future_to_a_tracked_task() -> tuple[str, bool]:
    future = one.submit()
    future.wait()
    # Prefect resolves a future it finds in a task's arguments into its result; only a walk
    # of the arguments finds it inside the list.
    received = first_item_kind([future])
    untracked = first_item_kind.__wrapped__([future])  # type: ignore[attr-defined]
    assert untracked[0] == received[0]
    return received


def test_a_tracked_task_in_a_flow_is_a_task_run_and_its_arguments_are_not_walked():
    kind, as_task_run = hand_a_future_to_a_tracked_task()
    assert as_task_run
    assert kind.endswith("Future"), kind


def test_outside_a_flow_run_a_tracked_task_is_a_plain_call():
    assert first_item_kind([1]) == ("int", False)
