"""Typed settings, read from the environment and `.env`. Secrets are `SecretStr`: they print as
'**********' and are handed to connectors, never to Prefect parameters, logs or the warehouse."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from warehouse.location import is_lake

# Bulk loads into a DuckLake: see `Settings.bulk_memory_limit`.
LAKE_BULK_MEMORY_LIMIT = "512MB"

NCBI_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


def _usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Everything a run can be configured with. Environment names are given per field."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    db: Path = Field(
        default=Path("data/biblioduck.duckdb"),
        validation_alias=AliasChoices("BIBLIODUCK_DB", "db"),
        description="The DuckDB warehouse file.",
    )
    eutils_url: str = Field(
        default=NCBI_EUTILS_URL,
        validation_alias=AliasChoices("BIBLIODUCK_EUTILS_URL", "eutils_url"),
        description="E-utilities base URL (the sandbox emulator sets its own).",
    )
    ncbi_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NCBI_API_KEY", "BIBLIODUCK_NCBI_API_KEY", "ncbi_api_key"),
        description="NCBI api_key: 10 requests/s instead of 3. A secret.",
    )
    ncbi_email: str = Field(
        default="biblioduck@example.org",
        validation_alias=AliasChoices("NCBI_EMAIL", "BIBLIODUCK_NCBI_EMAIL", "ncbi_email"),
        description="Contact address NCBI asks every client to send (set your own).",
    )
    ncbi_tool: str = Field(
        default="biblioduck",
        validation_alias=AliasChoices("NCBI_TOOL", "BIBLIODUCK_NCBI_TOOL", "ncbi_tool"),
    )
    eutils_batch_size: int = Field(
        default=500,
        ge=1,
        le=10000,
        validation_alias=AliasChoices("BIBLIODUCK_EUTILS_BATCH_SIZE", "eutils_batch_size"),
        description="Records per efetch request.",
    )
    pubmed_datetype: str = Field(
        default="mdat",
        pattern="^(mdat|edat|pdat)$",
        validation_alias=AliasChoices("BIBLIODUCK_PUBMED_DATETYPE", "pubmed_datetype"),
        description="Date that makes PubMed syncs incremental: mdat catches revised records too.",
    )
    crossref_url: str = Field(
        default="https://api.crossref.org",
        validation_alias=AliasChoices("BIBLIODUCK_CROSSREF_URL", "crossref_url"),
        description="Crossref REST API base URL.",
    )
    crossref_mailto: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "CROSSREF_MAILTO", "BIBLIODUCK_CROSSREF_MAILTO", "crossref_mailto"
        ),
        description="Contact address for Crossref's polite pool (defaults to NCBI_EMAIL).",
    )
    crossref_rows: int = Field(
        default=1000,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("BIBLIODUCK_CROSSREF_ROWS", "crossref_rows"),
        description="Works per Crossref page.",
    )
    oai_repositories: list[dict[str, Any]] = Field(
        default_factory=list,
        validation_alias=AliasChoices("BIBLIODUCK_OAI_REPOSITORIES", "oai_repositories"),
        description="Nightly OAI-PMH harvests, JSON: "
        '[{"endpoint": "https://…/oai", "metadata_prefix": "oai_dc", "set": null}]',
    )
    oai_requests_per_second: float = Field(
        default=1.0,
        gt=0,
        validation_alias=AliasChoices(
            "BIBLIODUCK_OAI_REQUESTS_PER_SECOND", "oai_requests_per_second"
        ),
        description="Requests per second to one OAI-PMH repository.",
    )
    landing_doi_resolver: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BIBLIODUCK_DOI_RESOLVER", "landing_doi_resolver"),
        description="Where DOIs resolve to their landing pages (default https://doi.org).",
    )
    landing_requests_per_second: float = Field(
        default=1.0,
        gt=0,
        validation_alias=AliasChoices(
            "BIBLIODUCK_LANDING_REQUESTS_PER_SECOND", "landing_requests_per_second"
        ),
        description="Requests per second to one publisher's host (landing pages).",
    )
    landing_max_page_bytes: int = Field(
        default=10 << 20,
        gt=0,
        validation_alias=AliasChoices(
            "BIBLIODUCK_LANDING_MAX_PAGE_BYTES", "landing_max_page_bytes"
        ),
        description="A landing page larger than this is refused.",
    )
    pubmed_files_url: str = Field(
        default="https://ftp.ncbi.nlm.nih.gov/pubmed",
        validation_alias=AliasChoices("BIBLIODUCK_PUBMED_FILES_URL", "pubmed_files_url"),
        description="NLM's bulk file server (baseline/ and updatefiles/ below it).",
    )
    download_dir: Path = Field(
        default=Path("data/downloads"),
        validation_alias=AliasChoices("BIBLIODUCK_DOWNLOAD_DIR", "download_dir"),
        description="Where bulk files are downloaded (each is deleted once loaded).",
    )
    workers: int = Field(
        # One per core, plus one: measured on 2 cores (eight-file e2e, docs/performance.md), 3
        # workers gave 4,324-4,986 records/s steady (a whole baseline in 2.23-2.57 h, four runs)
        # and 2 gave 3,307-4,635 (2.40-3.36 h, eight runs), for ~500 MB more. Why is not
        # established (the cores were already 96-100 % busy with 2): measured, not explained.
        default_factory=lambda: _usable_cores() + 1,
        ge=0,
        validation_alias=AliasChoices("BIBLIODUCK_WORKERS", "workers"),
        description="Processes that download, parse and validate files in parallel "
        "(0: all in the loading process; default: one per core, plus one).",
    )
    dask_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BIBLIODUCK_DASK_ADDRESS", "dask_address"),
        description="Prepare bulk files as Prefect tasks on Dask (prefect-dask's "
        "DaskTaskRunner) instead of local processes: a scheduler address (tcp://host:8786), "
        "or 'local' for a local Dask cluster of `workers` processes. The download directory "
        "must then be on storage that the Dask workers and the loader share.",
    )
    bulk_memory_limit: str = Field(
        default="128MB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        validation_alias=AliasChoices("BIBLIODUCK_BULK_MEMORY_LIMIT", "bulk_memory_limit"),
        description="DuckDB memory limit while loading bulk files. A file loads in one "
        "transaction; DuckDB writes its rows out 16,384 at a time before the commit, so what a "
        "file needs does not grow with its size: measured, 41,576 recent records load at 80MB, "
        "pubmed20n0014 at 96MB (not 64MB). Also DuckDB's cache: 256MB took no less CPU, and "
        "120 MB more of the loader's peak. On a DuckLake (--db ducklake:…) the default is "
        f"{LAKE_BULK_MEMORY_LIMIT}: a lake holds a file's rows until the commit writes them as "
        "Parquet (measured: 20,783 recent records refused at 128MB; 30,000 of 1979 load at "
        "256MB, 480 MB peak).",
    )
    http_max_attempts: int = Field(
        default=6, ge=1, validation_alias=AliasChoices("BIBLIODUCK_HTTP_MAX_ATTEMPTS")
    )
    http_backoff_base: float = Field(
        default=1.0, ge=0, validation_alias=AliasChoices("BIBLIODUCK_HTTP_BACKOFF_BASE")
    )
    max_failed_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        validation_alias=AliasChoices("BIBLIODUCK_MAX_FAILED_FRACTION"),
        description="A batch with more failing rows than this fails loudly instead of loading.",
    )
    # Great Expectations costs ~0.13 s per suite and call whatever the batch (measured): page
    # by page, 100-record OAI-PMH pages spent 2.5 ms per record in it. See flows.tasks.in_groups.
    # Works and the search index are rebuilt whole after each load (incremental upkeep is to
    # come; measured ~0.2 ms per record for both, so ~3 min at 1M): past this many current
    # records, a load leaves them for `works build` / `index`.
    derive_max_records: int = Field(
        default=1_000_000,
        ge=0,
        validation_alias=AliasChoices("BIBLIODUCK_DERIVE_MAX_RECORDS"),
        description="After a load, works and the search index are rebuilt when the warehouse "
        "holds at most this many current records (0: never after a load).",
    )
    derive_memory_limit: str = Field(
        default="2GB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        validation_alias=AliasChoices("BIBLIODUCK_DERIVE_MEMORY_LIMIT"),
        description="DuckDB memory while works and the search index are brought up to date "
        "after a load (and by `works build` / `index`): measured at 1M records, an update of "
        "30,000 changed records and the index rebuild each fail at 256MB; at 50,783 the index "
        "rebuild needs more than 256MB too.",
    )
    sync_group_records: int = Field(
        default=5000,
        ge=1,
        validation_alias=AliasChoices("BIBLIODUCK_SYNC_GROUP_RECORDS"),
        description="A sync validates and loads its pages in groups of about this many records, "
        "each in one transaction with the sync state (a failed run resumes after the last group).",
    )


def bulk_memory_limit(settings: Settings) -> str:
    """The memory limit bulk loads run with: the configured one, else the backend's default."""
    if "bulk_memory_limit" not in settings.model_fields_set and is_lake(settings.db):
        return LAKE_BULK_MEMORY_LIMIT
    return settings.bulk_memory_limit


def load_settings(**overrides: object) -> Settings:
    """Settings from environment/.env, with explicit overrides (CLI options) on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
