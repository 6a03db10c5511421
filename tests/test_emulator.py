"""The Bot API emulator, driven by PTB's real `telegram.Bot` and `Application` over HTTP.

If these pass, a bot test failing against the emulator means the bot did something Telegram
would refuse too, not that the emulator misunderstood PTB.
"""

# PTB types every optional field as Optional; these tests assert on fields they know are set.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import asyncio
import datetime as dtm
import html
from collections.abc import AsyncIterator

import aiohttp
import pytest
import telegram
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from tests.telegram_emulator import BotAPIEmulator, EmulatorError

ALICE, BOB = 1001, 1002
GROUP, FORUM = -1001234567890, -1009876543210


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(token="123456:TEST-TOKEN", bot_username="citebot_test_bot") as emu:
        emu.add_user(ALICE, "Alice", "alice")
        emu.add_user(BOB, "Bob", "bob")
        emu.add_private_chat(ALICE)
        emu.add_group(GROUP, "Readers", admins=(BOB,))
        emu.add_group(FORUM, "Desk", forum=True, admins=(BOB,))
        yield emu


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[telegram.Bot]:
    bot = telegram.Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url)
    async with bot:
        yield bot


def seconds(value: int | dtm.timedelta) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_get_me_describes_the_bot(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (emu.bot_id, "citebot_test_bot", True)
    assert me.can_read_all_group_messages is False  # privacy mode, as a new bot has


async def test_valid_html_is_sent_and_recorded(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    question = emu.user_sends(ALICE, ALICE, "hello")
    html = '<b>Answer</b> &amp; <a href="https://example.org/a">source</a>'
    message = await bot.send_message(ALICE, html, parse_mode=ParseMode.HTML)
    assert message.text == "Answer & source"
    assert [e.type for e in message.entities] == ["bold", "text_link"]
    assert message.message_id == question["message_id"] + 1  # one id sequence per chat
    record = emu.sent[-1]
    assert (record.text, record.html, record.parse_mode) == ("Answer & source", html, "HTML")
    assert emu.rejections == []


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<br>line", 'Unsupported start tag "br" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ('<span class="x">a</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_malformed_html_is_rejected_like_telegram(
    bot: telegram.Bot, emu: BotAPIEmulator, html: str, description: str
) -> None:
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(ALICE, html, parse_mode=ParseMode.HTML)
    method, params, text = emu.rejections[-1]
    assert method == "sendMessage" and params["text"] == html
    assert text == f"Bad Request: can't parse entities: {description}"
    assert emu.sent == []


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("a" * 4096, True),
        ("a" * 4097, False),
        ("<b>" + "a" * 4096 + "</b>", True),  # markup does not count
        ("😀" * 2048, True),  # 4096 UTF-16 units
        ("😀" * 2049, False),  # 2049 characters but 4098 UTF-16 units
        ("&lt;" * 4096, True),  # each entity is one character after parsing
    ],
)
async def test_length_limit_counts_utf16_after_parsing(
    bot: telegram.Bot, emu: BotAPIEmulator, text: str, accepted: bool
) -> None:
    if accepted:
        await bot.send_message(ALICE, text, parse_mode=ParseMode.HTML)
        return
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ALICE, text, parse_mode=ParseMode.HTML)
    assert emu.rejections[-1].description == "Bad Request: message is too long"


async def test_text_empty_after_parsing_is_rejected(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ALICE, "<b> </b>\n", parse_mode=ParseMode.HTML)


@pytest.mark.parametrize(
    ("data", "accepted"), [("x" * 64, True), ("x" * 65, False), ("ж" * 33, False)]
)
async def test_callback_data_is_limited_to_64_bytes(
    bot: telegram.Bot, emu: BotAPIEmulator, data: str, accepted: bool
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data=data)]])
    if accepted:
        await bot.send_message(ALICE, "x", reply_markup=markup)
        return
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(ALICE, "x", reply_markup=markup)
    assert emu.rejections[-1].description == "Bad Request: BUTTON_DATA_INVALID"


