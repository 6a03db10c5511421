"""Asking about the shipped articles: the right article first, a short quote of whole sentences
with the best one marked, one citation per quote however many articles carry it, and no answer
when the articles hold none."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from index.answer_types import AnswerType, expected_answer_type
from index.answering import EMPTY_QUESTION, NOT_FOUND, clean_question
from index.models import Answer, Citation
from index.passages import split_sentences
from index.service import CitebotService
from tests.index_fixtures import TempIndex, assert_answer_json

ENGINES = "2022-03-03-rocket-engine-deliveries-halted"
BAIKONUR_INDIA = "2022-03-04-baikonur-flags-india"
SEGMENT_VIDEO = "2022-03-07-russia-iss-segment-detach-video"
FLAGS_ONEWEB = "soyuz-flags-oneweb-ultimatum"
Z_MARKINGS = "soyuz-transporter-z-markings"

CITED = [
    (
        "Why did Russia stop delivering rocket engines to the US?",
        ENGINES,
        "stop the deliveries of rocket engines",
    ),
    (
        "Which country's flag did Roscosmos leave on the rocket at Baikonur?",
        BAIKONUR_INDIA,
        "kept India's flag intact",
    ),
    ("What markings were put on the Soyuz rocket transporter?", Z_MARKINGS, '"Z" and "V" markings'),
    ("What did Rogozin call the cyberattacks on the Roscosmos website?", ENGINES, "'act of war'"),
    (
        "Has India criticised Russia for invading Ukraine?",
        FLAGS_ONEWEB,
        "refrained from directly criticising Moscow",
    ),
    (
        "Who put out the video of the Russian segment leaving the ISS on Telegram?",
        SEGMENT_VIDEO,
        "RIA Novosti",
    ),
    (
        "Who does Rogozin blame for the collapse of cooperation in space?",
        SEGMENT_VIDEO,
        # Two sentences of the article say it; either is an answer (as in bench/devset.jsonl).
        ("blamed the Western countries", "lies on the shoulders of the United States"),
    ),
    ("What conditions did Roscosmos set for the OneWeb launch?", ENGINES, "two conditions"),
    (
        "What did India ask for its students still stuck in Ukraine?",
        BAIKONUR_INDIA,
        "safe and uninterrupted passage",
    ),
]
QUESTIONS = [question for question, _, _ in CITED] + [
    "Does the ISS fly over Russia?",
    "Will the ISS fall on the United States?",
    "What did Rogozin say about the launchers at Baikonur and the flags?",
]


def normalise(text: str) -> str:
    return " ".join(text.split())


def sentences_of(text: str) -> list[str]:
    return [normalise(text[start:end]) for start, end in split_sentences(text)]


@pytest.mark.parametrize(("question", "doc_id", "phrase"), CITED, ids=[c[1] for c in CITED])
def test_the_article_that_answers_is_cited_first(
    core_service: CitebotService, question: str, doc_id: str, phrase: str | tuple[str, ...]
) -> None:
    answer = core_service.answer(question)

    assert answer.found
    first = answer.citations[0]
    assert first.doc_id == doc_id
    phrases = (phrase,) if isinstance(phrase, str) else phrase
    assert any(p in first.snippet for p in phrases), first.snippet
    assert answer.answer == first.snippet[slice(*first.highlight)]


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("When did the US lose the ability to launch its own astronauts?", "in 2011"),
        ("When did Moscow invade Ukraine?", "on February 24"),
        ("for how many years did the americans depend on soyuz rockets", "nine years"),
    ],
)
def test_a_when_or_how_many_question_is_answered_first_by_a_sentence_with_a_date_or_number(
    core_service: CitebotService, question: str, phrase: str
) -> None:
    answer = core_service.answer(question)

    assert phrase in answer.answer, [c.snippet for c in answer.citations]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did Moscow invade Ukraine?", AnswerType.DATE),
        ("since when has SpaceX flown astronauts", AnswerType.DATE),
        ("In what year were the sanctions brought in?", AnswerType.DATE),
        ("how many satellites did the rocket carry", AnswerType.NUMBER),
        ("How long was the video?", AnswerType.NUMBER),
        ("What did Rogozin write when he posted the photos?", None),
        ("Who is Dmitry Rogozin?", None),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question: str, kind: AnswerType | None) -> None:
    assert expected_answer_type(question) is kind


def test_a_citation_names_its_article(core_service: CitebotService) -> None:
    answer = core_service.answer("What did India ask for its students still stuck in Ukraine?")
    first = answer.citations[0]

    assert (
        first.title
        == "Roscosmos removes US, UK and Japan flags from Baikonur rocket but keeps India's"
    )
    assert (first.date, first.source, first.url) == ("2022-03-04", "Jagran", None)
    assert first.passage_id.startswith(f"{BAIKONUR_INDIA}#")
    text = core_service.article(BAIKONUR_INDIA)
    assert text is not None and normalise(first.passage) in normalise(text.text)


def assert_quotes_whole_sentences(citation: Citation, max_chars: int) -> None:
    snippet = citation.snippet
    assert 0 < len(snippet) <= max_chars
    start, end = citation.highlight
    assert 0 <= start < end <= len(snippet)
    passage_sentences = sentences_of(citation.passage)
    if snippet.endswith("…"):  # one sentence longer than the budget, cut at a word
        assert snippet[start:end] == snippet
        assert any(s.startswith(snippet[:-1]) for s in passage_sentences)
        return
    # 1-3 whole sentences in the passage's order: neighbours joined by a space, an ellipsis
    # where sentences between them are left out.
    quotes = {
        _joined(passage_sentences, numbers)
        for count in (1, 2, 3)
        for numbers in itertools.combinations(range(len(passage_sentences)), count)
    }
    assert snippet in quotes, f"{snippet!r} is not 1-3 whole sentences of its passage"
    assert snippet[start:end] in passage_sentences


def _joined(sentences: list[str], numbers: tuple[int, ...]) -> str:
    text = sentences[numbers[0]]
    for before, number in itertools.pairwise(numbers):
        text += (" " if number == before + 1 else " … ") + sentences[number]
    return text


@pytest.mark.parametrize("question", QUESTIONS)
def test_snippets_quote_one_to_three_whole_sentences_within_350_characters(
    core_service: CitebotService, question: str
) -> None:
    answer = core_service.answer(question)

    assert answer.found and 1 <= len(answer.citations) <= 3
    assert [c.rank for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for citation in answer.citations:
        assert_quotes_whole_sentences(citation, 350)
        assert citation.doc_id not in citation.also_in


def quoting(answer: Answer, phrase: str) -> list[Citation]:
    wanted = normalise(phrase).lower()
    return [c for c in answer.citations if wanted in normalise(c.snippet).lower()]


@pytest.mark.parametrize(
    ("question", "phrase", "carriers"),
    [
        ("Does the ISS fly over Russia?", "does not fly over Russia", {BAIKONUR_INDIA, Z_MARKINGS}),
        (
            "Will the ISS fall on the United States?",
            "who will save the ISS",
            {BAIKONUR_INDIA, Z_MARKINGS},
        ),
        (
            "Could the ISS deorbit and fall into the United States or Europe?",
            "who will save the ISS",
            {BAIKONUR_INDIA, Z_MARKINGS},
        ),
        (
            "What did Rogozin say about the launchers at Baikonur and the flags?",
            "our rocket would look more beautiful",
            {BAIKONUR_INDIA, FLAGS_ONEWEB},
        ),
    ],
    ids=["iss-overflight", "iss-falling", "iss-deorbit", "launchers-tweet"],
)
def test_a_quote_carried_by_several_articles_is_cited_once_naming_them_all(
    core_service: CitebotService, question: str, phrase: str, carriers: set[str]
) -> None:
    answer = core_service.answer(question)
    citations = quoting(answer, phrase)

    shown = [(c.rank, c.doc_id, c.also_in) for c in citations]
    assert len(citations) == 1, f"the quote is shown {len(citations)} times: {shown}"
    assert {citations[0].doc_id, *citations[0].also_in} >= carriers


SHARED_PARAGRAPH = (
    'The harbour master said in a statement: "No ship will leave the port until the storm has '
    'passed and the pier has been inspected by engineers." Passengers were offered rooms in '
    "hotels in the old town."
)


def test_an_identical_paragraph_in_two_files_is_cited_once(temp_index: TempIndex) -> None:
    temp_index.write_news()
    temp_index.write(
        "night-ferry.md",
        "---\ntitle: Night ferry cancelled\ndate: 2023-10-02\n---\n"
        "The night ferry to the islands was cancelled on Monday as winds reached gale force.\n\n"
        + SHARED_PARAGRAPH,
    )
    temp_index.write(
        "storm-closes-port.md",
        "---\ntitle: Storm closes the port\n---\n"
        "Fishing boats stayed in the harbour for a third day as the autumn storm went on.\n\n"
        + SHARED_PARAGRAPH,
    )
    temp_index.build()

    answer = temp_index.answer("When will ships be allowed to leave the port again?")

    citations = quoting(answer, "No ship will leave the port")
    assert len(citations) == 1, [(c.doc_id, c.snippet) for c in answer.citations]
    assert {citations[0].doc_id, *citations[0].also_in} == {"night-ferry", "storm-closes-port"}
    assert citations[0].rank == 1


@pytest.mark.parametrize("question", QUESTIONS)
def test_no_sentence_is_quoted_twice_by_citations_of_one_article(
    core_service: CitebotService, question: str
) -> None:
    answer = core_service.answer(question, max_citations=5)

    seen: dict[tuple[str, str], int] = {}
    for citation in answer.citations:
        for start, end in split_sentences(citation.snippet):
            sentence = " ".join(citation.snippet[start:end].split())
            earlier = seen.setdefault((citation.doc_id, sentence), citation.rank)
            assert earlier == citation.rank, f"citations {earlier} and {citation.rank}: {sentence}"


def test_the_next_passage_of_an_article_quotes_what_the_first_one_leaves_out(
    core_service: CitebotService,
) -> None:
    # Passages overlap by a sentence: the passage after the best one is still cited, with the
    # sentence that answers, not dropped for repeating the shared one.
    answer = core_service.answer(
        "What does Rogozin think the Europeans are trying to achieve with sanctions?"
    )

    assert answer.citations[0].doc_id == ENGINES
    assert quoting(answer, "their intention is to bring down the Russian rocket"), [
        c.snippet for c in answer.citations
    ]


@pytest.mark.parametrize(
    "question",
    [
        "hello",
        "thanks!",
        "what is the capital of Australia?",
        "how do I bake bread",
        "good morning",
        "What's the weather tomorrow?",
    ],
)
def test_off_topic_questions_get_no_answer(core_service: CitebotService, question: str) -> None:
    answer = core_service.answer(question)

    assert not answer.found
    assert answer.citations == ()
    assert answer.answer == NOT_FOUND


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("/ask@citebot_bot  who is   Rogozin", "who is Rogozin"),
        ("/ask who is Rogozin", "who is Rogozin"),
        ("@citebot_bot who is Rogozin?", "who is Rogozin?"),
        ("who is Rogozin? @CiteBot", "who is Rogozin?"),
        ("what did @Rogozin tweet?", "what did @Rogozin tweet?"),  # a person, not the bot
        ("write to news@examplebot.org", "write to news@examplebot.org"),
        ("  \n\t who   is\nRogozin  ", "who is Rogozin"),
        ("/start", ""),
        ("   ", ""),
        ("", ""),
    ],
)
def test_questions_are_cleaned_of_commands_mentions_and_spaces(typed: str, cleaned: str) -> None:
    assert clean_question(typed) == cleaned


def test_a_mention_of_a_bot_by_its_own_name_is_removed() -> None:
    assert clean_question("@my_helper who is Rogozin", bot_username="my_helper") == (
        "who is Rogozin"
    )


def test_the_answer_reports_the_cleaned_question(core_service: CitebotService) -> None:
    answer = core_service.answer("/ask@citebot_bot  who is   Rogozin")
    assert answer.question == "who is Rogozin"
    assert answer.found


@pytest.mark.parametrize("typed", ["   ", "\n\t", "/ask@citebot_bot", "?!"])
def test_an_empty_question_gets_a_prompt_instead_of_an_answer(
    core_service: CitebotService, typed: str
) -> None:
    answer = core_service.answer(typed)

    assert not answer.found and answer.citations == ()
    assert answer.answer == EMPTY_QUESTION
    assert re.search(r"ask me", answer.answer, re.IGNORECASE)


@pytest.mark.parametrize("question", [*QUESTIONS, "hello"])
def test_every_answer_has_the_public_json_shape(
    core_service: CitebotService, question: str
) -> None:
    data = assert_answer_json(json.dumps(core_service.answer(question).to_json()))
    assert data["question"] == question
