"""Split a parsed batch into records to load and rows to quarantine, with Great Expectations.

The suites are the JSON files beside this module (one per validated table: `records`,
`authors`). A failing *critical* expectation quarantines the record with the names of what it
failed; a failing *warning* is counted in the batch summary and the record loads. A batch where
more than `max_failed_fraction` of the rows fail is rejected whole (`BatchRejectedError`): that
is a format change or a parser bug, not bad records, and must stop the run loudly.

Great Expectations is imported lazily (5-7 s) and validates pandas frames (`batch.validate`); its
SQL path on DuckDB is not used (it silently fails every expectation). Each suite's GX result
travels with its summary as JSON, for the Data Docs (`expectations.data_docs`).
"""

from __future__ import annotations

import datetime as dt
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from expectations.data_docs import result_json
from schemas.batch import QuarantinedRow, ValidatedBatch, ValidationSummary
from schemas.errors import FatalError
from schemas.record import Deletion, Record

if TYPE_CHECKING:
    import pandas as pd

SUITE_DIR = Path(__file__).resolve().parent
SUITES = ("records", "authors", "crossref")
# Suites every batch gets, and those only one source's batches get.
SHARED_SUITES = ("records", "authors")
SOURCE_SUITES = {"crossref": ("crossref",)}
ROW = "_row"  # the record's index in the batch: how failures find their record

# The earliest plausible publication year per source (the `min_year` suite parameter).
# A Pure portal's pages hold what its OAI-PMH records hold: the same bound.
# A landing page may be a digitised old work's, as a repository's record may.
# JATS holds scanned back issues (PMC's reach back to the 1600s, as Crossref's do).
MIN_YEAR = {
    "pubmed": 1800,
    "crossref": 1600,
    "jats": 1600,
    "oai": 1450,
    "pure": 1450,
    "landing": 1450,
}


class BatchRejectedError(FatalError):
    """Most rows of a batch failed validation: stop instead of quarantining a whole source."""


def load_suite_definition(name: str) -> dict[str, Any]:
    """The suite as kept in `expectations/<name>.json`."""
    with open(SUITE_DIR / f"{name}.json", encoding="utf-8") as handle:
        definition: dict[str, Any] = json.load(handle)
    return definition


# Packages Great Expectations imports with its core expectations but that our suites never
# run (altair draws charts, scipy backs the distribution expectations): ~76 MB of a worker's
# ~450 MB, measured (249 -> 173 MB after the suites are built).
UNUSED_AT_IMPORT = ("altair", "scipy")


