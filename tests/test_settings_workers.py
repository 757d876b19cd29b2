"""Bulk workers default to one per usable core plus one (docs/performance.md: on 2 cores, 3
workers kept a whole baseline under 3 h in every run, 2 in six of eight)."""

from __future__ import annotations

import os

import pytest

from flows.settings import load_settings


def test_workers_default_to_the_usable_cores_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIBLIODUCK_WORKERS", raising=False)
    assert load_settings().workers == len(os.sched_getaffinity(0)) + 1


def test_workers_follow_the_environment_and_zero_means_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIBLIODUCK_WORKERS", "0")
    assert load_settings().workers == 0
    assert load_settings(workers=5).workers == 5
