"""Full-text search: a BM25 index over the works, built by a writer, read locked down.

What is indexed: the title, the abstract and the subject terms (MeSH headings, keywords,
chemicals, … of every scheme) of each work (`warehouse.works`: one hit for an article that
PubMed, Crossref and a portal all hold), and of each current record in no work yet, copied into
`search_documents` (`doc_id` its key) and indexed by DuckDB's `fts` extension: English stemmer
and stop words, lower-cased, accents folded.

The extension is loaded from the pinned `duckdb-extension-fts` package's own file, never
downloaded (autoinstall off). In DuckDB 1.5 an fts index does not follow inserts: it is a
snapshot, rebuilt whole by `refresh_search_index`, which a writer calls at the end of a load
(and `biblioduck index`). It rebuilds only when the indexed content changed: a digest of the
current records and their works (their count and an order-free hash of their content hashes
and memberships, ~10 ms at 50,000 records) is kept in `search_index_state` with the snapshot.

`search` reads: on a read-only connection, with the extension loaded and then the same
lockdown as `biblioduck query` (`warehouse.status.LOCKED_DOWN`); the words searched for are a
bound parameter, never SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from schemas.errors import FatalError, UsageError
from warehouse.connection import now, transaction
from warehouse.extensions import load_extensions

DOCUMENTS = "search_documents"
STATE = "search_index_state"
FTS_SCHEMA = f"fts_main_{DOCUMENTS}"
# Part of the digest: change it when what is indexed, or how, changes, and every warehouse's
# index is rebuilt by its next load.
INDEX_VERSION = 3
# BM25 parameters: the extension's defaults.
K1 = 1.2
B = 0.75

# One document per work (`warehouse.works`: the title and abstract survivorship chose, the
# subject terms of every member), and one per current record in no work (works not built yet,
# or a record loaded since the last build), keyed "source:source_id". Each names the record it
# shows (the one its title came from) and the sources of its members, for `--source`. Most
# works have one member: theirs are the record's own fields, read as a stream; only merged
# works go through the `works` view's aggregation (all of them at once did not fit a writer's
# 256 MB at 50,000 records).
_TERMS = "array_to_string(list_distinct(list_transform({}subjects, s -> s.term)), '; ')"


def documents_sql(read_from: str = "") -> str:
    """The statement that fills the documents table; `read_from` qualifies the tables it reads
    (`warehouse.` when it writes into another database)."""
    w = read_from
    return f"""
CREATE OR REPLACE TABLE {DOCUMENTS} AS
WITH merged AS (SELECT work_id FROM {w}work_members GROUP BY work_id HAVING count(*) > 1),
documents AS (
    SELECT w.work_id AS document, w.work_id, [r.source] AS sources,
           r.source || ':' || r.source_id AS shown, r.pub_year, r.journal, r.title, r.abstract,
           {_TERMS.format("r.")} AS terms
    FROM {w}work_members AS w JOIN {w}records AS r USING (source, source_id)
    WHERE w.work_id NOT IN (SELECT work_id FROM merged)
    UNION ALL
    SELECT work_id, work_id, sources, coalesce(title_from, members[1]), pub_year, journal,
           title, abstract, {_TERMS.format("")}
    FROM {w}works WHERE work_id IN (SELECT work_id FROM merged)
    UNION ALL
    SELECT r.source || ':' || r.source_id, NULL, [r.source], r.source || ':' || r.source_id,
           r.pub_year, r.journal, r.title, r.abstract, {_TERMS.format("r.")}
    FROM {w}records AS r ANTI JOIN {w}work_members AS w USING (source, source_id))
SELECT row_number() OVER (ORDER BY document) AS doc_id, document, work_id, sources,
       split_part(shown, ':', 1) AS source,
       shown[length(split_part(shown, ':', 1)) + 2:] AS source_id,
       pub_year, journal, title, abstract, terms
