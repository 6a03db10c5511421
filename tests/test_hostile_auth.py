"""Who may do what: admin rights by numeric id only, buttons that outlived their article or came
from where no answer was sent, and webhook requests without Telegram's secret token.

(Anonymous group admins and channel posts: test_bot_groups; nine kinds of forged button data:
test_bot_buttons; the token in logs: test_reliability_telegram.)
"""

from __future__ import annotations

import copy
import json
import socket

import aiohttp
import pytest
from telegram import Update

from bot.app import build_application, close_state
from bot.config import AppConfig
from bot.formatting.notices import EXPIRED, NOT_ADMIN, UPLOAD_NOT_ADMIN
from index.service import CitebotService
from tests.bot_fixtures import ADMIN_ID, USER_ID, BotHarness, new_emulator
from tests.telegram_emulator import BotAPIEmulator, SentMessage

LIGHTHOUSE_QUESTION = "How many people booked lighthouse tours?"
LIGHTHOUSE_TITLE = "Harbour lighthouse reopens after restoration"
SECRET = "s3cret-Token_1"


@pytest.mark.parametrize(
    ("first_name", "username"),
    [("Ada", "ada"), (str(ADMIN_ID), "ada_the_admin"), ("Ada", None)],
    ids=["same-name-and-username", "admin-id-as-name", "same-display-name"],
)
async def test_admin_rights_go_by_numeric_id_never_by_name(
    bot: BotHarness, first_name: str, username: str | None
) -> None:
    impostor = 6100 + len(bot.emu.world.users)
    bot.emu.add_user(impostor, first_name, username, last_name="Lovelace")
    bot.emu.add_private_chat(impostor)
    for command in ("/reindex", "/reindex full", "/stats"):
        assert (await bot.ask(impostor, impostor, command)).text == NOT_ADMIN
    sent = bot.emu.user_sends_document(impostor, impostor, "article.md", b"An article text.")
    assert (await bot.emu.wait_for_reply(impostor, after=sent)).text == UPLOAD_NOT_ADMIN
    assert not (bot.config.corpus.path / "article.md").exists()


def buttons(message: SentMessage) -> dict[str, str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def pressed(emu: BotAPIEmulator, query_id: str) -> str | None:
    await emu.wait_until(lambda: query_id in emu.callback_answers)
    return emu.callback_answers[query_id]["text"]  # type: ignore[no-any-return]


async def test_a_button_whose_article_was_removed_since_reveals_nothing(
    library_bot: BotHarness,
) -> None:
    bot = library_bot
    answer = await bot.ask(USER_ID, USER_ID, LIGHTHOUSE_QUESTION)
    assert LIGHTHOUSE_TITLE in answer.text
    (bot.config.corpus.path / "harbour-lighthouse.md").unlink()
    progress = await bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    await bot.emu.wait_until(
        lambda: bot.emu.messages_in(ADMIN_ID)[-1].text.startswith("✅"), timeout=60
    )
    assert "Removed: harbour-lighthouse.md" in bot.emu.messages_in(ADMIN_ID)[-1].text, progress
    sent_before = len(bot.emu.sent)
    query = bot.emu.press_button(USER_ID, answer.message_id, USER_ID, buttons(answer)["Article"])
    assert await pressed(bot.emu, query) == EXPIRED
    assert len(bot.emu.sent) == sent_before


async def test_a_button_pressed_where_no_answer_was_sent_reveals_nothing(bot: BotHarness) -> None:
    answer = await bot.ask(USER_ID, USER_ID, "who will save the ISS from an uncontrolled deorbit?")
    data = buttons(answer)["Article"]  # real data, replayed from elsewhere
    world = bot.emu.world
    sent_before = len(bot.emu.sent)
    # A press on a message sent in inline mode carries no chat and no message, only an id.
    query_id = str(7_000_000_000 + world.next_id())
    query = {
        "id": query_id,
        "from": copy.deepcopy(world.user(USER_ID)),
        "inline_message_id": "AgAAAKxy-inline-message",
        "chat_instance": "42",
        "data": data,
    }
    world.open_callback_queries[query_id] = query
    world.updates.push("callback_query", query)
    assert await pressed(bot.emu, query_id) == EXPIRED
    assert len(bot.emu.sent) == sent_before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_webhook_request_without_telegrams_secret_token_is_refused(
    bot_config: AppConfig, bot_service: CitebotService
) -> None:
    emu = new_emulator()
    await emu.start()
    app = build_application(
        bot_config,
        bot_service,
        emu.token,
        base_url=emu.base_url,
        base_file_url=emu.base_file_url,
    )
    port = free_port()
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_webhook(
        listen="127.0.0.1", port=port, url_path="telegram",
        webhook_url="https://bot.example.org/telegram", secret_token=SECRET,
        allowed_updates=Update.ALL_TYPES,
    )  # fmt: skip
    await app.start()
    try:
        message = emu.user_sends(USER_ID, USER_ID, "who will save the ISS?")
        body = json.dumps({"update_id": 1, "message": message})
        url = f"http://127.0.0.1:{port}/telegram"
        plain = {"Content-Type": "application/json"}
        async with aiohttp.ClientSession() as http:
            for headers in (
                plain,
                {**plain, "X-Telegram-Bot-Api-Secret-Token": ""},
                {**plain, "X-Telegram-Bot-Api-Secret-Token": SECRET.lower()},
                {**plain, "X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
            ):
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 403, headers
            right = {**plain, "X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, data=body, headers=right) as response:
                assert response.status == 200
        reply = await emu.wait_for_reply(USER_ID, after=message, timeout=30)
        assert "[1]" in reply.text
        assert len(emu.messages_in(USER_ID)) == 1  # the refused requests were dropped
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await close_state(app)
        await emu.stop()
    assert emu.world.webhook["secret_token"] == SECRET
    assert [tuple(r) for r in emu.rejections] == []
