"""Every kind of source gives the same records: bytes, a path (str or PathLike), a binary file
object (seekable or not), each plain or gzipped, gzip recognised by its bytes, not its name;
and parsing is deterministic (the raw payload is hashed for idempotency)."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
from pathlib import Path

import pytest

from connectors.pubmed.parse import iter_pubmed_records
from schemas.record import Deletion, Record

NAME = "pmparser__pubmed20n1016.xml.gz"  # articles and deletions, gzipped


class OneWayStream(io.RawIOBase):
    """A non-seekable binary stream that hands out small, uneven chunks (like a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), 997)
        chunk = self._data[self._at : self._at + size]
        buffer[: len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)


@pytest.fixture(scope="module")
def reference(fixtures_dir: Path) -> list[Record | Deletion]:
    path = fixtures_dir / "pubmed_baseline" / NAME
    return list(iter_pubmed_records(path, origin=NAME))


def test_the_reference_parse(reference: list[Record | Deletion]) -> None:
    assert len(reference) == 26 + 262


def test_bytes_paths_and_file_objects_agree(
    fixtures_dir: Path, tmp_path: Path, reference: list[Record | Deletion]
) -> None:
    gz_path = fixtures_dir / "pubmed_baseline" / NAME
    packed = gz_path.read_bytes()
    plain = gzip.decompress(packed)
    # Names that lie: gzip without .gz, plain XML with .gz.
    gzip_named_xml = tmp_path / "pubmed20n1016.xml"
    gzip_named_xml.write_bytes(packed)
    plain_named_gz = tmp_path / "plain.xml.gz"
    plain_named_gz.write_bytes(plain)

    sources: dict[str, object] = {
        "gzip bytes": packed,
        "plain bytes": plain,
        "bytearray": bytearray(plain),
        "memoryview": memoryview(packed),
        "str path": str(gz_path),
        "gzip named .xml": gzip_named_xml,
        "plain named .gz": plain_named_gz,
        "BytesIO gzip": io.BytesIO(packed),
        "BytesIO plain": io.BytesIO(plain),
        "one-way gzip": OneWayStream(packed),
        "one-way plain": OneWayStream(plain),
    }
    for label, source in sources.items():
        items = list(iter_pubmed_records(source, origin=NAME))  # type: ignore[arg-type]
        assert items == reference, label


def test_an_open_file_is_read_from_where_it_is(fixtures_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.xml.gz"
    shutil.copy(fixtures_dir / "pubmed_baseline" / NAME, copy)
    with copy.open("rb") as file:
        items = list(iter_pubmed_records(file, origin=copy.name))
        assert not file.closed  # the caller's file stays the caller's
    assert len(items) == 288


def test_parsing_is_deterministic(fixtures_dir: Path, reference: list[Record | Deletion]) -> None:
    again = list(iter_pubmed_records(fixtures_dir / "pubmed_baseline" / NAME, origin=NAME))
    assert again == reference
    digests = [
        hashlib.sha256(item.raw).hexdigest()
        for item in again
        if isinstance(item, Record) and item.raw is not None
    ]
    assert digests == [
        hashlib.sha256(item.raw).hexdigest()
        for item in reference
        if isinstance(item, Record) and item.raw is not None
    ]
    assert len(set(digests)) == 26


def test_the_same_article_has_the_same_raw_alone_or_in_a_set(fixtures_dir: Path) -> None:
    # A bare <PubmedArticle> and the same article inside a set: identical payload and hash.
    bare = fixtures_dir / "pubmed_efetch/fatcat__pubmed_31393839.xml"
    (alone,) = iter_pubmed_records(bare, origin=bare.name)
    wrapped = b"<PubmedArticleSet>" + bare.read_bytes() + b"</PubmedArticleSet>"
    (inside,) = iter_pubmed_records(wrapped, origin="wrapped")
    assert alone == inside
    assert isinstance(alone, Record)
    assert alone.raw is not None
    assert alone.raw.startswith(b"<PubmedArticle>\n    <MedlineCitation")
    assert alone.raw.endswith(b"</PubmedData>\n</PubmedArticle>")
