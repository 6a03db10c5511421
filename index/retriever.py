"""A published build loaded for searching: dense + BM25 candidates, fused, with exact cosines."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.config import IndexConfig, RetrievalConfig
from index.dense import load_dense_index, search_dense
from index.embedder import resolve_backend
from index.errors import IndexMismatchError, IndexNotFoundError
from index.fusion import reciprocal_rank_fusion
from index.lexical import LexicalIndex
from index.models import Hit, SourceInfo
from index.sentence_vectors import SentenceVectors
from index.store import REBUILD_HINT, IndexLayout, JsonlTable, Manifest, read_manifest

logger = logging.getLogger(__name__)


class LoadedIndex:
    """One immutable build: the service swaps a whole new one in after a rebuild."""

    def __init__(self, build_dir: Path, config: IndexConfig, verify_checksums: bool = True) -> None:
        started = time.perf_counter()
        self.build_dir = build_dir
        self.manifest: Manifest = read_manifest(build_dir, verify_checksums)
        backend = resolve_backend(config)
        if (self.manifest.model, self.manifest.backend) != (config.model, backend):
            raise IndexMismatchError(
                f"the index was built with model {self.manifest.model!r} "
                f"(backend {self.manifest.backend!r}) but the config says {config.model!r} "
                f"(backend {backend!r}): {REBUILD_HINT}"
            )
        try:
            self.passages = JsonlTable(build_dir / "passages.jsonl")
            self._documents = JsonlTable(build_dir / "documents.jsonl")
            self.vectors = np.load(build_dir / "vectors.npy", mmap_mode="r")
            self.dense = load_dense_index(build_dir / "dense.faiss", config)
            self.lexical = LexicalIndex.load(build_dir / "bm25")
            self.sentences = SentenceVectors.open(build_dir)
        except (OSError, ValueError, RuntimeError) as error:
            raise IndexMismatchError(
                f"the index files cannot be read ({error}): {REBUILD_HINT}"
            ) from error
        counts = {len(self.passages), len(self.vectors), int(self.dense.ntotal)}
        if counts != {self.manifest.passage_count}:
            raise IndexMismatchError(f"the index files do not match each other: {REBUILD_HINT}")
        if self.vectors.shape[1] != self.manifest.dimension:
            raise IndexMismatchError(f"the index vectors have the wrong dimension: {REBUILD_HINT}")
        self.articles: dict[str, SourceInfo] = {}
        self._document_rows: dict[str, int] = {}  # doc_id -> row in documents.jsonl
        for row, record in enumerate(self._documents):
            fields = {k: record.get(k) for k in ("doc_id", "title", "date", "source", "url")}
            self.articles[record["doc_id"]] = SourceInfo(
                **fields, source_path=record["source_path"], passages=record["passages"]
            )
            self._document_rows[record["doc_id"]] = row
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "loaded build %s: %d passages in %.2fs",
            self.manifest.build_id, self.manifest.passage_count, self.load_seconds,
        )  # fmt: skip

    @classmethod
    def open_current(cls, config: IndexConfig, verify_checksums: bool = True) -> LoadedIndex:
        build_dir = IndexLayout(config.path).current_build()
        if build_dir is None:
            raise IndexNotFoundError(f"no index at {config.path} yet: run `citebot index`")
        return cls(build_dir, config, verify_checksums)

    @property
    def build_id(self) -> str:
        return self.manifest.build_id

    def passage(self, row: int) -> dict[str, Any]:
        return self.passages[row]

    def article_text(self, doc_id: str) -> str | None:
        row = self._document_rows.get(doc_id)
        return None if row is None else str(self._documents[row]["text"])

    def search(
        self, query_vector: np.ndarray, terms: list[str], config: RetrievalConfig
    ) -> list[Hit]:
        """Fused candidates, best first, each with its exact cosine similarity to the question."""
        k = config.candidates
        dense = search_dense(self.dense, query_vector, k) if config.fusion != "bm25" else []
        lexical = self.lexical.search(terms, k) if config.fusion != "dense" else []
        sentences = (
            self.sentences.best_passages(query_vector, k)
            if self.sentences is not None and config.fusion == "rrf"
            else []
        )
        fused = reciprocal_rank_fusion(
            [dense, lexical, sentences],
            [config.dense_weight, config.bm25_weight, config.sentence_weight],
            config.rrf_k,
        )[:k]
        if not fused:
            return []
        rows = np.fromiter((row for row, _ in fused), dtype=np.int64)
        cosines = np.asarray(self.vectors[np.sort(rows)]) @ query_vector
        cosine_of = dict(zip(np.sort(rows).tolist(), cosines.tolist(), strict=True))
        bm25_of = dict(lexical)
        return [
            Hit(
                row=row,
                score=score,
                dense_score=cosine_of[row],
                lexical_score=bm25_of.get(row, 0.0),
            )
            for row, score in fused
        ]
