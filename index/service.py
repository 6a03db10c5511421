"""The answer service: the one plain-Python entry point the CLI and the bot both call.

It holds the live index behind one swap-able reference; a rebuild makes a new one and swaps it in,
so questions asked during a rebuild are answered from the index that is serving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index.config import AnswerConfig, CorpusConfig, IndexConfig, PassageConfig, RetrievalConfig
from index.models import Answer, BuildProgress, BuildReport, Document

ProgressCallback = Callable[[BuildProgress], None]


@dataclass(frozen=True)
class SourceInfo:
    """One article in the live index, for /sources and `citebot sources`."""

    doc_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    source_path: str
    passages: int


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


class CitebotService:
    """Answers questions from the live index and rebuilds it. Safe to call from several threads."""

    def __init__(
        self,
        corpus: CorpusConfig,
        passages: PassageConfig,
        index: IndexConfig,
        retrieval: RetrievalConfig,
        answer: AnswerConfig,
    ) -> None:
        raise NotImplementedError

    @property
    def index_dir(self) -> Path:
        raise NotImplementedError

    def has_index(self) -> bool:
        raise NotImplementedError

    def load(self) -> None:
        """Load the published index (raises IndexNotFoundError / IndexMismatchError)."""
        raise NotImplementedError

    def answer(self, question: str, max_citations: int | None = None) -> Answer:
        """Answer one question (CPU work: call it off the event loop)."""
        raise NotImplementedError

    def rebuild(self, progress: ProgressCallback | None = None, full: bool = False) -> BuildReport:
        """Build incrementally under the build lock and swap the result in.

        Raises BuildInProgressError when another build runs, BuildError when it fails (the
        previous index keeps serving).
        """
        raise NotImplementedError

    def sources(self) -> list[SourceInfo]:
        raise NotImplementedError

    def article(self, doc_id: str) -> Document | None:
        raise NotImplementedError

    def info(self) -> IndexInfo:
        raise NotImplementedError