FROM documents
"""


DOCUMENTS_SQL = documents_sql()
INDEX_SQL = (
    f"PRAGMA create_fts_index('{DOCUMENTS}', 'doc_id', 'title', 'abstract', 'terms', "
    "stemmer = 'english', stopwords = 'english', strip_accents = 1, lower = 1, overwrite = 1)"
)
# The extension writes its postings (`terms`: one row per word of each document) in document
# order; stored in term order instead, a search reads the row groups of its terms only (a
# fifth of the rows at 50,000 records, and less the larger the index). Same rows, same name:
# the extension's own macros read it as before.
SORT_TERMS_SQL = (
    f"CREATE OR REPLACE TABLE {FTS_SCHEMA}.terms AS "
    f"SELECT * FROM {FTS_SCHEMA}.terms ORDER BY termid, docid"
)
STATE_SQL = f"""CREATE TABLE IF NOT EXISTS {STATE} (
    digest VARCHAR NOT NULL,          -- what `content_digest` said when the index was built
    documents BIGINT NOT NULL,
    built_at TIMESTAMPTZ NOT NULL,
    seconds DOUBLE NOT NULL)"""


# Order-free: the same records in the same works give the same digest whichever order they
# were loaded in. Works count: a `works build` with new matching rules changes the documents.
def digest_sql(read_from: str = "") -> str:
    w = read_from
    return (
        f"SELECT (SELECT count(*) FROM {w}source_records WHERE NOT deleted), "
        f"xor((SELECT coalesce(bit_xor(hash(source, source_id, content_hash)), 0) "
        f" FROM {w}source_records WHERE NOT deleted), "
        f"(SELECT coalesce(bit_xor(hash(work_id, source, source_id)), 0) FROM {w}work_members))"
    )


DIGEST_SQL = digest_sql()

# Ranking: BM25 as the extension's `match_bm25` macro computes it (k1 1.2, b 0.75, its idf and
# document lengths), with two changes people expect of a search box: a word in the title counts
# TITLE_WEIGHT times, and the sum is scaled by the share of the query's terms the record holds
# (Lucene's classic "coord"), so that a record with every word ranks above one repeating one
# word. `search_sql(1, coordination=False)` is the macro's BM25 exactly (a test holds the two
# equal). Only the documents holding a query term are scored: the macro, evaluated per row of
# the documents table, takes 2-5 times as long.
TITLE_WEIGHT = 2


def search_sql(title_weight: int = TITLE_WEIGHT, *, coordination: bool = True) -> str:
    """The search query; parameters $query, $source, $year_from, $year_to and $limit."""
    scale = "count(*) / (SELECT count(*) FROM query_terms)" if coordination else "1"
    return f"""
WITH tokens AS (
    SELECT DISTINCT stem(unnest({FTS_SCHEMA}.tokenize($query)), 'english') AS term),
query_terms AS (
    SELECT dict.termid, dict.df FROM {FTS_SCHEMA}.dict AS dict JOIN tokens USING (term)),
title AS (SELECT fieldid FROM {FTS_SCHEMA}.fields WHERE field = 'title'),
term_tf AS (
    SELECT docid, termid,
           count(*) + {int(title_weight) - 1} * count(*) FILTER (
               WHERE fieldid = (SELECT fieldid FROM title)) AS tf
    FROM {FTS_SCHEMA}.terms
    WHERE termid IN (SELECT termid FROM query_terms) GROUP BY docid, termid),
scores AS (
    SELECT term_tf.docid,
           sum(log(((stats.num_docs - query_terms.df + 0.5) / (query_terms.df + 0.5)) + 1)
               * ((tf * ({K1} + 1)) / (tf + {K1} * ((1 - {B}) + {B} * (docs.len / stats.avgdl)))))
               * {scale} AS score
    FROM term_tf JOIN query_terms USING (termid)
    JOIN {FTS_SCHEMA}.docs AS docs USING (docid), {FTS_SCHEMA}.stats AS stats
    GROUP BY term_tf.docid),
ranked AS (  -- the best `limit`, filtered; their texts are read after, for them alone
    SELECT scores.score, d.doc_id, d.document
    FROM scores JOIN {FTS_SCHEMA}.docs AS docs USING (docid)
    JOIN (SELECT doc_id, document, sources, pub_year FROM {DOCUMENTS}) AS d
      ON d.doc_id = docs.name
    WHERE ($source IS NULL OR list_contains(d.sources, $source))
      AND ($year_from IS NULL OR d.pub_year >= $year_from)
      AND ($year_to IS NULL OR d.pub_year <= $year_to)
    ORDER BY scores.score DESC, d.document
    LIMIT $limit)
SELECT ranked.score, d.source, d.source_id, d.pub_year, d.journal, d.title, d.abstract, d.terms,
       d.work_id, d.sources
