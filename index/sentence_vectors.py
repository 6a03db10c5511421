"""One vector per sentence of every passage: a finer-grained dense signal for ranking, and the
way snippets find the sentence that answers a question even when it shares no words with it.

Stored beside the passage vectors, one file per model (`sentences.npy` for the English model,
`multilingual-sentences.npy` for the multilingual one; one row per sentence, passage by passage)
and one `sentences.offsets.npy` they share (passage r owns rows offsets[r]:offsets[r + 1]).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

VECTORS = "sentences.npy"
OFFSETS = "sentences.offsets.npy"


class SentenceVectorWriter:
    """Fills a model's sentence vectors (and the shared offsets) passage by passage."""

    def __init__(
        self, directory: Path, count: int, dimension: int, passages: int, name: str = VECTORS
    ) -> None:
        self._directory = directory
        self._name = name
        self._vectors = np.zeros((count, dimension), dtype=np.float32)
        self._offsets = np.zeros(passages + 1, dtype=np.int64)
        self._next = 0

    def append(self, passage_row: int, vectors: np.ndarray) -> None:
        self._vectors[self._next : self._next + len(vectors)] = vectors
        self._next += len(vectors)
        self._offsets[passage_row + 1] = self._next

    def finish(self, write_offsets: bool = True) -> None:
        np.save(self._directory / self._name, self._vectors[: self._next])
        if write_offsets:
            # Passages without sentence vectors own an empty range ending where the last did.
            np.save(self._directory / OFFSETS, np.maximum.accumulate(self._offsets))


class SentenceVectors:
    """A model's sentence vectors in a published build, searchable."""

    def __init__(self, directory: Path, name: str = VECTORS) -> None:
        self.vectors = np.load(directory / name, mmap_mode="r")
        self.offsets = np.load(directory / OFFSETS)
        self._index: faiss.Index | None = None

    @classmethod
    def open(cls, directory: Path, name: str = VECTORS) -> SentenceVectors | None:
        """None when the build has no sentence vectors (large corpora skip them)."""
        if not (directory / name).exists():
            return None
        loaded = cls(directory, name)
        return loaded if len(loaded.vectors) else None

    def __len__(self) -> int:
        return len(self.vectors)

    def of_passage(self, row: int) -> np.ndarray:
        return np.asarray(self.vectors[self.offsets[row] : self.offsets[row + 1]])

    def best_passages(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Passages ranked by their best sentence's cosine similarity to the question."""
        if self._index is None:
            index = faiss.IndexFlatIP(self.vectors.shape[1])
            index.add(np.ascontiguousarray(self.vectors))
            self._index = index
        scores, rows = self._index.search(query.reshape(1, -1), min(4 * k, len(self)))
        owners = np.searchsorted(self.offsets, rows[0], side="right") - 1
        best: dict[int, float] = {}
        for owner, score in zip(owners.tolist(), scores[0].tolist(), strict=True):
            if owner not in best:
                best[owner] = score
        return sorted(best.items(), key=lambda item: -item[1])[:k]