class _LazyPackages(importlib.abc.MetaPathFinder):
    """Finds the modules of `packages` as usual, but runs each only when first used
    (`importlib.util.LazyLoader`): importing stays free, using them works as ever."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def _import_lazily(packages: tuple[str, ...]) -> None:
    """From now on, in this process, `packages` load on first use (once per process)."""
    if not any(isinstance(f, _LazyPackages) for f in sys.meta_path):
        sys.meta_path.insert(0, _LazyPackages(packages))


class _Validator:
    """A Great Expectations context with the suites built once per process."""

    def __init__(self) -> None:
        # Its INFO lines (temporary docs sites, …) say nothing a user of biblioduck can act on.
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # read when GE is imported
        _import_lazily(UNUSED_AT_IMPORT)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.context = gx.get_context(mode="ephemeral")
        # No usage statistics: this runs offline, in every worker, and sends nothing anywhere.
        self.context.enable_analytics(False)
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = self.context.data_sources.add_pandas("batches").add_dataframe_asset("frame")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self.suites = {}
        for name in SUITES:
            definition = load_suite_definition(name)
            expectations = [
                ExpectationConfiguration(
                    type=e["type"],
                    kwargs=e["kwargs"],
                    meta=e.get("meta", {}),
                    severity=e.get("severity", "critical"),
                ).to_domain_obj()
                for e in definition["expectations"]
            ]
            self.suites[name] = gx.ExpectationSuite(name=name, expectations=expectations)
        self.lock = threading.Lock()  # one ephemeral context; validations take turns

    def validate(
        self, suite_name: str, frame: pd.DataFrame, *, source: str
    ) -> tuple[dict[int, list[str]], dict[str, int], bool, str | None]:
        """Run one suite; return (critical failures by row, failing-row counts, success, GX's
        result as JSON for the Data Docs: `expectations.data_docs.result_json`)."""
        if frame.empty:
            return {}, {}, True, None
        with self.lock:
            batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(
                self.suites[suite_name],
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [ROW],
                },
                expectation_parameters={
                    "next_year": dt.date.today().year + 1,
                    "min_year": MIN_YEAR.get(source, 1800),
                },
            )
        by_row: dict[int, list[str]] = defaultdict(list)
        counts: dict[str, int] = {}
        for outcome in result.results:
            config = outcome.expectation_config
            if config is None:  # GE always sets it for suite results; guard the Optional type
                raise FatalError(f"suite {suite_name}: a result without its expectation")
            kwargs = config.kwargs
            column = kwargs.get("column") or f"{kwargs.get('column_A')},{kwargs.get('column_B')}"
            name = f"{suite_name}.{config.type}({column})"
            if outcome.exception_info and outcome.exception_info.get("raised_exception"):
                detail = outcome.exception_info["exception_message"]
                raise FatalError(f"expectation {name} could not run: {detail}")
            if outcome.success:
                continue
            rows = {int(item[ROW]) for item in outcome.result.get("unexpected_index_list") or []}
            severity = str(getattr(config.severity, "value", config.severity))
            counts[f"{name}[{severity}]"] = len(rows)
            if severity == "critical":
                for row in rows:
                    by_row[row].append(name)
        success = not any(k.endswith("[critical]") for k in counts)
        return dict(by_row), counts, success, result_json(result)


@cache
def _validator() -> _Validator:
    return _Validator()


def warm_up() -> None:
    """Import Great Expectations and build the suites now (5-7 s, once per process), e.g. in a
    worker process while the loader lists and downloads, rather than on the first batch."""
    _validator()


# Record types a source publishes without a title, so that lacking one is not a broken record:
# PubMed's published errata (an empty ArticleTitle, e.g. PMID 33977567 in pubmed21n1298),
# Crossref's issues, volumes and components (a figure or table of an article).
TITLE_OPTIONAL = {
    "pubmed": frozenset({"Published Erratum"}),
    "crossref": frozenset({"journal-issue", "journal-volume", "component"}),
}


def title_optional(record: Record) -> bool:
    """Whether `record`'s type is one its source publishes without a title."""
    optional = TITLE_OPTIONAL.get(record.source)
    return optional is not None and not optional.isdisjoint(record.publication_types)


def records_frame(records: list[Record], first_row: int = 0) -> pd.DataFrame:
    """The columns the `records` suite reads, one row per record (rows numbered on from
    `first_row`)."""
    import pandas as pd

    return pd.DataFrame(
        {
            ROW: range(first_row, first_row + len(records)),
            "source_id": [r.source_id for r in records],
            "pmid": [r.pmid for r in records],
            "doi": [r.doi for r in records],
            "issn": [r.issn for r in records],
            # A title is critical where the record's type requires one (`title_optional`);
            # every record without one is also counted (`untitled`, a warning).
            "has_title": [
                bool(r.title or r.vernacular_title) or title_optional(r) for r in records
            ],
            "untitled": [not (r.title or r.vernacular_title) for r in records],
            "pub_year": pd.array([r.pub_year for r in records], dtype="Int64"),
            "author_count": [len(r.authors) for r in records],
            "unreadable": [r.unreadable for r in records],
            "dropped_fields": [len(r.dropped) for r in records],
            # Drift names, for `drift_summary` (None for the records that carry none).
            "unknown": [r.unknown or None for r in records],
        }
    )


def authors_frame(records: list[Record], first_row: int = 0) -> pd.DataFrame:
    """One row per contributor; `expected_position` is what a contiguous list would have."""
    import pandas as pd

    rows: dict[str, list[Any]] = defaultdict(list)
    for index, record in enumerate(records, start=first_row):
        seen: Counter[str] = Counter()
        for author in record.authors:
            seen[author.role] += 1
            rows[ROW].append(index)
            rows["position"].append(author.position)
            rows["expected_position"].append(seen[author.role])
            rows["name"].append(author.name)
            rows["role"].append(author.role)
            rows["orcid"].append(author.orcid)
    columns = [ROW, "position", "expected_position", "name", "role", "orcid"]
    return pd.DataFrame({c: rows.get(c, []) for c in columns})


