"""`biblioduck import`, the work itself (without Prefect: the command line runs it directly when
no Prefect API is configured; `flows.imports.import_files` is its Prefect flow): local files of
any format, loaded by the bulk path (worker processes
prepare files in parallel, the one writer loads each in one transaction with its ledger row).

What a user may give: files (plain or gzip), and folders of them — Crossref's public data file
is a folder (or an uncompressed tar) of `N.json.gz` parts of a few thousand works each, loaded
part by part: an interrupted import resumes where it stopped. A file is known by its content
(MD5, as NLM's sidecars give it): importing a file whose content is loaded already does
nothing, and says so.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows import pipeline, progress
from flows.jobs import FileToLoad, LocalFile, TarMember
from flows.orchestration import publish_summary, run_logger
from flows.settings import load_settings
from flows.summary import RUN_FIELDS, summary_markdown
from processes import memory
from schemas.errors import FatalError, UsageError
from warehouse.store import IMPORT_KIND, LedgerEntry, Warehouse

if TYPE_CHECKING:
    from flows.file_loads import FilesOutcome

# NLM's bulk file names (`connectors.pubmed.files.BULK_NAME_RE`, which imports an HTTP client:
# a test holds the two equal).
NLM_FILE_NAME = re.compile(r"pubmed(\d{2})n(\d{4})\.xml\.gz")

# The formats `import` reads (`flows.pipeline.PARSERS`: a test holds the two equal), and the
# files a folder (or tar) contributes to each, by name ending; files named one by one are
# taken whatever their names.
SUFFIXES = {
    "pubmed": (".xml", ".xml.gz"),
    "crossref": (".json", ".json.gz", ".jsonl", ".jsonl.gz"),
    "oai": (".xml", ".xml.gz"),
    "jats": (".xml", ".nxml", ".xml.gz", ".tar.gz", ".tgz"),
    "html": (".html", ".htm"),
    "pure": (".html", ".htm"),
}
_HASH_BLOCK = 1 << 20


def check_import(paths: Iterable[str | Path], fmt: str) -> None:
    """Raises `UsageError` for a format `import` does not know, or a path that is neither a
    file nor a folder (cheap: the command line asks before any work starts)."""
    if fmt not in SUFFIXES:
        raise UsageError(f"unknown format {fmt!r}; known: {', '.join(sorted(SUFFIXES))}")
    for given in paths:
        path = Path(given)
        if not (path.is_file() or path.is_dir()):
            raise UsageError(f"import: no such file or folder: {path}")


def _natural_key(path: Path) -> list[Any]:
    """Sort key: `2.json.gz` before `10.json.gz`; NLM's files in NLM's order."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def files_to_import(paths: Iterable[str | Path], fmt: str) -> list[FileToLoad]:
    """The files of an import, in order: each file given, each data file in a folder given
    (recursively, natural order), each member of an uncompressed tar given; every one with
    its content's MD5."""
    jobs: list[FileToLoad] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = (
                p
                for p in path.rglob("*")
                if p.is_file() and not p.name.startswith(".") and p.name.endswith(SUFFIXES[fmt])
            )
            jobs += [
                LocalFile(p, _ledger_name(p.relative_to(path.parent)), fmt, file_md5(p))
                for p in sorted(found, key=_natural_key)
            ]
        elif _is_tar(path):
            jobs += list(_tar_members(path, fmt))
        else:
            jobs.append(LocalFile(path, path.name, fmt, file_md5(path)))
    return jobs


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _is_tar(path: Path) -> bool:
    # A gzip file is never taken for a tar here: tarfile would decompress it whole to look.
    with open(path, "rb") as handle:
        if handle.read(2) == b"\x1f\x8b":
            return False
    return tarfile.is_tarfile(path)


def _tar_members(path: Path, fmt: str) -> Iterator[TarMember]:
    """The data files of an uncompressed tar, each read in place by the worker that prepares
    it (a compressed tar cannot be read member by member out of order: it is refused)."""
    with tarfile.open(path, mode="r:") as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.isfile() and Path(m.name).name.endswith(SUFFIXES[fmt])
        ]
        for member in sorted(members, key=lambda m: _natural_key(Path(m.name))):
            digest = hashlib.md5(usedforsecurity=False)
            with archive.extractfile(member) as handle:  # type: ignore[union-attr]
                while block := handle.read(_HASH_BLOCK):
                    digest.update(block)
            yield TarMember(
                path,
                _ledger_name(Path(member.name)),
                member.offset_data,
                member.size,
                fmt,
                digest.hexdigest(),
            )


