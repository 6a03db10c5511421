"""Picks the sentence of a passage that best answers a question and quotes 1–3 whole sentences
around it, within a character budget.

Sentences are scored by the BM25 weight (IDF) of the question's terms they contain, which costs
microseconds; when the index keeps a vector per sentence (built once, not per question), their
cosine to the question is added, so a sentence that answers in other words can win.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from index.lexical import tokenize
from index.passages import passage_sentences

MAX_SENTENCES = 3
# Shared question words (normalised to 0..1 within the passage) decide, and cosine similarity
# breaks ties and speaks when no word is shared: measured best on the dev set (bench/RESULTS.md).
SEMANTIC_WEIGHT = 0.3


@dataclass(frozen=True)
class Snippet:
    text: str
    highlight: tuple[int, int]  # the best sentence's span inside `text`
    best_sentence: str
    score: float  # the best sentence's score: summed IDF, scaled and plus its cosine if known
    first: int = 0  # numbers of the first and last sentence quoted, within the passage
    last: int = 0


@dataclass(frozen=True)
class ScoredSentences:
    """A passage's sentences with how well each answers the question, ready to be quoted."""

    sentences: list[str]
    scores: list[float]

    def favouring(self, numbers: Collection[int]) -> ScoredSentences:
        """The same sentences with `numbers` scored above every other one."""
        lead = max(self.scores, default=0.0) - min(self.scores, default=0.0) + 1.0
        scores = [s + lead if i in numbers else s for i, s in enumerate(self.scores)]
        return ScoredSentences(self.sentences, scores)

    def quote(self, max_chars: int, shown: Collection[int] = ()) -> Snippet | None:
        """1–3 whole sentences around the best one not in `shown` (sentence numbers another
        citation already quotes); None when every sentence is already shown."""
        fresh = [i for i in range(len(self.sentences)) if i not in shown]
        if not fresh:
            return None
        return _quote(self.sentences, self.scores, max_chars, set(shown), fresh)


def score_sentences(
    passages: list[str],
    question_terms: list[str],
    idf: Callable[[str], float],
    sentence_cosines: Sequence[np.ndarray | None] | None = None,
) -> list[ScoredSentences]:
    """Every passage's sentences scored against the question, all tokenized in a single call.

    With `sentence_cosines` (each sentence's similarity to the question, from the build's
    sentence vectors) meaning breaks ties between sentences that share as many question words.
    """
    sentence_texts = [passage_sentences(text) for text in passages]
    flat = [sentence for sentences in sentence_texts for sentence in sentences]
    flat_terms = tokenize(flat) if flat else []
    wanted = {term: idf(term) for term in set(question_terms)}
    scored, cursor = [], 0
    for number, sentences in enumerate(sentence_texts):
        terms = flat_terms[cursor : cursor + len(sentences)]
        cursor += len(sentences)
        scores = [sum(wanted.get(t, 0.0) for t in set(ts)) for ts in terms]
        cosines = sentence_cosines[number] if sentence_cosines else None
        if cosines is not None and len(cosines) == len(sentences):
            top = max(scores) or 1.0
            scores = [
                lexical / top + SEMANTIC_WEIGHT * float(cosine)
                for cosine, lexical in zip(cosines, scores, strict=True)
            ]
        scored.append(ScoredSentences(sentences, scores))
    return scored


def make_snippets(
    passages: list[str],
    question_terms: list[str],
    idf: Callable[[str], float],
    max_chars: int,
    sentence_cosines: Sequence[np.ndarray | None] | None = None,
) -> list[Snippet]:
    """One snippet per passage, quoting its best sentence."""
    scored = score_sentences(passages, question_terms, idf, sentence_cosines)
    return [s.quote(max_chars) for s in scored]  # type: ignore[misc]  # no sentence is shown yet


def _quote(
    sentences: list[str],
    scores: list[float],
    max_chars: int,
    shown: Collection[int] = (),
    candidates: Sequence[int] | None = None,
) -> Snippet:
    best = max(candidates or range(len(sentences)), key=lambda i: (scores[i], -i))
    first = last = best
    length = len(sentences[best])
    while last - first + 1 < MAX_SENTENCES:
        # Grow towards the neighbour that scores higher; the earlier one gives context on a tie.
        # Sentences another citation already quotes are not repeated as context.
        options = []
        if first > 0 and first - 1 not in shown:
            options.append((scores[first - 1], 1, first - 1))
        if last + 1 < len(sentences) and last + 1 not in shown:
            options.append((scores[last + 1], 0, last + 1))
        options = [o for o in options if length + 1 + len(sentences[o[2]]) <= max_chars]
        if not options:
            break
        _, _, chosen = max(options)
        length += 1 + len(sentences[chosen])
        first, last = min(first, chosen), max(last, chosen)
    before = " ".join(sentences[first:best])
    start = len(before) + 1 if before else 0
    text = " ".join(sentences[first : last + 1])
    best_text = sentences[best]
    if len(text) > max_chars:  # a single sentence longer than the budget
        text = shorten(best_text, max_chars)
        start, best_text = 0, text
    return Snippet(text, (start, start + len(best_text)), best_text, scores[best], first, last)


def shorten(text: str, max_chars: int) -> str:
    """Cut at a word boundary and mark the cut with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
