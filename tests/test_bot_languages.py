"""Stories in the user's language: a Russian speaker gets the bot's own words in Russian, anyone
else English, and each asker in a group gets their own; the articles are quoted as they are."""

from __future__ import annotations

import pytest
from babel import Locale

from bot.config import AppConfig
from bot.menu import ADMIN_COMMANDS, PUBLIC_COMMANDS
from index.service import CitebotService
from tests.bot_fixtures import (
    ADMIN_ID,
    LONG_ARTICLE_QUESTION,
    LONG_ARTICLE_TITLE,
    BotHarness,
    bot_story,
)
from tests.test_bot_buttons import buttons, press
from tests.test_bot_pressure import with_telegram

RUSSIAN = 3001  # language_code "ru-RU", as Telegram sends it for a Russian client
ENGLISH = 3002  # "en"
NO_LANGUAGE = 3003  # a client that sends no language_code at all
GROUP = -1003000000001
FLAGS_QUESTION = "Why did Roscosmos cover the flags on the rocket at Baikonur?"
CAKE_QUESTION = "What is a good recipe for lemon cake?"


def add_speaker(bot: BotHarness, user_id: int, name: str, language_code: str | None) -> int:
    bot.emu.add_user(user_id, name, name.lower(), language_code=language_code)
    bot.emu.add_private_chat(user_id)
    return user_id


@pytest.fixture
def speakers(bot: BotHarness) -> BotHarness:
    """The running bot, with a Russian, an English and a language-less user."""
    add_speaker(bot, RUSSIAN, "Ivan", "ru-RU")
    add_speaker(bot, ENGLISH, "Emma", "en")
    add_speaker(bot, NO_LANGUAGE, "Nobody", None)
    return bot


def language_names(bot: BotHarness, reader: str) -> list[str]:
    """Each language questions may be asked in, named in the reader's language."""
    return [
        Locale.parse(code).get_display_name(reader) for code in bot.service.question_languages()
    ]


async def test_a_russian_speaker_gets_help_and_start_in_russian(speakers: BotHarness) -> None:
    bot = speakers
    help_reply = await bot.ask(RUSSIAN, RUSSIAN, "/help")
    assert help_reply.text.startswith("Как задавать мне вопросы\n• В группе: /ask ваш вопрос")
    assert "/sources — статьи, которые я знаю" in help_reply.text
    for name in language_names(bot, "ru"):
        assert name in help_reply.text
    assert "английский" in help_reply.text
    start = await bot.ask(RUSSIAN, RUSSIAN, "/start")
    assert start.text.startswith("Привет! Я отвечаю на вопросы")
    assert "Просто пришлите мне вопрос." in start.text
    unknown = await bot.ask(RUSSIAN, RUSSIAN, "/nosuchcommand")
    assert unknown.text == "Такой команды я не знаю. Что я умею, покажет /help."
    sticker = bot.emu.user_sends_sticker(RUSSIAN, RUSSIAN)
    hint = await bot.emu.wait_for_reply(RUSSIAN, after=sticker)
    assert hint.text.startswith("Я понимаю только текст.")


async def test_a_russian_speaker_gets_refusals_and_buttons_in_russian_and_quotes_as_they_are(
    speakers: BotHarness,
) -> None:
    bot = speakers
    refusal = await bot.ask(RUSSIAN, RUSSIAN, CAKE_QUESTION)
    assert refusal.text.startswith("В моих статьях не нашлось ответа на этот вопрос.")
    answer = await bot.ask(RUSSIAN, RUSSIAN, FLAGS_QUESTION)
    assert list(buttons(answer)) == ["Ещё", "Статья", "👍", "👎"]
    expected = bot.service.answer(FLAGS_QUESTION, max_citations=bot.config.answer.max_citations)
    assert answer.text.startswith(" ".join(expected.answer.split())[:40])  # quoted, not translated
    assert expected.citations[0].title in answer.text
    sent_before = len(bot.emu.sent)
    await press(bot.emu, answer, "Ещё", RUSSIAN)
    more = await bot.emu.wait_for_reply(RUSSIAN, after_count=sent_before, after=answer.message_id)
    assert more.text.startswith(f"Ещё источники по вопросу {FLAGS_QUESTION}")
    assert (await press(bot.emu, answer, "👍", RUSSIAN))["text"] == "Спасибо за отзыв!"

    long_answer = await bot.ask(RUSSIAN, RUSSIAN, LONG_ARTICLE_QUESTION)
    sent_before = len(bot.emu.sent)
    await press(bot.emu, long_answer, "Статья", RUSSIAN)
    page = await bot.emu.wait_for_reply(
        RUSSIAN, after_count=sent_before, after=long_answer.message_id
    )
    assert page.text.startswith(LONG_ARTICLE_TITLE)
    assert "Страница 1 из 3" in page.text
    assert "launch pad 1 at the Vostochny" in page.text


