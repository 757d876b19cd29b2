"""The crossref_sync flow end to end: Crossref emulator over loopback → parse → validate → DuckDB.

Expiring cursors and 429s load every work exactly once; a sync with nothing new loads nothing;
a backfill leaves the watermark; citation counts keep their history; a run whose retries run
out fails with a clear message and its re-run ends in the same warehouse as a clean sync."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flows.crossref import crossref_sync
from sandbox.crossref import CrossrefEmulator
from sandbox.crossref_corpus import crossref_demo_corpus
from sandbox.faults import Fault, FaultPlan
from sandbox.server import serve
from schemas.errors import FatalError, TransientError
from tests.conftest import BACKENDS, location_in
from tests.flow_helpers import copy_warehouse, fast_http, warehouse_rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

# The last deposit day of the demo corpus: syncs up to it are the same whenever tests run.
UNTIL = "2026-10-26"
SCOPE = "works:filter=;query="


def crossref_env(monkeypatch: pytest.MonkeyPatch, *, attempts: int = 6, rows: int = 20) -> None:
    """Tiny backoffs, small pages, a contact address."""
    fast_http(monkeypatch, attempts=attempts)
    monkeypatch.setenv("BIBLIODUCK_CROSSREF_ROWS", str(rows))
    monkeypatch.setenv("CROSSREF_MAILTO", "dev@example.org")


def latest_summary(key: str) -> str:
    """The markdown of the newest artifact under `key` in the test harness's Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return str(artifacts[0].data)


def emulator_of(
    corpus: list[dict[str, Any]],
    faults: FaultPlan | None = None,
    *,
    cursor_max_uses: int | None = None,
) -> CrossrefEmulator:
    return CrossrefEmulator(
        corpus, faults=faults, rate_limit=(500, "1s"), cursor_max_uses=cursor_max_uses
    )


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return crossref_demo_corpus()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    """Each backend in turn, for the whole module: its reference warehouse is built once."""
    return str(request.param)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory, backend):
    """The warehouse a fault-free sync of the demo corpus produces, and the sync's result."""
    path = location_in(tmp_path_factory.mktemp("clean"), backend, "clean")
    with pytest.MonkeyPatch.context() as mp:
        crossref_env(mp, rows=50)
        with serve(emulator_of(corpus)) as url:
            result = crossref_sync(until=UNTIL, db=str(path), crossref_url=url)
    return path, result


@pytest.mark.parametrize("group_records", [1, 5000], ids=["page-by-page", "grouped"])
def test_expiring_cursors_and_429s_load_every_work_exactly_once(
    reference, corpus, warehouse_location, monkeypatch, group_records
):
    crossref_env(monkeypatch)
    monkeypatch.setenv("BIBLIODUCK_SYNC_GROUP_RECORDS", str(group_records))
    faults = FaultPlan().at("works", 2, 7, fault=Fault.http_status(429, retry_after="0"))
    emulator = emulator_of(corpus, faults, cursor_max_uses=2)
    path = warehouse_location
    with serve(emulator) as url:
        result = crossref_sync(until=UNTIL, db=str(path), crossref_url=url)

    assert result["status"] == "completed"
    assert result["cursor_restarts"] >= 2
    assert sum(1 for r in emulator.requests if r.status == 429) == 2
    # Restarts re-read a day: those works come twice and load as unchanged, or, when both
    # copies are in one group (one transaction), the later copy is the one loaded.
    assert result["fetched"] > 150
    assert (result["inserted"], result["updated"], result["quarantined"]) == (150, 0, 0)
    assert result["unchanged"] == (result["fetched"] - 150 if group_records == 1 else 0)
    assert warehouse_rows(path, "SELECT count(*), count(DISTINCT doi) FROM records") == [(150, 150)]
    assert warehouse_rows(path, "SELECT count(*) FROM record_versions") == [(150,)]
    assert warehouse_rows(path) == warehouse_rows(reference[0])
    assert warehouse_rows(path, "SELECT watermark, checkpoint FROM sync_state") == [(UNTIL, None)]
    assert result["window"] == [None, UNTIL]
    assert warehouse_rows(
        path,
        "SELECT DISTINCT source FROM (SELECT source FROM validation_results UNION ALL "
        "SELECT source FROM raw_payloads UNION ALL SELECT source FROM runs)",
    ) == [("crossref",)]
    assert latest_summary("crossref-sync-summary").startswith(
        f"# Crossref sync\n\nrun `{result['run_id']}`: **completed**"
    )