async def test_unknown_chat_and_foreign_reply_target_are_rejected(
    bot: telegram.Bot, emu: BotAPIEmulator
) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hi")
    in_group = emu.user_sends(GROUP, BOB, "/ask@citebot_test_bot x")
    wrong_chat = ReplyParameters(message_id=in_group["message_id"] + 50)
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(ALICE, "answer", reply_parameters=wrong_chat)
    lenient = ReplyParameters(message_id=999, allow_sending_without_reply=True)
    sent = await bot.send_message(ALICE, "answer", reply_parameters=lenient)
    assert sent.reply_to_message is None


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_gives_retry_after_then_recovers(
    bot: telegram.Bot, emu: BotAPIEmulator
) -> None:
    emu.fail_next("sendMessage", count=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(ALICE, "hi")
        assert seconds(caught.value.retry_after) == 7
    await bot.send_message(ALICE, "hi")
    assert emu.injected_failures == [("sendMessage", 429), ("sendMessage", 429)]
    assert emu.rejections == []


async def test_a_dropped_connection_answers_nothing_and_carries_out_nothing(
    bot: telegram.Bot, emu: BotAPIEmulator
) -> None:
    emu.fail_next("sendMessage", drop=True)
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(ALICE, "lost")
    await bot.send_message(ALICE, "kept")
    assert [m.text for m in emu.messages_in(ALICE)] == ["kept"]
    assert emu.injected_failures == [("sendMessage", 0)]


async def test_an_outage_keeps_pending_updates_and_the_port(
    bot: telegram.Bot, emu: BotAPIEmulator
) -> None:
    port = emu.port
    await emu.stop()
    with pytest.raises(NetworkError, match="ConnectError"):
        await bot.get_updates(timeout=0)
    emu.user_sends(ALICE, ALICE, "sent while the bot could not reach Telegram")
    emu.fail_next("getUpdates", count=5)
    emu.clear_faults()
    await emu.start(port=port)
    (update,) = await bot.get_updates(timeout=1)
    assert update.message.text == "sent while the bot could not reach Telegram"
    started = asyncio.get_running_loop().time()
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0.3) == ()
    assert asyncio.get_running_loop().time() - started >= 0.25  # long polls wait again


async def test_get_updates_delivers_detected_entities_and_confirms(
    bot: telegram.Bot, emu: BotAPIEmulator
) -> None:
    emu.user_sends(GROUP, BOB, "/ask@citebot_test_bot who is @alice?")
    updates = await bot.get_updates(timeout=1)
    message = updates[0].message
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bot_command", 0, 21),
        ("mention", 29, 6),
    ]
    assert message.chat.type == "supergroup" and message.from_user.id == BOB
    again = await bot.get_updates(offset=updates[-1].update_id, timeout=0)
    assert [u.update_id for u in again] == [updates[-1].update_id]  # not yet confirmed
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()


async def test_reply_to_bot_message_carries_the_bot_message(
    bot: telegram.Bot, emu: BotAPIEmulator
) -> None:
    answer = await bot.send_message(ALICE, "<i>The answer</i>", parse_mode=ParseMode.HTML)
    emu.user_sends(ALICE, ALICE, "why?", reply_to_message_id=answer.message_id)
    (update,) = await bot.get_updates(timeout=1)
    replied = update.message.reply_to_message
    assert replied.message_id == answer.message_id and replied.text == "The answer"
    assert replied.from_user.id == emu.bot_id and replied.from_user.is_bot


