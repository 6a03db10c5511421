"""The small frozen records that carry data through the pipeline, file to answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One article, as read from the corpus."""

    doc_id: str
    title: str
    text: str
    source_path: str  # relative to the corpus directory
    date: str | None = None
    source: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class SourceInfo:
    """An indexed article's citation details, for /sources, `citebot sources` and citations."""

    doc_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    source_path: str
    passages: int


@dataclass(frozen=True)
class Passage:
    """Whole sentences from one article; `start`/`end` are character offsets in its text."""

    passage_id: str
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A passage the retriever ranked, with the scores that ranked it."""

    row: int
    score: float  # fused score
    dense_score: float  # cosine similarity of question and passage, English model
    lexical_score: float  # BM25 score (0 when BM25 did not return it)
    multilingual_score: float | None = None  # the same cosine in the multilingual model
    same_script: bool = True  # passage and question in one alphabet (BM25 can compare them)
    english: bool = True  # both in the Latin alphabet: the English model can compare them

    @property
    def judged_by_english_model(self) -> bool:
        """Whether the English model's cosine, not the multilingual one's, speaks for this hit."""
        return self.english or self.multilingual_score is None

    @property
    def cosine(self) -> float:
        """The cosine of the model that can compare question and passage."""
        if self.judged_by_english_model:
            return self.dense_score
        return float(self.multilingual_score)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Citation:
    """One quoted source in an answer. `snippet` is exactly the text a user is shown."""

    rank: int
    doc_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    also_in: tuple[str, ...]
    snippet: str
    passage: str
    score: float
    passage_id: str = ""
    # (start, end) of the best-matching sentence inside `snippet`, for bolding it.
    highlight: tuple[int, int] = (0, 0)
    # Titles of the `also_in` articles, in the same order, for people (the JSON keeps ids).
    also_in_titles: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of a citation (the CLI contract)."""
        return {
            "rank": self.rank,
            "doc_id": self.doc_id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "url": self.url,
            "also_in": list(self.also_in),
            "snippet": self.snippet,
            "passage": self.passage,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Answer:
    """What the answer service returns for one question."""

    question: str
    found: bool
    answer: str
    citations: tuple[Citation, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of an answer (the CLI contract)."""
        return {
            "question": self.question,
            "found": self.found,
            "answer": self.answer,
            "citations": [citation.to_json() for citation in self.citations],
        }


@dataclass(frozen=True)
class BuildProgress:
    """A progress report from a running build, for a progress bar or an edited chat message."""

    stage: str  # "scanning", "embedding", "indexing", "publishing"
    files_scanned: int = 0
    files_total: int = 0
    passages_embedded: int = 0
    passages_to_embed: int = 0


@dataclass(frozen=True)
class BuildReport:
    """What a finished build did: the summary `citebot index` and /reindex print."""

    build_id: str
    articles: int
    passages: int
    passages_embedded: int
    files_added: tuple[str, ...] = ()
    files_changed: tuple[str, ...] = ()
    files_removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # "path: reason"
    renamed: tuple[str, ...] = ()  # "path: article id … is already used by …, so …"
    seconds: float = 0.0
    unchanged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
