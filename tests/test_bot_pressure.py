"""Under pressure: flood limits, spammers, a slow or failing Telegram — and no reply lost."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import pytest

from bot.config import AppConfig
from index.service import CitebotService
from tests.bot_fixtures import USER_ID, BotHarness, bot_story, new_emulator, running_bot

QUESTION = "who will save the ISS from an uncontrolled deorbit?"
READERS = range(3001, 3011)


def add_readers(bot: BotHarness) -> None:
    for user_id in READERS:
        bot.emu.add_user(user_id, f"Reader {user_id}")
        bot.emu.add_private_chat(user_id)


async def test_a_burst_of_429s_loses_and_duplicates_no_reply(bot: BotHarness) -> None:
    add_readers(bot)
    bot.emu.fail_next("sendMessage", count=3, status=429, retry_after=1)
    started = time.monotonic()
    asked = {user_id: bot.emu.user_sends(user_id, user_id, QUESTION) for user_id in READERS}
    await bot.emu.wait_until(
        lambda: all(bot.emu.messages_in(user_id) for user_id in READERS), timeout=30
    )
    await asyncio.sleep(0.5)  # room for any duplicate to show up
    assert len(bot.emu.injected_failures) == 3
    assert time.monotonic() - started >= 1.0  # retry_after was honoured
    replies = Counter((m.chat_id, m.reply_to_message_id) for m in bot.emu.sent)
    assert replies == Counter({(u, asked[u]["message_id"]): 1 for u in READERS})
    assert all("[1]" in bot.emu.messages_in(u)[0].text for u in READERS)


def with_telegram(config: AppConfig, **settings: object) -> AppConfig:
    telegram = config.telegram.model_copy(update=settings)
    return config.model_copy(update={"telegram": telegram})


async def test_a_spammer_gets_one_notice_not_silence_or_a_pile_of_replies(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    async with bot_story(
        with_telegram(bot_config, user_questions_per_minute=3), bot_service
    ) as bot:
        for _ in range(8):
            bot.emu.user_sends(USER_ID, USER_ID, QUESTION)
        await bot.emu.wait_until(lambda: len(bot.emu.messages_in(USER_ID)) >= 4, timeout=20)
        await asyncio.sleep(1.0)
        texts = [m.text for m in bot.emu.messages_in(USER_ID)]
        notices = [t for t in texts if t.startswith("You're asking faster")]
        assert len(notices) == 1
        assert len([t for t in texts if "[1]" in t]) == 3
        assert len(texts) == 4
        # Someone else is not held up by the spammer.
        other = await bot.ask(2002, 2002, QUESTION)
        assert "[1]" in other.text


async def test_a_failed_typing_action_never_loses_the_answer(bot: BotHarness) -> None:
    bot.emu.fail_next("sendChatAction", count=1, status=500)
    reply = await bot.ask(USER_ID, USER_ID, QUESTION)
    assert "[1]" in reply.text
    assert bot.emu.injected_failures == [("sendChatAction", 500)]


async def test_a_quick_answer_comes_without_typing_by_default(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    config = with_telegram(bot_config, typing_after_seconds=0.3)  # the default
    async with bot_story(config, bot_service) as bot:
        reply = await bot.ask(USER_ID, USER_ID, QUESTION)
        assert "[1]" in reply.text
        assert bot.emu.chat_actions == []


async def test_a_rejected_formatted_reply_is_resent_as_plain_text(bot: BotHarness) -> None:
    bot.emu.fail_next(
        "sendMessage",
        count=1,
        status=400,
        description="Bad Request: can't parse entities: Unsupported start tag at byte offset 0",
    )
    reply = await bot.ask(USER_ID, USER_ID, QUESTION)
    assert reply.parse_mode is None
    assert "[1] “" in reply.text
    assert "<b>" not in reply.text and "&quot;" not in reply.text


async def test_updates_are_handled_concurrently_when_telegram_is_slow(bot: BotHarness) -> None:
    add_readers(bot)
    bot.emu.set_latency(0.3)
    started = time.monotonic()
    for user_id in READERS:
        bot.emu.user_sends(user_id, user_id, QUESTION)
    await bot.emu.wait_until(
        lambda: all(bot.emu.messages_in(user_id) for user_id in READERS), timeout=30
    )
    elapsed = time.monotonic() - started
    # One after another, ten replies of two calls each would take at least 6 s.
    assert elapsed < 3.0
    bot.emu.set_latency(0)


async def test_a_failing_handler_is_logged_with_context_and_the_bot_keeps_going(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A refusal that sending again cannot fix (a 5xx would be retried and delivered).
    bot.emu.fail_next(
        "sendMessage",
        count=1,
        status=400,
        description="Bad Request: not enough rights to send text messages to the chat",
    )
    secret_words = "my private question about the ISS deorbit"
    sent = bot.emu.user_sends(USER_ID, USER_ID, secret_words)
    apology = await bot.emu.wait_for_reply(USER_ID, after=sent)
    assert "something went wrong" in apology.text
    failures = [r for r in caplog.records if r.name == "bot.handlers.errors"]
    assert failures and failures[0].levelno == logging.ERROR
    assert f"chat {USER_ID}" in failures[0].getMessage()
    assert failures[0].exc_info is not None
    reply = await bot.ask(USER_ID, USER_ID, QUESTION)
    assert "[1]" in reply.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert bot.emu.token not in logged
    assert bot.emu.token.split(":")[1] not in logged
    assert secret_words not in logged


async def test_a_user_who_blocked_the_bot_does_not_disturb_anyone_else(
    bot_config: AppConfig, bot_service: CitebotService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    emu = new_emulator()
    await emu.start()
    try:
        async with running_bot(emu, bot_config, bot_service):
            emu.user_sends(USER_ID, USER_ID, QUESTION)
            emu.block_bot(USER_ID)
            await emu.wait_until(lambda: bool(emu.rejections))
            other = emu.user_sends(2002, 2002, QUESTION)
            reply = await emu.wait_for_reply(2002, after=other)
            assert "[1]" in reply.text
    finally:
        await emu.stop()
    refused = {(r.method, r.params["chat_id"]) for r in emu.rejections}
    assert ("sendMessage", str(USER_ID)) in refused
    assert refused <= {("sendMessage", str(USER_ID)), ("sendChatAction", str(USER_ID))}
    assert any(f"cannot write to chat {USER_ID}" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
