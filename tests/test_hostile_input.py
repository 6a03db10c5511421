"""Hostile questions: arbitrary Unicode, control characters, text that looks like HTML or
Markdown, very long words, 4096-character messages.

Generated questions go through the real answer service and the formatter, and every reply must
pass what Telegram checks (the emulator's parser and length rules, applied directly) in bounded
time; a smaller set goes end to end through the running bot, in private and in a group.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.addressing import private_question
from bot.formatting.answers import format_inline_result, format_more, format_reply
from bot.i18n import ENGLISH
from index.service import CitebotService
from tests.bot_fixtures import USER_ID, BotHarness
from tests.serve_harness import replies_to
from tests.telegram_emulator.errors import ApiError
from tests.telegram_emulator.text import MAX_TEXT_LENGTH, format_text, utf16_len

ANSWER_SECONDS = 2.0
GROUP = -1001700000001
PIECES = [
    "<b>", "</b>", "<i", "</a>", "<a href='javascript:alert(1)'>", "&amp;", "&lt;", "&#0;",
    "&#x1F680;", "&unknown;", "*bold*", "_it_", "[link](http://x)", "`code`", "||spoiler||",
    "~~", "\\", "\x00", "\x07", "\x1b[31m", "\r\n", "\t", "\u202e", "\u200b", "\u200d",
    "\ufeff", "e\u0301\u0301\u0301", "🇺🇦", "👨\u200d👩\u200d👧", "🚀", "مرحبا", "שלום",
    "ISS", "Baikonur", "Rogozin", "flags", "rocket", "?",
]  # fmt: skip
NO_SURROGATES = st.characters(codec="utf-8")  # what Telegram can deliver
QUESTIONS = st.one_of(
    st.text(min_size=1, max_size=300),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=80).map(" ".join),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=400).map("".join),
    st.text(NO_SURROGATES, min_size=2000, max_size=4096),
    st.tuples(NO_SURROGATES, st.integers(1000, 4096)).map(lambda pair: pair[0] * pair[1]),
).filter(lambda text: utf16_len(text) <= MAX_TEXT_LENGTH)


def assert_telegram_accepts(html: str) -> None:
    """Telegram's checks on a sendMessage text in HTML: entities, clean-up, 4096 limit."""
    try:
        text, _ = format_text(html, "HTML", None)
    except ApiError as error:
        raise AssertionError(f"Telegram would refuse this reply: {error.description}") from error
    assert utf16_len(text) <= MAX_TEXT_LENGTH


@given(text=QUESTIONS)
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_any_question_gets_a_reply_telegram_accepts_in_bounded_time(
    bot_service: CitebotService, text: str
) -> None:
    question = private_question(text, "citebot_test_bot")
    if not question:
        return  # the bot answers an empty question with a fixed hint
    started = time.perf_counter()
    answer = bot_service.answer(question, max_citations=7)
    assert time.perf_counter() - started < ANSWER_SECONDS
    assert_telegram_accepts(format_reply(ENGLISH, answer, 3))
    assert_telegram_accepts(format_more(ENGLISH, answer, 3, 3))
    for citation in answer.citations[:3]:
        assert_telegram_accepts(format_inline_result(ENGLISH, question, citation))


END_TO_END = [
    pytest.param("".join(PIECES), id="every-piece-at-once"),
    pytest.param("\x00\x01\x02 why \x1b[2J did \x7f Rogozin \x08 demand?", id="control-chars"),
    pytest.param("🚀" * 2048, id="4096-utf16-units-of-emoji"),
    pytest.param("Baikonur" + "a" * 4000, id="one-4008-char-word"),
    pytest.param("e" + "\u0301" * 3000 + " ISS?", id="stacked-combining-marks"),
    pytest.param("<b><i><a href='x'>" * 200, id="unclosed-tags"),
    pytest.param("&" * 1000 + "#" * 1000 + ";" * 1000, id="entity-soup"),
    pytest.param("\u202e?sgalf eht derevoc ohw\u202c \u200d\u200d\ufeff", id="bidi-and-joiners"),
]


@pytest.mark.parametrize("text", END_TO_END)
async def test_hostile_questions_get_exactly_one_reply_in_private_and_in_a_group(
    bot: BotHarness, text: str
) -> None:
    emu = bot.emu
    if GROUP not in emu.world.chats:
        emu.add_group(GROUP, "Hostile", admins=[USER_ID], bot_is_admin=True)
    room = MAX_TEXT_LENGTH - utf16_len("/ask ")
    in_group = "/ask " + (text if utf16_len(text) <= room else text[: room // 2])
    asked = [emu.user_sends(USER_ID, USER_ID, text), emu.user_sends(GROUP, USER_ID, in_group)]
    await emu.wait_until(
        lambda: all(replies_to(emu, m["chat"]["id"], m["message_id"]) for m in asked), timeout=20
    )
    await asyncio.sleep(0.2)  # room for a second copy to show up
    for message in asked:
        (reply,) = replies_to(emu, message["chat"]["id"], message["message_id"])
        assert reply.strip() and "went wrong" not in reply
    # bot_story checks on leaving that Telegram refused nothing the bot sent.
