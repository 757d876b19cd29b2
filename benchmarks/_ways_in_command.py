"""Run one `biblioduck` command as a user does (a subprocess, its own session) and measure its
whole process tree: wall seconds, CPU seconds, and the peak RSS of every process in it.

The tree is sampled with psutil every `SAMPLE_SECONDS`: the CLI process, and every descendant
it starts — the bulk writer, worker processes, multiprocessing's helpers, a Prefect server —
each with its own peak, and the peak of their sum at one instant. A process that lives less
than one interval may be missed. CPU seconds are the rusage of the children this process
reaped (the command and every descendant it waited for), so they are exact for a tree that
cleans up after itself.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks.harness import MB

SAMPLE_SECONDS = 0.05
ROLES = ("cli", "writer", "worker", "prefect-server", "helper")


def role_of(command: str, *, root: bool) -> str:
    """What a process of the tree is, from its command line."""
    if root:
        return "cli"
    if "processes.writer" in command:
        return "writer"
    if "uvicorn" in command or "prefect.server" in command or "prefect server" in command:
        return "prefect-server"
    if "resource_tracker" in command or "forkserver" in command:
        return "helper"
    return "worker"


@dataclass
class _Seen:
    role: str
    command: str
    peak_rss: int = 0


class TreeSampler:
    """Samples a process tree from a thread until `stop()`; keeps each process's peak RSS."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.seen: dict[int, _Seen] = {}
        self.peak_total = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._done.wait(SAMPLE_SECONDS):
                return

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
                # Read every time: a child between fork and exec still shows its parent's
                # command line (the writer was once taken for a worker that way).
                command = " ".join(process.cmdline())
            except psutil.Error:
                continue
            seen = self.seen.get(process.pid)
            if seen is None or seen.command != command:
                if not command:  # exiting: its last instants would be nobody's
                    continue
                role = role_of(command, root=process.pid == self.root.pid)
                peak = seen.peak_rss if seen else 0
                seen = self.seen[process.pid] = _Seen(role, command, peak)
            seen.peak_rss = max(seen.peak_rss, rss)
            total += rss
        self.peak_total = max(self.peak_total, total)

    def report(self) -> dict[str, Any]:
        """Peaks in MB: of the sum, of the largest process of each role, and of each process."""
        by_role: dict[str, float] = {}
        counts: dict[str, int] = {}
        for seen in self.seen.values():
            by_role[seen.role] = max(by_role.get(seen.role, 0.0), seen.peak_rss / MB)
            counts[seen.role] = counts.get(seen.role, 0) + 1
        return {
            "peak_rss_mb": round(self.peak_total / MB, 1),
            "peak_rss_mb_by_role": {role: round(mb, 1) for role, mb in by_role.items()},
            "processes_by_role": counts,
            "processes": [
                {
                    "pid": pid,
                    "role": seen.role,
                    "peak_rss_mb": round(seen.peak_rss / MB, 1),
                    "command": seen.command[:200],
                }
                for pid, seen in self.seen.items()
            ],
        }


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _group_members(group: int) -> list[str]:
    """Command lines of the processes still in process group `group`."""
    members = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getpgid(process.pid) == group:
                members.append(" ".join(process.info["cmdline"] or [])[:200])
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _end_group(group: int, *, linger: float = 0.0, grace: float = 10.0) -> list[str]:
    """Stop what is left of our command's process group (by its id), after letting it end on
    its own for `linger` seconds; the command lines of what had to be stopped."""
    deadline = time.monotonic() + linger
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return []
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    left = _group_members(group)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return left
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    return left


def run_command(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float, logs: Path
) -> dict[str, Any]:
    """Run `argv` in `cwd`, its output in `logs`.out/.err; measure it (see the module doc).
    Never raises for the command's failure or a timeout: both are in the result."""
    out_path, err_path = logs.with_suffix(".out"), logs.with_suffix(".err")
    cpu_before = _children_cpu()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: a timeout ends the whole tree
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        timed_out = False
        try:
            exit_code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        seconds = time.perf_counter() - started
        if timed_out:
            _end_group(process.pid)
            process.wait()
            exit_code = None
        sampler.stop()
    # Anything of the group still running 3 s after the command returned (a server left
    # behind; multiprocessing's resource tracker needs a moment to see its pipe close).
    left_behind = [] if timed_out else _end_group(process.pid, linger=3.0, grace=5.0)
    return {
        "argv": list(argv),
        "exit_code": exit_code,
        "timed_out": timed_out,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(_children_cpu() - cpu_before, 2),
        "left_processes_behind": left_behind,
        **sampler.report(),
        "stdout_tail": _tail(out_path),
        "stderr_tail": _tail(err_path),
    }
