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

Prefect itself is imported only when it is used: importing it takes ~0.6 s, more than a whole
re-import of a file that is loaded already.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from prefect import Flow, Task

P = ParamSpec("P")
R = TypeVar("R")

# Where a run's log lines go when no Prefect run is there to take them.
PLAIN_LOGGER = logging.getLogger("biblioduck")


def _prefect_may_be_configured() -> bool:
    """Whether any place Prefect reads its settings from could set an API URL: its
    environment variables, `.env`, `prefect.toml` or `pyproject.toml`'s [tool.prefect] in
    the working directory, or a profiles file. False means certainly not configured, without
    importing Prefect; True means ask Prefect."""
    if any(
        os.environ.get(name)
        for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH")
    ):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    mentions = {
        Path(".env"): "PREFECT_",
        Path("prefect.toml"): "",
        Path("pyproject.toml"): "tool.prefect",
        home / "profiles.toml": "PREFECT_API_URL",
    }
    for path, word in mentions.items():
        try:
            if word in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def api_configured() -> bool:
    """Whether a Prefect API is configured (environment, `.env`, Prefect's files or profile,
    or the settings of a Prefect already running in this process, as under a test harness)."""
    if "prefect.settings" not in sys.modules and not _prefect_may_be_configured():
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def in_prefect_run() -> bool:
    """Whether this call happens inside a Prefect flow or task run (never, when Prefect was
    not even imported)."""
    context = sys.modules.get("prefect.context")
    if context is None:
        return False
    return context.FlowRunContext.get() is not None or context.TaskRunContext.get() is not None


# Whether a failed flow run's traceback is printed on the console (the command line's
# `--debug`). Without it, the engine's lines about a failure stay one line each there, and
# the command line prints the one error; Prefect's API log keeps the traceback either way.
console_tracebacks = False


def run_flow(flow: Flow[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a flow as a Prefect flow run when an API is configured, else its body directly."""
    if api_configured():
        if console_tracebacks:
            return flow(*args, **kwargs)
        with _console_without_tracebacks():
            return flow(*args, **kwargs)
    return flow.fn(*args, **kwargs)


class _WithoutTraceback(logging.Formatter):
    """Formats as `inner` does, leaving out the exception and stack of the record."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        # Restored after: the API handler formats the same record and keeps the traceback.
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextmanager
def _console_without_tracebacks() -> Iterator[None]:
    """Prefect's console handlers (on `prefect` and the root logger) without tracebacks, for
    the time of a run."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # else the engine adds its handlers only once the run starts
    consoles = {
        handler
        for name in ("prefect", "")
        for handler in logging.getLogger(name).handlers
        if type(handler).__name__ == "PrefectConsoleHandler"
        or (
            isinstance(handler, logging.StreamHandler)
            and handler.stream in (sys.stderr, sys.stdout)
        )
    }
    saved = {handler: handler.formatter for handler in consoles}
    for handler in consoles:
        handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
    try:
        yield
    finally:
        for handler, formatter in saved.items():
            handler.setFormatter(formatter)


def call(flow: Flow[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """A subflow: a Prefect subflow run inside a flow run, else its body directly."""
    if in_prefect_run():
        return flow(*args, **kwargs)
    return flow.fn(*args, **kwargs)


def tracked_task(**options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make `fn` a Prefect task (with `options`) inside flow runs, a plain call outside them.

    Inside a run every argument is handed to Prefect `quote`d, so it never walks them."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.cache
        def prefect_task() -> Task[P, R]:
            from prefect import task

            return task(fn, **options)

        @functools.wraps(fn)
        def dispatch(*args: P.args, **kwargs: P.kwargs) -> R:
            if not in_prefect_run():
                return fn(*args, **kwargs)
            from prefect.utilities.annotations import quote

            quoted_args: Any = [quote(value) for value in args]
            quoted_kwargs: Any = {name: quote(value) for name, value in kwargs.items()}
            return prefect_task()(*quoted_args, **quoted_kwargs)

        return dispatch

    return decorate


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run's logger inside a run, else the `biblioduck` logger."""
    if not in_prefect_run():
        return PLAIN_LOGGER
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return PLAIN_LOGGER


def publish_summary(key: str, markdown: str, description: str | None = None) -> None:
    """A run's markdown summary as a Prefect artifact; outside a Prefect run there is nowhere
    to publish it (the `runs` row holds the same counts)."""
    if in_prefect_run():
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(key=key, markdown=markdown, description=description)
