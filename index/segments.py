"""A published build as a large base segment plus a small delta segment, searched as one.

A delta build (index/delta_build.py) leaves the base build's files where they are and publishes
a directory holding only the new and changed articles (`delta/`, a complete small build with an
exact faiss index and BM25 of its own) and the names of the base files it hides (changed or
deleted: their base rows are tombstones). Rows [0, base) are the base's, rows [base, base +
delta) the delta's, so every caller keeps using one row number per passage.

Each ranked list is searched in both segments and merged by score before fusion: one model's
cosines are comparable across segments, and BM25 scores are made comparable by scoring both
segments with one IDF, the one a merged build would have (see `SegmentedLexical`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.config import IndexConfig
from index.lexical import LexicalIndex, idf_of
from index.sentence_vectors import SentenceVectors
from index.store import JsonlTable, Manifest, read_manifest
from index.vector_space import SpaceFiles, VectorSpace

DELTA_DIR = "delta"  # inside a delta build: the delta segment, a build directory of its own
Ranking = list[tuple[int, float]]


@dataclass(frozen=True)
class SegmentLayout:
    """Where a delta build's two segments are and which base rows it hides."""

    base_dir: Path
    base: Manifest
    delta_dir: Path
    hidden: np.ndarray  # one bool per base passage row: True for a tombstone
    hidden_documents: frozenset[int]  # base documents.jsonl rows of hidden files


def segment_layout(
    build_dir: Path, manifest: Manifest, verify_checksums: bool
) -> SegmentLayout | None:
    """The segments of a delta build; None for a build that is one segment (a base)."""
    base_id = manifest.base_id
    if base_id is None:
        return None
    base_dir = build_dir.parent / base_id
    base = read_manifest(base_dir, verify_checksums)
    hidden = np.zeros(base.passage_count, dtype=bool)
    documents: set[int] = set()
    for relpath in manifest.data["hidden_sources"]:
        info = base.sources[relpath]
        hidden[info["first_row"] : info["first_row"] + info["passages"]] = True
        documents.update(range(*info["document_rows"]))
    return SegmentLayout(base_dir, base, build_dir / DELTA_DIR, hidden, frozenset(documents))


def merge_rankings(base: Ranking, delta: Ranking, offset: int, k: int) -> Ranking:
    """The best k of two segments' (row, score) lists, delta rows shifted past the base's."""
    both = base + [(row + offset, score) for row, score in delta]
    return sorted(both, key=lambda item: (-item[1], item[0]))[:k]


