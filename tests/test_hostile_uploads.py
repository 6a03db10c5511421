"""A careless admin through the emulated Bot API: a corpus file with an impossible date, uploads
the next build could not index, and an upload named like an article that is already there.

A bad file in the corpus is skipped by /reindex, which reports it and goes on. An upload is
checked by the very reader a build uses, so what the bot accepts, the next build indexes; and
an upload never replaces an article unless the admin says so.
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.bot_fixtures import ADMIN_ID, USER_ID, BotHarness
from tests.telegram_emulator import BotAPIEmulator, SentMessage
from tests.test_bot_admin import OCTOPUS_ARTICLE, OCTOPUS_QUESTION, OCTOPUS_TITLE, final_text
from tests.test_bot_buttons import buttons, press, press_forged
from tests.test_hostile_articles import BAD_DATE, DEEP, DEEP_FRONT_MATTER, alias_bomb

CHESS_QUESTION = "Who won the national chess final?"
REFUSED = "I can't add that file:"


async def test_a_reindex_skips_a_file_with_an_impossible_date_and_goes_on(
    library_bot: BotHarness,
) -> None:
    bot = library_bot
    corpus = bot.config.corpus.path
    (corpus / "bad-date.md").write_text(BAD_DATE, encoding="utf-8")
    (corpus / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")

    progress = await bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    report = await final_text(bot, progress)

    assert report.startswith("✅ Reindex done"), report
    assert "Added: octopus.md" in report
    assert "Skipped: bad-date.md: broken front matter: date 2022-02-30 is not a calendar" in report
    assert OCTOPUS_TITLE in (await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)).text


@pytest.mark.parametrize(
    ("file_name", "content", "reason"),
    [
        ("leap.md", BAD_DATE, "date 2022-02-30 is not a calendar date"),
        ("feed.jsonl", '{"text": 5}\n', 'line 1 has no "text"'),
        ("feed.jsonl", '{"text": "ok"}\n' + "[" * DEEP + "]" * DEEP + "\n", "line 2"),
        ("deep.md", DEEP_FRONT_MATTER, "nested deeper than"),
        ("bomb.md", alias_bomb(), "aliases"),
        ("dated.jsonl", json.dumps({"text": "ok", "date": "2023-13-01"}) + "\n", "line 1"),
    ],
)
async def test_an_upload_the_next_build_could_not_index_is_refused_with_the_reason(
    library_bot: BotHarness, file_name: str, content: str, reason: str
) -> None:
    bot = library_bot
    corpus = bot.config.corpus.path
    before = sorted(p.name for p in corpus.iterdir())

    sent = bot.emu.user_sends_document(ADMIN_ID, ADMIN_ID, file_name, content.encode())
    reply = await bot.emu.wait_for_reply(ADMIN_ID, after=sent)

    assert reply.text.startswith(REFUSED), reply.text
    assert reason in reply.text
    assert sorted(p.name for p in corpus.iterdir()) == before


async def upload(emu: BotAPIEmulator, name: str, content: str) -> SentMessage:
    sent = emu.user_sends_document(ADMIN_ID, ADMIN_ID, name, content.encode())
    return await emu.wait_for_reply(ADMIN_ID, after=sent)


async def test_an_upload_named_like_an_article_replaces_it_only_when_the_admin_confirms(
    library_bot: BotHarness,
) -> None:
    bot, emu = library_bot, library_bot.emu
    existing = bot.config.corpus.path / "chess-final.md"
    original = existing.read_text(encoding="utf-8")

    question = await upload(emu, "chess-final.md", OCTOPUS_ARTICLE)
    assert "chess-final.md is already in the corpus" in question.text
    assert list(buttons(question)) == ["Replace it", "Keep the old one"]
    assert existing.read_text(encoding="utf-8") == original
    assert (await press(emu, question, "Keep the old one", ADMIN_ID))["text"] is None
    await emu.wait_until(lambda: edited(emu, question, "Kept the old chess-final.md"))
    assert existing.read_text(encoding="utf-8") == original
    assert "Teenager wins" in (await bot.ask(USER_ID, USER_ID, CHESS_QUESTION)).text

    question = await upload(emu, "chess-final.md", OCTOPUS_ARTICLE)
    await press(emu, question, "Replace it", ADMIN_ID)
    await emu.wait_until(lambda: edited(emu, question, "Saved chess-final.md"))
    progress = await emu.wait_for_reply(ADMIN_ID, after=question.message_id)
    report = await final_text(bot, progress)
    assert "0 added, 1 changed" in report and "Changed: chess-final.md" in report
    assert existing.read_text(encoding="utf-8") == OCTOPUS_ARTICLE
    assert OCTOPUS_TITLE in (await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)).text


async def test_a_replace_button_works_once_and_only_for_the_admin(
    library_bot: BotHarness,
) -> None:
    bot, emu = library_bot, library_bot.emu
    existing = bot.config.corpus.path / "chess-final.md"
    original = existing.read_text(encoding="utf-8")
    question = await upload(emu, "chess-final.md", OCTOPUS_ARTICLE)
    replace = buttons(question)["Replace it"]

    # A user who forges the admin's button (the same data, from their own client) gets nothing.
    query_id = press_forged(emu, ADMIN_ID, question.message_id, replace)
    await emu.wait_until(lambda: query_id in emu.callback_answers)
    assert emu.callback_answers[query_id]["text"] == "Sorry, only citebot's admins can do that."
    assert existing.read_text(encoding="utf-8") == original

    await press(emu, question, "Keep the old one", ADMIN_ID)
    await emu.wait_until(lambda: edited(emu, question, "Kept the old"))
    # The admin's second client still shows the buttons: a late press changes nothing.
    query_id = press_as(emu, ADMIN_ID, question, replace)
    await emu.wait_until(lambda: query_id in emu.callback_answers)
    assert "expired" in emu.callback_answers[query_id]["text"]
    assert existing.read_text(encoding="utf-8") == original


def press_as(emu: BotAPIEmulator, user_id: int, message: SentMessage, data: str) -> str:
    """A press of a button the message no longer shows (press_button would refuse it)."""
    world = emu.world
    query_id = str(7_000_000_000 + world.next_id())
    query = {
        "id": query_id,
        "from": dict(world.user(user_id)),
        "message": copy.deepcopy(world.test_chat(message.chat_id).messages[message.message_id]),
        "chat_instance": "1",
        "data": data,
    }
    world.open_callback_queries[query_id] = query
    world.updates.push("callback_query", query)
    return query_id


def edited(emu: BotAPIEmulator, message: SentMessage, prefix: str) -> bool:
    return any(
        e.message_id == message.message_id and (e.text or "").startswith(prefix) for e in emu.edits
    )
