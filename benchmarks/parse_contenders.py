"""The contenders of the parse benchmark: one loader each, imported only inside the child
process that runs it (see `benchmarks._child`), so every library is imported in its own process.

Each loader takes {"path": "<file>.xml.gz"}, does its imports and setup, and returns a
`Workload` whose `run()` parses the whole file and returns {"records": n, "deletions": n}.
"records" counts PubmedArticle (and PubmedBookArticle) records, "deletions" the PMIDs listed
in DeleteCitation, for the contenders that see them.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import inspect
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from benchmarks.harness import Unavailable, Workload


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def lxml_iterparse(params: dict[str, Any]) -> Workload:
    """The practical upper limit: lxml finds each record and we throw it away."""
    from lxml import etree

    path = Path(params["path"])

    def run() -> dict[str, int]:
        records = deletions = 0
        with gzip.open(path, "rb") as stream:
            # Book articles and deletions are asked for too so that the counts line up with the
            # other contenders on files that have them; on pubmed20n0014 there are none.
            for _event, elem in etree.iterparse(
                stream,
                events=("end",),
                tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
            ):
                if elem.tag == "DeleteCitation":
                    deletions += sum(1 for _ in elem.iterchildren("PMID"))
                else:
                    records += 1
                # Without both of these the tree keeps every (emptied) record and memory grows
                # with the file: clear() frees the children, the loop frees the empty shells.
                elem.clear()
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
        return {"records": records, "deletions": deletions}

    return Workload(
        run=run,
        version=f"lxml {etree.__version__}, libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}",
        options={
            "source": "gzip.open stream",
            "events": "end",
            "tag": "PubmedArticle|PubmedBookArticle|DeleteCitation",
            "cleanup": "elem.clear() + delete previous siblings",
        },
    )


def biblioduck(params: dict[str, Any]) -> Workload:
    """Our parser, `connectors.pubmed.parse.iter_pubmed_records`."""
    module_name = "connectors.pubmed.parse"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the parser module itself being absent means "not written yet"; a missing
        # dependency *inside* it is a real error and must surface as one.
        if exc.name in (module_name, "connectors", "connectors.pubmed"):
            raise Unavailable(
                f"{module_name} does not exist yet (connectors/pubmed/parse.py is being written)"
            ) from exc
        raise
    iter_pubmed_records = getattr(module, "iter_pubmed_records", None)
    if iter_pubmed_records is None:
        raise Unavailable(f"{module_name} exists but has no iter_pubmed_records yet")

    from schemas.record import Deletion, Record

    path = Path(params["path"])
    notes: list[str] = []

    def run() -> dict[str, int]:
        records = deletions = other = 0
        for item in iter_pubmed_records(path, origin=path.name):
            if isinstance(item, Record):
                records += 1
            elif isinstance(item, Deletion):
                deletions += 1
            else:
                other += 1
        if other:
            notes.append(f"{other} items were neither Record nor Deletion")
        return {"records": records, "deletions": deletions}

    # The parser changes faster than commits land: tie the figures to the exact source measured.
    source = Path(module.__file__ or "")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12] if source.is_file() else "?"
    return Workload(
        run=run,
        version=f"{_version('biblioduck')}, {source.name} sha256 {digest}",
        options={"call": "iter_pubmed_records(path, origin=path.name)"},
        notes=notes,
    )


# The fullest output pubmed_parser 0.5.1 offers. nlm_category only chooses which attribute
# labels abstract sections (NlmCategory vs. the original Label), it adds no field: left default.
_PUBMED_PARSER_OPTIONS = {
    "year_info_only": False,  # full PubDate (YYYY-MM-DD where given), not just the year
    "author_list": True,  # authors as dicts with affiliations, not a joined string
    "reference_list": True,  # parsed reference list, not a joined PMID string
    "parse_downto_mesh_subterms": True,  # MeSH qualifiers and major flags
}


def pubmed_parser(params: dict[str, Any]) -> Workload:
    """`pubmed_parser.parse_medline_xml` with every field it can give."""
    try:
        import pubmed_parser as pp
    except ImportError as exc:
        raise Unavailable(f"pubmed_parser is not installed ({exc})") from exc

    # Pass only options this version accepts, and report the ones that took effect.
    accepted = inspect.signature(pp.parse_medline_xml).parameters
    options = {k: v for k, v in _PUBMED_PARSER_OPTIONS.items() if k in accepted}
    notes = [
        f"option not offered by this version: {k}"
        for k in _PUBMED_PARSER_OPTIONS
        if k not in accepted
    ]
    notes.append(
        "(as of 0.5.1) clears each record but keeps the emptied elements under the root "
        "(no sibling deletion), and ignores DeleteCitation"
    )
    path = Path(params["path"])

    def run() -> dict[str, int]:
        records = deletions = 0
        for row in pp.parse_medline_xml(str(path), **options):
            if row.get("delete"):
                deletions += 1
            else:
                records += 1
        return {"records": records, "deletions": deletions}

    return Workload(
        run=run,
        version=_version("pubmed_parser"),
        options={"call": "parse_medline_xml", **options},
        notes=notes,
    )


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _HttpsDoctype:
    """A read-only stream that rewrites the DOCTYPE's `http://dtd.nlm.nih.gov/` system id to
    https. Biopython refuses non-https DTD URLs before it even looks for a local copy, and older
    baseline files (pubmed20n*) still say http; the DTD file name, and so the local copy
    Biopython loads, is unchanged. Only the prolog (first 4 KiB) is touched."""

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw
        head = raw.read(4096)
        self._head = head.replace(b'"http://dtd.nlm.nih.gov/', b'"https://dtd.nlm.nih.gov/', 1)

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._raw.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data


def biopython(params: dict[str, Any]) -> Workload:
    """Biopython's Bio.Entrez parser, DTD-driven, with its bundled DTDs only."""
    try:
        from Bio import Entrez
        from Bio.Entrez import Parser
    except ImportError as exc:
        raise Unavailable(f"biopython is not installed ({exc})") from exc

    # Biopython downloads any DTD it lacks locally. No network here, and a benchmark must not
    # depend on one: make that an error that names the DTD instead of a hang or a silent fetch.
    def no_network(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"Biopython wanted to download {url!r}: only its bundled DTDs are allowed here"
        )

    Parser.urlopen = no_network

    dtds_read: dict[str, str] = {}
    open_dtd_file = Parser.DataHandler.open_dtd_file

    def spying_open_dtd_file(self: Any, filename: str) -> Any:
        handle = open_dtd_file(self, filename)
        dtds_read[filename] = getattr(handle, "name", "<not found locally>")
        return handle

    Parser.DataHandler.open_dtd_file = spying_open_dtd_file  # type: ignore[method-assign]

    path = Path(params["path"])

    # Entrez.parse streams only when the root element is a list. Since the 2017 PubMed DTD,
    # PubmedArticleSet may end with a DeleteCitation, so Biopython makes it a dict and
    # Entrez.parse refuses it ("use Entrez.read"; biopython issue #1027). Ask it, on the real
    # file, rather than assume: a future version may stream again.
    refusal: str | None = None
    with gzip.open(path, "rb") as raw:
        try:
            next(iter(Entrez.parse(_HttpsDoctype(raw))), None)
        except ValueError as exc:
            if "does not represent a list" not in str(exc):
                raise
            refusal = str(exc)
    mode = "read" if refusal else "parse"

    notes: list[str] = []
    if refusal:
        notes.append(
            "Entrez.parse refuses PubmedArticleSet (" + refusal + "); measured Entrez.read, "
            "which builds every record of the file in memory before returning: its peak RSS "
            "grows with the file, unlike a streaming parser"
        )
    notes.append("DOCTYPE system id rewritten http->https in the stream (Biopython rejects http)")

    def run() -> dict[str, int]:
        records = deletions = 0
        with gzip.open(path, "rb") as raw:
            stream = _HttpsDoctype(raw)
            if mode == "parse":
                for _record in Entrez.parse(stream):
                    records += 1
            else:
                result = Entrez.read(stream)
                records = len(result.get("PubmedArticle", [])) + len(
                    result.get("PubmedBookArticle", [])
                )
                deletions = len(result.get("DeleteCitation", []))
        local = sorted({Path(p).parent.as_posix() for p in dtds_read.values()})
        notes.append(f"DTD files read ({len(dtds_read)}), all local: {', '.join(local)}")
        return {"records": records, "deletions": deletions}

    return Workload(
        run=run,
        version=_version("biopython"),
        options={"call": f"Bio.Entrez.{mode}(gzip stream)", "validate": True},
        notes=notes,
    )