FROM ranked JOIN {DOCUMENTS} AS d USING (doc_id)
ORDER BY ranked.score DESC, d.document
"""


SEARCH_SQL = search_sql()

# The query's terms the index knows (stop words are not indexed): the words to highlight.
QUERY_TERMS_SQL = f"""
SELECT DISTINCT dict.term FROM {FTS_SCHEMA}.dict AS dict
WHERE dict.term IN (SELECT stem(unnest({FTS_SCHEMA}.tokenize($query)), 'english'))
"""

# The extension's tokenizer (`tokenize` in its schema): these characters separate words.
_SEPARATORS = re.compile(r"""[0-9!@#$%^&*()_+={}\[\]:;<>,.?~\\/|'"`\s-]+""")
SNIPPET_BEFORE = 60
SNIPPET_AFTER = 140


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load the fts extension from its pinned package's file (`warehouse.extensions`, the one
    door for extensions); nothing is downloaded."""
    load_extensions(con, "fts")


def content_digest(con: duckdb.DuckDBPyConnection, read_from: str = "") -> str:
    """What the index would be built from, in a few bytes: equal digests, equal content."""
    count, combined = con.execute(digest_sql(read_from)).fetchone() or (0, 0)
    return f"v{INDEX_VERSION}:{count}:{combined:016x}"


def _index_exists(con: duckdb.DuckDBPyConnection) -> bool:
    (found,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        f"AND schema_name = '{FTS_SCHEMA}' AND table_name = 'docs'"
    ).fetchone() or (0,)
    return bool(found)


def _stored_state(con: duckdb.DuckDBPyConnection) -> tuple[str, int, Any] | None:
    (has_state,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        f"AND schema_name = 'main' AND table_name = '{STATE}'"
    ).fetchone() or (0,)
    if not has_state or not _index_exists(con):
        return None
    row = con.execute(f"SELECT digest, documents, built_at FROM {STATE}").fetchone()
    return (row[0], row[1], row[2]) if row else None


def _unchanged(
    stored: tuple[str, int, Any] | None, digest: str, started: float
) -> dict[str, Any] | None:
    """What a refresh says when the index already holds `digest`; None when it must rebuild."""
    if stored is None or stored[0] != digest:
        return None
    return {
        "rebuilt": False,
        "documents": stored[1],
        "digest": digest,
        "seconds": round(time.perf_counter() - started, 3),
    }


def refresh_search_index(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> dict[str, Any]:
    """Rebuild the search index if the records changed since it was built (or `force`).

    `con` is a writer's connection to the warehouse, outside any transaction (a load calls
    this once its data is committed). The rebuild is one transaction: a reader finds the old
    index or the new one. Returns whether it rebuilt, the documents indexed, and the seconds
    the check and the rebuild took."""
    started = time.perf_counter()
    load_fts(con)
    side_file = lake_index_file(con)
    if side_file is not None:
        return _refresh_lake_index(con, side_file, force=force, started=started)
    con.execute(STATE_SQL)
    digest = content_digest(con)
    stored = _stored_state(con)
    if not force and (unchanged := _unchanged(stored, digest, started)) is not None:
        return unchanged
    with transaction(con):
        digest = content_digest(con)  # inside the transaction: exactly what gets indexed
        con.execute(DOCUMENTS_SQL)
        con.execute(INDEX_SQL)
        con.execute(SORT_TERMS_SQL)
        (documents,) = con.execute(f"SELECT count(*) FROM {DOCUMENTS}").fetchone() or (0,)
        seconds = round(time.perf_counter() - started, 3)
        con.execute(f"DELETE FROM {STATE}")
        con.execute(f"INSERT INTO {STATE} VALUES (?, ?, ?, ?)", [digest, documents, now(), seconds])
    return {"rebuilt": True, "documents": documents, "digest": digest, "seconds": seconds}


# -- on a DuckLake ---------------------------------------------------------------------------
# DuckDB's fts extension writes columns of type NULL, which a DuckLake refuses ("unsupported
# type NULL"). So a lake's index lives in a DuckDB file of its own beside the catalog
# (`search.duckdb`), built whole into a new file and moved into place: a search holding the old
# file reads it to the end, the next one opens the new.
SEARCH_FILE = "search.duckdb"
SEARCH_PATH_VARIABLE = "BIBLIODUCK_LAKE_SEARCH_PATH"
LAKE_DATABASE = "warehouse"  # the name `warehouse.connection` attaches a lake under


def lake_index_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The index file of the lake `con` is open on; None for a DuckDB file warehouse."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = ? AND type = 'ducklake'",
        [LAKE_DATABASE],
    ).fetchone()
    if row is None:
        return None
    configured = os.environ.get(SEARCH_PATH_VARIABLE)
    if configured:
        return Path(configured)
    catalog = str(row[0])
    if not catalog.startswith("sqlite:"):
        # A catalog elsewhere (PostgreSQL): the index is a file of this machine's `data/`,
        # one per catalog (named by a digest of its location, which holds no password).
        digest = hashlib.blake2b(catalog.encode(), digest_size=6).hexdigest()
        return Path("data") / f"search-{digest}.duckdb"
    return Path(catalog.removeprefix("sqlite:")).parent / SEARCH_FILE


def _attach(con: duckdb.DuckDBPyConnection, path: Path, name: str, *, read_only: bool) -> None:
    quoted = str(path).replace("'", "''")
    mode = " (READ_ONLY)" if read_only else ""
    con.execute(f"ATTACH '{quoted}' AS {name}{mode}")


def _refresh_lake_index(
    con: duckdb.DuckDBPyConnection, side_file: Path, *, force: bool, started: float
) -> dict[str, Any]:
    digest = content_digest(con)
    stored = None
    if side_file.exists():
        _attach(con, side_file, "search_index", read_only=True)
        try:
            con.execute("USE search_index")
            stored = _stored_state(con)
        finally:
            con.execute(f"USE {LAKE_DATABASE}")
            con.execute("DETACH search_index")
    if not force and (unchanged := _unchanged(stored, digest, started)) is not None:
        return unchanged
    building = side_file.with_name(f".{side_file.name}.{os.getpid()}.building")
    building.unlink(missing_ok=True)
    side_file.parent.mkdir(parents=True, exist_ok=True)
    _attach(con, building, "search_build", read_only=False)
    try:
        con.execute("USE search_build")
        with transaction(con):  # reads the lake's snapshot, writes the new file
            digest = content_digest(con, f"{LAKE_DATABASE}.")
            con.execute(documents_sql(f"{LAKE_DATABASE}."))
            con.execute(INDEX_SQL)
            con.execute(SORT_TERMS_SQL)
            con.execute(STATE_SQL)
            (documents,) = con.execute(f"SELECT count(*) FROM {DOCUMENTS}").fetchone() or (0,)
            seconds = round(time.perf_counter() - started, 3)
            con.execute(
                f"INSERT INTO {STATE} VALUES (?, ?, ?, ?)", [digest, documents, now(), seconds]
            )
    finally:
        con.execute(f"USE {LAKE_DATABASE}")
        con.execute("DETACH search_build")
    os.replace(building, side_file)
    return {"rebuilt": True, "documents": documents, "digest": digest, "seconds": seconds}


def _open_lake_index(con: duckdb.DuckDBPyConnection, db: Path) -> bool:
    """Before the lockdown of a search on a lake: its index file attached and made the default
    database (the search SQL reads it unqualified). False on a DuckDB file warehouse."""
    side_file = lake_index_file(con)
    if side_file is None:
        return False
    if not side_file.exists():
        raise FatalError(
            f"no search index for {db}: it is built at the end of a load; build it now "
            f"with `biblioduck index --db {db}`"
        )
    _attach(con, side_file, "search_index", read_only=True)
    con.execute("USE search_index")
    return True


@dataclass
class SearchHit:
    score: float
    source: str
    source_id: str
    year: int | None
    journal: str | None
    title: str | None
    snippet: str
    # The work the hit is (None for a record in no work yet), and its members' sources; the
    # hit's source and source_id name the member whose title it shows.
    work_id: str | None = None
    sources: list[str] = field(default_factory=list)
    # Where in `snippet` the words matching the query are: (start, end) character offsets.
    matches: list[tuple[int, int]] = field(default_factory=list)

    def highlighted(self, mark: str = "**") -> str:
        """The snippet with each matching word between `mark`s."""
        parts, last = [], 0
        for start, end in self.matches:
            parts += [self.snippet[last:start], mark, self.snippet[start:end], mark]
            last = end
        parts.append(self.snippet[last:])
        return "".join(parts)


@dataclass
class SearchResult:
    hits: list[SearchHit]
    seconds: float
    documents: int
    # Set when the records changed since the index was built: what to tell the user.
    stale: str | None = None


def _fold(word: str) -> str:
    """A word as the extension's tokenizer sees it: lower case, accents stripped."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> Iterable[tuple[int, int, str]]:
    """Each word of `text` (as the extension splits it): start, end, folded form."""
    last = 0
    for separator in _SEPARATORS.finditer(text):
        if separator.start() > last:
            yield last, separator.start(), _fold(text[last : separator.start()])
        last = separator.end()
    if last < len(text):
        yield last, len(text), _fold(text[last:])


