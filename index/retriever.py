"""A published build loaded for searching: each model's candidates and BM25's, fused with
regard to language, with exact cosines.

Five ranked lists, when the build has them: the English model's passage vectors and sentence
vectors, BM25, and the multilingual model's passage and sentence vectors. A list only judges the
passages it can compare with the question: the English model the Latin-alphabet passages of a
Latin-alphabet question, the multilingual model every other pair, BM25 the passages written in
an alphabet the question has words in. Each passage's fused score is the weighted mean of its
reciprocal ranks over the lists that can judge it (bench/RESULTS.md): a plain sum would let the
lists that cannot read a Russian passage outvote the one that can.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.build_writer import SCRIPTS
from index.config import IndexConfig, RetrievalConfig
from index.embedder import Embedder, resolve_backend
from index.errors import IndexMismatchError, IndexNotFoundError
from index.fusion import Ranking, language_aware_fusion
from index.languages import Script, script_of
from index.lexical import TOKENIZER, LexicalIndex, tokenize
from index.models import Hit, SourceInfo
from index.segments import (
    SegmentedLexical,
    SegmentedSpace,
    SegmentLayout,
    StackedTable,
    segment_layout,
)
from index.store import REBUILD_HINT, IndexLayout, JsonlTable, Manifest, read_manifest
from index.vector_space import MULTILINGUAL, PRIMARY, VectorSpace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Query:
    """A question ready to search: its terms, its vector in each model, its alphabet."""

    text: str
    terms: list[str]
    vector: np.ndarray  # the English model's
    multilingual: np.ndarray | None
    script: Script

    @property
    def term_scripts(self) -> set[Script]:
        """The alphabets the question's terms are written in."""
        return {script_of(term) for term in self.terms}

    @classmethod
    def of(cls, text: str, embedder: Embedder) -> Query:
        encoder = embedder.multilingual
        return cls(
            text,
            tokenize([text])[0],
            embedder.embed_query(text),
            encoder.embed_query(text) if encoder is not None else None,
            script_of(text),
        )


