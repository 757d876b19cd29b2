"""The Prefect flow of `biblioduck import` (deployment `import-files`); the work is
`flows.importing.run_import`, which the command line calls directly without a Prefect API."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.importing import run_import


@flow(name="import-files", log_prints=True)
def import_files(
    paths: list[str], fmt: str = "pubmed", db: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    """Load local files (or folders, or uncompressed tars of them) in format `fmt`.

    Each file loads in one transaction with its ledger row, prepared by `workers` processes
    in parallel (default: cores + 1). A file whose content is loaded already is skipped; a
    file with no record in it is refused (reported, nothing loaded) and the others still load.
    """
    return run_import(paths, fmt=fmt, db=db, workers=workers)
