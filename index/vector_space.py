"""A model's vectors in a build: one per passage (with its faiss index) and, optionally, one per
sentence. A build holds one space per model: the English model's, and the multilingual one's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.config import IndexConfig
from index.dense import build_dense_index, load_dense_index, save_dense_index, search_dense
from index.sentence_vectors import VECTORS, SentenceVectors, SentenceVectorWriter


@dataclass(frozen=True)
class SpaceFiles:
    """The file names of one space inside a build directory."""

    passages: str
    faiss: str
    sentences: str


PRIMARY = SpaceFiles("vectors.npy", "dense.faiss", VECTORS)
MULTILINGUAL = SpaceFiles("multilingual.npy", "multilingual.faiss", "multilingual-sentences.npy")


class VectorSpace:
    """A published space, searchable: passages by vector, passages by their best sentence."""

    def __init__(self, build_dir: Path, files: SpaceFiles, config: IndexConfig) -> None:
        self.vectors = np.load(build_dir / files.passages, mmap_mode="r")
        self.dense: faiss.Index = load_dense_index(build_dir / files.faiss, config)
        self.sentences = SentenceVectors.open(build_dir, files.sentences)

    @classmethod
    def open(cls, build_dir: Path, files: SpaceFiles, config: IndexConfig) -> VectorSpace | None:
        """None when the build has no such space (a model switched off)."""
        if not (build_dir / files.passages).exists():
            return None
        return cls(build_dir, files, config)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        return search_dense(self.dense, query, k)

    def best_sentences(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.sentences.best_passages(query, k) if self.sentences is not None else []

    def cosines(self, rows: list[int], query: np.ndarray) -> dict[int, float]:
        """Exact cosine of the question with each of these passages."""
        ordered = sorted(set(rows))
        values = np.asarray(self.vectors[ordered]) @ query if ordered else []
        return dict(zip(ordered, (float(v) for v in values), strict=True))

    def sentence_cosines(self, row: int, query: np.ndarray) -> np.ndarray | None:
        if self.sentences is None:
            return None
        return self.sentences.of_passage(row) @ query


class SpaceWriter:
    """Writes one space of a new build, passage by passage, then its faiss index."""

    def __init__(
        self,
        work: Path,
        files: SpaceFiles,
        passages: int,
        sentences: int,
        dimension: int,
        write_offsets: bool,
    ) -> None:
        self._work, self._files, self._write_offsets = work, files, write_offsets
        self.vectors = np.lib.format.open_memmap(
            work / files.passages, "w+", np.float32, (passages, dimension)
        )
        allocate(work / files.passages)
        self._sentences = SentenceVectorWriter(
            work, sentences, dimension, passages, files.sentences
        )

    def add_passages(self, row: int, vectors: np.ndarray) -> None:
        """Passage vectors for rows row, row + 1, ..."""
        self.vectors[row : row + len(vectors)] = vectors

    def add_sentences(self, row: int, vectors: np.ndarray) -> None:
        """The sentence vectors of passage `row` (passages must come in order)."""
        self._sentences.append(row, vectors)

    def finish(self, index_type: str, config: IndexConfig) -> None:
        self.vectors.flush()
        self._sentences.finish(self._write_offsets)
        save_dense_index(
            build_dense_index(np.asarray(self.vectors), index_type, config),
            self._work / self._files.faiss,
        )
        del self.vectors


def allocate(path: Path) -> None:
    """Reserve the disk blocks of a file that is written through a memory map.

    A memory-mapped write that finds the disk full kills the process with SIGBUS (the whole
    bot, during /reindex); reserved up front, a full disk is an OSError the build reports.
    """
    with open(path, "r+b") as handle:
        os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
