"""Readers beside a load on a DuckDB file.

A DuckDB file has one writing process and no reader beside it: a process that opens it while
another writes gets a lock error. Our loads commit per batch (a sync group, a bulk file), so a
load yields the file to readers between two of its batches instead of holding it for the whole
run: a reader that finds the file busy *knocks* (a file named after its process in
`<warehouse>.readers/`) and retries opening it; a writer looks for knocks after each commit,
and when it finds one it closes its connection, lets the readers in, and opens the file again
once they are done (each reader's query is short: it holds the file only for its statement).

Only our own read paths knock (`query`, `search`, `report`, `export`, `status`, `works`); any
other DuckDB client still gets the lock error while a batch loads — a DuckLake warehouse (see
the README) is for readers that hold the warehouse open. Bounded both ways: a reader waits at
most `BIBLIODUCK_READ_WAIT` seconds (default 120: a whole bulk file, or works updated after a
large run, is one commit), a writer waits for readers at most `BIBLIODUCK_WRITE_WAIT` seconds
(default 900) before its run fails as busy (nothing it committed is lost).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from schemas.errors import UsageError, WarehouseBusyError

T = TypeVar("T")

# How often a waiting reader or writer tries the lock again: a batch commits in tens of ms to
# seconds, and an attempt costs one failed open (under a millisecond).
RETRY_SECONDS = 0.05
# How long a writer that found knocks waits for the readers to take the file before it takes
# it back: opening a file read-only takes milliseconds, so a knock that stays longer is a
# reader that gave up or died between two checks.
LET_IN_SECONDS = 2.0


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{variable} must be a number of seconds, not {text!r}") from None
    if value < 0:
        raise UsageError(f"{variable} must be a number of seconds, not {text!r}")
    return value


def read_wait() -> float:
    return _seconds("BIBLIODUCK_READ_WAIT", 120.0)


def write_wait() -> float:
    return _seconds("BIBLIODUCK_WRITE_WAIT", 900.0)


def knock_folder(path: Path) -> Path:
    return path.with_name(path.name + ".readers")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def waiting(path: Path) -> bool:
    """Whether a live reader knocks at the warehouse `path` (a dead reader's knock is
    removed)."""
    folder = knock_folder(path)
    try:
        knocks = list(folder.iterdir())
    except FileNotFoundError:
        return False
    found = False
    for knock in knocks:
        pid_text = knock.name.partition(".")[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            found = True
        else:
            knock.unlink(missing_ok=True)
    return found


@contextmanager
def knocking(path: Path) -> Iterator[None]:
    """A knock at `path` for as long as the block runs: this process waits to read."""
    folder = knock_folder(path)
    folder.mkdir(exist_ok=True)
    knock = folder / f"{os.getpid()}.{secrets.token_hex(4)}"
    knock.touch()
    try:
        yield
    finally:
        knock.unlink(missing_ok=True)
        with suppress(OSError):  # the last reader tidies up; others still knocking keep it
            folder.rmdir()


def open_as_reader(path: Path, open_: Callable[[], T]) -> T:
    """`open_()` (a read-only open of the DuckDB file `path`), retried while a load holds the
    file, knocking so that the load lets this reader in at its next commit."""
    try:
        return open_()
    except WarehouseBusyError:
        pass
    deadline = time.monotonic() + read_wait()
    with knocking(path):
        while True:
            try:
                return open_()
            except WarehouseBusyError as exc:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"the warehouse {path} stayed busy for {read_wait():g} s (a load "
                        "commits one batch at a time and lets readers in between; one batch "
                        "took longer). Try again, raise BIBLIODUCK_READ_WAIT, or use a DuckLake "
                        "warehouse, which readers never wait for"
                    ) from exc
            time.sleep(RETRY_SECONDS)


def let_readers_in(path: Path) -> None:
    """Wait (briefly) until the readers knocking at `path` have opened it, after the writer
    closed its connection."""
    deadline = time.monotonic() + LET_IN_SECONDS
    while waiting(path) and time.monotonic() < deadline:
        time.sleep(RETRY_SECONDS / 5)


def reopen_as_writer(path: Path, open_: Callable[[], T]) -> T:
    """`open_()` (the writer's open of `path`), retried while readers hold the file."""
    deadline = time.monotonic() + write_wait()
    while True:
        try:
            return open_()
        except WarehouseBusyError as exc:
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"the warehouse {path} was held by readers for {write_wait():g} s after "
                    "this load let them in; the load stops here (what it committed stays). "
                    "Close the other DuckDB clients, or raise BIBLIODUCK_WRITE_WAIT"
                ) from exc
        time.sleep(RETRY_SECONDS)
