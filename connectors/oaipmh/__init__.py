"""OAI-PMH 2.0 repositories (Zenodo, DSpace, Elsevier Pure portals…): a harvesting client that
yields pages (raw bytes + checkpoint) or records, and pure parsers for oai_dc, DataCite and
Pure's MODS into the canonical `Record` (deleted headers become `Deletion`s).

    client = OaiClient("https://zenodo.org/oai2d")
    for page in client.list_record_pages("oai_dc", from_=watermark):
        load(page.records())            # Records and Deletions, each version once
        save_checkpoint(page.resume_from)
"""

from connectors.oaipmh.client import DateLike, OaiClient, OaiPage, format_datestamp
from connectors.oaipmh.envelope import (
    MetadataFormat,
    OaiHeader,
    OaiSet,
    RepositoryInfo,
    ResumptionToken,
)
from connectors.oaipmh.errors import (
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoMetadataFormats,
    NoRecordsMatch,
    NoSetHierarchy,
    OaiProtocolError,
    UnsupportedMetadataError,
)
from connectors.oaipmh.parse import (
    SOURCE,
    oai_source_id,
    parse_record,
    parse_records,
    split_source_id,
)

__all__ = [
    "SOURCE",
    "BadArgument",
    "BadResumptionToken",
    "BadVerb",
    "CannotDisseminateFormat",
    "DateLike",
    "IdDoesNotExist",
    "MetadataFormat",
    "NoMetadataFormats",
    "NoRecordsMatch",
    "NoSetHierarchy",
    "OaiClient",
    "OaiHeader",
    "OaiPage",
    "OaiProtocolError",
    "OaiSet",
    "RepositoryInfo",
    "ResumptionToken",
    "UnsupportedMetadataError",
    "format_datestamp",
    "oai_source_id",
    "parse_record",
    "parse_records",
    "split_source_id",
]
