"""Stories in groups: the bot answers only when addressed, threaded, in the asker's topic.

The groups here make the bot an administrator, so Telegram delivers every message to it and
staying quiet is the bot's own decision, not privacy mode's.
"""

from __future__ import annotations

import asyncio

from tests.bot_fixtures import ADMIN_ID, OTHER_USER_ID, USER_ID, BotHarness

GROUP = -1001234567890
QUESTION = "who will save the ISS from an uncontrolled deorbit?"


def add_group(bot: BotHarness, chat_id: int = GROUP, **extra: object) -> int:
    bot.emu.add_group(
        chat_id,
        "Space news",
        admins=[ADMIN_ID, USER_ID, OTHER_USER_ID],
        bot_is_admin=True,
        **extra,
    )
    return chat_id


async def settle(bot: BotHarness) -> None:
    """Let the bot see every queued update (and answer, if it were going to)."""
    await bot.emu.wait_until(lambda: bot.emu.world.updates.pending_count == 0, timeout=5)
    await asyncio.sleep(0.5)


async def test_unaddressed_messages_get_no_reply(bot: BotHarness) -> None:
    group = add_group(bot)
    for text in (
        QUESTION,
        "@someone_else " + QUESTION,
        "/ask@some_other_bot " + QUESTION,
        "/help@some_other_bot",
        "mail me at x@citebot_test_bot.example",
    ):
        bot.emu.user_sends(group, USER_ID, text)
    bot.emu.user_sends_photo(group, USER_ID, caption="@citebot_test_bot look")
    bot.emu.user_sends_sticker(group, USER_ID)
    await settle(bot)
    assert bot.emu.messages_in(group) == []
    assert bot.emu.chat_actions == []


async def test_mention_ask_and_reply_to_bot_get_threaded_answers(bot: BotHarness) -> None:
    group = add_group(bot)
    for text in (
        f"@citebot_test_bot {QUESTION}",
        f"hey, {QUESTION} @CiteBot_Test_Bot",
        f"/ask@citebot_test_bot {QUESTION}",
        f"/ask {QUESTION}",
    ):
        asked = bot.emu.user_sends(group, USER_ID, text)
        reply = await bot.emu.wait_for_reply(group, after=asked)
        assert reply.reply_to_message_id == asked["message_id"], text
        assert "[1] “" in reply.text, text
        assert "@citebot_test_bot" not in reply.text.lower()
    follow_up = bot.emu.user_sends(
        group,
        OTHER_USER_ID,
        "and why were engine deliveries to the US stopped?",
        reply_to_message_id=reply.message_id,
    )
    answer = await bot.emu.wait_for_reply(group, after=follow_up)
    assert answer.reply_to_message_id == follow_up["message_id"]
    assert "engine" in answer.text.lower()


async def test_ask_without_a_question_gets_a_usage_line(bot: BotHarness) -> None:
    group = add_group(bot)
    for text in ("/ask", "/ask@citebot_test_bot", "/ask@citebot_test_bot    ", "@citebot_test_bot"):
        asked = bot.emu.user_sends(group, USER_ID, text)
        reply = await bot.emu.wait_for_reply(group, after=asked)
        assert reply.text.startswith("Ask me like this: /ask"), text
        assert reply.reply_to_message_id == asked["message_id"]


async def test_replies_stay_in_the_forum_topic(bot: BotHarness) -> None:
    group = add_group(bot, -1009876543210, forum=True)
    topic = bot.emu.add_forum_topic(group, "ISS")
    asked = bot.emu.user_sends(group, USER_ID, f"/ask {QUESTION}", message_thread_id=topic)
    reply = await bot.emu.wait_for_reply(group, after=asked)
    assert reply.message_thread_id == topic
    assert reply.reply_to_message_id == asked["message_id"]
    # A plain message in the topic is not a reply to the bot, even though the topic exists.
    bot.emu.user_sends(group, USER_ID, QUESTION, message_thread_id=topic)
    mention = bot.emu.user_sends(
        group, USER_ID, f"@citebot_test_bot {QUESTION}", message_thread_id=topic
    )
    reply = await bot.emu.wait_for_reply(group, after=mention)
    assert reply.message_thread_id == topic
    assert reply.reply_to_message_id == mention["message_id"]
    assert len(bot.emu.messages_in(group)) == 2
    assert (group, "typing") in bot.emu.chat_actions


async def test_added_to_a_group_it_greets_once(bot: BotHarness) -> None:
    group = -1005555555555
    bot.emu.add_group(group, "New group", admins=[ADMIN_ID], bot_is_member=False)
    bot.emu.bot_added_to_group(group, ADMIN_ID)
    greeting = await bot.emu.wait_for_reply(group, after=0)
    assert "/ask your question" in greeting.text
    await settle(bot)
    assert len(bot.emu.messages_in(group)) == 1  # the new_chat_members message is not greeted


async def test_edited_group_messages_are_answered_only_when_addressed(bot: BotHarness) -> None:
    group = add_group(bot)
    plain = bot.emu.user_sends(group, USER_ID, "just chatting")
    bot.emu.user_edits(group, plain["message_id"], "still just chatting about the ISS")
    await settle(bot)
    assert bot.emu.messages_in(group) == []
    bot.emu.user_edits(group, plain["message_id"], f"@citebot_test_bot {QUESTION}")
    reply = await bot.emu.wait_for_reply(group, after=plain)
    assert reply.reply_to_message_id == plain["message_id"]
    assert "[1]" in reply.text


async def test_anonymous_admins_and_channel_posts_cannot_run_admin_commands(
    bot: BotHarness,
) -> None:
    group = add_group(bot)
    asked = bot.emu.anonymous_admin_sends(group, "/reindex")
    reply = await bot.emu.wait_for_reply(group, after=asked)
    assert reply.text == "Sorry, only citebot's admins can do that."
    asked = bot.emu.anonymous_admin_sends(group, "/stats")
    reply = await bot.emu.wait_for_reply(group, after=asked)
    assert "only citebot's admins" in reply.text
    # An anonymous admin may still ask questions.
    asked = bot.emu.anonymous_admin_sends(group, f"/ask {QUESTION}")
    reply = await bot.emu.wait_for_reply(group, after=asked)
    assert "[1]" in reply.text
    bot.emu.add_channel(-1007777777777, "Channel")
    bot.emu.channel_post(-1007777777777, "/reindex")
    await settle(bot)
    assert bot.emu.messages_in(-1007777777777) == []
