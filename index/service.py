"""The answer service: the one plain-Python entry point the CLI and the bot both call.

It holds the live index behind one swap-able reference; a rebuild makes a new one and swaps it in,
so questions asked during a rebuild are answered from the index that is serving. A build published
by another process is loaded on a thread of its own (index/background_loader.py): answering never
waits for a load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from index.answering import answer_question
from index.background_loader import BackgroundLoader, Build
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

    The model loads on first use. A build published by another process (`citebot index`, or the
    bot's build worker) is noticed within `RELOAD_CHECK_SECONDS`, loaded in the background and
    swapped in when ready; until then the index that is serving answers.
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
        self._loader = BackgroundLoader(self._open_build, self._swap_in)

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
        """Load the published index on this thread, waiting for it (raises IndexNotFoundError /
        IndexMismatchError). For start-up and the CLI: a serving process lets `live` notice new
        builds, or calls `use_build`."""
        # The local store loads only the delta of a build over the base it holds already.
        self._swap_in(self._store.open(previous=self._live))

    def live(self) -> SearchIndex:
        """The index serving now. A newer published build is only noticed here: it is loaded
        in the background, and this call returns the index serving meanwhile."""
        current = self._live
        now = time.monotonic()
        if current is None:
            self.load()  # nothing serves yet: there is nothing to answer from meanwhile
            current = self._live
        elif now - self._checked_at > self.RELOAD_CHECK_SECONDS:
            self._checked_at = now
            target = self._store.newer(current)
            if target is not None:
                self._loader.request(target)
        if current is None:
            raise IndexNotFoundError(f"no index at {self.index_dir} yet: run `citebot index`")
        return current

    def use_build(self, build_id: str, timeout: float | None = None) -> None:
        """Serve the published build `build_id`: it is loaded on the loader's thread while the
        index serving now answers; this waits until it is swapped in. Raises IndexMismatchError
        when it cannot be loaded (the index serving now keeps serving)."""
        live = self._live
        if live is not None and live.build_id == build_id:
            return
        self._loader.wait_for(self._store.build_named(build_id), timeout)

    @property
    def loading_build(self) -> Build | None:
        """The build being loaded in the background now, if any."""
        return self._loader.loading

    def _open_build(self, build: Build) -> SearchIndex:
        """Load a build on the loader's thread (the store knows how)."""
        return self._store.open_build(build, self._live)

    def _swap_in(self, loaded: SearchIndex) -> None:
        with self._swap_lock:
            self._live = loaded
            self._checked_at = time.monotonic()

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
        serve: bool = True,
    ) -> BuildReport:
        """Build incrementally under the build lock and swap the result in (unless `serve` is
        False: `citebot index` only publishes it, for the processes that serve to notice; at 1M
        passages loading it would add ~13 s to a 10-article update for nothing).

        Raises BuildInProgressError when another build runs (unless `wait`: then it waits for
        that one to end), BuildError when it fails and BuildCancelledError when `cancel` is set
        meanwhile (either way the previous index keeps serving).
        """
        report = self._store.build(
            self._corpus, self._passages, lambda: self.embedder, progress, full, cancel, wait
        )
        live = self._live
        if serve and (live is None or live.build_id != report.build_id):
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
