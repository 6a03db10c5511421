"""A reader's passages: whole sentences, about 60–150 words, one sentence shared with the next
passage, and the same ids every time the same article is split."""

from __future__ import annotations

import itertools
import random

import pytest

from index.config import PassageConfig
from index.corpus import scan_corpus
from index.documents import load_file
from index.models import Document, Passage
from index.passages import count_words, split_passages, split_sentences
from tests.index_fixtures import SHIPPED_CORPUS

VOCABULARY = (
    "agency", "launch", "rocket", "station", "orbit", "crew", "engine", "sanctions", "tweet",
    "video", "flag", "satellite", "contract", "cooperation", "deadline", "council", "workers",
)  # fmt: skip
NAMES = ("Mr. Smith", "U.S. officials", "D. Rogozin", "Dr. Patel", "the U.K. government")
TOLERANCE = 1.25  # "about 150 words": a short tail may be folded into the passage before it


def generated_article(
    seed: int, sentences: int = 45, lengths: tuple[int, int] = (5, 30)
) -> tuple[Document, list[tuple[int, int]]]:
    """A news-like article and the true (start, end) of each of its sentences.

    Sentences carry names with abbreviations and initials in the middle, and some end in a
    quotation (`."`) or a question mark, like the shipped articles do.
    """
    rng = random.Random(seed)
    text, spans = "", []
    for number in range(sentences):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(*lengths))]
        if rng.random() < 0.4:
            words.insert(rng.randint(1, len(words)), rng.choice(NAMES))
        body = " ".join([words[0].title(), *words[1:]])
        kind = rng.random()
        if kind < 0.15:
            sentence = f'Rogozin wrote: "{body}."'
        elif kind < 0.25:
            sentence = f"{body}?"
        else:
            sentence = f"{body}."
        if number:
            text += "\n\n" if rng.random() < 0.2 else " "
        spans.append((len(text), len(text) + len(sentence)))
        text += sentence
    return Document(f"generated-{seed}", "Generated", text, f"generated-{seed}.md"), spans


def shipped_documents() -> list[Document]:
    sources, _ = scan_corpus(SHIPPED_CORPUS, 10**7)
    return [document for source in sources for document in load_file(source)]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Mr. Smith met U.S. officials in Geneva. They talked for an hour.",
            ["Mr. Smith met U.S. officials in Geneva.", "They talked for an hour."],
        ),
        (
            "Roscosmos chief D. Rogozin posted a video. It spread quickly.",
            ["Roscosmos chief D. Rogozin posted a video.", "It spread quickly."],
        ),
        (
            "Mrs. Jones and Dr. Patel arrived. The U.S. Army band played.",
            ["Mrs. Jones and Dr. Patel arrived.", "The U.S. Army band played."],
        ),
        (
            "Prices rose 2.5 percent in March. Analysts were surprised.",
            ["Prices rose 2.5 percent in March.", "Analysts were surprised."],
        ),
        (
            "Who will save the ISS? Nobody knows! The talks go on.",
            ["Who will save the ISS?", "Nobody knows!", "The talks go on."],
        ),
        (
            'Rogozin wrote: "Are you ready for them?" Nobody answered.',
            ['Rogozin wrote: "Are you ready for them?"', "Nobody answered."],
        ),
        (
            "“The launchers decided that,” he said. “It looks better.” Then he left.",
            ["“The launchers decided that,” he said.", "“It looks better.”", "Then he left."],
        ),
        (
            "(Image credit: Twitter.) The video spread.",
            ["(Image credit: Twitter.)", "The video spread."],
        ),
        (
            "Sanctions against Roscosmos\nRussia responded harshly.",
            ["Sanctions against Roscosmos", "Russia responded harshly."],
        ),
        (
            "Стартовики на Байконуре решили. Ракета будет краше.",
            ["Стартовики на Байконуре решили.", "Ракета будет краше."],
        ),
    ],
)
def test_sentences_end_where_the_writer_ended_them(text: str, sentences: list[str]) -> None:
    assert [text[start:end] for start, end in split_sentences(text)] == sentences


