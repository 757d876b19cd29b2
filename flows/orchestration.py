"""Prefect when a Prefect API is configured, plain function calls when none is.

Without `PREFECT_API_URL`, calling a Prefect flow or task starts a temporary API server in a
subprocess (10-20 s here, and a SIGKILLed run left it running), which a one-shot command
cannot afford. So the command line runs a flow's body directly (`run_flow`), and inside it
tasks and subflows called through `tracked_task`/`call` are plain calls; the warehouse's `runs`
table records every run either way. Under a flow run (a deployment, or any run with an API)
the same calls are Prefect task runs and subflow runs, with their artifacts.

Tasks never let Prefect walk their arguments: it visits every object of a task's parameters
(twice) to resolve futures and record inputs, which took 70% of an import when a task was
handed 5,000 records. Each argument is passed `quote`d, and tasks take pages, files or
handles, never lists of records.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, Task, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.settings import PREFECT_API_URL
from prefect.utilities.annotations import quote

P = ParamSpec("P")
R = TypeVar("R")

# Where a run's log lines go when no Prefect run is there to take them.
PLAIN_LOGGER = logging.getLogger("biblioduck")


def api_configured() -> bool:
    """Whether a Prefect API is configured (environment, `.env` or Prefect profile)."""
    return bool(PREFECT_API_URL.value())


def in_prefect_run() -> bool:
    """Whether this call happens inside a Prefect flow or task run."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def run_flow(flow: Flow[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a flow as a Prefect flow run when an API is configured, else its body directly."""
    if api_configured():
        return flow(*args, **kwargs)
    return flow.fn(*args, **kwargs)


def call(flow: Flow[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """A subflow: a Prefect subflow run inside a flow run, else its body directly."""
    if in_prefect_run():
        return flow(*args, **kwargs)
    return flow.fn(*args, **kwargs)


def tracked_task(**options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make `fn` a Prefect task (with `options`) inside flow runs, a plain call outside them.

    Inside a run every argument is handed to Prefect `quote`d, so it never walks them."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        prefect_task: Task[P, R] = task(fn, **options)

        @functools.wraps(fn)
        def dispatch(*args: P.args, **kwargs: P.kwargs) -> R:
            if not in_prefect_run():
                return fn(*args, **kwargs)
            quoted_args: Any = [quote(value) for value in args]
            quoted_kwargs: Any = {name: quote(value) for name, value in kwargs.items()}
            return prefect_task(*quoted_args, **quoted_kwargs)

        dispatch.prefect_task = prefect_task  # type: ignore[attr-defined]
        return dispatch

    return decorate


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run's logger inside a run, else the `biblioduck` logger."""
    if not in_prefect_run():
        return PLAIN_LOGGER
    try:
        return get_run_logger()
    except MissingContextError:
        return PLAIN_LOGGER


def publish_summary(key: str, markdown: str, description: str | None = None) -> None:
    """A run's markdown summary as a Prefect artifact; outside a Prefect run there is nowhere
    to publish it (the `runs` row holds the same counts)."""
    if in_prefect_run():
        create_markdown_artifact(key=key, markdown=markdown, description=description)
