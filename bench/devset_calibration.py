"""Refusal calibration on the dev set: one threshold per model, because each model's cosines
live on a scale of their own.

A question is answered when the English model's best cosine over the passages it can judge
reaches `answer.min_score`, or the multilingual model's best cosine over the other passages
reaches `answer.multilingual_min_score` (index/answering.py). This module collects those two
numbers per question, sweeps both thresholds, picks the pair that refuses the most near- and
off-topic questions while falsely refusing at most 2% of the answerable ones (the middle of the
best region, for margin), and estimates how that choice holds on unseen questions by
leave-one-out and a 2-fold split.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from bench.devset_scoring import Question
from bot.config import AppConfig
from index.answering import best_cosines, clean_question
from index.retriever import Query
from index.service import CitebotService

MAX_FALSE = 0.02
GRID = np.round(np.arange(0.10, 0.80, 0.01), 2)


@dataclass(frozen=True)
class Choice:
    english: float
    multilingual: float
    refused: int  # unanswerable questions refused
    false: int  # answerable questions refused


def best_scores(
    questions: list[Question], made: dict[str, CitebotService], config: AppConfig
) -> dict[str, tuple[float, float]]:
    """(English model's best cosine, multilingual model's best cosine) per question."""
    scores = {}
    for q in questions:
        service = made[q.corpus]
        query = Query.of(clean_question(q.text), service.embedder)
        hits = service.live().search(query, config.retrieval)
        scores[q.id] = best_cosines(hits)
    return scores


def answered(score: tuple[float, float], english: float, multilingual: float) -> bool:
    return score[0] >= english or score[1] >= multilingual


def choose(questions: list[Question], scores: dict[str, tuple[float, float]]) -> Choice:
    """The threshold pair with the most refusals of unanswerable questions and at most
    MAX_FALSE false refusals; among equals, the middle of the region (most margin)."""
    on = [scores[q.id] for q in questions if q.answerable]
    off = [scores[q.id] for q in questions if not q.answerable]
    allowed = int(MAX_FALSE * len(on) + 1e-9)
    best: list[Choice] = []
    for english, multilingual in itertools.product(GRID, GRID):
        false = sum(not answered(s, english, multilingual) for s in on)
        if false > allowed:
            continue
        refused = sum(not answered(s, english, multilingual) for s in off)
        choice = Choice(float(english), float(multilingual), refused, false)
        if not best or refused > best[0].refused:
            best = [choice]
        elif refused == best[0].refused:
            best.append(choice)
    if not best:
        return Choice(-1.0, -1.0, 0, 0)
    middle_english = float(np.median([c.english for c in best]))
    middle_multilingual = float(np.median([c.multilingual for c in best]))
    return min(
        best,
        key=lambda c: abs(c.english - middle_english) + abs(c.multilingual - middle_multilingual),
    )


def held_out(
    questions: list[Question], scores: dict[str, tuple[float, float]], folds: int | None
) -> tuple[int, int]:
    """(unanswerable refused, answerable refused) when each question is judged by thresholds
    tuned without it (folds=None: leave-one-out; else alternate rows in `folds` parts)."""
    refused = false = 0
    groups = (
        [[q] for q in questions] if folds is None else [questions[f::folds] for f in range(folds)]
    )
    for group in groups:
        ids = {q.id for q in group}
        choice = choose([q for q in questions if q.id not in ids], scores)
        for q in group:
            if not answered(scores[q.id], choice.english, choice.multilingual):
                if q.answerable:
                    false += 1
                else:
                    refused += 1
    return refused, false


def calibration_section(
    questions: list[Question], made: dict[str, CitebotService], config: AppConfig
) -> str:
    scores = best_scores(questions, made, config)
    on = [q for q in questions if q.answerable]
    off = [q for q in questions if not q.answerable]
    lines = [
        "Best cosine per question: the English model's over the passages it can judge, the "
        "multilingual model's over the others (-1: none).",
        "",
        "| questions | n | English model p10 / median / p90 | multilingual p10 / median / p90 |",
        "|---|---|---|---|",
    ]
    for kind in dict.fromkeys(q.kind for q in questions):
        values = [scores[q.id] for q in questions if q.kind == kind]
        cells = []
        for column in (0, 1):
            present = [v[column] for v in values if v[column] > -1]
            cells.append(
                " / ".join(f"{np.percentile(present, p):.3f}" for p in (10, 50, 90))
                if present
                else "–"
            )
        lines.append(f"| {kind} | {len(values)} | {cells[0]} | {cells[1]} |")
    choice = choose(questions, scores)
    shipped = Choice(config.answer.min_score, config.answer.multilingual_min_score, 0, 0)
    shipped_refused = sum(
        not answered(scores[q.id], shipped.english, shipped.multilingual) for q in off
    )
    shipped_false = sum(
        not answered(scores[q.id], shipped.english, shipped.multilingual) for q in on
    )
    loo = held_out(questions, scores, None)
    two = held_out(questions, scores, 2)
    lines += [
        "",
        f"Tuned on all {len(questions)} questions (≤ {MAX_FALSE:.0%} false refusals): "
        f"**`min_score: {choice.english:.2f}`, `multilingual_min_score: "
        f"{choice.multilingual:.2f}`** (in-sample {choice.refused}/{len(off)} refused, "
        f"{choice.false}/{len(on)} false). Shipped ({shipped.english:.2f} / "
        f"{shipped.multilingual:.2f}): {shipped_refused}/{len(off)} refused, "
        f"{shipped_false}/{len(on)} false.",
        "",
        "| held out | unanswerable refused | false refusals |",
        "|---|---|---|",
        f"| leave-one-out | {loo[0]}/{len(off)} | {loo[1]}/{len(on)} |",
        f"| 2-fold (alternate rows) | {two[0]}/{len(off)} | {two[1]}/{len(on)} |",
    ]
    return "\n".join(lines)
