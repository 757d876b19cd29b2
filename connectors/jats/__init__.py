"""JATS: journal articles' XML as publishers and PubMed Central write it (JATS 1.x, NLM
Archiving 2.3/3.0): one article, a `pmc-articleset` (`efetch db=pmc`), or a tar of article
files (PMC's Open Access packages), streamed into canonical records by `iter_jats_records`.
"""

from connectors.jats.contributors import corresponding_positions
from connectors.jats.fields import RELATIONS
from connectors.jats.parse import MEMBER_SUFFIXES, SOURCE, iter_jats_records, parse_article

__all__ = [
    "MEMBER_SUFFIXES",
    "RELATIONS",
    "SOURCE",
    "corresponding_positions",
    "iter_jats_records",
    "parse_article",
]
