"""The command menus Telegram shows beside the message box, in every language the bot speaks."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import BadRequest
from telegram.ext import Application

from bot.context import STATE_KEY, BotState
from bot.i18n import N_, SOURCE_LANGUAGE, Translator, supported_languages, translator_for

logger = logging.getLogger(__name__)

PUBLIC_COMMANDS = (
    ("ask", N_("Ask a question about the news articles")),
    ("sources", N_("List the articles I know")),
    ("help", N_("How to ask me")),
    ("start", N_("What I do")),
)
ADMIN_COMMANDS = (
    ("reindex", N_("Re-read the articles folder and update the index")),
    ("stats", N_("Questions, latency, feedback and index size")),
)


def public_commands(translator: Translator) -> list[BotCommand]:
    """The commands everyone sees, described in the translator's language."""
    return [BotCommand(name, translator.gettext(text)) for name, text in PUBLIC_COMMANDS]


def admin_commands(translator: Translator) -> list[BotCommand]:
    """The public commands and the admin-only ones, for an admin's own chat."""
    admin = [BotCommand(name, translator.gettext(text)) for name, text in ADMIN_COMMANDS]
    return public_commands(translator) + admin


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """setMyCommands: public commands for everyone, admin commands in each admin's chat.

    English is registered without a language code (Telegram's fallback for every other
    language), each other language with its own code, so a user's client shows theirs.
    """
    bot = application.bot
    state: BotState = application.bot_data[STATE_KEY]
    for language in supported_languages():
        await bot.set_my_commands(
            public_commands(translator_for(language)), language_code=_code(language)
        )
    for admin_id in state.config.telegram.admins:
        try:
            for language in supported_languages():
                await bot.set_my_commands(
                    admin_commands(translator_for(language)),
                    scope=BotCommandScopeChat(admin_id),
                    language_code=_code(language),
                )
        except BadRequest as error:
            # Telegram knows the chat only once the admin has written to the bot.
            logger.warning("admin commands not shown to %s yet: %s", admin_id, error.message)
    logger.info(
        "bot @%s ready; %d admin(s); menus in %s",
        bot.username,
        len(state.config.telegram.admins),
        ", ".join(supported_languages()),
    )


def _code(language: str) -> str | None:
    """The language_code to register a menu under: none for English, the default menu."""
    return None if language == SOURCE_LANGUAGE else language
