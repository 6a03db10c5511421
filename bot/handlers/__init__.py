"""Thin async handlers: read the update, call the service off the loop, format, reply."""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.handlers import admin, buttons, commands, errors, inline, questions
from bot.keyboards import UPLOAD_CHOICE_PATTERN

PRIVATE = filters.ChatType.PRIVATE
GROUPS = filters.ChatType.GROUPS
# New and edited messages; never channel posts.
MESSAGES = filters.UpdateType.MESSAGES


def add_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Register every handler and the error handler, in the order they are tried."""
    application.add_handlers(
        [
            CommandHandler("start", commands.start),
            CommandHandler("help", commands.help_command),
            CommandHandler("sources", commands.sources),
            CommandHandler("ask", questions.ask),
            CommandHandler("stats", commands.stats),
            # Long-running: must not hold up other updates while the build runs.
            CommandHandler("reindex", admin.reindex, block=False),
            MessageHandler(
                filters.Document.ALL & PRIVATE & filters.UpdateType.MESSAGE,
                admin.upload,
                block=False,
            ),
            MessageHandler(
                filters.TEXT & ~filters.COMMAND & PRIVATE & MESSAGES, questions.private_text
            ),
            MessageHandler(
                filters.TEXT & ~filters.COMMAND & GROUPS & MESSAGES, questions.group_text
            ),
            MessageHandler(
                filters.COMMAND & PRIVATE & filters.UpdateType.MESSAGE, commands.unknown_command
            ),
            MessageHandler(
                PRIVATE & filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
                commands.non_text_hint,
            ),
            ChatMemberHandler(commands.greet_group, ChatMemberHandler.MY_CHAT_MEMBER),
            CallbackQueryHandler(admin.upload_choice, pattern=UPLOAD_CHOICE_PATTERN, block=False),
            CallbackQueryHandler(buttons.button),
            InlineQueryHandler(inline.inline_query),
        ]
    )
    application.add_error_handler(errors.log_error)