async def test_document_round_trip(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    content = "Статья: a news article.\n".encode() * 100
    sent = emu.user_sends_document(ALICE, ALICE, "article.txt", content, mime_type="text/plain")
    (update,) = await bot.get_updates(timeout=1)
    assert update.message.document.file_name == "article.txt"
    file = await bot.get_file(sent["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == content
    await bot.send_document(ALICE, b"report", filename="report.txt", caption="<b>done</b>",
                            parse_mode=ParseMode.HTML)  # fmt: skip
    assert emu.documents[-1].content == b"report" and emu.sent[-1].text == "done"


async def test_edits_follow_telegram_rules(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    message = await bot.send_message(ALICE, "Searching…", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Searching…", ALICE, message.message_id, reply_markup=keyboard)
    await bot.edit_message_text("<b>Found</b>", ALICE, message.message_id, parse_mode="HTML")
    (current,) = emu.messages_in(ALICE)
    assert current.text == "Found" and current.reply_markup is None  # no markup = removed
    assert emu.sent[-1].text == "Searching…" and len(emu.edits) == 1
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", ALICE, 999)


async def test_callback_queries_are_answered_once(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    message = await bot.send_message(ALICE, "answer", reply_markup=keyboard)
    with pytest.raises(EmulatorError, match="no button"):
        emu.press_button(ALICE, message.message_id, ALICE, "other")
    query_id = emu.press_button(ALICE, message.message_id, ALICE, "more:1")
    (update,) = await bot.get_updates(timeout=1)
    assert update.callback_query.data == "more:1"
    assert update.callback_query.message.message_id == message.message_id
    await bot.answer_callback_query(query_id, text="Loading")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    assert emu.callback_answers[query_id]["text"] == "Loading"


async def test_inline_answers_are_validated(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    def article(result_id: str, text: str) -> InlineQueryResultArticle:
        content = InputTextMessageContent(text, parse_mode=ParseMode.HTML)
        return InlineQueryResultArticle(result_id, "title", content)

    query_id = emu.inline_query(ALICE, "inflation")
    with pytest.raises(BadRequest, match="Results_too_much"):
        await bot.answer_inline_query(query_id, [article(str(i), "x") for i in range(51)])
    with pytest.raises(BadRequest, match="Result_id_invalid"):
        await bot.answer_inline_query(query_id, [article("i" * 65, "x")])
    with pytest.raises(BadRequest, match="parse inline query result"):
        await bot.answer_inline_query(query_id, [article("1", "<b>x")])
    await bot.answer_inline_query(query_id, [article("1", "<b>x</b>")])
    assert emu.inline_answers[query_id]["results"][0]["id"] == "1"


async def test_commands_are_stored_per_scope(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    await bot.set_my_commands([BotCommand("ask", "Ask a question")])
    await bot.set_my_commands([BotCommand("reindex", "Rebuild")], scope=BotCommandScopeChat(GROUP))
    assert emu.commands["default"] == [{"command": "ask", "description": "Ask a question"}]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(GROUP))] == [
        "reindex"
    ]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Ask", "uppercase is not allowed")])


async def test_transport_edges(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    wrong = telegram.Bot("123456:WRONG", base_url=emu.base_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    async with aiohttp.ClientSession() as session:  # a JSON body, as non-PTB clients send
        url = f"{emu.base_url}{emu.token}/sendMessage"
        async with session.post(url, json={"chat_id": ALICE, "text": "<i>json</i>",
                                           "parse_mode": "HTML"}) as response:  # fmt: skip
            body = await response.json()
    assert body["ok"] and body["result"]["text"] == "json"
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    async with telegram.Bot(emu.token, base_url=emu.base_url) as second_instance:
        await second_instance.get_updates(timeout=0)
    with pytest.raises(Conflict):  # what two running copies of a bot get from Telegram
        await waiting


async def test_access_errors_match_telegram(bot: telegram.Bot, emu: BotAPIEmulator) -> None:
    emu.block_bot(ALICE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "hi")
    emu.bot_removed_from_group(GROUP, BOB)
    with pytest.raises(Forbidden, match="bot was kicked"):
        await bot.send_message(GROUP, "hi")
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(FORUM, "hi", message_thread_id=12345)
    await bot.set_webhook("https://example.org/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply in HTML with the user's words escaped, as citebot's formatter must."""
    message = update.effective_message
    assert message is not None and message.text is not None
    await message.reply_text(f"<b>echo</b> {html.escape(message.text)}", parse_mode="HTML")


async def test_application_polling_against_emulator(emu: BotAPIEmulator) -> None:
    topic = emu.add_forum_topic(FORUM, "Economy")
    app = (
        Application.builder()
        .token(emu.token)
        .base_url(emu.base_url)
        .base_file_url(emu.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=1, allowed_updates=Update.ALL_TYPES)  # type: ignore[union-attr]
        emu.user_sends(ALICE, ALICE, "hi <there>")
        private = await emu.wait_for_reply(ALICE)
        emu.user_sends(GROUP, ALICE, "chatting among people")  # privacy mode hides this
        emu.user_sends(GROUP, ALICE, "hey @citebot_test_bot")
        group = await emu.wait_for_reply(GROUP)
        emu.user_sends(FORUM, ALICE, "/ask in topic", message_thread_id=topic)
        forum = await emu.wait_for_reply(FORUM)
        await app.updater.stop()  # type: ignore[union-attr]
        await app.stop()
    assert private.text == "echo hi <there>"
    assert group.text == "echo hey @citebot_test_bot" and group.reply_to_message_id is not None
    assert [m["text"] for m in emu.not_delivered] == ["chatting among people"]
    assert forum.message_thread_id == topic
    assert emu.rejections == []