class LoadedIndex:
    """One immutable build: the service swaps a whole new one in after a rebuild."""

    def __init__(
        self,
        build_dir: Path,
        config: IndexConfig,
        verify_checksums: bool = True,
        reuse: LoadedIndex | None = None,
    ) -> None:
        """Load a build; a delta build over the base `reuse` holds takes that base as it is
        (already loaded and checked), so publishing a delta costs a reload of the delta only."""
        started = time.perf_counter()
        self.build_dir = build_dir
        self.manifest: Manifest = read_manifest(build_dir, verify_checksums)
        _check_models(self.manifest, config)
        base_id = self.manifest.base_id
        reused = reuse._base if reuse is not None and base_id == reuse._base_id else None
        try:
            layout = segment_layout(build_dir, self.manifest, verify_checksums and not reused)
            if layout is None:
                whole = _Segment(build_dir, self.manifest, config)
                self._base: _Segment = whole
                self._base_id: str | None = self.manifest.build_id
                self.passages: JsonlTable | StackedTable = whole.passages
                self._documents: JsonlTable | StackedTable = whole.documents
                self.primary: VectorSpace | SegmentedSpace = whole.primary
                self.multilingual: VectorSpace | SegmentedSpace | None = whole.multilingual
                self.scripts = whole.scripts
                self.lexical: LexicalIndex | SegmentedLexical = whole.lexical
                hidden_documents: frozenset[int] = frozenset()
            else:
                self._base = reused or _Segment(layout.base_dir, layout.base, config)
                self._base_id = base_id
                self._open_segments(layout, config)
                hidden_documents = layout.hidden_documents
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            raise IndexMismatchError(
                f"the index files cannot be read ({error}): {REBUILD_HINT}"
            ) from error
        self.vectors, self.dense, self.sentences = (
            self.primary.vectors,
            self.primary.dense,
            self.primary.sentences,
        )  # the English model's, by their old names
        self.articles: dict[str, SourceInfo] = {}
        self._document_rows: dict[str, int] = {}  # doc_id -> row in documents.jsonl
        segments = [self._base]
        if isinstance(self._documents, StackedTable):  # a delta build: the delta's articles too
            segments.append(self._delta)
        offset = 0
        for segment in segments:
            for row, info in enumerate(segment.articles(), start=offset):
                if row not in hidden_documents:  # else a changed or deleted article's base copy
                    self.articles[info.doc_id] = info
                    self._document_rows[info.doc_id] = row
            offset += len(segment.documents)
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "loaded build %s: %d passages in %.2fs",
            self.manifest.build_id, self.manifest.passage_count, self.load_seconds,
        )  # fmt: skip

    def _open_segments(self, layout: SegmentLayout, config: IndexConfig) -> None:
        """A delta build: the base's files and the delta's, searched as one (index/segments)."""
        base = self._base
        delta = _Segment(layout.delta_dir, read_manifest(layout.delta_dir, False), config)
        self._delta = delta
        self.passages = StackedTable(base.passages, delta.passages)
        self._documents = StackedTable(base.documents, delta.documents)
        self.primary = SegmentedSpace(base.primary, delta.primary, layout.hidden)
        self.multilingual = None
        if base.multilingual is not None and delta.multilingual is not None:
            self.multilingual = SegmentedSpace(base.multilingual, delta.multilingual, layout.hidden)
        self.scripts = np.concatenate([base.scripts, delta.scripts])
        self.lexical = SegmentedLexical(base.lexical, delta.lexical, layout.hidden)

    @classmethod
    def open_current(
        cls, config: IndexConfig, verify_checksums: bool = True, reuse: LoadedIndex | None = None
    ) -> LoadedIndex:
        build_dir = IndexLayout(config.path).current_build()
        if build_dir is None:
            raise IndexNotFoundError(f"no index at {config.path} yet: run `citebot index`")
        return cls(build_dir, config, verify_checksums, reuse)

    @property
    def build_id(self) -> str:
        return self.manifest.build_id

    def passage(self, row: int) -> dict[str, Any]:
        return self.passages[row]

    def article_text(self, doc_id: str) -> str | None:
        row = self._document_rows.get(doc_id)
        return None if row is None else str(self._documents[row]["text"])

    def sentence_cosines(self, row: int, query: Query, english: bool) -> np.ndarray | None:
        if english:
            return self.primary.sentence_cosines(row, query.vector)
        if self.multilingual is None or query.multilingual is None:
            return None
        return self.multilingual.sentence_cosines(row, query.multilingual)

    def idf(self, term: str) -> float:
        return self.lexical.idf(term)

    def search(self, query: Query, config: RetrievalConfig) -> list[Hit]:
        """Fused candidates, best first, each with its exact cosines to the question."""
        k = config.candidates
        latin = query.script is Script.LATIN
        # BM25 can judge the passages written in an alphabet the question has terms in: a
        # Russian question naming "OneWeb" can be matched with English text on that word.
        same_script = np.isin(self.scripts, [int(s) for s in query.term_scripts])
        lists: list[tuple[Ranking, float, np.ndarray | None]] = []
        english = self.scripts == Script.LATIN if latin else np.zeros(len(self.scripts), bool)
        if config.fusion != "bm25" and latin:
            lists.append((self.primary.search(query.vector, k), config.dense_weight, english))
            if config.fusion == "rrf":
                sentences = self.primary.best_sentences(query.vector, k)
                lists.append((sentences, config.sentence_weight, english))
        lexical = self.lexical.search(query.terms, k) if config.fusion != "dense" else []
        if config.fusion != "dense":
            lists.append((lexical, config.bm25_weight, same_script))
        if self.multilingual is not None and query.multilingual is not None:
            # The multilingual model judges what the English model cannot read: measured on
            # SciFact, its lists lower an English question's ranking of English text.
            other = ~english
            if config.fusion != "bm25":
                passages = self.multilingual.search(query.multilingual, k)
                lists.append((passages, config.multilingual_weight, other))
            if config.fusion == "rrf":
                sentences = self.multilingual.best_sentences(query.multilingual, k)
                lists.append((sentences, config.multilingual_sentence_weight, other))
        fused = language_aware_fusion(
            [ranking for ranking, _, _ in lists],
            [weight for _, weight, _ in lists],
            [judges for _, _, judges in lists],
            config.rrf_k,
        )[:k]
        if not fused:
            return []
        rows = [row for row, _ in fused]
        cosine_of = self.primary.cosines(rows, query.vector)
        multilingual_of = (
            self.multilingual.cosines(rows, query.multilingual)
            if self.multilingual is not None and query.multilingual is not None
            else {}
        )
        bm25_of = dict(lexical)
        return [
            Hit(
                row=row,
                score=score,
                dense_score=cosine_of[row],
                lexical_score=bm25_of.get(row, 0.0),
                multilingual_score=multilingual_of.get(row),
                same_script=bool(same_script[row]),
                english=latin and self.scripts[row] == Script.LATIN,
            )
            for row, score in fused
        ]