def _ledger_name(relative: Path) -> str:
    """A file's ledger name: its path from the folder given (or in the tar), so that two parts
    named alike in two folders stay apart; NLM's files are known by their bare names (as a
    backfill records them)."""
    if NLM_FILE_NAME.fullmatch(relative.name):
        return relative.name
    return relative.as_posix()


def ledger_entry(job: FileToLoad) -> LedgerEntry:
    """An imported file's ledger row: NLM's files keep their place in NLM's order (their
    deletions then bury older copies, as a backfill's do); other files have none."""
    match = NLM_FILE_NAME.fullmatch(job.name)
    if match is not None:
        return LedgerEntry(job.name, IMPORT_KIND, int(match[1]), int(match[2]), job.md5)
    return LedgerEntry(job.name, IMPORT_KIND, 0, 0, job.md5)


def _loaded_md5s(db: Path) -> dict[str, str]:
    """MD5 -> name of every file the warehouse's ledger holds as loaded."""
    with Warehouse(db) as warehouse:
        return {
            row["md5"]: name
            for name, row in warehouse.ledger().items()
            if row["status"] == "loaded"
        }


def _in_given_order(
    jobs: list[FileToLoad],
    todo: list[FileToLoad],
    loaded_before: dict[str, str],
    outcome: FilesOutcome | None,
) -> list[dict[str, Any]]:
    """One entry per file of the import, in the order given: `status` is loaded (with its
    counts), refused (no record in it), or already loaded (`as`: the file whose load holds
    its content, earlier or in this import)."""
    by_job: dict[int, dict[str, Any]] = {}
    if outcome is not None:
        for entry in outcome.files:
            by_job[id(todo[entry["position"]])] = {**entry, "status": "loaded"}
        for position in outcome.refused:
            by_job[id(todo[position])] = {"file": todo[position].name, "status": "refused"}
    entries = []
    for job in jobs:
        if id(job) in by_job:
            entry = by_job[id(job)]
            entry.pop("position", None)
        else:
            entry = {"file": job.name, "status": "already loaded", "as": loaded_before[job.md5]}
        entries.append(entry)
    return entries


def run_import(
    paths: list[str], *, fmt: str = "pubmed", db: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    """Load local files (or folders, or uncompressed tars of them) in format `fmt`; see
    `flows.imports.import_files`."""
    logger = run_logger()
    memory.tune_gc()
    check_import(paths, fmt)
    settings = load_settings(db=db, workers=workers)
    started = time.perf_counter()
    jobs = files_to_import(paths, fmt)
    if not jobs:
        raise FatalError(f"import: no {fmt} file in {', '.join(map(str, paths))}")
    holder = _loaded_md5s(settings.db)  # md5 -> the file that holds, or will hold, it
    todo: list[FileToLoad] = []
    for job in jobs:  # a content given twice loads once
        if job.md5 in holder:
            progress.file_outcome(
                {"file": job.name, "status": "already loaded", "as": holder[job.md5]}
            )
        else:
            holder[job.md5] = job.name
            todo.append(job)
    logger.info("import: %d files, %d already loaded", len(jobs), len(jobs) - len(todo))
    parameters = {"paths": paths, "format": fmt, "files": len(jobs), "to_load": len(todo)}
    outcome: FilesOutcome | None = None
    if todo:
        from flows.file_loads import load_files

        outcome = load_files(
            settings,
            todo,
            ledger_entry,
            source=pipeline.source_of(fmt),
            flow_kind="import",
            parameters=parameters,
            label=f"import ({fmt})",
        )
        run = outcome.run
    else:  # nothing to load: the run row alone says the import happened
        with Warehouse(settings.db) as warehouse:
            run = warehouse.finish_run(
                warehouse.start_run(pipeline.source_of(fmt), "import", parameters),
                status="completed",
            )
    files = _in_given_order(jobs, todo, holder, outcome)
    refused = [f["file"] for f in files if f["status"] == "refused"]
    publish_summary(
        key="import-summary",
        markdown=summary_markdown(
            "Import",
            run,
            {
                "files loaded": ", ".join(f["file"] for f in files if f["status"] == "loaded")
                or "none",
                "already loaded": str(sum(f["status"] == "already loaded" for f in files)),
                "refused (no record)": ", ".join(refused) or "none",
            },
        ),
    )
    return {
        **{k: run[k] for k in RUN_FIELDS},
        "files": files,
        "refused": refused,
        "seconds": round(time.perf_counter() - started, 2),
    }
