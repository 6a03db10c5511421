"""Splits article text into sentences and sentences into overlapping passages.

The splitter is a few regular expressions rather than a library: news prose needs little more,
it keeps exact character offsets, and it runs fast enough for millions of passages (pysbd was
considered and is two orders of magnitude slower).
"""

from __future__ import annotations

import re

from index.config import PassageConfig
from index.models import Document, Passage

# A sentence ends at . ! ? or … (plus closing quotes/brackets), before white space and a
# character that can start a sentence.
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9\u0400-\u04FF])")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gen", "col", "lt", "sgt", "gov",
    "sen", "rep", "no", "vs", "etc", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "e.g", "i.e",
}  # fmt: skip
_WORD = re.compile(r"\S+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) character spans of the sentences in `text`, in order.

    Every line break ends a sentence too: headlines, bullet points and captions stand alone.
    """
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line in text.split("\n"):
        _split_line(line, line_start, spans)
        line_start += len(line) + 1
    return spans


def _split_line(line: str, offset: int, spans: list[tuple[int, int]]) -> None:
    start = 0
    for match in _BOUNDARY.finditer(line):
        candidate = line[start : match.start()]
        last_word = candidate.rsplit(None, 1)[-1] if candidate.strip() else ""
        if _is_abbreviation(last_word):
            continue
        _add_span(line, offset, start, match.start() + len(match.group().rstrip()), spans)
        start = match.end()
    _add_span(line, offset, start, len(line), spans)


def _is_abbreviation(word: str) -> bool:
    bare = word.rstrip(".!?…\"'”’)]").lstrip("\"'“‘([").lower()
    # "D. Rogozin": a single capital letter and a dot is an initial, not a sentence end.
    return bare in _ABBREVIATIONS or (len(bare) == 1 and word.endswith(".") and bare.isalpha())


def _add_span(line: str, offset: int, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = line[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    spans.append((offset + start + lead, offset + start + lead + len(stripped)))


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def split_passages(document: Document, config: PassageConfig) -> list[Passage]:
    """Group whole sentences into passages of about min..max words, overlapping by sentences.

    A sentence is never cut: one longer than `max_words` becomes a passage of its own. A short
    tail is folded into the passage before it rather than left as a scrap.
    """
    text = document.text
    spans = split_sentences(text)
    if not spans:
        return []
    words = [count_words(text[s:e]) for s, e in spans]
    groups: list[tuple[int, int]] = []  # [first, last) sentence indexes
    first = 0
    while first < len(spans):
        last, total = first, 0
        # Fill up to max_words; a sentence that would overflow starts the next passage, so a
        # sentence longer than max_words stands alone instead of dragging neighbours along.
        while last < len(spans) and (total == 0 or total + words[last] <= config.max_words):
            total += words[last]
            last += 1
        tail = sum(words[last:])
        if (
            last < len(spans)
            and tail < config.min_words // 2
            and total + tail <= config.max_words * 1.25
        ):
            last = len(spans)
        groups.append((first, last))
        if last >= len(spans):
            break
        first = max(last - config.overlap_sentences, first + 1)
    return [
        Passage(
            passage_id=f"{document.doc_id}#{number}",
            doc_id=document.doc_id,
            start=spans[a][0],
            end=spans[b - 1][1],
            text=text[spans[a][0] : spans[b - 1][1]],
        )
        for number, (a, b) in enumerate(groups)
    ]


def passage_sentences(text: str) -> list[str]:
    """A passage's sentences with their white space folded: what is embedded and quoted."""
    return [" ".join(text[start:end].split()) for start, end in split_sentences(text)] or [text]
