"""Stories with the buttons under an answer: More, Article pages, 👍/👎 — also after a restart,
and with callback data a modified client could forge."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.bot_fixtures import (
    ADMIN_ID,
    LONG_ARTICLE_QUESTION,
    LONG_ARTICLE_TITLE,
    OTHER_USER_ID,
    USER_ID,
    BotHarness,
    running_bot,
)
from tests.telegram_emulator import BotAPIEmulator, SentMessage

FLAGS_QUESTION = "Why did Roscosmos cover the flags on the rocket at Baikonur?"
EXPIRED = "This answer has expired — ask again."


def buttons(message: SentMessage) -> dict[str, str]:
    """Button text → callback data."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def press(
    emu: BotAPIEmulator, message: SentMessage, label: str, user_id: int = USER_ID
) -> dict[str, Any]:
    """Press a button of the message as it reads now; returns the callback answer."""
    current = next(
        m for m in emu.messages_in(message.chat_id) if m.message_id == message.message_id
    )
    query_id = emu.press_button(
        message.chat_id, message.message_id, user_id, buttons(current)[label]
    )
    await emu.wait_until(lambda: query_id in emu.callback_answers)
    return emu.callback_answers[query_id]


def press_forged(emu: BotAPIEmulator, chat_id: int, message_id: int, data: str) -> str:
    """A callback query with data no button carries, as a modified client can send.

    (press_button refuses buttons that do not exist, so the update is built here.)
    """
    world = emu.world
    query_id = str(6_000_000_000 + world.next_id())
    query = {
        "id": query_id,
        "from": dict(world.user(USER_ID)),
        "message": copy.deepcopy(world.test_chat(chat_id).messages[message_id]),
        "chat_instance": "1",
        "data": data,
    }
    world.open_callback_queries[query_id] = query
    world.updates.push("callback_query", query)
    return query_id


def votes(stats_text: str) -> tuple[int, int]:
    found = re.search(r"👍 (\d+) · 👎 (\d+)", stats_text)
    assert found, stats_text
    return int(found[1]), int(found[2])


async def test_more_shows_the_next_citations(bot: BotHarness) -> None:
    answer = await bot.ask(USER_ID, USER_ID, FLAGS_QUESTION)
    assert "[3]" in answer.text and "[4]" not in answer.text
    assert list(buttons(answer)) == ["More", "Article", "👍", "👎"]
    sent_before = len(bot.emu.sent)
    assert (await press(bot.emu, answer, "More"))["text"] is None
    more = await bot.emu.wait_for_reply(USER_ID, after_count=sent_before, after=answer.message_id)
    assert more.reply_to_message_id == answer.message_id
    assert more.text.startswith(f"More sources for {FLAGS_QUESTION}")
    assert "[4] “" in more.text and "[1]" not in more.text


async def test_article_opens_the_cited_article_in_pages(bot: BotHarness) -> None:
    answer = await bot.ask(USER_ID, USER_ID, LONG_ARTICLE_QUESTION)
    assert LONG_ARTICLE_TITLE in answer.text
    sent_before = len(bot.emu.sent)
    await press(bot.emu, answer, "Article")
    page = await bot.emu.wait_for_reply(USER_ID, after_count=sent_before, after=answer.message_id)
    assert page.text.startswith(LONG_ARTICLE_TITLE)
    assert "Page 1 of 3" in page.text
    assert "launch pad 1 at the Vostochny" in page.text
    assert list(buttons(page)) == ["▶"]

    await press(bot.emu, page, "▶")
    await bot.emu.wait_until(lambda: "Page 2 of 3" in current(bot, page).text)
    assert list(buttons(current(bot, page))) == ["◀", "▶"]
    await press(bot.emu, page, "▶")
    await bot.emu.wait_until(lambda: "Page 3 of 3" in current(bot, page).text)
    assert "launch pad 16 at the Vostochny" in current(bot, page).text
    assert list(buttons(current(bot, page))) == ["◀"]
    await press(bot.emu, page, "◀")
    await bot.emu.wait_until(lambda: "Page 2 of 3" in current(bot, page).text)


