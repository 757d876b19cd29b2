"""The generated inputs of `benchmarks ways-in`, scaled deterministically from the sandbox's
generators, and the files made of them: the same records are served by the emulators, written
as files to import, and read by the raw baselines.

- PubMed: `sandbox.corpus.synthetic_corpus(n)` (the sandbox's load-test corpus: consecutive
  PMIDs, ~88 % of them on one day, so a sync splits by date and then by term).
- Crossref: the 150 works of `sandbox.crossref_corpus.crossref_demo_corpus()`, then copies of them
  under new DOIs (links between the works of one copy renamed alike) until `n`. The copies
  leave out the 1,200-author consortium paper: one work in 150 with 1,200 authors would be
  most of the bytes, which is not what Crossref's works look like.
- OAI-PMH: `sandbox.pure_corpus.pure_items(n)`, the Pure-like portal's seed record and `n`
  generated outputs, one in 200 of them deleted.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

from sandbox.oaipmh import GeneratedRepository, OaiItem, RepositoryIdentity

OAI_PAGE_SIZE = 100  # records per ListRecords page (DSpace's default; Pure's is similar)
CROSSREF_FILE_WORKS = 2_500  # works per `{"items": [...]}` file imported with --format crossref
CROSSREF_TREE_PART_WORKS = 5_000  # works per N.json.gz part of the public-data-file tree
MAX_AUTHORS_IN_COPIES = 100
GZIP_LEVEL = 6
_TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")


def gzip_writer(path: Path) -> IO[bytes]:
    """A gzip file written at a moderate level (level 9 made 100,000 works slow to write)."""
    return cast(IO[bytes], gzip.open(path, "wb", compresslevel=GZIP_LEVEL))


# ---------------------------------------------------------------------------------------------
# PubMed
# ---------------------------------------------------------------------------------------------


def write_pubmed_sync_corpus(n: int, path: Path) -> int:
    """The article set of the `n` records the E-utilities emulator serves (same bytes per
    record), gzipped; returns the number of records."""
    from sandbox.corpus import pubmed_article_set, synthetic_corpus

    corpus = synthetic_corpus(n)
    with gzip_writer(path) as out:
        out.write(pubmed_article_set(record.xml for record in corpus))
    return len(corpus)


# ---------------------------------------------------------------------------------------------
# Crossref
# ---------------------------------------------------------------------------------------------


def _renamed(value: Any, dois: Mapping[str, str]) -> Any:
    """A deep copy of a work with every DOI of `dois` (lower-case keys) replaced, also as a
    doi.org URL."""
    if isinstance(value, dict):
        return {key: _renamed(item, dois) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, dois) for item in value]
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in dois:
            return dois[lowered]
        if lowered.startswith("https://doi.org/") and lowered[16:] in dois:
            return "https://doi.org/" + dois[lowered[16:]]
    return value


def crossref_works(n: int) -> Iterator[dict[str, Any]]:
    """`n` Crossref works: the demo corpus, then renamed copies of its typical works."""
    from sandbox.crossref_corpus import crossref_demo_corpus

    demo = crossref_demo_corpus()
    yield from demo[:n]
    typical = [w for w in demo if len(w.get("author", [])) <= MAX_AUTHORS_IN_COPIES]
    made, copy = min(n, len(demo)), 0
    while made < n:
        copy += 1
        dois = {str(w["DOI"]).lower(): f"{w['DOI']}.c{copy}" for w in demo}
        for work in typical[: n - made]:
            yield _renamed(work, dois)
        made += min(len(typical), n - made)


def work_line(work: Mapping[str, Any]) -> bytes:
    """One work's JSON, as the files and the raw baseline hold it."""
    return json.dumps(work, ensure_ascii=False, separators=(",", ":")).encode()


def write_crossref(
    works: Iterable[Mapping[str, Any]], folder: Path, per_file: int, *, name: str
) -> tuple[Path, list[Path], int]:
    """Write `works` twice: as `{"items": [...]}` .json.gz files of `per_file` works in
    `folder` (named like the public data file's parts, `0.json.gz`, `1.json.gz`, …, when
    `name` is empty, else `{name}-0001.json.gz`), and as one JSON-lines .gz beside `folder`
    for the raw baseline. Returns (JSON-lines path, files, works)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines_path = folder.parent / f"{folder.name}.jsonl.gz"
    files: list[Path] = []
    count = 0
    part: IO[bytes] | None = None
    with gzip_writer(lines_path) as lines:
        for work in works:
            line = work_line(work)
            lines.write(line + b"\n")
            if count % per_file == 0:
                if part is not None:
                    part.write(b"]}\n")
                    part.close()
                number = len(files)
                files.append(
                    folder / (f"{name}-{number + 1:04d}.json.gz" if name else f"{number}.json.gz")
                )
                part = gzip_writer(files[-1])
                part.write(b'{"items":[')
            else:
                assert part is not None
                part.write(b",")
            part.write(line)
            count += 1
    if part is not None:
        part.write(b"]}\n")
        part.close()
    return lines_path, files, count


# ---------------------------------------------------------------------------------------------
# OAI-PMH
# ---------------------------------------------------------------------------------------------


class ListedRepository(GeneratedRepository):
    """The generated repository with its list order computed once: the items never change in
    a benchmark, and sorting 20,000 of them for every page was the emulator's main cost."""

    def __init__(self, items: Iterable[OaiItem], **kwargs: Any) -> None:
        super().__init__(items, **kwargs)
        self._listed = GeneratedRepository.items.fget(self)  # type: ignore[attr-defined]

    @property
    def items(self) -> list[OaiItem]:
        return list(self._listed)


def oai_repository(n: int, *, page_size: int = OAI_PAGE_SIZE) -> ListedRepository:
    """The Pure-like portal with `n` generated outputs (one in 200 deleted) and the seed."""
    from sandbox.pure_corpus import FORMATS, PORTAL_HOST, SEED_IDENTIFIER, pure_items

    items = pure_items(n, deleted=n // 200)
    return ListedRepository(
        items,
        identity=RepositoryIdentity(
            repository_name="Sandbox University Research Portal (benchmark)",
            admin_email=f"pure-support@{PORTAL_HOST}",
            repository_identifier=PORTAL_HOST,
            sample_identifier=SEED_IDENTIFIER,
        ),
        formats=FORMATS,
        page_size=page_size,
    )


def write_oai_pages(repository: GeneratedRepository, folder: Path, prefix: str) -> list[Path]:
    """The ListRecords pages a harvest of `repository` receives, saved one file per page."""
    folder.mkdir(parents=True, exist_ok=True)
    base_url = "http://127.0.0.1/pure/ws/oai"
    params = {"verb": ["ListRecords"], "metadataPrefix": [prefix]}
    pages: list[Path] = []
    while True:
        reply = repository.answer(params, base_url)
        if reply.status != 200:
            raise RuntimeError(f"the OAI-PMH repository answered {reply.status}")
        pages.append(folder / f"ListRecords-{len(pages) + 1:04d}.xml")
        pages[-1].write_bytes(reply.body)
        token = _TOKEN.search(reply.body)
        if token is None:
            return pages
        params = {"verb": ["ListRecords"], "resumptionToken": [token[1].decode()]}
