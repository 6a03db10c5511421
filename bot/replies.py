"""Sending replies: threaded to the asker, HTML with a plain-text fallback, typing as a courtesy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from telegram import InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.formatting.markup import to_plain

logger = logging.getLogger(__name__)

TYPING_WAIT_SECONDS = 2.0


def _is_markup_rejection(error: BadRequest) -> bool:
    text = error.message.lower()
    return "entit" in text or "parse" in text or "tag" in text


async def reply(
    message: Message, html: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message:
    """Reply to the message (same forum topic, quoted when it still exists) with HTML.

    If Telegram rejects the formatting, the same text is re-sent plain rather than lost.
    """
    threading = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
    try:
        return await message.reply_text(html, reply_parameters=threading, reply_markup=reply_markup)
    except BadRequest as error:
        if not _is_markup_rejection(error):
            raise
        logger.warning(
            "chat %s: HTML reply rejected (%s); re-sending plain", message.chat_id, error.message
        )
        return await message.reply_text(
            to_plain(html), parse_mode=None, reply_parameters=threading, reply_markup=reply_markup
        )


async def edit(
    message: Message, html: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace a message's text with HTML, falling back to plain text as `reply` does."""
    try:
        await message.edit_text(html, reply_markup=reply_markup)
    except BadRequest as error:
        if "not modified" in error.message.lower():
            return
        if not _is_markup_rejection(error):
            raise
        logger.warning(
            "chat %s: HTML edit rejected (%s); editing plain", message.chat_id, error.message
        )
        await message.edit_text(to_plain(html), parse_mode=None, reply_markup=reply_markup)


async def _send_typing(message: Message, delay: float, sending: asyncio.Event) -> None:
    await asyncio.sleep(delay)
    sending.set()
    try:
        await message.reply_chat_action(ChatAction.TYPING)
    except TelegramError as error:
        # Only a courtesy: the answer goes out whether or not this worked.
        logger.info("chat %s: typing action failed: %s", message.chat_id, error)


@contextlib.asynccontextmanager
async def typing(message: Message, after: float) -> AsyncIterator[None]:
    """Shows "typing…" if the body takes longer than `after` seconds.

    The action goes out alongside the work, so it costs the reply no time; one already on its way
    is awaited (briefly) before the reply, so a late "typing…" never follows the answer.
    """
    sending = asyncio.Event()
    task = asyncio.create_task(_send_typing(message, after, sending))
    try:
        yield
    finally:
        if not sending.is_set():
            task.cancel()  # the answer came first: no "typing…" at all
        else:
            try:
                await asyncio.wait_for(task, TYPING_WAIT_SECONDS)
            except TimeoutError:
                logger.info(
                    "chat %s: typing action still pending; replying anyway", message.chat_id
                )
