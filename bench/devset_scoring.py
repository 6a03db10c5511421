"""Scoring citebot's answers on bench/devset.jsonl: the snippet a user sees, by kind of question.

A question scores at rank r when its gold phrase (whitespace- and quote-normalised) is inside the
snippet of citation r. Only the gold phrase counts in the main figures: the `also` phrases of the
first 82 rows were added after reading answers (bench/DEVSET.md) and are reported beside them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index.models import Answer, Citation

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"'})
ANSWERABLE = ("factual", "paraphrase", "cross_ru_en", "cross_en_ru")
CROSS_LINGUAL = ("cross_ru_en", "cross_en_ru")
UNANSWERABLE = ("near_topic", "off_topic")


def normalise(text: str) -> str:
    """Whitespace- and quote-normalised text, for 'is the gold phrase in this snippet'."""
    return " ".join(text.translate(_QUOTES).split())


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    corpus: str
    kind: str
    lang: str
    gold: str = ""
    also: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.kind in ANSWERABLE


def read_devset(path: Path) -> list[Question]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            questions.append(
                Question(
                    row["id"],
                    row["question"],
                    row.get("corpus", "corpus"),
                    row["kind"],
                    row["lang"],
                    row.get("gold", ""),
                    tuple(row.get("also", ())),
                )
            )
    return questions


def gold_rank(answer: Answer, phrases: Sequence[str], where: str = "snippet") -> int | None:
    """1-based rank of the first citation whose snippet (or passage) holds one of the phrases."""
    wanted = [normalise(phrase) for phrase in phrases if phrase]
    for citation in answer.citations:
        text = normalise(getattr(citation, where))
        if any(phrase in text for phrase in wanted):
            return citation.rank
    return None


@dataclass
class Scores:
    """One configuration's answers to every question, scored."""

    answers: dict[str, Answer] = field(default_factory=dict)
    questions: dict[str, Question] = field(default_factory=dict)

    def add(self, question: Question, answer: Answer) -> None:
        self.answers[question.id] = answer
        self.questions[question.id] = question

    def _of(self, kinds: Sequence[str], lang: str | None = None) -> list[Question]:
        return [
            q
            for q in self.questions.values()
            if q.kind in kinds and (lang is None or q.lang == lang)
        ]

    def rank(self, q: Question, where: str = "snippet", also: bool = False) -> int | None:
        phrases = (q.gold, *q.also) if also else (q.gold,)
        return gold_rank(self.answers[q.id], phrases, where)

    def hit(
        self, k: int, kinds: Sequence[str] = ANSWERABLE, lang: str | None = None, **how: object
    ) -> float:
        questions = self._of(kinds, lang)
        ranks = [self.rank(q, **how) for q in questions]  # type: ignore[arg-type]
        return statistics.mean(r is not None and r <= k for r in ranks) if ranks else float("nan")

    def mrr(self, kinds: Sequence[str] = ANSWERABLE) -> float:
        ranks = [self.rank(q) for q in self._of(kinds)]
        return statistics.mean(1 / r if r else 0.0 for r in ranks) if ranks else float("nan")

    def refused(self, kinds: Sequence[str]) -> tuple[int, int]:
        questions = self._of(kinds)
        return sum(not self.answers[q.id].found for q in questions), len(questions)

    def passage_not_snippet(self) -> list[Question]:
        """Answerable questions whose first citation's passage holds the gold phrase but whose
        snippet does not: the snippet quoted a neighbour of the answering sentence."""
        return [
            q
            for q in self._of(ANSWERABLE)
            if self.answers[q.id].citations and self.rank(q, "passage") == 1 and self.rank(q) != 1
        ]


def answer_from_json(data: dict) -> Answer:
    """An answer as `citebot ask --json` prints it (the public contract), back as a record."""
    citations = tuple(
        Citation(
            rank=c["rank"],
            doc_id=c["doc_id"],
            title=c["title"],
            date=c["date"],
            source=c["source"],
            url=c["url"],
            also_in=tuple(c["also_in"]),
            snippet=c["snippet"],
            passage=c["passage"],
            score=c["score"],
        )
        for c in data["citations"]
    )
    return Answer(data["question"], data["found"], data["answer"], citations)


def fraction(counts: tuple[int, int]) -> str:
    done, total = counts
    return f"{done / total:.2f} ({done}/{total})" if total else "–"


KIND_COLUMNS = ("factual", "paraphrase", "cross_ru_en", "cross_en_ru")
HEADER = (
    "| configuration | hit@1 | hit@3 | MRR | "
    + " | ".join(f"{kind} @1 / @3" for kind in KIND_COLUMNS)
    + " | cross-lingual @3 | near-topic refused | off-topic refused | false refusals "
    "| passage held it, snippet did not |\n|---" + "|---" * (9 + len(KIND_COLUMNS)) + "|"
)


def quality_row(name: str, s: Scores) -> str:
    cells = [f"{s.hit(1):.3f}", f"{s.hit(3):.3f}", f"{s.mrr():.3f}"]
    cells += [f"{s.hit(1, (kind,)):.2f} / {s.hit(3, (kind,)):.2f}" for kind in KIND_COLUMNS]
    cells.append(f"{s.hit(3, CROSS_LINGUAL):.3f}")
    cells.append(fraction(s.refused(("near_topic",))))
    cells.append(fraction(s.refused(("off_topic",))))
    cells.append(fraction(s.refused(ANSWERABLE)))
    cells.append(str(len(s.passage_not_snippet())))
    return f"| {name} | " + " | ".join(cells) + " |"