class StackedRows:
    """The base's rows then the delta's, indexed as one array (int, slice or list of rows)."""

    def __init__(self, base: np.ndarray, delta: np.ndarray) -> None:
        self._base, self._delta, self._offset = base, delta, len(base)

    @property
    def shape(self) -> tuple[int, int]:
        return (self._offset + len(self._delta), int(self._base.shape[1]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: int | slice | list[int] | np.ndarray) -> np.ndarray:
        if isinstance(key, int | np.integer):
            row = int(key)
            return np.asarray(
                self._base[row] if row < self._offset else self._delta[row - self._offset]
            )
        rows = (
            np.arange(*key.indices(len(self))) if isinstance(key, slice) else np.asarray(key, int)
        )
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        in_base = rows < self._offset
        out[in_base] = self._base[rows[in_base]]
        out[~in_base] = self._delta[rows[~in_base] - self._offset]
        return out


class StackedTable:
    """A JSON-lines table of the base then the delta's, by global row (tombstones included, so
    row numbers stay those of the vectors)."""

    def __init__(self, base: JsonlTable, delta: JsonlTable) -> None:
        self._base, self._delta, self._offset = base, delta, len(base)

    def __len__(self) -> int:
        return self._offset + len(self._delta)

    def __getitem__(self, row: int) -> dict[str, Any]:
        return self._base[row] if row < self._offset else self._delta[row - self._offset]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self._base
        yield from self._delta


class SegmentedSentences:
    """Each passage's sentence vectors, by global row."""

    def __init__(self, base: SentenceVectors, delta: SentenceVectors | None, offset: int) -> None:
        self._base, self._delta, self._offset = base, delta, offset

    def of_passage(self, row: int) -> np.ndarray:
        if row < self._offset:
            return self._base.of_passage(row)
        if self._delta is None:  # a delta whose passages have no sentences
            return np.zeros((0, self._base.vectors.shape[1]), dtype=np.float32)
        return self._delta.of_passage(row - self._offset)


def _wider(k: int, hidden: int) -> int:
    """How many base results to ask for so that k survive the tombstones: all of them can be
    among the best, up to a cap that keeps a search over a huge tombstone set affordable."""
    return k + min(hidden, 10 * k)


class SegmentedSpace:
    """One model's vector space over base and delta, with the base's tombstones left out."""

    def __init__(self, base: VectorSpace, delta: VectorSpace, hidden: np.ndarray) -> None:
        self.base, self.delta, self._hidden = base, delta, hidden
        self._offset, self._hidden_count = len(base.vectors), int(hidden.sum())
        self.vectors = StackedRows(base.vectors, delta.vectors)
        self.dense = base.dense  # the base's faiss index (the delta's is exact and small)
        self.sentences = (
            SegmentedSentences(base.sentences, delta.sentences, self._offset)
            if base.sentences is not None
            else None
        )

    @property
    def dimension(self) -> int:
        return self.base.dimension

    def _visible(self, ranking: Ranking) -> Ranking:
        return [(row, score) for row, score in ranking if not self._hidden[row]]

    def search(self, query: np.ndarray, k: int) -> Ranking:
        base = self._visible(self.base.search(query, _wider(k, self._hidden_count)))
        return merge_rankings(base, self.delta.search(query, k), self._offset, k)

    def best_sentences(self, query: np.ndarray, k: int) -> Ranking:
        base = self._visible(self.base.best_sentences(query, _wider(k, self._hidden_count)))
        return merge_rankings(base, self.delta.best_sentences(query, k), self._offset, k)

    def cosines(self, rows: list[int], query: np.ndarray) -> dict[int, float]:
        base = self.base.cosines([r for r in rows if r < self._offset], query)
        delta = self.delta.cosines([r - self._offset for r in rows if r >= self._offset], query)
        return base | {row + self._offset: value for row, value in delta.items()}

    def sentence_cosines(self, row: int, query: np.ndarray) -> np.ndarray | None:
        if row < self._offset:
            return self.base.sentence_cosines(row, query)
        return self.delta.sentence_cosines(row - self._offset, query)


class SegmentedLexical:
    """BM25 over base and delta with one IDF: each term's document frequency over the visible
    passages of both segments, exactly what a merged build would count. Each segment's scores
    are reweighted from its own IDF to that one; what still differs from a merged build is the
    length normalisation (each segment divides by its own average passage length)."""

    def __init__(self, base: LexicalIndex, delta: LexicalIndex, hidden: np.ndarray) -> None:
        self.base, self.delta, self._hidden = base, delta, hidden
        self._offset, self._hidden_count = base.documents, int(hidden.sum())
        self._documents = base.documents - self._hidden_count + delta.documents

    def _frequency(self, term: str) -> int:
        hidden = int(self._hidden[self.base.rows_with(term)].sum()) if self._hidden_count else 0
        return self.base.frequency(term) - hidden + self.delta.frequency(term)

    def idf(self, term: str) -> float:
        return idf_of(self._documents, self._frequency(term))

    def search(self, terms: list[str], k: int) -> Ranking:
        merged = {term: self.idf(term) for term in terms}
        base_weights = _reweight(merged, self.base)
        delta_weights = _reweight(merged, self.delta)
        wider = _wider(k, self._hidden_count)
        base = [
            (row, score)
            for row, score in self.base.search(terms, wider, base_weights)
            if not self._hidden[row]
        ]
        return merge_rankings(base, self.delta.search(terms, k, delta_weights), self._offset, k)


def _reweight(merged: dict[str, float], segment: LexicalIndex) -> dict[str, float]:
    """Per term, the factor that turns the segment's IDF into the merged one."""
    weights = {}
    for term, idf in merged.items():
        own = segment.idf(term)
        weights[term] = idf / own if own > 0 else 0.0
    return weights


def open_tables(
    build_dir: Path, manifest: Manifest
) -> tuple[JsonlTable | StackedTable, JsonlTable | StackedTable]:
    """A build's documents and passages tables by global row, for a build reusing them."""
    if manifest.base_id is None:
        return JsonlTable(build_dir / "documents.jsonl"), JsonlTable(build_dir / "passages.jsonl")
    base_dir, delta_dir = build_dir.parent / manifest.base_id, build_dir / DELTA_DIR

    def stacked(name: str) -> StackedTable:
        return StackedTable(JsonlTable(base_dir / name), JsonlTable(delta_dir / name))

    return stacked("documents.jsonl"), stacked("passages.jsonl")


def open_space(
    build_dir: Path, files: SpaceFiles, config: IndexConfig
) -> VectorSpace | SegmentedSpace | None:
    """One model's space of a published build by global row (None: the build has none)."""
    layout = segment_layout(build_dir, read_manifest(build_dir, False), False)
    if layout is None:
        return VectorSpace.open(build_dir, files, config)
    base = VectorSpace.open(layout.base_dir, files, config)
    delta = VectorSpace.open(layout.delta_dir, files, config)
    return SegmentedSpace(base, delta, layout.hidden) if base and delta else None