def test_records_fill_the_shared_columns(reference):
    # Per type: rows, lower-case DOIs, titles, journals, years, with authors. Preprints have no
    # container title; proceedings dated [[null]] have no year.
    assert warehouse_rows(
        reference[0],
        "SELECT publication_types[1], count(*), count(*) FILTER (WHERE doi = lower(doi)), "
        "count(title), count(journal), count(pub_year), count(*) FILTER (WHERE len(authors) > 0) "
        "FROM records WHERE source = 'crossref' GROUP BY 1 ORDER BY 1",
    ) == [
        ("book-chapter", 17, 17, 17, 17, 17, 17),
        ("dataset", 17, 17, 17, 17, 17, 17),
        ("journal-article", 83, 83, 83, 83, 83, 83),
        ("posted-content", 16, 16, 16, 0, 16, 16),
        ("proceedings-article", 17, 17, 17, 17, 8, 17),
    ]


def test_a_second_sync_loads_nothing_and_a_backfill_keeps_the_watermark(
    reference, corpus, warehouse_location, monkeypatch
):
    path = warehouse_location
    copy_warehouse(reference[0], path)
    before = warehouse_rows(path)
    last_day = sum(1 for w in corpus if w["deposited"]["date-time"].startswith(UNTIL))
    crossref_env(monkeypatch)
    with serve(emulator_of(corpus)) as url:
        # From the watermark (inclusive: its day is read again) to today.
        again = crossref_sync(db=str(path), crossref_url=url)
        assert again["window"][0] == UNTIL
        assert (again["fetched"], again["unchanged"]) == (last_day, last_day)
        assert (again["inserted"], again["updated"]) == (0, 0)
        watermark = again["watermark"]
        assert watermark > UNTIL
        # An older window, backfilled: everything in it unchanged, the watermark stays.
        backfill = crossref_sync(
            since="2024-01-01", until="2024-12-31", db=str(path), crossref_url=url
        )
    in_2024 = sum(1 for w in corpus if w["deposited"]["date-time"].startswith("2024"))
    assert (backfill["fetched"], backfill["unchanged"], backfill["inserted"]) == (
        in_2024,
        in_2024,
        0,
    )
    assert backfill["watermark"] == watermark
    # Another filter set and query is another scope, with a watermark of its own.
    with serve(emulator_of(corpus)) as url:
        datasets = crossref_sync(
            filters={"type": "dataset"},
            query="archive",
            until=UNTIL,
            db=str(path),
            crossref_url=url,
        )
    assert (datasets["fetched"], datasets["unchanged"], datasets["window"]) == (
        17,
        17,
        [None, UNTIL],
    )
    assert warehouse_rows(path, "SELECT scope, watermark FROM sync_state ORDER BY scope") == [
        (SCOPE, watermark),
        ("works:filter=type:dataset;query=archive", UNTIL),
    ]
    assert warehouse_rows(path) == before


