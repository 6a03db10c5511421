"""The database store: PostgreSQL + pgvector, selected by `database.url` (index/stores.py).

The index lives in the database (index/pg_schema.py), so every replica reads the same one and a
build published by any of them is seen by all. The password in the URL is never shown: messages
name the setting and its masked URL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from index.background_loader import Build
from index.build_identity import embedding_identity
from index.config import CorpusConfig, DatabaseConfig, IndexConfig, PassageConfig
from index.embedder import Embedder
from index.models import BuildReport
from index.pg_build import build_into_database
from index.pg_index import PgIndex
from index.pg_schema import Connections
from index.pg_state import PgState, check_identity
from index.store_api import SearchIndex
from index.stores import IndexInfo, ProgressCallback, missing_index

logger = logging.getLogger(__name__)

_TABLES = (
    "index_state", "index_sources", "index_articles", "index_passages", "index_sentences",
    "index_segments", "index_postings", "index_dead", "index_term_stats",
)  # fmt: skip


class PgStore:
    """The index in PostgreSQL; connects on first use."""

    def __init__(
        self, index: IndexConfig, passages: PassageConfig, database: DatabaseConfig
    ) -> None:
        self._index, self._passages = index, passages
        self.connections = Connections(database, index)

    @property
    def where(self) -> str:
        return f"in the database at database.url = {self.connections.masked_url}"

    def _state(self) -> PgState | None:
        with self.connections.connection() as connection:
            return PgState.read(connection)

    def has_index(self) -> bool:
        return self._state() is not None

    def open(self, previous: SearchIndex | None = None) -> PgIndex:
        state = self._state()
        if state is None:
            raise missing_index(self.where)
        check_identity(state, embedding_identity(self._index, self._passages))
        return PgIndex(self.connections, self._index, state)

    def newer(self, index: SearchIndex) -> str | None:
        with self.connections.connection() as connection:
            row = connection.execute("SELECT build_id FROM index_state").fetchone()
        return None if row is None or row[0] == index.build_id else str(row[0])

    def build_named(self, build_id: str) -> str:
        return build_id

    def open_build(self, build: Build, previous: SearchIndex | None) -> PgIndex:
        """Opening the database's published state reads one row: nothing to load."""
        opened = self.open(previous)
        if opened.build_id != build:  # another build was published meanwhile
            logger.info("build %s was replaced by %s before it was opened", build, opened.build_id)
        return opened

    def reading(self, index: SearchIndex) -> AbstractContextManager[SearchIndex]:
        assert isinstance(index, PgIndex)
        return index.snapshot()

    def build(
        self,
        corpus: CorpusConfig,
        passages: PassageConfig,
        get_embedder: Callable[[], Embedder],
        progress: ProgressCallback | None,
        full: bool,
        cancel: threading.Event | None,
        wait: bool,
    ) -> BuildReport:
        return build_into_database(
            self.connections, corpus, passages, self._index, get_embedder, progress, full,
            cancel, wait,
        )  # fmt: skip

    def info(self, index: SearchIndex) -> IndexInfo:
        assert isinstance(index, PgIndex)
        state = index.state
        with self.connections.connection() as connection:
            row = connection.execute(
                "SELECT sum(pg_total_relation_size(name::regclass)) FROM unnest(%s::text[]) name",
                (list(_TABLES),),
            ).fetchone()
        return IndexInfo(
            build_id=state.build_id,
            built_at=state.built_at,
            build_seconds=state.build_seconds,
            articles=state.article_count,
            passages=state.passage_count,
            model=str(state.identity.get("model")),
            index_type=f"postgresql-{state.index_type}",
            bytes_on_disk=int(row[0]) if row and row[0] is not None else 0,
        )
