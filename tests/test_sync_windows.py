"""The window of a sync, as each connector plans it from the run's parameters and the stored
state (pure: no requests, no warehouse). Everywhere: an interrupted run is resumed, the
watermark never moves backwards and moves only when the window joins on to it, and an
impossible window is a `FatalError` that says why."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from connectors.crossref.client import Checkpoint
from connectors.crossref.harvest import checked_filters
from connectors.crossref.harvest import plan_window as crossref_window
from connectors.oaipmh.harvest import Resume
from connectors.oaipmh.harvest import plan_window as oai_window
from connectors.pubmed.harvest import EARLIEST
from connectors.pubmed.harvest import plan_window as pubmed_window
from schemas.errors import FatalError

TODAY = dt.date(2026, 12, 4)


# -- PubMed ---------------------------------------------------------------------------------


def test_pubmed_starts_at_the_watermark_and_moves_it_to_until():
    window = pubmed_window("q", None, None, "2026-11-01", None, today=TODAY)
    assert (window.since, window.until) == ("2026-11-01", "2026-12-04")
    assert (window.watermark_after, window.resume, window.notes) == ("2026-12-04", (), ())
    first = pubmed_window("q", None, None, None, None, today=TODAY)
    assert first.since == EARLIEST.isoformat() and first.watermark_after == "2026-12-04"


def test_pubmed_backfill_keeps_the_watermark_and_an_interrupted_window_is_resumed():
    backfill = pubmed_window("q", "2020-01-01", "2020-12-31", "2026-11-01", None, today=TODAY)
    assert backfill.watermark_after == "2026-11-01"  # never backwards
    assert not pubmed_window("q", "2026-11-02", None, "2026-11-01", None, today=TODAY).joins
    checkpoint = {
        "unfinished": True,
        "mindate": "2026-10-01",
        "maxdate": "2026-10-31",
        "done": ["slice-a"],
    }
    resumed = pubmed_window("q", None, None, "2026-10-01", checkpoint, today=TODAY)
    assert (resumed.since, resumed.until, resumed.resume) == (
        "2026-10-01",
        "2026-10-31",
        ("slice-a",),
    )
    assert resumed.watermark_after == "2026-10-31"
    assert resumed.notes == (
        (logging.INFO, "resuming q 2026-10-01..2026-10-31: 1 slices already loaded"),
    )


# -- Crossref -------------------------------------------------------------------------------


def _crossref_checkpoint(since: str | None, until: str) -> dict[str, object]:
    resume = Checkpoint("deposited", dt.date(2026, 10, 15), "2026-10-15T10:00:00Z")
    return {"unfinished": True, "since": since, "until": until, "resume": resume.to_state()}


def test_crossref_resumes_an_interrupted_window_given_no_window_or_the_same_one():
    checkpoint = _crossref_checkpoint("2026-10-01", "2026-10-31")
    for since, until in [(None, None), ("2026-10-01", "2026-10-31")]:
        window = crossref_window(since, until, "2026-10-01", checkpoint, label="l", today=TODAY)
        assert (window.since, window.until) == ("2026-10-01", "2026-10-31")
        assert window.resume == Checkpoint.from_state(checkpoint["resume"])  # type: ignore[arg-type]
        assert window.watermark_after == "2026-10-31"
        assert window.notes == (
            (logging.INFO, "resuming l 2026-10-01..2026-10-31 from 2026-10-15"),
        )


def test_crossref_a_backfill_replacing_an_interrupted_window_keeps_the_watermark():
    checkpoint = _crossref_checkpoint("2026-10-01", "2026-10-31")
    window = crossref_window(
        "2026-10-05", "2026-11-30", "2026-10-10", checkpoint, label="l", today=TODAY
    )
    # It joins on to the watermark, but starts after the window it replaces: what lies between
    # would be skipped by the next incremental sync.
    assert window.resume is None and not window.joins
    covering = crossref_window(
        "2026-09-20", "2026-11-30", "2026-10-10", checkpoint, label="l", today=TODAY
    )
    assert covering.joins and covering.watermark_after == "2026-11-30"
    assert window.watermark_after == "2026-10-10"
    assert window.notes[0][0] == logging.WARNING
    assert "not resuming the interrupted window 2026-10-01..2026-10-31 of l" in window.notes[0][1]


def test_crossref_refuses_impossible_windows_and_window_filters():
    with pytest.raises(FatalError, match="the watermark of l \\(2026-12-05\\) is after until"):
        crossref_window(None, "2026-12-04", "2026-12-05", None, label="l", today=TODAY)
    with pytest.raises(FatalError, match="since must be a date"):
        crossref_window("yesterday", None, None, None, label="l", today=TODAY)
    with pytest.raises(FatalError, match="set the sync window"):
        checked_filters({"from-update-date": "2020-01-01"})
    with pytest.raises(FatalError, match="unknown /works filter"):
        checked_filters({"colour": "blue"})
    first = crossref_window(None, None, None, None, label="l", today=TODAY)
    assert (first.since, first.until, first.watermark_after) == (None, "2026-12-04", "2026-12-04")


# -- OAI-PMH --------------------------------------------------------------------------------


def test_oai_resumes_from_the_checkpoint_with_the_datestamps_it_had_seen():
    checkpoint = {
        "unfinished": True,
        "since": "2026-01-01",
        "until": None,
        "resume_from": "2026-03-01T00:00:00Z",
        "max_datestamp": "2026-03-01T00:00:00Z",
    }
    window = oai_window(None, None, "2026-01-01", checkpoint, label="repo")
    assert (window.since, window.until) == ("2026-01-01", None)
    assert window.resume == Resume("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z")
    assert window.joins
    assert window.notes == ((logging.INFO, "resuming repo from 2026-03-01T00:00:00Z"),)
    other = oai_window("2025-01-01", None, "2026-01-01", checkpoint, label="repo")
    assert other.resume == Resume(None, None) and other.notes[0][0] == logging.WARNING


def test_oai_a_window_after_the_watermark_leaves_it_and_an_inverted_one_is_refused():
    assert not oai_window("2026-06-01", None, "2026-01-01", None, label="repo").joins
    assert oai_window("2025-06-01", None, "2026-01-01", None, label="repo").joins
    with pytest.raises(FatalError, match="the stored watermark 2026-01-01 is after until"):
        oai_window(None, "2025-12-31", "2026-01-01", None, label="repo")