CONFIGS = [
    pytest.param(PassageConfig(), id="60-150"),
    pytest.param(PassageConfig(min_words=20, max_words=40), id="20-40"),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_articles_split_into_whole_overlapping_sentences(
    seed: int, config: PassageConfig
) -> None:
    lengths = (5, 30) if config.max_words >= 100 else (4, 16)
    document, spans = generated_article(seed, lengths=lengths)
    passages = split_passages(document, config)
    starts = [start for start, _ in spans]
    ends = [end for _, end in spans]

    assert len(passages) > 3
    for passage in passages:
        assert passage.text == document.text[passage.start : passage.end]
        assert passage.start in starts, f"{passage.passage_id} starts mid-sentence"
        assert passage.end in ends, f"{passage.passage_id} ends mid-sentence: {passage.text!r}"
    assert passages[0].start == 0 and passages[-1].end == len(document.text)
    for earlier, later in itertools.pairwise(passages):
        inside = [s for s in starts if earlier.start <= s < earlier.end]
        # Exactly one sentence of overlap: the next passage opens with this one's last sentence.
        assert later.start == inside[-1], (earlier.passage_id, later.passage_id)
    assert_word_limits(passages, config)


@pytest.mark.parametrize("document", shipped_documents(), ids=lambda d: d.doc_id)
def test_shipped_articles_split_on_sentence_boundaries(document: Document) -> None:
    config = PassageConfig()
    passages = split_passages(document, config)
    text = document.text

    assert passages
    for passage in passages:
        assert passage.text == text[passage.start : passage.end]
        assert passage.start == 0 or text[passage.start - 1].isspace()
        # A sentence ends at the end of the text or before white space: never before the
        # closing quote or bracket that belongs to it.
        assert passage.end == len(text) or text[passage.end].isspace(), (
            f"{passage.passage_id} ends inside {text[passage.end - 20 : passage.end + 5]!r}"
        )
    covered = {i for p in passages for i in range(p.start, p.end)}
    assert all(ch.isspace() for i, ch in enumerate(text) if i not in covered)
    assert_word_limits(passages, config)


def assert_word_limits(passages: list[Passage], config: PassageConfig) -> None:
    for number, passage in enumerate(passages):
        words = count_words(passage.text)
        if number < len(passages) - 1:
            assert words >= config.min_words, f"{passage.passage_id} has only {words} words"
        if len(split_sentences(passage.text)) > 1:
            assert words <= config.max_words * TOLERANCE, f"{passage.passage_id}: {words} words"


def sentence_of(words: int, word: str = "orbit") -> str:
    return " ".join([word.title()] + [word] * (words - 1)) + "."


@pytest.mark.parametrize(
    "lengths",
    [[200], [10, 200], [40, 200, 40, 10], [200, 10, 10, 50], [70, 200, 70]],
    ids=str,
)
def test_a_sentence_longer_than_max_words_is_a_passage_of_its_own(lengths: list[int]) -> None:
    config = PassageConfig()
    words = ["alpha", "bravo", "charlie", "delta", "echo"]
    sentences = [sentence_of(n, words[i]) for i, n in enumerate(lengths)]
    document = Document("long", "Long", " ".join(sentences), "long.md")
    passages = split_passages(document, config)

    long_sentences = [s for s in sentences if count_words(s) > config.max_words]
    for sentence in long_sentences:
        # Each passage holding the long sentence, as the word counts of its sentences.
        holding = [[count_words(s) for s in sentences if s in p.text] for p in passages]
        holding = [
            counts for counts, p in zip(holding, passages, strict=True) if sentence in p.text
        ]
        assert holding == [[count_words(sentence)]]
    for passage in passages:
        if passage.text not in long_sentences:
            assert count_words(passage.text) <= config.max_words * TOLERANCE


@pytest.mark.parametrize(
    ("lengths", "expected_words"),
    [
        ([10, 10, 10], [30]),  # shorter than min_words: one passage, the whole article
        ([70, 70, 70], [140, 140]),  # neighbours share the middle sentence
        ([100, 100], [100, 100]),  # two sentences would exceed 150: one each, no overlap possible
        ([20] * 20, [140, 140, 160]),  # a 40-word tail is folded into the last passage
    ],
    ids=str,
)
def test_passage_sizes_follow_the_sentences(lengths: list[int], expected_words: list[int]) -> None:
    document = Document("d", "D", " ".join(sentence_of(n) for n in lengths), "d.md")
    passages = split_passages(document, PassageConfig())
    assert [count_words(p.text) for p in passages] == expected_words


def test_passage_ids_are_stable_across_runs() -> None:
    document, _ = generated_article(7)
    first = split_passages(document, PassageConfig())
    again = split_passages(Document(**vars(document)), PassageConfig())

    assert first == again
    assert [p.passage_id for p in first] == [f"generated-7#{n}" for n in range(len(first))]
    assert len({p.passage_id for p in first}) == len(first)
    assert {p.doc_id for p in first} == {"generated-7"}
