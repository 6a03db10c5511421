"""Questions in the asker's language: a Russian question finds the English passage that answers
it, an English question finds Russian text, quotes stay in the article's language, and what the
corpus does not hold is refused in any language."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import AppConfig
from index.errors import IndexMismatchError
from index.fusion import language_aware_fusion, reciprocal_rank_fusion
from index.languages import Script, script_of
from index.lexical import tokenize
from index.multilingual import UseEncoder
from index.service import CitebotService
from tests.index_fixtures import SHIPPED_CORPUS, TempIndex

ENGINES = "2022-03-03-rocket-engine-deliveries-halted"

RUSSIAN_NEWS = """---
title: В Новосибирском зоопарке родились два снежных барса
date: 2023-05-14
source: Новости Сибири
---
В Новосибирском зоопарке у пары снежных барсов Кайры и Алтая родились два котёнка. Об этом
сообщила пресс-служба зоопарка в понедельник.

Котята появились на свет в конце апреля, они весят около полутора килограммов каждый. Посетители
смогут увидеть их в вольере не раньше июля, когда малыши окрепнут.

Снежный барс занесён в Красную книгу России. В природе на Алтае и в Саянах живёт, по оценкам
учёных, не больше двухсот этих кошек.
"""

ENGLISH_NEWS = """---
title: City council approves new cycling lanes
date: 2023-05-10
---
The city council voted on Tuesday to build forty kilometres of protected cycling lanes over the
next three years. The plan will cost about twelve million euros, most of it paid by the region.

