"""The source emulators of `benchmarks ways-in`, in a process of their own (their CPU stands
for the services', not the command's): prints one JSON line with each emulator's base URL,
then serves until standard input closes.

    python -m benchmarks._ways_in_emulators '{"pubmed": N, "crossref": "works.jsonl.gz", "oai": N}'

None of them throttles: the E-utilities emulator without its rate limit, the Crossref one
announcing 10,000 requests/s (the client slows down to what a server announces), the OAI-PMH
portal has no limit. Each serves the corpus `benchmarks._ways_in_corpora` makes for the same
parameters (the Crossref works are read back from the benchmark's own file).
"""

from __future__ import annotations

import gzip
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    from sandbox.server import serve

    wanted: dict[str, Any] = json.loads(argv[0])
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        if "pubmed" in wanted:
            from sandbox.corpus import synthetic_corpus
            from sandbox.eutils import EutilsEmulator

            app = EutilsEmulator(synthetic_corpus(int(wanted["pubmed"])), rate_limits=None)
            urls["pubmed"] = stack.enter_context(serve(app)) + "/entrez/eutils/"
        if "crossref" in wanted:
            from sandbox.crossref import CrossrefEmulator

            with gzip.open(Path(wanted["crossref"]), "rb") as lines:
                works = [json.loads(line) for line in lines if line.strip()]
            crossref = CrossrefEmulator(works, rate_limit=(10_000, "1s"))
            urls["crossref"] = stack.enter_context(serve(crossref))
        if "oai" in wanted:
            from benchmarks._ways_in_corpora import oai_repository
            from sandbox.oaipmh import PURE_PATH, OaiEmulator

            portal = OaiEmulator({PURE_PATH: oai_repository(int(wanted["oai"]))})
            urls["oai"] = stack.enter_context(serve(portal)) + PURE_PATH
        print(json.dumps(urls), flush=True)
        sys.stdin.read()  # until the benchmark closes the pipe (or exits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
