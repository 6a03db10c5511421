"""The answer service: the one plain-Python entry point the CLI and the bot both call.

It holds the live index behind one swap-able reference; a rebuild makes a new one and swaps it in,
so questions asked during a rebuild are answered from the index that is serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from index.answering import answer_question
from index.config import (
    AnswerConfig,
    CorpusConfig,
    DatabaseConfig,
    IndexConfig,
    PassageConfig,
    RetrievalConfig,
)
from index.embedder import Embedder, question_languages
from index.errors import IndexNotFoundError
from index.models import Answer, BuildProgress, BuildReport, Document, SourceInfo
from index.store_api import SearchIndex
from index.stores import IndexInfo, open_store

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildProgress], None]


class CitebotService:
    """Answers questions from the live index and rebuilds it. Safe to call from several threads.

    The model loads on first use. A build published by another process (`citebot index` while
    the bot runs) is noticed within `RELOAD_CHECK_SECONDS` and swapped in.
    """

    RELOAD_CHECK_SECONDS = 2.0

    def __init__(
        self,
        corpus: CorpusConfig,
        passages: PassageConfig,
        index: IndexConfig,
        retrieval: RetrievalConfig,
        answer: AnswerConfig,
        database: DatabaseConfig | None = None,
    ) -> None:
        self._corpus, self._passages, self._index_config = corpus, passages, index
        self._retrieval, self._answer_config = retrieval, answer
        # The local files, or PostgreSQL when database.url is set (index/stores.py).
        self._store = open_store(index, passages, database)
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()
        self._live: SearchIndex | None = None
        self._swap_lock = threading.Lock()
        self._checked_at = 0.0

    @classmethod
    def from_config(cls, config: object) -> CitebotService:
        """Build from any object with the core's sections (the app's AppConfig)."""
        return cls(
            config.corpus,  # type: ignore[attr-defined]
            config.passages,  # type: ignore[attr-defined]
            config.index,  # type: ignore[attr-defined]
            config.retrieval,  # type: ignore[attr-defined]
            config.answer,  # type: ignore[attr-defined]
            getattr(config, "database", None),
        )

    @property
    def index_dir(self) -> Path:
        return self._index_config.path

    @property
    def embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = Embedder(self._index_config)
            return self._embedder

    def has_index(self) -> bool:
        return self._store.has_index()

    def load(self) -> None:
        """Load the published index (raises IndexNotFoundError / IndexMismatchError)."""
        # The local store loads only the delta of a build over the base it holds already.
        loaded = self._store.open(previous=self._live)
        with self._swap_lock:
            self._live = loaded
            self._checked_at = time.monotonic()

    def live(self) -> SearchIndex:
        """The index serving now, reloaded if another process published a newer build."""
        current = self._live
        now = time.monotonic()
        if current is None:
            self.load()
        elif now - self._checked_at > self.RELOAD_CHECK_SECONDS:
            self._checked_at = now
            if not self._store.is_current(current):
                logger.info("a newer build was published; loading it")
                self.load()
        if self._live is None:
            raise IndexNotFoundError(f"no index at {self.index_dir} yet: run `citebot index`")
        return self._live

    def answer(self, question: str, max_citations: int | None = None) -> Answer:
        """Answer one question (CPU work: call it off the event loop).

        Text that no UTF-8 can hold (lone surrogates, from undecodable input) is answered with
        those characters replaced: the tokenizers refuse it.
        """
        question = question.encode("utf-8", "replace").decode("utf-8")
        with self._store.reading(self.live()) as index:
            return answer_question(
                question, index, self.embedder, self._retrieval, self._answer_config, max_citations
            )

    def rebuild(
        self,
        progress: ProgressCallback | None = None,
        full: bool = False,
        cancel: threading.Event | None = None,
        wait: bool = False,
    ) -> BuildReport:
        """Build incrementally under the build lock and swap the result in.

        Raises BuildInProgressError when another build runs (unless `wait`: then it waits for
        that one to end), BuildError when it fails and BuildCancelledError when `cancel` is set
        meanwhile (either way the previous index keeps serving).
        """
        report = self._store.build(
            self._corpus, self._passages, lambda: self.embedder, progress, full, cancel, wait
        )
        live = self._live
        if live is None or live.build_id != report.build_id:
            self.load()
        return report

    def question_languages(self) -> tuple[str, ...]:
        """ISO 639-1 codes of the languages questions may be asked in (for /help)."""
        return question_languages(self._index_config)

    def sources(self) -> list[SourceInfo]:
        return list(self.live().articles.values())

    def article(self, doc_id: str) -> Document | None:
        index = self.live()
        meta = index.articles.get(doc_id)
        text = index.article_text(doc_id)
        if meta is None or text is None:
            return None
        return Document(
            meta.doc_id, meta.title, text, meta.source_path, meta.date, meta.source, meta.url
        )

    def info(self) -> IndexInfo:
        return self._store.info(self.live())
