"""PubMed: the E-utilities client, NLM's bulk files, and the streaming XML parser."""

from connectors.pubmed.client import EfetchPage, EutilsClient, QuerySlice, SearchResult
from connectors.pubmed.parse import iter_pubmed_records

__all__ = ["EfetchPage", "EutilsClient", "QuerySlice", "SearchResult", "iter_pubmed_records"]
