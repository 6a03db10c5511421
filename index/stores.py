"""Where the index lives: the one place that picks the store from the settings.

    database.url unset  -> FileStore: published builds under index.path (faiss, bm25s files)
    database.url set    -> PgStore:   PostgreSQL + pgvector (index/pg_store.py)

Both give the service the same things: whether an index is published, the serving index (a
`SearchIndex`), a consistent view of it for one question, builds, and /stats figures.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from index.background_loader import Build, run_at_low_priority
from index.builder import build_index
from index.config import CorpusConfig, DatabaseConfig, IndexConfig, PassageConfig
from index.embedder import Embedder
from index.errors import IndexNotFoundError
from index.models import BuildProgress, BuildReport
from index.retriever import LoadedIndex
from index.store import IndexLayout, read_manifest
from index.store_api import SearchIndex

ProgressCallback = Callable[[BuildProgress], None]


@dataclass(frozen=True)
class IndexInfo:
    """What /stats shows about the live index."""

    build_id: str
    built_at: str  # ISO 8601, UTC
    build_seconds: float
    articles: int
    passages: int
    model: str
    index_type: str
    bytes_on_disk: int


class IndexStore(Protocol):
    """What the service needs from wherever the index is kept."""

    def has_index(self) -> bool: ...

    def open(self, previous: SearchIndex | None = None) -> SearchIndex:
        """The published index (IndexNotFoundError, IndexMismatchError); `previous`, the index
        serving until now, may lend it what the two share."""

    def newer(self, index: SearchIndex) -> Build | None:
        """The published build when it is not `index` (cheap: checked every few seconds)."""

    def build_named(self, build_id: str) -> Build:
        """How `newer` and `open_build` name the build `build_id`."""

    def open_build(self, build: Build, previous: SearchIndex | None) -> SearchIndex:
        """Load `build` on the background loader's thread (answering goes on meanwhile)."""

    def reading(self, index: SearchIndex) -> AbstractContextManager[SearchIndex]:
        """`index` as one consistent state, for the span of one question."""

    def build(
        self,
        corpus: CorpusConfig,
        passages: PassageConfig,
        get_embedder: Callable[[], Embedder],
        progress: ProgressCallback | None,
        full: bool,
        cancel: threading.Event | None,
        wait: bool,
    ) -> BuildReport: ...

    def info(self, index: SearchIndex) -> IndexInfo: ...


def open_store(
    index: IndexConfig, passages: PassageConfig, database: DatabaseConfig | None
) -> IndexStore:
    """The store the settings name. Nothing is opened or connected yet."""
    if database is None or database.url is None:
        return FileStore(index)
    from index.pg_store import PgStore  # psycopg is needed only with a database

    return PgStore(index, passages, database)


class FileStore:
    """The local files of today: builds under index.path, `current` switched atomically."""

    def __init__(self, index: IndexConfig) -> None:
        self._config = index
        self._layout = IndexLayout(index.path)

    def has_index(self) -> bool:
        return self._layout.current_build() is not None

    def open(self, previous: SearchIndex | None = None) -> LoadedIndex:
        reuse = previous if isinstance(previous, LoadedIndex) else None  # its base segment
        return LoadedIndex.open_current(self._config, self._config.verify_checksums, reuse=reuse)

    def newer(self, index: SearchIndex) -> Path | None:
        assert isinstance(index, LoadedIndex)
        target = self._layout.current_build()
        return None if target is None or target == index.build_dir.resolve() else target

    def build_named(self, build_id: str) -> Path:
        return (self._layout.builds / build_id).resolve()

    def open_build(self, build: Build, previous: SearchIndex | None) -> LoadedIndex:
        """Its checksums first, at a lower priority (they read every byte: 5.8 GB at 1M
        passages), then the rest (sizes are checked again)."""
        assert isinstance(build, Path)
        if self._config.verify_checksums:
            run_at_low_priority(lambda: read_manifest(build, verify_checksums=True))
        reuse = previous if isinstance(previous, LoadedIndex) else None  # its base segment
        return LoadedIndex(build, self._config, verify_checksums=False, reuse=reuse)

    def reading(self, index: SearchIndex) -> AbstractContextManager[SearchIndex]:
        return nullcontext(index)  # a loaded build never changes under its reader

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
        return build_index(
            corpus, passages, self._config, get_embedder, progress, full, cancel, wait
        )

    def info(self, index: SearchIndex) -> IndexInfo:
        assert isinstance(index, LoadedIndex)
        manifest = index.manifest.data
        size = sum(f["bytes"] for f in manifest["files"].values())
        base_id = index.manifest.base_id
        if base_id is not None:  # a delta build stands on its base's files: they count too
            base_dir = index.build_dir.parent / base_id
            base = read_manifest(base_dir, verify_checksums=False).data
            size += sum(f["bytes"] for f in base["files"].values())
            size += os.path.getsize(base_dir / "manifest.json")
        return IndexInfo(
            build_id=index.build_id,
            built_at=manifest["built_at"],
            build_seconds=float(manifest["build_seconds"]),
            articles=int(manifest["article_count"]),
            passages=int(manifest["passage_count"]),
            model=index.manifest.model,
            index_type=str(manifest["index_type"]),
            bytes_on_disk=size + os.path.getsize(index.build_dir / "manifest.json"),
        )


def missing_index(where: str) -> IndexNotFoundError:
    return IndexNotFoundError(f"no index {where} yet: run `citebot index`")