Shop owners on the main avenue opposed the plan because it removes two hundred parking spaces.
The mayor said the first lanes will open next spring near the central station.
"""


def test_a_russian_question_is_answered_from_english_text_quoted_in_english(
    core_service: CitebotService,
) -> None:
    answer = core_service.answer("Почему Россия прекратила поставки ракетных двигателей в США?")

    assert answer.found
    cited = {c.doc_id: c for c in answer.citations}
    assert ENGINES in cited
    snippet = cited[ENGINES].snippet
    assert script_of(snippet) is Script.LATIN  # the article's words, not a translation
    passage = " ".join(cited[ENGINES].passage.split())
    assert all(part in passage for part in snippet.split(" … "))  # verbatim


def test_an_english_question_is_answered_from_russian_text(temp_index: TempIndex) -> None:
    temp_index.write("barsy.md", RUSSIAN_NEWS)
    temp_index.write("lanes.md", ENGLISH_NEWS)
    temp_index.build()

    answer = temp_index.answer("How many snow leopard cubs were born at the Novosibirsk zoo?")

    assert answer.found
    first = answer.citations[0]
    assert first.doc_id == "barsy"
    assert "котёнка" in first.snippet or "котята" in first.snippet.lower()


def test_a_russian_question_finds_russian_text_too(temp_index: TempIndex) -> None:
    temp_index.write("barsy.md", RUSSIAN_NEWS)
    temp_index.write("lanes.md", ENGLISH_NEWS)
    temp_index.build()

    answer = temp_index.answer("Когда посетители увидят котят снежного барса?")

    assert answer.found
    assert answer.citations[0].doc_id == "barsy"
    assert "июля" in answer.citations[0].snippet


@pytest.mark.parametrize(
    "question",
    ["Какая столица Франции?", "Привет! Как дела?", "Какой рецепт у борща?", "🚀🚀🚀"],
)
def test_off_topic_questions_in_russian_get_no_answer(
    core_service: CitebotService, question: str
) -> None:
    assert not core_service.answer(question).found


@pytest.mark.parametrize(
    "question",
    [
        "kto glava roskosmosa",  # transliterated Russian
        "Who is Рогозин and why did he cover the flags?",  # mixed
        "Wer leitet Roskosmos?",  # German
        "ロスコスモスの長官は誰ですか",  # Japanese
        "Ποιος είναι ο επικεφαλής της Roscosmos;",  # Greek: no model reads it
        "🙂 Rogozin 🚀",
    ],
)
def test_any_language_gets_an_answer_or_a_refusal_never_an_error(
    core_service: CitebotService, question: str
) -> None:
    answer = core_service.answer(question)

    assert answer.found == bool(answer.citations)


def test_the_languages_questions_may_be_asked_in(core_service: CitebotService) -> None:
    languages = core_service.question_languages()

    assert {"en", "ru", "de", "fr", "es", "zh", "ja", "ar"} <= set(languages)
    assert list(languages) == sorted(languages)


def test_an_index_built_with_another_multilingual_setting_is_refused(
    core_service: CitebotService, core_index_dir: Path, core_config: AppConfig
) -> None:
    english_only = CitebotService(
        core_config.corpus.model_copy(update={"path": SHIPPED_CORPUS}),
        core_config.passages,
        core_config.index.model_copy(update={"path": core_index_dir, "multilingual_model": "none"}),
        core_config.retrieval,
        core_config.answer,
    )

    with pytest.raises(IndexMismatchError) as refused:
        english_only.answer("Who is Rogozin?")
    assert "`citebot index --full`" in str(refused.value)


def test_an_english_only_index_answers_english_questions(temp_index: TempIndex) -> None:
    temp_index.config = temp_index.config.model_copy(
        update={"index": temp_index.config.index.model_copy(update={"multilingual_model": "none"})}
    )
    temp_index.write("lanes.md", ENGLISH_NEWS)
    temp_index.build()
    assert not (temp_index.load().build_dir / "multilingual.npy").exists()

    answer = temp_index.answer("Why did shop owners oppose the cycling lanes?")

    assert answer.found
    assert "parking spaces" in answer.citations[0].snippet


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Who heads Roscosmos?", Script.LATIN),
        ("Кто возглавляет Роскосмос?", Script.CYRILLIC),
        ("Что такое OneWeb?", Script.CYRILLIC),
        ("What does Роскосмос do with OneWeb?", Script.LATIN),
        ("ロスコスモスの長官", Script.OTHER),
        ("¿Quién dirige la agencia?", Script.LATIN),
        ("🚀 123", Script.LATIN),
    ],
)
def test_the_alphabet_of_a_text(text: str, script: Script) -> None:
    assert script_of(text) is script


@pytest.mark.parametrize(
    ("words", "terms"),
    [
        ("Роскосмоса возглавляет", ["роскосмос", "возглавля"]),
        ("the rockets were launched", ["rocket", "were", "launch"]),
        ("Союз и Soyuz", ["союз", "soyuz"]),
    ],
)
def test_terms_are_stemmed_by_their_alphabet(words: str, terms: list[str]) -> None:
    assert tokenize([words])[0] == terms


def test_fusion_without_masks_is_reciprocal_rank_fusion() -> None:
    rankings = [[(1, 0.9), (2, 0.8), (3, 0.1)], [(3, 5.0), (1, 4.0)]]

    fused = language_aware_fusion(rankings, [1.0, 1.0], [None, None], 20)

    plain = reciprocal_rank_fusion(rankings, [1.0, 1.0], 20)
    assert [row for row, _ in fused] == [row for row, _ in plain]


def test_fusion_counts_only_the_lists_that_can_judge_a_row() -> None:
    # Row 0 is ranked first by a list that cannot judge it (an English model on a Russian
    # passage) and nowhere else; row 1 is ranked first by the one list that can judge it.
    english = np.array([False, False, True])
    rankings = [[(0, 0.9), (2, 0.8)], [(1, 0.5), (2, 0.4)]]

    fused = language_aware_fusion(rankings, [1.0, 1.0], [english, None], 20)

    assert [row for row, _ in fused] == [1, 2]  # row 0: no list that can judge it ranks it
    # Row 1, first in the only list that judges it, scores as a row first in every list.
    assert dict(fused)[1] == pytest.approx(1 / 21)
    assert dict(fused)[2] == pytest.approx(1 / 22)


def test_the_multilingual_weights_are_cached_uncompressed_and_an_unwritable_cache_is_no_failure(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "models"
    cached = UseEncoder(cache)
    assert list(cache.glob("use-multilingual-v3-*/weights.npz"))
    blocked = tmp_path / "a-file"  # a cache folder that cannot be made, even by root
    blocked.write_text("not a folder")
    packaged = UseEncoder(blocked / "models")

    question = "Кто возглавляет Роскосмос?"
    assert np.array_equal(cached.embed_query(question), packaged.embed_query(question))
