"""Without a token, `citebot serve` is a terminal chat showing the reply text the bot would send."""

from __future__ import annotations

import io

from bot.config import AppConfig
from bot.formatting.answers import format_reply
from bot.formatting.markup import to_plain
from bot.i18n import ENGLISH, translator_from_environment
from bot.terminal import PROMPT, run_terminal_chat
from index.service import CitebotService


def chat(config: AppConfig, service: CitebotService, typed: str) -> tuple[int, str]:
    output = io.StringIO()
    code = run_terminal_chat(config, service, input=io.StringIO(typed), output=output)
    return code, output.getvalue()


def test_a_question_gets_the_same_reply_text_as_in_telegram(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    question = "Why did Roscosmos cover the flags on the rocket at Baikonur?"
    code, shown = chat(bot_config, bot_service, question + "\n")
    assert code == 0
    assert shown.count(PROMPT) == 2  # asked, then EOF at the next prompt
    shown_reply = shown.split(PROMPT)[1].strip()
    shown_count = bot_config.answer.max_citations
    answer = bot_service.answer(question, max_citations=shown_count + 1)
    expected = to_plain(
        format_reply(ENGLISH, answer, shown_count), bold=("**", "**"), show_urls=True
    )
    assert shown_reply == expected.strip()
    assert "[1] “" in shown_reply and "**" in shown_reply
    assert "Baikonur" in shown_reply


def test_nothing_found_is_said_plainly(bot_config: AppConfig, bot_service: CitebotService) -> None:
    _, shown = chat(bot_config, bot_service, "What is the best recipe for lemon cake?\nquit\n")
    assert "found nothing" in shown
    assert "[1]" not in shown


def test_blank_lines_hints_and_quit(bot_config: AppConfig, bot_service: CitebotService) -> None:
    code, shown = chat(bot_config, bot_service, "   \n/sources\nquit\nnever asked\n")
    assert code == 0
    assert "Send me a question" in shown
    assert "Articles I know (6)" in shown
    assert "never asked" not in shown


def test_the_terminal_chat_speaks_the_language_of_its_environment(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    russian = translator_from_environment({"LANG": "ru_RU.UTF-8"})
    output = io.StringIO()
    typed = "   \n/help\nWhat is the best recipe for lemon cake?\nquit\n"
    run_terminal_chat(
        bot_config, bot_service, input=io.StringIO(typed), output=output, translator=russian
    )
    shown = output.getvalue()
    assert shown.startswith("Задайте вопрос о статьях (quit или Ctrl-D — выход).")
    assert "Задайте мне вопрос о новостных статьях" in shown
    assert "**Как задавать мне вопросы**" in shown and "английский" in shown
    assert "В моих статьях не нашлось ответа на этот вопрос." in shown
