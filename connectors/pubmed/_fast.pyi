"""Type stub of the compiled `PubmedArticle` parser (connectors/pubmed/_fast.pyx)."""

from lxml import etree

from schemas.record import Record

def parse_pubmed_article(article: etree._Element, raw: bytes) -> Record: ...
def raw_xml(element: etree._Element) -> bytes | None: ...
