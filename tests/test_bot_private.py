"""Stories in a private chat: questions, commands, and every odd thing a person might send."""

from __future__ import annotations

import pytest

from bot.menu import ADMIN_COMMANDS, PUBLIC_COMMANDS
from tests.bot_fixtures import ADMIN_ID, USER_ID, BotHarness

FLAGS_QUESTION = "Why did Roscosmos cover the flags on the rocket at Baikonur?"


async def test_a_question_gets_a_cited_answer_threaded_to_it(bot: BotHarness) -> None:
    question = bot.emu.user_sends(USER_ID, USER_ID, FLAGS_QUESTION)
    reply = await bot.emu.wait_for_reply(USER_ID, after=question)

    answer = bot.service.answer(FLAGS_QUESTION, max_citations=bot.config.answer.max_citations)
    top = answer.citations[0]
    assert reply.parse_mode == "HTML"
    assert reply.reply_to_message_id == question["message_id"]
    assert reply.text.startswith(" ".join(answer.answer.split())[:40])
    assert "[1] “" in reply.text
    assert top.title in reply.text
    assert " ".join(top.snippet.split())[:60] in " ".join(reply.text.split())
    bold = [e for e in reply.entities if e["type"] == "bold"]
    assert bold, "the best sentence of each snippet is bold"
    assert (USER_ID, "typing") in bot.emu.chat_actions
    buttons = [b["text"] for row in reply.reply_markup["inline_keyboard"] for b in row]
    assert {"Article", "👍", "👎"} <= set(buttons)


async def test_a_question_the_articles_cannot_answer_points_to_sources(bot: BotHarness) -> None:
    reply = await bot.ask(USER_ID, USER_ID, "What is a good recipe for lemon cake?")
    assert "found nothing" in reply.text
    assert "/sources" in reply.text
    assert "[1]" not in reply.text
    assert reply.reply_markup is None


async def test_start_help_and_sources(bot: BotHarness) -> None:
    start = await bot.ask(USER_ID, USER_ID, "/start")
    assert "Just send me a question" in start.text
    help_reply = await bot.ask(USER_ID, USER_ID, "/help")
    assert help_reply.text.startswith("How to ask me\n• In a group: /ask your question")
    assert "reply to one of my messages" in help_reply.text
    sources = await bot.ask(USER_ID, USER_ID, "/sources")
    assert sources.text.startswith("Articles I know (6)")
    for source in bot.service.sources():
        assert source.title in sources.text
    assert "2022-03-04" in sources.text


async def test_commands_are_registered_and_admin_ones_only_for_admins(bot: BotHarness) -> None:
    public = [c["command"] for c in bot.emu.commands["default"]]
    assert public == [name for name, _ in PUBLIC_COMMANDS]
    assert "reindex" not in public
    admin = [c["command"] for c in bot.emu.commands[f"chat:{ADMIN_ID}"]]
    assert admin == [name for name, _ in PUBLIC_COMMANDS + ADMIN_COMMANDS]
    assert f"chat:{USER_ID}" not in bot.emu.commands


ODD_QUESTIONS = [
    pytest.param("<b>Roscosmos</b> & the *flags* _at_ [Baikonur](x)?", id="html-and-markdown"),
    pytest.param("</a><i>&amp;&lt;", id="broken-html"),
    pytest.param("🚀🛰️🇷🇺🇮🇳", id="only-emoji"),
    pytest.param("لماذا غطت روسكوزموس الأعلام على الصاروخ؟", id="right-to-left"),
    pytest.param("Baikonur flags? " + "x" * 4080, id="4096-characters"),
    pytest.param("Rogozin " * 511 + "ISS", id="4096-character-words"),
    pytest.param("@citebot_test_bot", id="only-a-mention"),
    pytest.param("/ask@citebot_test_bot %%% <garbage> &&&", id="command-with-garbage"),
    pytest.param("/help@citebot_test_bot trailing <b>garbage</b>", id="help-with-garbage"),
    pytest.param("/nosuchcommand <b>", id="unknown-command"),
    pytest.param("\u200b", id="zero-width-space"),
]


@pytest.mark.parametrize("text", ODD_QUESTIONS)
async def test_odd_input_gets_a_sensible_reply(bot: BotHarness, text: str) -> None:
    reply = await bot.ask(USER_ID, USER_ID, text)
    assert reply.text.strip()
    assert "went wrong" not in reply.text


async def test_html_looking_question_is_not_interpreted(bot: BotHarness) -> None:
    reply = await bot.ask(USER_ID, USER_ID, "/ask")
    assert "Ask me like this" in reply.text
    reply = await bot.ask(USER_ID, USER_ID, "<b>lemon cake</b> & *pie*?")
    assert "found nothing" in reply.text


async def test_only_white_space_gets_a_hint(bot: BotHarness) -> None:
    # Telegram clients refuse to send blank messages, so the nearest thing: a mention only.
    reply = await bot.ask(USER_ID, USER_ID, "@citebot_test_bot")
    assert "Send me a question" in reply.text


async def test_an_edited_question_is_answered_again(bot: BotHarness) -> None:
    first = await bot.ask(USER_ID, USER_ID, "What is a good recipe for lemon cake?")
    assert "found nothing" in first.text
    question_id = first.reply_to_message_id
    assert question_id is not None
    bot.emu.user_edits(USER_ID, question_id, FLAGS_QUESTION)
    await bot.emu.wait_until(lambda: len(bot.emu.messages_in(USER_ID)) == 2)
    second = bot.emu.messages_in(USER_ID)[-1]
    assert second.reply_to_message_id == question_id
    assert "[1]" in second.text


async def test_photo_and_sticker_get_a_one_line_hint(bot: BotHarness) -> None:
    photo = bot.emu.user_sends_photo(USER_ID, USER_ID, caption="what is this?")
    reply = await bot.emu.wait_for_reply(USER_ID, after=photo)
    assert reply.text == "I can only read text. Send me your question as a message."
    sticker = bot.emu.user_sends_sticker(USER_ID, USER_ID)
    reply = await bot.emu.wait_for_reply(USER_ID, after=sticker)
    assert reply.text.startswith("I can only read text.")
    assert reply.reply_to_message_id == sticker["message_id"]
