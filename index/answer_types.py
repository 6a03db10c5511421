"""What kind of answer a question asks for, and whether a sentence holds one: "when" questions
want a date, "how many / how long" questions a number. A classic question-answering cue
(answer-type matching) that sentence embeddings of this size barely see."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

import numpy as np

# How close to the best-matching sentence a sentence holding the asked-for kind of answer must be
# to put its passage first: 0.1 of cosine, chosen on the dev set (bench/RESULTS.md), where it
# moves the answer of 3 of the 10 "when / how many" questions to rank 1 and no answer down.
SENTENCE_MARGIN = 0.1


class AnswerType(Enum):
    DATE = "date"
    NUMBER = "number"


# "When" only at the start: "what did he write when he posted…" asks for no date. Russian:
# "когда", "в каком году", "какого числа", "с каких пор".
_ASKS_DATE = re.compile(
    r"^\W*(since |until |till )?when\b|\b(what|which) (year|date|day|month)\b"
    r"|^\W*(а |и )?когда\b|\bв как(ом|ой|ие) (году|месяце|день|дату|числа)\b"
    r"|\bкакого числа\b|\bс каких пор\b",
    re.I,
)
_ASKS_NUMBER = re.compile(
    r"\bhow (many|much|long|old|far|big|often)\b|\bwhat number\b"
    r"|\bсколько\b|\bкак (долго|часто|далеко)\b|\bкакой (возраст|срок)\b",
    re.I,
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tomorrow"
_RUSSIAN_MONTHS = "январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр"
_RUSSIAN_DAYS = "понедельник|вторник|сред[уа]|четверг|пятниц|суббот|воскресень|вчера|сегодня|завтра"
_HAS_DATE = re.compile(
    rf"\b(1[5-9]\d\d|20\d\d)s?\b|\b({_MONTHS})\.?\s+\d{{1,2}}\b|\b\d{{1,2}}\s+({_MONTHS})\b"
    rf"|\b({_DAYS})\b|\b(last|next|this) (week|month|year)\b"
    rf"|\b\d{{1,2}}\s+({_RUSSIAN_MONTHS})\w*|\b({_RUSSIAN_DAYS})\w*",
    re.I,
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    "forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|half"
)
_RUSSIAN_NUMBER_WORDS = (
    "один|одна|два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|двадцать|тридцать|сорок|"
    "пятьдесят|сто|тысяч|миллион|миллиард|десятк|сотн|половин"
)
_HAS_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b|\b({_RUSSIAN_NUMBER_WORDS})\w*", re.I)


def expected_answer_type(question: str) -> AnswerType | None:
    if _ASKS_DATE.search(question):
        return AnswerType.DATE
    if _ASKS_NUMBER.search(question):
        return AnswerType.NUMBER
    return None


def holds_answer_type(sentence: str, answer_type: AnswerType) -> bool:
    pattern = _HAS_DATE if answer_type is AnswerType.DATE else _HAS_NUMBER
    return bool(pattern.search(sentence))


def answering_sentences(
    question: str, passages: Sequence[Sequence[str]], cosines: Sequence[np.ndarray]
) -> list[set[int]] | None:
    """For each passage, the numbers of its sentences that hold the kind of answer the question
    asks for and are among the best matches for it (cosine within SENTENCE_MARGIN of the best
    sentence of any candidate); None when the question asks for no particular kind."""
    answer_type = expected_answer_type(question)
    if answer_type is None:
        return None
    best = max((float(np.max(c)) for c in cosines if len(c)), default=None)
    if best is None:
        return None
    return [
        {
            number
            for number, (sentence, cosine) in enumerate(
                zip(sentences, sentence_cosines, strict=True)
            )
            if cosine >= best - SENTENCE_MARGIN and holds_answer_type(sentence, answer_type)
        }
        if len(sentences) == len(sentence_cosines)
        else set()
        for sentences, sentence_cosines in zip(passages, cosines, strict=True)
    ]