def test_citation_counts_keep_their_history(reference, corpus, warehouse_location, monkeypatch):
    path = warehouse_location
    copy_warehouse(reference[0], path)
    work = copy.deepcopy(corpus[0])
    doi = work["DOI"].lower()
    old = (work["is-referenced-by-count"], work["indexed"]["date-time"][:10])
    work["is-referenced-by-count"] = old[0] + 7
    moment = {
        "date-parts": [[2026, 11, 2]],
        "date-time": "2026-11-02T10:00:00Z",
        "timestamp": 1793613600000,
    }
    work["deposited"] = work["indexed"] = moment
    emulator = emulator_of(corpus)
    emulator.put(work)
    crossref_env(monkeypatch)
    with serve(emulator) as url:
        result = crossref_sync(until="2026-11-05", db=str(path), crossref_url=url)

    assert (result["inserted"], result["updated"]) == (0, 1)
    history = warehouse_rows(
        path,
        "SELECT value, strftime(as_of, '%Y-%m-%d') FROM measurements "
        f"WHERE source = 'crossref' AND source_id = '{doi}' AND name = 'citations' "
        "ORDER BY recorded_at",
    )
    assert history == [old, (old[0] + 7, "2026-11-02")]
    assert warehouse_rows(
        path,
        "SELECT [(m.value, strftime(m.as_of, '%Y-%m-%d')) FOR m IN metrics], source_version "
        f"FROM records WHERE source = 'crossref' AND doi = '{doi}'",
    ) == [([(old[0] + 7, "2026-11-02")], "2026-11-02T10:00:00Z")]
    assert warehouse_rows(
        path,
        f"SELECT change FROM record_versions WHERE source_id = '{doi}' ORDER BY changed_at",
    ) == [("insert",), ("update",)]
    # Every other work kept its one measurement.
    assert warehouse_rows(path, "SELECT count(*) FROM measurements") == [(151,)]


def test_retries_running_out_fail_clearly_and_a_rerun_completes(
    reference, corpus, warehouse_location, monkeypatch
):
    crossref_env(monkeypatch, attempts=2, rows=50)
    monkeypatch.setenv("BIBLIODUCK_SYNC_GROUP_RECORDS", "50")  # a transaction per page
    # The third page fails on both attempts: the run stops after loading two pages.
    emulator = emulator_of(
        corpus, FaultPlan().at("works", 3, 4, fault=Fault.http_status(503, retry_after="0"))
    )
    path = warehouse_location
    with serve(emulator) as url:
        with pytest.raises(TransientError) as failure:
            crossref_sync(until=UNTIL, db=str(path), crossref_url=url)
        message = str(failure.value)
        assert "Crossref REST API" in message and "503" in message
        assert "failed after 2 attempt(s)" in message
        assert warehouse_rows(path, "SELECT status, fetched, error FROM runs") == [
            ("failed", 100, message)
        ]
        # A failed run leaves its summary too (a nightly run's failure shows in Prefect).
        (run_id,) = warehouse_rows(path, "SELECT run_id FROM runs")[0]
        failed_summary = latest_summary("crossref-sync-summary")
        assert failed_summary.startswith(f"# Crossref sync\n\nrun `{run_id}`: **failed**")
        assert f"**error**: {message}" in failed_summary
        assert warehouse_rows(path, "SELECT count(*) FROM records") == [(100,)]
        (checkpoint,) = warehouse_rows(
            path, "SELECT checkpoint->>'$.resume.resume_from' FROM sync_state"
        )
        resumed = crossref_sync(until=UNTIL, db=str(path), crossref_url=url)

    restarted = emulator.requests[4]  # the first request of the re-run
    assert restarted.params["cursor"] == ["*"]
    assert restarted.params["filter"] == [
        f"from-update-date:{checkpoint[0]},until-update-date:{UNTIL}"
    ]
    assert resumed["status"] == "completed"
    assert (resumed["inserted"], resumed["updated"]) == (50, 0)
    assert warehouse_rows(path) == warehouse_rows(reference[0])
    assert warehouse_rows(path, "SELECT count(*) FROM record_versions") == [(150,)]
    assert warehouse_rows(path, "SELECT watermark, checkpoint FROM sync_state") == [(UNTIL, None)]