class _Segment:
    """One build directory's files, checked against each other and its manifest."""

    def __init__(self, directory: Path, manifest: Manifest, config: IndexConfig) -> None:
        self.passages = JsonlTable(directory / "passages.jsonl")
        self.documents = JsonlTable(directory / "documents.jsonl")
        primary = VectorSpace.open(directory, PRIMARY, config)
        if primary is None:
            raise ValueError(f"{PRIMARY.passages} is missing")
        self.primary = primary
        self.multilingual = VectorSpace.open(directory, MULTILINGUAL, config)
        self.scripts = np.load(directory / SCRIPTS)
        self.lexical = LexicalIndex.load(directory / "bm25")
        counts = {len(self.passages), len(primary.vectors), int(primary.dense.ntotal)}
        counts |= {len(self.scripts), self.lexical.documents}
        if self.multilingual is not None:
            counts |= {len(self.multilingual.vectors), int(self.multilingual.dense.ntotal)}
        if counts != {manifest.passage_count}:
            raise IndexMismatchError(f"the index files do not match each other: {REBUILD_HINT}")
        if primary.dimension != manifest.dimension:
            raise IndexMismatchError(f"the index vectors have the wrong dimension: {REBUILD_HINT}")
        self._articles: list[SourceInfo] | None = None

    def articles(self) -> list[SourceInfo]:
        """Each document row's citation details, read once: a base reused by the next delta
        build's load is not parsed again (166k articles at 1M)."""
        if self._articles is None:
            self._articles = [
                SourceInfo(
                    doc_id=record["doc_id"],
                    title=record["title"],
                    date=record.get("date"),
                    source=record.get("source"),
                    url=record.get("url"),
                    source_path=record["source_path"],
                    passages=record["passages"],
                )
                for record in self.documents
            ]
        return self._articles


def _check_models(manifest: Manifest, config: IndexConfig) -> None:
    """An index is only searched with the models (and the tokenizer) that built it."""
    backend = resolve_backend(config)
    if (manifest.model, manifest.backend) != (config.model, backend):
        raise IndexMismatchError(
            f"the index was built with model {manifest.model!r} "
            f"(backend {manifest.backend!r}) but the config says {config.model!r} "
            f"(backend {backend!r}): {REBUILD_HINT}"
        )
    if manifest.multilingual_model != config.multilingual_model:
        raise IndexMismatchError(
            f"the index was built with multilingual model {manifest.multilingual_model!r} but "
            f"the config says {config.multilingual_model!r}: {REBUILD_HINT}"
        )
    if manifest.data.get("tokenizer") != TOKENIZER:
        raise IndexMismatchError(f"the index was built with another tokenizer: {REBUILD_HINT}")
