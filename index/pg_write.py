"""Writes a build into the database store in one transaction: the changed files' rows are
deleted and inserted again, BM25's statistics move by the difference, and `index_state` names the
new build. Readers see the previous state until the commit, then the new one, never a mix.

The work is in proportion to the files that changed, not to the size of the index. Callers hold
the build lock (an advisory lock, `pg_build.build_lock`), so ids are allocated without a race.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from index import pg_postings as postings
from index.build_writer import embedding_text
from index.lexical import tokenize

_ARTICLE_COLUMNS = (
    "id, relpath, position, doc_id, claimed_id, title, date, source, url, source_path,"
    " passages, text"
)
_ARTICLE_TYPES = ["int8", "text", "int4", "text", "text", "text", "text", "text", "text", "text",
                  "int4", "text"]  # fmt: skip
_PASSAGE_COLUMNS = (
    'id, article_id, pid, doc_id, start, "end", text, sentences, script, length, embedding,'
    " multilingual"
)
_PASSAGE_TYPES = ["int8", "int8", "text", "text", "int4", "int4", "text", "int4", "int2", "int4",
                  "vector", "vector"]  # fmt: skip


@dataclass(frozen=True)
class PassageRows:
    """One passage as the database keeps it: its record, alphabet, BM25 terms and vectors."""

    record: dict[str, Any]  # as passages.jsonl: id, doc_id, start, end, text, sentences
    script: int
    terms: list[str]
    embedding: np.ndarray
    multilingual: np.ndarray | None
    sentences: np.ndarray | None = None  # one English-model vector per sentence
    multilingual_sentences: np.ndarray | None = None


@dataclass(frozen=True)
class SourceRows:
    """One corpus file's rows: its articles (documents.jsonl records) and their passages."""

    relpath: str
    sha256: str
    skipped_lines: list[str]
    documents: list[dict[str, Any]]
    passages: list[PassageRows]


@dataclass(frozen=True)
class Publication:
    """What a build publishes besides its files' rows."""

    build_id: str
    built_at: datetime
    identity: dict[str, Any]
    with_sentences: bool
    index_type: str
    skipped: list[str]
    renamed: list[str]
    unreadable: dict[str, dict[str, str]]  # relpath -> {sha256, reason}
    replace_all: bool  # a full build or a migration: every earlier row goes
    removed: list[str] = field(default_factory=list)  # files whose rows go (gone or changed)
    # Articles of unchanged files given another id: article row id -> (new id, claimed id).
    renames: dict[int, tuple[str, str | None]] = field(default_factory=dict)


