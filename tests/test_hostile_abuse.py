"""Abuse: a user flooding questions, a group flooding the bot, a group adding it again and again.

Each is held to its limit with one notice (or none), and — measured — does not slow down anyone
else; what the bot remembers about users and groups stays bounded.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bot.config import AppConfig
from bot.context import STATE_KEY, BotState
from bot.formatting.notices import GROUP_RATE_LIMITED, RATE_LIMITED
from index.service import CitebotService
from tests.bot_fixtures import ADMIN_ID, USER_ID, BotHarness, bot_story
from tests.serve_harness import replies_to
from tests.test_bot_pressure import with_telegram

QUESTION = "who will save the ISS from an uncontrolled deorbit?"
GROUP = -1001800000001
MEMBERS = range(8101, 8141)
SLOWER_BY_AT_MOST = 1.0  # seconds added to a bystander's median reply time; unlimited: ~15 s


async def reply_seconds(bot: BotHarness, rounds: int = 5) -> float:
    """The median time bystanders (new users, each asking once) wait for an answer."""
    seconds = []
    for _ in range(rounds):
        user_id = 8500 + len(bot.emu.world.users)
        bot.emu.add_user(user_id, f"Bystander {user_id}")
        bot.emu.add_private_chat(user_id)
        started = time.monotonic()
        reply = await bot.ask(user_id, user_id, QUESTION, timeout=60)
        seconds.append(time.monotonic() - started)
        assert "[1] “" in reply.text
    return statistics.median(seconds)


def state(bot: BotHarness) -> BotState:
    return bot.app.bot_data[STATE_KEY]  # type: ignore[no-any-return]


async def test_a_flooding_user_is_limited_and_others_are_not_slowed(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    config = with_telegram(bot_config, user_questions_per_minute=3)
    async with bot_story(config, bot_service) as bot:
        before = await reply_seconds(bot)
        flood = [bot.emu.user_sends(USER_ID, USER_ID, f"{QUESTION} {n}") for n in range(300)]
        during = await reply_seconds(bot)
        await bot.emu.wait_until(lambda: bot.emu.world.updates.pending_count == 0)
        await asyncio.sleep(0.5)
        answered = [replies_to(bot.emu, USER_ID, m["message_id"]) for m in flood]
        texts = [text for texts in answered for text in texts]
        assert len([t for t in texts if "[1] “" in t]) == 3
        assert texts.count(RATE_LIMITED) == 1 and len(texts) == 4
        assert during < before + SLOWER_BY_AT_MOST, (before, during)


async def test_a_group_flooding_the_bot_gets_one_notice_and_holds_no_one_up(
    bot: BotHarness,
) -> None:
    bot.emu.add_group(GROUP, "Busy", admins=[ADMIN_ID], bot_is_admin=True)
    before = await reply_seconds(bot)
    asked = []
    for member in MEMBERS:  # 40 members, each well within their own limit
        bot.emu.add_user(member, f"Member {member}")
        asked.append(bot.emu.user_sends(GROUP, member, f"/ask {QUESTION}"))
    during = await reply_seconds(bot)
    limit = bot.config.telegram.group_questions_per_minute

    def replies() -> list[str]:
        return [text for m in asked for text in replies_to(bot.emu, GROUP, m["message_id"])]

    await bot.emu.wait_until(lambda: len(replies()) >= limit + 1, timeout=30)
    await asyncio.sleep(0.5)
    texts = replies()
    assert len([t for t in texts if "[1] “" in t]) == limit
    assert texts.count(GROUP_RATE_LIMITED) == 1 and len(texts) == limit + 1
    assert during < before + SLOWER_BY_AT_MOST, (before, during)


async def test_a_group_that_adds_the_bot_again_and_again_is_greeted_once(
    bot: BotHarness,
) -> None:
    group = GROUP - 1
    bot.emu.add_group(group, "Revolving door", admins=[ADMIN_ID])
    before = await reply_seconds(bot)
    for _ in range(40):
        bot.emu.bot_removed_from_group(group, ADMIN_ID)
        bot.emu.bot_added_to_group(group, ADMIN_ID)
    during = await reply_seconds(bot)
    await bot.emu.wait_until(lambda: bot.emu.world.updates.pending_count == 0)
    await asyncio.sleep(0.5)
    assert [m.text.split("\n")[0] for m in bot.emu.messages_in(group)] == [
        "Hello! I answer questions about a collection of news articles, with quotes."
    ]
    assert during < before + SLOWER_BY_AT_MOST, (before, during)


async def test_what_the_bot_remembers_about_users_and_groups_is_bounded(bot: BotHarness) -> None:
    groups = [GROUP - 100 - n for n in range(30)]
    for number, group in enumerate(groups):
        bot.emu.add_group(group, f"Group {number}", admins=[ADMIN_ID])
        bot.emu.bot_added_to_group(group, ADMIN_ID)
        user_id = 8300 + number
        bot.emu.add_user(user_id, f"Visitor {number}")
        bot.emu.user_sends(group, user_id, f"/ask {QUESTION}")
        bot.emu.user_sends(group, user_id, "just chatting, not for the bot")
    await bot.emu.wait_until(
        lambda: all(len(bot.emu.messages_in(group)) == 2 for group in groups), timeout=30
    )
    shared = state(bot)
    # Only the bounded limiters remember anyone (least recently seen forgotten beyond a cap);
    # python-telegram-bot's per-chat and per-user dictionaries are never filled.
    assert len(shared.greeted) >= len(groups) and len(shared.group_limiter) >= len(groups)
    assert all(len(limiter) <= 10_000 for limiter in (shared.limiter, shared.group_limiter))
    assert len(bot.app.chat_data) == 0 and len(bot.app.user_data) == 0
