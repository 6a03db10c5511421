"""The index store's tables in PostgreSQL (component "index" of `index.database`), and its
connections: each borrowed one knows pgvector's `vector` type without asking the server again.

    index_state       one row: the published build (id, identity, counts, BM25's N and total
                      length); replaced in the transaction that publishes a build
    index_sources     one row per corpus file indexed: its sha256 and unreadable .jsonl lines
    index_articles    one row per article (doc_id, citation details, full text)
    index_passages    one row per passage: text, doc_id, alphabet, BM25 length, each model's
                      vector (HNSW, inner product on normalised vectors); `id` is the hit's row
    index_sentences   each passage's sentence vectors, when the build keeps them; searched
                      exactly, as the local store searches them (no HNSW: builds keep them
                      only up to index.sentence_vectors_max_passages, where a scan is quick)
    index_segments    BM25 postings segments (index/pg_postings.py): passages and postings each
    index_postings    one row per (stemmed term, segment): its passage ids, term frequencies and
                      passage lengths, packed
    index_dead        passages removed whose postings a segment still holds (search skips them)
    index_term_stats  each term's document frequency (kept by the writer, in the same transaction)

Rows cascade from sources to articles to passages to sentences and terms, so replacing a file
is one DELETE of its source row and the inserts of its new rows (postings go by index_dead).

Schema versions: 1 kept a row per posting (index_terms); 2 packs them (`citebot migrate` steps a
version-1 database up without re-embedding).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool, PoolTimeout

from index.config import DatabaseConfig, IndexConfig
from index.database import direct_connection, ensure_schema, pool
from index.errors import DatabaseUnavailableError
from index.pg_postings import postings_ddl

COMPONENT = "index"
SCHEMA_VERSION = 2
# The vector widths of the models citebot ships (all-MiniLM-L6-v2, USE Multilingual v3).
PRIMARY_DIMENSION = 384
MULTILINGUAL_DIMENSION = 512
BUILD_LOCK = "citebot-index-build"  # the advisory lock one writer holds for a whole build


def create_tables(index: IndexConfig) -> Callable[[psycopg.Connection], None]:
    """The DDL of schema version 2; HNSW takes its M and ef_construction from the settings."""
    hnsw = f"WITH (m = {int(index.hnsw_m)}, ef_construction = {int(index.hnsw_ef_construction)})"
    return lambda connection: _create(connection, hnsw)


def _create(connection: psycopg.Connection, hnsw: str) -> None:
    for statement in (
        "CREATE EXTENSION IF NOT EXISTS vector",
        "CREATE TABLE index_state ("
        " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
        " build_id text NOT NULL, built_at timestamptz NOT NULL, build_seconds float8 NOT NULL,"
        " identity jsonb NOT NULL, with_sentences boolean NOT NULL, index_type text NOT NULL,"
        " passage_count bigint NOT NULL, total_length bigint NOT NULL,"
        " article_count bigint NOT NULL, skipped jsonb NOT NULL, renamed jsonb NOT NULL,"
        " unreadable jsonb NOT NULL)",
        "CREATE TABLE index_sources ("
        " relpath text PRIMARY KEY, sha256 text NOT NULL,"
        " skipped_lines jsonb NOT NULL DEFAULT '[]')",
        "CREATE SEQUENCE index_row_ids AS bigint",
        "CREATE TABLE index_articles ("
        " id bigint PRIMARY KEY,"
        " relpath text NOT NULL REFERENCES index_sources ON DELETE CASCADE,"
        " position integer NOT NULL,"
        " doc_id text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,"
        " claimed_id text, title text NOT NULL, date text, source text, url text,"
        " source_path text NOT NULL, passages integer NOT NULL, text text NOT NULL)",
        "CREATE INDEX index_articles_relpath ON index_articles (relpath)",
        "CREATE TABLE index_passages ("
        " id bigint PRIMARY KEY,"
        " article_id bigint NOT NULL REFERENCES index_articles ON DELETE CASCADE,"
        " pid text NOT NULL, doc_id text NOT NULL, start integer NOT NULL,"
        ' "end" integer NOT NULL, text text NOT NULL, sentences integer NOT NULL,'
        " script smallint NOT NULL, length integer NOT NULL,"
        f" embedding vector({PRIMARY_DIMENSION}) NOT NULL,"
        f" multilingual vector({MULTILINGUAL_DIMENSION}))",
        "CREATE INDEX index_passages_article ON index_passages (article_id)",
        "CREATE INDEX index_passages_embedding ON index_passages"
        f" USING hnsw (embedding vector_ip_ops) {hnsw}",
        "CREATE INDEX index_passages_multilingual ON index_passages"
        f" USING hnsw (multilingual vector_ip_ops) {hnsw}",
        "CREATE TABLE index_sentences ("
        " passage_id bigint NOT NULL REFERENCES index_passages ON DELETE CASCADE,"
        " position integer NOT NULL,"
        f" embedding vector({PRIMARY_DIMENSION}) NOT NULL,"
        f" multilingual vector({MULTILINGUAL_DIMENSION}),"
        " PRIMARY KEY (passage_id, position))",
        # Vectors kept in the row, uncompressed: a 512-float vector passes the size at which
        # PostgreSQL moves values out of line, and every scan would fetch it back from there.
        "ALTER TABLE index_passages ALTER COLUMN embedding SET STORAGE PLAIN,"
        " ALTER COLUMN multilingual SET STORAGE PLAIN",
        "ALTER TABLE index_sentences ALTER COLUMN embedding SET STORAGE PLAIN,"
        " ALTER COLUMN multilingual SET STORAGE PLAIN",
        *postings_ddl(),
        "CREATE TABLE index_term_stats (term text PRIMARY KEY, df bigint NOT NULL)",
    ):
        connection.execute(statement)  # type: ignore[arg-type]


class Connections:
    """The pool for database.url, its schema checked once, pgvector's types known."""

    def __init__(self, config: DatabaseConfig, index: IndexConfig) -> None:
        self._config, self._index = config, index
        self._vector: TypeInfo | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ConnectionPool:
        return pool(self._config)

    @property
    def masked_url(self) -> str:
        return str(self._config.masked_url)

    @contextmanager
    def _pooled_or_direct(self) -> Iterator[psycopg.Connection]:
        """A pooled connection, or one of its own while the pool is still backing off after the
        database was away, so answers come back as soon as the database does."""
        try:
            pooled = self.pool.getconn(timeout=self._config.connect_timeout)
        except PoolTimeout:
            with direct_connection(self._config) as direct:
                yield direct
            return
        try:
            yield pooled
        finally:
            self.pool.putconn(pooled)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection (autocommit) ready for vectors; the schema checked first."""
        try:
            with self._pooled_or_direct() as connection:
                with self._lock:
                    if self._vector is None:
                        create = create_tables(self._index)
                        ensure_schema(connection, COMPONENT, SCHEMA_VERSION, create)
                        self._vector = TypeInfo.fetch(connection, "vector")
                register_vector_info(connection, self._vector)
                yield connection
        except (psycopg.OperationalError, PoolTimeout) as error:
            # Lost while serving (or not back yet): an error citebot explains, so the bot says
            # "temporarily unavailable" and /healthz "unreachable" instead of failing.
            raise DatabaseUnavailableError(
                f"the database at database.url = {self.masked_url} cannot be reached just now"
            ) from error