def write_publication(
    connection: psycopg.Connection,
    publication: Publication,
    sources: Iterable[SourceRows],
    seconds: Callable[[], float],
    check_cancelled: Callable[[], None] = lambda: None,
) -> tuple[int, int]:
    """Apply a build in one transaction; returns the published (passages, articles).
    `seconds` gives the build's duration so far, stamped on the build at the end."""
    with connection.transaction():
        frequencies: Counter[str] = Counter()
        published = _current_totals(connection)
        passages, length = published or (0, 0)
        # Into an index nobody can read yet, HNSW is built once at the end: far faster than
        # keeping it up row by row. (Dropping it under readers would make them wait.)
        vector_indexes = _drop_vector_indexes(connection) if published is None else []
        if publication.replace_all:
            connection.execute("DELETE FROM index_sources")  # cascades to every row
            connection.execute("DELETE FROM index_term_stats")
            postings.clear(connection)
            passages = length = 0
        elif publication.removed:
            gone, gone_length, gone_terms = _removed_passages(connection, publication.removed)
            passages, length = passages - len(gone), length - gone_length
            frequencies.subtract(gone_terms)
            postings.mark_dead(connection, gone)
            connection.execute(
                "DELETE FROM index_sources WHERE relpath = ANY(%s)", (publication.removed,)
            )
        _rename(connection, publication.renames)
        segments = postings.SegmentWriter(connection)
        for source in sources:
            check_cancelled()
            added, added_length, terms = _insert_source(connection, source, segments)
            passages, length = passages + added, length + added_length
            frequencies.update(terms)
        segments.flush()
        check_cancelled()
        postings.maintain(connection, passages)
        _apply_frequencies(connection, frequencies)
        if vector_indexes:
            connection.execute(
                "SELECT set_config('maintenance_work_mem', %s, true)", (_hnsw_memory(passages),)
            )
        for definition in vector_indexes:
            check_cancelled()
            connection.execute(definition)  # type: ignore[arg-type]
        articles = _count(connection, "SELECT count(*) FROM index_articles")
        check_cancelled()
        connection.execute(
            "INSERT INTO index_state (build_id, built_at, build_seconds, identity,"
            " with_sentences, index_type, passage_count, total_length, article_count, skipped,"
            " renamed, unreadable) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (singleton) DO UPDATE SET build_id = excluded.build_id,"
            " built_at = excluded.built_at, build_seconds = excluded.build_seconds,"
            " identity = excluded.identity, with_sentences = excluded.with_sentences,"
            " index_type = excluded.index_type, passage_count = excluded.passage_count,"
            " total_length = excluded.total_length, article_count = excluded.article_count,"
            " skipped = excluded.skipped, renamed = excluded.renamed,"
            " unreadable = excluded.unreadable",
            (
                publication.build_id, publication.built_at, round(seconds(), 3),
                Jsonb(publication.identity), publication.with_sentences, publication.index_type,
                passages, length, articles, Jsonb(publication.skipped),
                Jsonb(publication.renamed), Jsonb(publication.unreadable),
            ),
        )  # fmt: skip
    return passages, articles


def _hnsw_memory(passages: int) -> str:
    """Memory for building HNSW: the graph of a 512-float vector per passage and its links must
    fit, or pgvector builds it far more slowly (within 256 MB .. 4 GB)."""
    megabytes = passages * (512 * 4 + 1024) * 1.25 / 2**20
    return f"{int(min(max(megabytes, 256), 4096))}MB"


def _count(connection: psycopg.Connection, sql: str, *args: Any) -> int:
    row = connection.execute(sql, args or None).fetchone()  # type: ignore[call-overload]
    return int(row[0]) if row and row[0] is not None else 0


def _current_totals(connection: psycopg.Connection) -> tuple[int, int] | None:
    """The published passages and their BM25 length; None before the first build."""
    row = connection.execute("SELECT passage_count, total_length FROM index_state").fetchone()
    return (int(row[0]), int(row[1])) if row else None


def _drop_vector_indexes(connection: psycopg.Connection) -> list[str]:
    """Drop the HNSW indexes; returns the statements that make them again."""
    rows = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE tablename IN ('index_passages', 'index_sentences') AND indexdef LIKE '%% hnsw %%'"
    ).fetchall()
    for name, _ in rows:
        connection.execute(f'DROP INDEX "{name}"')  # type: ignore[arg-type]
    return [definition for _, definition in rows]


def _removed_passages(
    connection: psycopg.Connection, relpaths: list[str]
) -> tuple[list[int], int, Counter[str]]:
    """The passages these files' rows hold (ids), their BM25 length and document frequencies:
    their terms tokenized again from the text they were made from (the tokenizer is fixed)."""
    rows = connection.execute(
        "SELECT p.id, a.title, p.text, p.length FROM index_passages p"
        " JOIN index_articles a ON a.id = p.article_id WHERE a.relpath = ANY(%s)",
        (relpaths,),
    ).fetchall()
    frequencies: Counter[str] = Counter()
    for terms in tokenize([embedding_text(title, text) for _, title, text, _ in rows]):
        frequencies.update(set(terms))
    return [int(row[0]) for row in rows], sum(int(row[3]) for row in rows), frequencies