async def test_a_russian_speaker_is_told_of_the_rate_limit_in_russian(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    async with bot_story(
        with_telegram(bot_config, user_questions_per_minute=1), bot_service
    ) as bot:
        add_speaker(bot, RUSSIAN, "Ivan", "ru-RU")
        await bot.ask(RUSSIAN, RUSSIAN, CAKE_QUESTION)
        limited = await bot.ask(RUSSIAN, RUSSIAN, CAKE_QUESTION)
        assert limited.text == (
            "Вы спрашиваете быстрее, чем я успеваю отвечать. Подождите минуту и спросите снова."
        )


@pytest.mark.parametrize("language_code", ["xx", None, "tlh", "en-GB"])
async def test_a_language_the_bot_does_not_speak_gets_english(
    bot: BotHarness, language_code: str | None
) -> None:
    user = add_speaker(bot, 3100, "Sam", language_code)
    help_reply = await bot.ask(user, user, "/help")
    assert help_reply.text.startswith("How to ask me\n• In a group: /ask your question")
    for name in language_names(bot, "en"):
        assert name in help_reply.text
    refusal = await bot.ask(user, user, CAKE_QUESTION)
    assert refusal.text.startswith("I found nothing in my articles that answers this.")
    answer = await bot.ask(user, user, FLAGS_QUESTION)
    assert list(buttons(answer)) == ["More", "Article", "👍", "👎"]


async def test_in_a_group_each_asker_is_answered_in_their_own_language(
    speakers: BotHarness,
) -> None:
    bot = speakers
    bot.emu.add_group(
        GROUP, "Space news", admins=[ADMIN_ID, RUSSIAN, ENGLISH, NO_LANGUAGE], bot_is_admin=True
    )
    russian = await bot.ask(GROUP, RUSSIAN, f"/ask {CAKE_QUESTION}")
    english = await bot.ask(GROUP, ENGLISH, f"/ask {CAKE_QUESTION}")
    nobody = await bot.ask(GROUP, NO_LANGUAGE, f"/ask {CAKE_QUESTION}")
    assert russian.text.startswith("В моих статьях не нашлось ответа")
    assert english.text.startswith("I found nothing in my articles")
    assert nobody.text == english.text
    russian = await bot.ask(GROUP, RUSSIAN, f"/ask {FLAGS_QUESTION}")
    english = await bot.ask(GROUP, ENGLISH, f"@citebot_test_bot {FLAGS_QUESTION}")
    assert list(buttons(russian)) == ["Ещё", "Статья", "👍", "👎"]
    assert list(buttons(english)) == ["More", "Article", "👍", "👎"]
    # The answer itself is the articles' own words, whoever asked.
    assert russian.text.split("\n")[0] == english.text.split("\n")[0]
    usage = await bot.ask(GROUP, RUSSIAN, "/ask")
    assert usage.text.startswith("Спросите так: /ask")
    usage = await bot.ask(GROUP, ENGLISH, "/ask")
    assert usage.text.startswith("Ask me like this: /ask what happened at Baikonur?")


async def test_the_bot_greets_a_group_in_the_language_of_whoever_added_it(
    speakers: BotHarness,
) -> None:
    bot = speakers
    bot.emu.add_group(GROUP, "Космос", admins=[RUSSIAN], bot_is_member=False)
    bot.emu.bot_added_to_group(GROUP, RUSSIAN)
    greeting = await bot.emu.wait_for_reply(GROUP, after=0)
    assert greeting.text.startswith("Здравствуйте! Я отвечаю на вопросы")
    assert "/ask ваш вопрос" in greeting.text


async def test_the_command_menus_are_registered_in_english_and_russian(bot: BotHarness) -> None:
    commands = bot.emu.commands
    english = {c["command"]: c["description"] for c in commands["default"]}
    russian = {c["command"]: c["description"] for c in commands["default@ru"]}
    assert list(russian) == list(english) == [name for name, _ in PUBLIC_COMMANDS]
    assert english["help"] == "How to ask me"
    assert russian["help"] == "Как задавать мне вопросы"
    assert russian["ask"] == "Задать вопрос о новостных статьях"
    admin = {c["command"]: c["description"] for c in commands[f"chat:{ADMIN_ID}@ru"]}
    assert list(admin) == [name for name, _ in PUBLIC_COMMANDS + ADMIN_COMMANDS]
    assert admin["reindex"] == "Перечитать папку со статьями и обновить индекс"


async def test_a_russian_admin_sees_stats_and_reindex_in_russian(bot: BotHarness) -> None:
    bot.emu.add_user(ADMIN_ID, "Ada", "ada", language_code="ru")  # the admin's client is Russian
    stats = await bot.ask(ADMIN_ID, ADMIN_ID, "/stats")
    assert stats.text.startswith("Статистика citebot (с момента запуска)")
    assert "6 статей" in stats.text and "фрагмент" in stats.text
    progress = await bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    assert progress.text.startswith("⏳ Переиндексация")
    await bot.emu.wait_until(
        lambda: any(e.text and e.text.startswith("✅") for e in bot.emu.edits), timeout=60
    )
    report = next(e.text for e in bot.emu.edits if e.text and e.text.startswith("✅"))
    assert report.startswith("✅ Индекс актуален — ничего не изменилось")
    assert "всего 6" in report