def _snippet(text: str, matching: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """A window of `text` around its first matching word, cut at spaces, with the matches
    inside it (offsets in the window)."""
    first, first_end = matching[0] if matching else (0, 0)
    start = max(0, first - SNIPPET_BEFORE)
    end = min(len(text), first + SNIPPET_AFTER)
    if start > 0:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", first_end, end)
        end = space if space > first else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    window = re.sub(r"\s", " ", text[start:end])  # one line; offsets unchanged
    spans = [
        (s - start + len(prefix), e - start + len(prefix))
        for s, e in matching
        if s >= start and e <= end
    ]
    return prefix + window + suffix, spans


def _snippets(
    con: duckdb.DuckDBPyConnection, query_stems: set[str], rows: list[tuple[Any, ...]]
) -> list[tuple[str, list[tuple[int, int]]]]:
    """Per hit: a snippet of its abstract (else its subject terms, else its title) around its
    first word whose stem is a query term's."""
    texts = [[row[6], row[7], row[5]] for row in rows]  # abstract, terms, title
    folded = sorted({w for fields in texts for t in fields if t for _, _, w in _words(t)})
    stems: dict[str, str] = {}
    if folded:
        stems = dict(
            con.execute(
                "SELECT w, stem(w, 'english') FROM unnest($words) AS t(w)", {"words": folded}
            ).fetchall()
        )
    result = []
    for fields in texts:
        chosen: tuple[str, list[tuple[int, int]]] | None = None
        for text in fields:
            if not text:
                continue
            matching = [(s, e) for s, e, w in _words(text) if stems.get(w) in query_stems]
            if matching:
                chosen = _snippet(text, matching)
                break
        if chosen is None:  # a match in no shown text (e.g. only in a stop-word-free form)
            text = next((t for t in fields if t), "")
            chosen = _snippet(text, [])
        result.append(chosen)
    return result


def search(
    db: Path,
    query: str,
    *,
    source: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    limit: int = 10,
) -> SearchResult:
    """The records best matching `query` (BM25 over title, abstract and subject terms; see
    `search_sql`), best first, on a connection that can only read the warehouse."""
    from warehouse.export import locked_connection

    if not query.strip():
        raise UsageError("search: no words given")
    if limit < 1:
        raise UsageError("search: --limit must be at least 1")
    started = time.perf_counter()
    on_lake = False

    def prepare(con: duckdb.DuckDBPyConnection) -> None:
        nonlocal on_lake
        load_fts(con)
        on_lake = _open_lake_index(con, db)

    with locked_connection(db, before_lockdown=prepare) as con:
        stored = _stored_state(con)
        if stored is None:
            raise FatalError(
                f"no search index in {db}: it is built at the end of a load; build it now "
                f"with `biblioduck index --db {db}`"
            )
        digest, documents, built_at = stored
        stale = None
        if digest != content_digest(con, f"{LAKE_DATABASE}." if on_lake else ""):
            when = built_at.astimezone(dt.UTC)
            stale = (
                f"the search index was built at {when:%Y-%m-%d %H:%M} UTC over {documents} works "
                "and the records changed since: results may miss or show old content; "
                f"run a load or `biblioduck index --db {db}` to refresh it"
            )
        try:
            rows = con.execute(
                SEARCH_SQL,
                {
                    "query": query,
                    "source": source,
                    "year_from": year_from,
                    "year_to": year_to,
                    "limit": limit,
                },
            ).fetchall()
            query_stems = {
                term for (term,) in con.execute(QUERY_TERMS_SQL, {"query": query}).fetchall()
            }
            snippets = _snippets(con, query_stems, rows)
        except duckdb.Error as exc:
            raise FatalError(f"search failed: {exc}") from None
    hits = [
        SearchHit(
            score=row[0],
            source=row[1],
            source_id=row[2],
            year=row[3],
            journal=row[4],
            title=row[5],
            snippet=snippet,
            matches=spans,
            work_id=row[8],
            sources=list(row[9] or []),
        )
        for row, (snippet, spans) in zip(rows, snippets, strict=True)
    ]
    return SearchResult(
        hits=hits,
        seconds=round(time.perf_counter() - started, 3),
        documents=documents,
        stale=stale,
    )