def _rename(connection: psycopg.Connection, renames: dict[int, tuple[str, str | None]]) -> None:
    """Articles of unchanged files whose id another file now claims (or gave back); by row id,
    since two articles may swap ids (doc_id is unique only at the commit)."""
    for article_id, (new, claimed) in renames.items():
        connection.execute(
            "UPDATE index_articles SET doc_id = %s, claimed_id = %s WHERE id = %s",
            (new, claimed, article_id),
        )
        connection.execute(
            "UPDATE index_passages SET doc_id = %s,"
            " pid = %s || '#' || substring(pid from '[^#]*$') WHERE article_id = %s",
            (new, new, article_id),
        )


def _allocate(connection: psycopg.Connection, count: int) -> int:
    """The first of `count` consecutive new row ids (the build lock keeps writers apart)."""
    first = _count(connection, "SELECT nextval('index_row_ids')")
    if count > 1:
        connection.execute("SELECT setval('index_row_ids', %s)", (first + count - 1,))
    return first


def _insert_source(
    connection: psycopg.Connection, source: SourceRows, segments: postings.SegmentWriter
) -> tuple[int, int, Counter[str]]:
    """One file's rows; returns its passages, their BM25 length and document frequencies."""
    connection.execute(
        "INSERT INTO index_sources (relpath, sha256, skipped_lines) VALUES (%s, %s, %s)",
        (source.relpath, source.sha256, Jsonb(source.skipped_lines)),
    )
    first_article = _allocate(connection, len(source.documents))
    article_of: dict[str, int] = {}
    cursor = connection.cursor()
    with cursor.copy(
        f"COPY index_articles ({_ARTICLE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_ARTICLE_TYPES)
        for position, document in enumerate(source.documents):
            article_id = first_article + position
            article_of[document["doc_id"]] = article_id
            copy.write_row((
                article_id, source.relpath, position, document["doc_id"],
                document.get("claimed_id"), document["title"], document.get("date"),
                document.get("source"), document.get("url"), document["source_path"],
                document["passages"], document["text"],
            ))  # fmt: skip
    first_passage = _allocate(connection, len(source.passages)) if source.passages else 0
    frequencies: Counter[str] = Counter()
    length = 0
    with cursor.copy(
        f"COPY index_passages ({_PASSAGE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_PASSAGE_TYPES)
        for offset, passage in enumerate(source.passages):
            record = passage.record
            copy.write_row((
                first_passage + offset, article_of[record["doc_id"]], record["id"],
                record["doc_id"], record["start"], record["end"], record["text"],
                record["sentences"], passage.script, len(passage.terms), passage.embedding,
                passage.multilingual,
            ))  # fmt: skip
            length += len(passage.terms)
    with cursor.copy(
        "COPY index_sentences (passage_id, position, embedding, multilingual)"
        " FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4", "vector", "vector"])
        for offset, passage in enumerate(source.passages):
            if passage.sentences is None:
                continue
            others = passage.multilingual_sentences
            for number, vector in enumerate(passage.sentences):
                other = others[number] if others is not None else None
                copy.write_row((first_passage + offset, number, vector, other))
    for offset, passage in enumerate(source.passages):
        frequencies.update(segments.add(first_passage + offset, passage.terms).keys())
    return len(source.passages), length, frequencies


def _apply_frequencies(connection: psycopg.Connection, changes: Counter[str]) -> None:
    """Move each term's document frequency by what the build added and removed."""
    moved = {term: delta for term, delta in changes.items() if delta}
    if not moved:
        return
    connection.execute(
        "INSERT INTO index_term_stats (term, df)"
        " SELECT * FROM unnest(%s::text[], %s::int8[])"
        " ON CONFLICT (term) DO UPDATE SET df = index_term_stats.df + excluded.df",
        (list(moved), list(moved.values())),
    )
    connection.execute("DELETE FROM index_term_stats WHERE df <= 0")