def current(bot: BotHarness, message: SentMessage) -> SentMessage:
    return next(
        m for m in bot.emu.messages_in(message.chat_id) if m.message_id == message.message_id
    )


async def test_votes_are_recorded_once_per_user_and_counted_in_stats(bot: BotHarness) -> None:
    before = votes((await bot.ask(ADMIN_ID, ADMIN_ID, "/stats")).text)
    group = -1002000000001
    bot.emu.add_group(group, "Readers", admins=[USER_ID, OTHER_USER_ID])
    answer = await bot.ask(group, USER_ID, f"/ask {FLAGS_QUESTION}")
    assert (await press(bot.emu, answer, "👍", USER_ID))["text"] == "Thanks for the feedback!"
    await press(bot.emu, answer, "👍", USER_ID)  # pressed twice: still one vote
    await press(bot.emu, answer, "👎", OTHER_USER_ID)
    after = votes((await bot.ask(ADMIN_ID, ADMIN_ID, "/stats")).text)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    await press(bot.emu, answer, "👎", USER_ID)  # a change of mind replaces the vote
    changed = votes((await bot.ask(ADMIN_ID, ADMIN_ID, "/stats")).text)
    assert (changed[0] - before[0], changed[1] - before[1]) == (0, 2)


async def test_buttons_keep_working_after_a_restart(bot: BotHarness) -> None:
    answer = await bot.ask(USER_ID, USER_ID, FLAGS_QUESTION)
    await bot.app.updater.stop()  # type: ignore[union-attr]
    await bot.app.stop()
    async with running_bot(bot.emu, bot.config, bot.service):
        sent_before = len(bot.emu.sent)
        await press(bot.emu, answer, "More")
        more = await bot.emu.wait_for_reply(
            USER_ID, after_count=sent_before, after=answer.message_id
        )
        assert "[4] “" in more.text
        await press(bot.emu, answer, "Article")
        await bot.emu.wait_until(lambda: len(bot.emu.sent) == sent_before + 2)
        assert "Page 1 of" in bot.emu.sent[-1].text
        assert (await press(bot.emu, answer, "👍"))["text"] == "Thanks for the feedback!"
    await bot.app.start()  # give the fixture back a running Application to stop
    await bot.app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]


async def test_forged_button_data_gets_the_expired_answer_and_nothing_else(
    bot: BotHarness,
) -> None:
    mine = await bot.ask(USER_ID, USER_ID, FLAGS_QUESTION)
    theirs = await bot.ask(OTHER_USER_ID, OTHER_USER_ID, FLAGS_QUESTION)
    their_id = buttons(theirs)["Article"].split(":")[1]
    sent_before = len(bot.emu.sent)
    forged = [
        "m:999999999:3",
        f"a:{their_id}:0",  # another chat's answer
        f"f:{their_id}:+",
        f"m:{their_id}:3",
        "a:../../etc/passwd:0",
        "p:1:99",
        "m:1:9999",
        "garbage",
        "x" * 64,
    ]
    for data in forged:
        query_id = press_forged(bot.emu, USER_ID, mine.message_id, data)
        await bot.emu.wait_until(lambda q=query_id: q in bot.emu.callback_answers)
        assert bot.emu.callback_answers[query_id]["text"] == EXPIRED, data
    own = buttons(mine)["Article"].split(":")[1]
    query_id = press_forged(bot.emu, USER_ID, mine.message_id, f"p:{own}:42")  # no such page
    await bot.emu.wait_until(lambda: query_id in bot.emu.callback_answers)
    assert bot.emu.callback_answers[query_id]["text"] == EXPIRED
    assert len(bot.emu.sent) == sent_before
