"""What an OAI-PMH repository serves, as plain data: items, metadata formats, identity. Shared by
the OAI-PMH emulator (`sandbox.oaipmh`) and the corpora it serves (`sandbox.pure_corpus`), so
that neither has to import the other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["OaiFormat", "OaiItem", "RepositoryIdentity"]


@dataclass(frozen=True, slots=True)
class OaiItem:
    """One item: identifier, datestamp (YYYY-MM-DDThh:mm:ssZ), setSpecs, deleted flag, and its
    metadata element (bytes, no XML declaration) per metadataPrefix."""

    identifier: str
    datestamp: str
    set_specs: tuple[str, ...] = ()
    deleted: bool = False
    metadata: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OaiFormat:
    """A metadata format the repository offers."""

    prefix: str
    schema: str
    namespace: str


@dataclass(frozen=True, slots=True)
class RepositoryIdentity:
    """What Identify says (earliestDatestamp is computed from the items when None)."""

    repository_name: str
    admin_email: str
    repository_identifier: str  # the oai-identifier namespace, e.g. pure.sandbox.example
    sample_identifier: str
    granularity: str = "YYYY-MM-DDThh:mm:ssZ"
    deleted_record: str = "persistent"
    earliest_datestamp: str | None = None
