"""Sending replies: threaded to the asker, HTML with a plain-text fallback, typing as a courtesy.

A reply Telegram did not take (it answered with a server error, or the connection failed or
closed before any answer) is sent again: soon at first, then every 2 s for up to 2 minutes, so a
reply that was on its way when Telegram became unreachable for a minute still goes out within
seconds of its return, and a handler never hangs for good. A reply that timed out is not sent
again: Telegram had the request and has most likely delivered it, so a second copy would be a
duplicate. (A 502 or a closed connection can, rarely, follow a delivery too; a rare duplicate
is the price of not losing replies in the common case.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx
from telegram import InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut

from bot.formatting.markup import to_plain

logger = logging.getLogger(__name__)

TYPING_WAIT_SECONDS = 2.0
# Pauses before each further attempt at a send that was not delivered: 0.5 s, doubling up to
# 2 s, for as long as RESEND_FOR_SECONDS (longer than the minute-long outage of issue 5).
RESEND_FIRST_PAUSE = 0.5
RESEND_MAX_PAUSE = 2.0
RESEND_FOR_SECONDS = 120.0
# Failures before the request reached Telegram, or a connection closed with no answer at all
# (in practice a kept-alive connection the server had already closed).
_UNSENT_CAUSES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                  httpx.RemoteProtocolError)  # fmt: skip
T = TypeVar("T")


def was_not_delivered(error: TelegramError) -> bool:
    """Whether a failed call had no effect, so making it again should not duplicate it."""
    if isinstance(error, TimedOut):
        return isinstance(error.__cause__, _UNSENT_CAUSES)
    if not isinstance(error, NetworkError) or isinstance(error, BadRequest):
        return False  # refused for good (400, 403) or a 429 the rate limiter already retried
    # No underlying transport error: Telegram itself answered with a server error (5xx).
    return error.__cause__ is None or isinstance(error.__cause__, _UNSENT_CAUSES)


async def _deliver(send: Callable[[], Awaitable[T]], chat_id: int) -> T:
    """Make the call, and make it again while Telegram says it did not happen (for a while)."""
    loop = asyncio.get_running_loop()
    started, pause, attempts = loop.time(), RESEND_FIRST_PAUSE, 1
    while True:
        try:
            result = await send()
        except TelegramError as error:
            waited = loop.time() - started
            if not was_not_delivered(error) or waited + pause > RESEND_FOR_SECONDS:
                raise
            # One warning per reply, not one per attempt: an outage would flood the log.
            log = logger.warning if attempts == 1 else logger.debug
            log("chat %s: not delivered (%s); trying again in %.1f s", chat_id, error, pause)
            await asyncio.sleep(pause)
            pause, attempts = min(pause * 2, RESEND_MAX_PAUSE), attempts + 1
        else:
            if attempts > 1:
                logger.info(
                    "chat %s: delivered at attempt %d, after %.1f s",
                    chat_id, attempts, loop.time() - started,
                )  # fmt: skip
            return result


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
        return await _deliver(
            lambda: message.reply_text(html, reply_parameters=threading, reply_markup=reply_markup),
            message.chat_id,
        )
    except BadRequest as error:
        if not _is_markup_rejection(error):
            raise
        logger.warning(
            "chat %s: HTML reply rejected (%s); re-sending plain", message.chat_id, error.message
        )
        return await _deliver(
            lambda: message.reply_text(
                to_plain(html),
                parse_mode=None,
                reply_parameters=threading,
                reply_markup=reply_markup,
            ),
            message.chat_id,
        )


async def edit(
    message: Message, html: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace a message's text with HTML, falling back to plain text as `reply` does."""
    try:
        await _deliver(lambda: message.edit_text(html, reply_markup=reply_markup), message.chat_id)
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
