"""The NLM file-server emulator of `python -m benchmarks e2e`, in a process of its own: prints
its base URL, then serves until its standard input closes. Serving ~1 GB of files costs CPU
that belongs to NLM's servers, not to the pipeline; in the flow's process (as a thread, as it
was) it counted as the flow's CPU and took the flow's GIL (~20 µs per record)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    from sandbox.nlm_files import NlmFileServer
    from sandbox.server import serve

    listing = Path(sys.argv[1])
    baseline = [(name, Path(path)) for name, path in json.loads(listing.read_text())]
    with serve(NlmFileServer({"baseline": baseline, "updatefiles": []})) as url:
        print(url, flush=True)
        sys.stdin.read()  # until the benchmark closes the pipe (or exits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
