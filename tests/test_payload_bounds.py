"""Every payload is bounded (issue 15, item 2): a gzip bomb of each format — 4 GiB of spaces in
4 MB, generated here — is refused with an error naming the source and the cap, without
filling memory, and `import` of one loads nothing and exits 1 with that one message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from connectors.payload import PayloadTooLargeError, read_whole
from tests.flow_helpers import warehouse_rows

# What each bomb starts with (a document that then never ends), and its format.
OPENINGS = {
    "pubmed": ("pubmed", b'<?xml version="1.0"?>\n<PubmedArticleSet>\n'),
    "crossref": (
        "crossref",
        b'{"status": "ok", "message-type": "work-list", "message": {"items": [',
    ),
    "crossref-part": ("crossref", b'{"items": ['),  # a public-data-file part: streamed
    "oai": (
        "oai",
        b'<?xml version="1.0"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">',
    ),
}
# What refuses each: libxml2's 10 MB limit on a text node (streamed XML), the document cap
# (a document read whole), the cap on whitespace between two works (a streamed part).
REFUSALS = {
    "pubmed": "Text node too long",
    "oai": "Text node too long",
    "crossref": "67,108,864 bytes (the cap, BIBLIODUCK_MAX_DOCUMENT_BYTES)",
    "crossref-part": "67,108,864 bytes of whitespace between two works",
}


def gzip_bomb(opening: bytes, total: int = 4 << 30) -> bytes:
    """`opening` then spaces up to `total` bytes, gzipped: one compressed MiB of spaces
    (flushed whole, so it stands alone) repeated; no trailer, as nothing reads that far."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(opening) + compressor.flush(zlib.Z_FULL_FLUSH)
    mebibyte = compressor.compress(b" " * (1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + mebibyte * (total >> 20)


# Parses a bomb in a fresh process and prints what it raised and its peak RSS.
PROBE = """
import json, sys
from flows.pipeline import PARSERS
from tests.test_payload_bounds import OPENINGS, gzip_bomb
fmt, opening = OPENINGS[sys.argv[1]]
try:
    list(PARSERS[fmt](gzip_bomb(opening), origin="bomb.gz"))
    raised = None
except Exception as error:
    raised = [type(error).__name__, str(error)]
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would be pytest's own peak.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(json.dumps({"raised": raised, "peak_mb": int(hwm) / 1024}))
"""


@pytest.mark.parametrize("case", sorted(OPENINGS))
def test_a_gzip_bomb_is_refused_within_bounded_memory(case):
    repo = Path(__file__).resolve().parent.parent
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, case],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(probe.stdout)
    kind, message = outcome["raised"]
    assert kind in ("PayloadTooLargeError", "MalformedPayloadError"), message
    assert message.startswith("bomb.gz: ")
    assert REFUSALS[case] in message
    assert outcome["peak_mb"] < 300


def test_a_cap_is_exact_and_configurable(monkeypatch):
    body = b"x" * 1000
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", "1000")
    assert read_whole(body, "exact") == body
    monkeypatch.setenv("BIBLIODUCK_MAX_DOCUMENT_BYTES", "999")
    with pytest.raises(PayloadTooLargeError, match=r"^over: decompresses to more than 999 bytes"):
        read_whole(body, "over")


def test_import_of_a_bomb_exits_1_with_one_message_and_loads_nothing(tmp_path):
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip_bomb(OPENINGS["crossref"][1]))
    db = tmp_path / "w.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["BIBLIODUCK_DOWNLOAD_DIR"] = str(tmp_path / "downloads")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("biblioduck")),
            "import",
            str(bomb),
            "--format",
            "crossref",
            "--db",
            str(db),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "bomb.json.gz: a line of more than 67,108,864 bytes" in result.stderr
    assert "Traceback" not in result.stderr
    assert warehouse_rows(db, "SELECT count(*) FROM source_records") == [(0,)]
    assert warehouse_rows(db, "SELECT name, status FROM bulk_files") == [("bomb.json.gz", "failed")]