def crossref_frame(records: list[Record], first_row: int = 0) -> pd.DataFrame:
    """What the `crossref` suite reads: the id, DOI, version, type and citation count."""
    import pandas as pd

    citations = [next((m.value for m in r.metrics if m.name == "citations"), None) for r in records]
    return pd.DataFrame(
        {
            ROW: range(first_row, first_row + len(records)),
            "source_id": [r.source_id for r in records],
            "doi": [r.doi for r in records],
            "source_version": [r.source_version for r in records],
            "crossref_type": [
                r.publication_types[0] if r.publication_types else None for r in records
            ],
            "citations": pd.array(citations, dtype="Int64"),
        }
    )


FRAMES = {"records": records_frame, "authors": authors_frame, "crossref": crossref_frame}


def superseded_rows(rows: Sequence[int], ids: Sequence[Hashable | None]) -> set[int]:
    """The one place that decides which copy of a source id an input loads: of the rows of one
    input (a file, a sync group of pages, an import), in order, those whose id (`ids[i]`) a
    later row carries again. The last copy is the newer version and is validated and loaded;
    the earlier ones are recorded as superseded versions, never dropped silently. Rows without
    an id are never superseded."""
    last: dict[Hashable, int] = {}
    for row, key in zip(rows, ids, strict=True):
        if key is not None:
            last[key] = row
    winners = set(last.values())
    return {
        row for row, key in zip(rows, ids, strict=True) if key is not None and row not in winners
    }


