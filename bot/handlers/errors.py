"""The one error handler: log the failure first, with context, and keep the bot running."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, NetworkError, TelegramError, TimedOut

from bot.context import CitebotContext
from bot.formatting import notices
from bot.i18n import translator_for_update
from bot.update_gate import defer_unavailable
from index.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)


async def log_error(update: object, context: CitebotContext) -> None:
    """Log the exception with the update id and chat id (never the text or the token)."""
    update_id = update.update_id if isinstance(update, Update) else None
    chat = update.effective_chat if isinstance(update, Update) else None
    chat_id = chat.id if chat else None
    if isinstance(context.error, Forbidden):
        # The user blocked the bot or removed it from the group: expected, nothing to fix.
        logger.info("update %s: cannot write to chat %s: %s", update_id, chat_id, context.error)
        return
    if update is None and isinstance(context.error, NetworkError):
        # Fetching updates failed (Telegram unreachable or failing); polling tries again.
        logger.warning("cannot fetch updates from Telegram: %s", context.error)
        return
    if isinstance(context.error, DatabaseUnavailableError) and isinstance(update, Update):
        # Replicas' shared database went away mid-way: nothing was answered yet.
        logger.warning("update %s in chat %s: %s", update_id, chat_id, context.error)
        await defer_unavailable(update, context)
        return
    if isinstance(context.error, TimedOut):
        # Telegram did not confirm in time but most likely delivered the reply: an apology
        # would follow an answer the user already has.
        logger.warning("update %s in chat %s: Telegram did not answer in time", update_id, chat_id)
        return
    logger.error("update %s in chat %s failed", update_id, chat_id, exc_info=context.error)
    # In a private chat the asker is told; in groups a stray error message would be noise.
    message = update.effective_message if isinstance(update, Update) else None
    if message is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    try:
        await message.reply_text(translator_for_update(update).gettext(notices.SOMETHING_WRONG))
    except TelegramError as error:
        logger.warning("chat %s: could not report the failure: %s", chat_id, error)
