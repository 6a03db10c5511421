"""Picks the sentence of a passage that best answers a question and quotes it with the next
best ones (up to three whole sentences) within a character budget.

Sentences are scored by the BM25 weight (IDF) of the question's terms they contain, which costs
microseconds; when the index keeps a vector per sentence (built once, not per question), their
cosine to the question is added, so a sentence that answers in other words can win. The quote
holds the best-scoring sentences in the article's order, joined by "…" where sentences between
them are left out: the sentence that answers is in the snippet even when it is not the one that
scored best (bench/RESULTS.md: in 3 of 4 passages holding the answer it is among the two best).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from index.lexical import tokenize
from index.passages import passage_sentences

MAX_SENTENCES = 3
# Shared question words (normalised to 0..1 within the passage) weigh half as much as cosine
# similarity: measured on the dev set, where cosine alone picks best for paraphrases and
# questions in another language, and words for questions in the article's words
# (bench/RESULTS.md).
LEXICAL_WEIGHT = 0.5
GAP = " … "
# A neighbour of a quoted sentence is preferred unless a sentence further away scores this much
# more: context reads better, and the answer is often next to the sentence that matched best
# (bench/RESULTS.md: the answer was in 81% of the snippets with it, 79% without, 76% with
# neighbours only).
ADJACENT_BONUS = 0.5


@dataclass(frozen=True)
class Snippet:
    text: str
    highlight: tuple[int, int]  # the best sentence's span inside `text`
    best_sentence: str
    score: float  # the best sentence's score: summed IDF, scaled and plus its cosine if known
    numbers: tuple[int, ...] = ()  # the sentences quoted, by number within the passage


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
                LEXICAL_WEIGHT * lexical / top + float(cosine)
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
    """The best candidate sentence, then the next best sentences not shown elsewhere (a
    neighbour of a quoted one first, unless another scores much higher) while they fit, in the
    passage's order."""
    pool = list(candidates or range(len(sentences)))
    best = max(pool, key=lambda i: (scores[i], -i))
    if len(sentences[best]) > max_chars:  # a single sentence longer than the budget
        text = shorten(sentences[best], max_chars)
        return Snippet(text, (0, len(text)), text, scores[best], (best,))
    chosen = [best]
    others = [i for i in range(len(sentences)) if i != best and i not in shown]
    while len(chosen) < MAX_SENTENCES:
        fitting = [
            n
            for n in others
            if n not in chosen and len(_join(sentences, sorted([*chosen, n]))) <= max_chars
        ]
        if not fitting:
            break

        def merit(n: int) -> tuple[float, int]:
            adjacent = any(abs(n - c) == 1 for c in chosen)
            return scores[n] + ADJACENT_BONUS * adjacent, -abs(n - best)

        chosen.append(max(fitting, key=merit))
    numbers = sorted(chosen)
    before = _join(sentences, numbers[: numbers.index(best)])
    gap = " " if best - 1 in numbers else GAP
    start = len(before) + len(gap) if before else 0
    text = _join(sentences, numbers)
    return Snippet(
        text, (start, start + len(sentences[best])), sentences[best], scores[best], tuple(numbers)
    )


def _join(sentences: list[str], numbers: Sequence[int]) -> str:
    """The sentences, a space between neighbours and an ellipsis where sentences are left out."""
    text = ""
    for position, number in enumerate(numbers):
        if position:
            text += " " if number == numbers[position - 1] + 1 else GAP
        text += sentences[number]
    return text


def shorten(text: str, max_chars: int) -> str:
    """Cut at a word boundary and mark the cut with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