def last_copies(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """(the last copy of each id, in order; the earlier copies it supersedes), by
    `superseded_rows`."""
    ids = [(r.source, r.source_id) if r.source_id is not None else None for r in records]
    superseded = superseded_rows(range(len(records)), ids)
    if not superseded:
        return records, []
    return (
        [r for i, r in enumerate(records) if i not in superseded],
        [r for i, r in enumerate(records) if i in superseded],
    )


def suites_for(source: str) -> tuple[str, ...]:
    """The suites a batch of `source` is validated with."""
    return SHARED_SUITES + SOURCE_SUITES.get(source, ())


def validation_frames(
    records: list[Record], *, source: str, first_row: int = 0
) -> dict[str, pd.DataFrame]:
    """The frames the source's suites read, rows numbered on from `first_row`. Frames of
    consecutive chunks concatenate into the frames of their whole (a bulk file)."""
    return {name: FRAMES[name](records, first_row) for name in suites_for(source)}


def validate_frames(
    frames: dict[str, pd.DataFrame],
    *,
    records: int,
    source: str,
    batch_id: str,
    max_failed_fraction: float = 0.5,
    min_failed_to_reject: int = 10,
) -> tuple[dict[int, list[str]], list[ValidationSummary]]:
    """Run each suite once over its frame; return (failed expectations by row, summaries).
    Raise `BatchRejectedError` when most of the `records` rows fail.

    A handful of bad records (fewer than `min_failed_to_reject`) is always quarantined rather
    than rejected, so a short last page with one bad record cannot block a nightly sync."""
    validator = _validator()
    summaries = []
    failed: dict[int, list[str]] = defaultdict(list)
    for suite_name, frame in frames.items():
        by_row, counts, success, result = validator.validate(suite_name, frame, source=source)
        for row, names in by_row.items():
            failed[row].extend(names)
        summaries.append(
            ValidationSummary(
                suite=suite_name,
                rows=len(frame),
                failed_rows=len(by_row),
                success=success,
                failures=counts,
                result=result,
            )
        )
    _name_unreadable(frames.get("records"), failed)
    drift = drift_summary(frames.get("records"))
    if drift is not None:
        summaries.append(drift)
    if len(failed) >= min_failed_to_reject and len(failed) > max_failed_fraction * records:
        top = Counter(name for names in failed.values() for name in names).most_common(3)
        reasons = "; ".join(f"{name}: {n} rows" for name, n in top)
        raise BatchRejectedError(
            f"{source} batch {batch_id}: {len(failed)} of {records} records failed "
            f"validation (limit {max_failed_fraction:.0%}), so nothing from it was loaded. "
            f"Most common failures: {reasons}. This usually means the source changed its "
            "format or the parser has a bug; fix that, then re-run (loaded batches are kept)."
        )
    return {row: sorted(set(names)) for row, names in failed.items()}, summaries


UNREADABLE = "records.expect_column_values_to_be_null(unreadable)"
# The summary of a batch's drift: `failures` maps each name its records carried that the parser
# does not know ("element MedlineCitation/NewThing", "key new-key") to how many records carried
# it. Not an expectation: nothing is quarantined for it (warehouse.drift keeps it per run).
DRIFT_SUITE = "drift"


def drift_summary(frame: pd.DataFrame | None) -> ValidationSummary | None:
    """The drift of the records of `frame` (its `unknown` column), or None when it has none."""
    if frame is None or "unknown" not in frame.columns:
        return None
    carrying: Counter[str] = Counter()
    rows = 0
    for names in frame["unknown"]:
        if isinstance(names, list) and names:  # None, or NaN where frames were concatenated
            rows += 1
            carrying.update(set(names))
    if not rows:
        return None
    return ValidationSummary(
        suite=DRIFT_SUITE,
        rows=len(frame),
        failed_rows=rows,
        success=True,
        failures=dict(sorted(carrying.items())),
    )


def _name_unreadable(frame: pd.DataFrame | None, failed: dict[int, list[str]]) -> None:
    """An unreadable row's failures are that expectation and the parser's reason
    ("unreadable: NaN (not allowed in JSON) in is-referenced-by-count"): the name alone does
    not say what to fix, and the row's other failures (no title…) only follow from it."""
    if frame is None or "unreadable" not in frame.columns:
        return
    for row, reason in zip(frame[ROW], frame["unreadable"], strict=True):
        if isinstance(reason, str):  # None, or NaN where frames were concatenated
            failed[int(row)] = [UNREADABLE, f"unreadable: {reason}"]


def validate_batch(
    items: list[Record | Deletion],
    *,
    source: str,
    batch_id: str,
    max_failed_fraction: float = 0.5,
    min_failed_to_reject: int = 10,
) -> ValidatedBatch:
    """Validate a parsed batch, the last copy of each id (`last_copies`: the earlier ones are
    returned as `superseded`); raise `BatchRejectedError` when most of it fails."""
    records, superseded = last_copies([i for i in items if isinstance(i, Record)])
    deletions = [i for i in items if isinstance(i, Deletion)]
    failed, summaries = validate_frames(
        validation_frames(records, source=source),
        records=len(records),
        source=source,
        batch_id=batch_id,
        max_failed_fraction=max_failed_fraction,
        min_failed_to_reject=min_failed_to_reject,
    )
    good = [r for i, r in enumerate(records) if i not in failed]
    quarantined = [
        QuarantinedRow(
            source=records[i].source,
            source_id=records[i].source_id,
            row_in_batch=i,
            failed_expectations=failed[i],
            raw=records[i].raw,
        )
        for i in sorted(failed)
    ]
    return ValidatedBatch(
        records=good,
        deletions=deletions,
        quarantined=quarantined,
        summaries=summaries,
        superseded=superseded,
    )


@dataclass(slots=True)
class FileValidation:
    """A whole bulk file validated: failed critical expectations by file row, the rows a later
    record with the same id supersedes (`superseded_rows`), and one summary per suite."""

    failed: dict[int, list[str]]
    superseded: set[int]
    summaries: list[ValidationSummary]


def validate_file(
    frames: dict[str, list[pd.DataFrame]],
    *,
    records: int,
    source: str,
    batch_id: str,
    max_failed_fraction: float = 0.5,
) -> FileValidation:
    """Validate a file's records as one batch, from the frames of its chunks in file order
    (`validation_frames`, rows numbered by file row): the last record per id counts (as the
    loader applies records in file order, an earlier one would be replaced at once), the
    earlier ones are superseded, not validated. Raises `BatchRejectedError` as
    `validate_frames` does."""
    import pandas as pd

    whole = {
        name: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        for name, parts in frames.items()
    }
    superseded: set[int] = set()
    if "records" in whole and len(whole["records"]):
        ids = whole["records"]["source_id"]
        superseded = superseded_rows(
            [int(row) for row in whole["records"][ROW].tolist()],
            [None if pd.isna(value) else value for value in ids.tolist()],
        )
    if superseded:
        whole = {
            name: frame[~frame[ROW].isin(superseded)].reset_index(drop=True)
            for name, frame in whole.items()
        }
    failed, summaries = validate_frames(
        whole,
        records=records - len(superseded),
        source=source,
        batch_id=batch_id,
        max_failed_fraction=max_failed_fraction,
    )
    return FileValidation(failed=failed, superseded=superseded, summaries=summaries)