def test_a_backfill_after_an_interrupted_run_leaves_its_window_to_the_next_sync(
    reference, corpus, warehouse_location, monkeypatch
):
    crossref_env(monkeypatch, attempts=2, rows=50)
    monkeypatch.setenv("BIBLIODUCK_SYNC_GROUP_RECORDS", "50")  # a transaction per page
    emulator = emulator_of(
        corpus, FaultPlan().at("works", 3, 4, fault=Fault.http_status(503, retry_after="0"))
    )
    path = warehouse_location
    with serve(emulator) as url:
        with pytest.raises(TransientError):
            crossref_sync(until=UNTIL, db=str(path), crossref_url=url)
        # A window of its own: the interrupted one is not resumed, and as this one starts
        # later, the watermark does not move (it would hide the rest of the interrupted one).
        backfill = crossref_sync(since="2026-01-01", until=UNTIL, db=str(path), crossref_url=url)
        assert (backfill["status"], backfill["watermark"]) == ("completed", None)
        assert warehouse_rows(path, "SELECT watermark, checkpoint FROM sync_state") == [
            (None, None)
        ]
        again = crossref_sync(until=UNTIL, db=str(path), crossref_url=url)
    assert (again["window"], again["watermark"]) == ([None, UNTIL], UNTIL)
    assert again["inserted"] + backfill["inserted"] == 50
    assert warehouse_rows(path) == warehouse_rows(reference[0])


class CutOffBodies:
    """The emulator, but the answers to the given request numbers stop half-way through their
    body: Crossref's scroll has already advanced when the client retries."""

    def __init__(self, emulator: CrossrefEmulator, numbers: set[int]) -> None:
        self.emulator = emulator
        self.numbers = numbers

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        body = b"".join(self.emulator(environ, start_response))
        if self.emulator.requests[-1].number in self.numbers:
            return [body[: len(body) // 2]]
        return [body]


def test_a_page_lost_after_the_cursor_advanced_fails_and_the_rerun_reads_it(
    reference, corpus, warehouse_location, monkeypatch
):
    crossref_env(monkeypatch, rows=50)
    emulator = emulator_of(corpus)
    path = warehouse_location
    with serve(CutOffBodies(emulator, {2})) as url:
        with pytest.raises(TransientError) as failure:
            crossref_sync(until=UNTIL, db=str(path), crossref_url=url)
        assert str(failure.value) == (
            "Crossref sync of filter=;query=: Crossref announced 150 works for the last cursor "
            "but delivered 100; a response was lost after the cursor had advanced. Nothing "
            "loaded is lost and the watermark stays at the beginning: run the sync again to "
            "read the window again."
        )
        assert warehouse_rows(path, "SELECT status, fetched FROM runs") == [("failed", 100)]
        assert warehouse_rows(path, "SELECT watermark, checkpoint FROM sync_state") == [
            (None, None)
        ]
        again = crossref_sync(until=UNTIL, db=str(path), crossref_url=url)
    assert (again["status"], again["inserted"], again["unchanged"]) == ("completed", 50, 100)
    assert warehouse_rows(path) == warehouse_rows(reference[0])


def test_window_filters_unknown_filters_and_inverted_windows_are_refused(
    warehouse_location, monkeypatch
):
    crossref_env(monkeypatch)
    db = str(warehouse_location)
    with pytest.raises(FatalError) as window:
        crossref_sync(filters={"from-update-date": "2024-01-01"}, db=db)
    assert str(window.value) == (
        "Crossref sync: filter(s) from-update-date set the sync window; use since/until "
        "(--since/--until) instead"
    )
    with pytest.raises(
        FatalError, match=r"^Crossref sync: unknown /works filter\(s\) colour; known: "
    ):
        crossref_sync(filters={"colour": "blue", "type": "dataset"}, db=db)
    with pytest.raises(FatalError) as inverted:
        crossref_sync(since="2025-02-01", until="2025-01-31", db=db)
    assert str(inverted.value) == (
        "Crossref sync: since 2025-02-01 is after until 2025-01-31; give since to backfill an "
        "older window"
    )
    assert warehouse_rows(warehouse_location, "SELECT count(*) FROM runs") == [(0,)]
