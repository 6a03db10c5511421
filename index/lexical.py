"""BM25 over the passages, with bm25s (sparse matrices on disk, memory-mapped when loading).

Terms are stemmed by their alphabet: Cyrillic words with the Russian Snowball stemmer, all others
with the English one, and the stop words of both languages are dropped, so Russian and English
articles (and a corpus mixing them) are searched as well as English alone was. Names in other
Latin-alphabet languages still match exactly; their inflections do not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_RUSSIAN

# Changing how text becomes terms changes every BM25 index: part of a build's identity.
TOKENIZER = "snowball-en-ru-1"
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_STOPWORDS = sorted(set(STOPWORDS_EN) | set(STOPWORDS_RUSSIAN))


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def _stem_words(words: list[str]) -> list[str]:
    """Stem each word with the stemmer of its alphabet (bm25s passes the unique words)."""
    russian = [i for i, word in enumerate(words) if _CYRILLIC.search(word)]
    if not russian:
        return list(_stemmer("english").stemWords(words))
    stems = list(words)
    english = sorted(set(range(len(words))) - set(russian))
    for language, numbers in (("russian", russian), ("english", english)):
        if numbers:
            done = _stemmer(language).stemWords([words[i] for i in numbers])
            for i, stem in zip(numbers, done, strict=True):
                stems[i] = stem
    return stems


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, Snowball-stemmed terms: the same for passages and questions."""
    tokens = bm25s.tokenize(
        list(texts),
        stopwords=_STOPWORDS,
        stemmer=_stem_words,
        return_ids=False,
        show_progress=False,
    )
    return [list(t) for t in tokens]


class LexicalIndex:
    """A BM25 index and what snippets need from it: each term's inverse document frequency."""

    def __init__(self, model: bm25s.BM25) -> None:
        self._model = model
        self._vocab: dict[str, int] = model.vocab_dict
        indptr = np.asarray(model.scores["indptr"])
        self._doc_freq = np.diff(indptr)
        self._docs = int(model.scores["num_docs"])

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        model = bm25s.BM25()
        model.index(tokenize(texts), show_progress=False)
        return cls(model)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(directory), mmap=True, show_progress=False))

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)

    @property
    def documents(self) -> int:
        """How many passages the index holds."""
        return self._docs

    def frequency(self, term: str) -> int:
        """In how many passages a (stemmed) term occurs."""
        token_id = self._vocab.get(term)
        return int(self._doc_freq[token_id]) if token_id is not None else 0

    def rows_with(self, term: str) -> np.ndarray:
        """The rows of the passages a term occurs in."""
        token_id = self._vocab.get(term)
        if token_id is None:
            return np.zeros(0, dtype=np.int64)
        indptr = self._model.scores["indptr"]
        return np.asarray(self._model.scores["indices"][indptr[token_id] : indptr[token_id + 1]])

    def search(
        self, terms: list[str], k: int, weights: Mapping[str, float] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, BM25 score) pairs with a score above zero; `weights` multiplies each
        term's part of the score (a delta segment scores with another segment's IDF)."""
        known = [t for t in terms if t in self._vocab]
        if not known or self._docs == 0:
            return []
        if weights is None:
            scores = self._model.get_scores(known)
        else:
            scores = self._weighted_scores(known, weights)
        # Top-k among the passages that contain a term: bm25s's argpartition over every passage
        # takes ~0.5 s at 1M passages when most scores tie at zero (bench/RESULTS.md, issue 4).
        rows = np.flatnonzero(scores > 0)
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        rows = rows[np.lexsort((rows, -scores[rows]))]  # best first; ties by row
        return [(int(row), float(scores[row])) for row in rows]

    def _weighted_scores(self, terms: list[str], weights: Mapping[str, float]) -> np.ndarray:
        """bm25s's own sum of precomputed term scores, each term's scaled by its weight."""
        data, indices, indptr = (self._model.scores[key] for key in ("data", "indices", "indptr"))
        scores = np.zeros(self._docs, dtype=np.float32)
        for term in terms:  # a repeated term counts twice, as in bm25s
            token_id = self._vocab[term]
            begin, end = int(indptr[token_id]), int(indptr[token_id + 1])
            # A term's rows are distinct, so a plain fancy-index add is exact here.
            scores[indices[begin:end]] += weights.get(term, 1.0) * np.asarray(data[begin:end])
        return scores

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; unknown terms weigh as the rarest."""
        return idf_of(self._docs, self.frequency(term))


def idf_of(documents: int, frequency: int) -> float:
    """BM25's (Lucene's) inverse document frequency, as bm25s computes it."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))
