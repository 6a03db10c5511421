"""/start, /help, /sources, /stats, hints for what the bot cannot read, and the group greeting.

Each reply is in the language of the user who sent the command (bot/i18n.py).
"""

from __future__ import annotations

import asyncio
import logging

from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType

from bot.context import BotState, CitebotContext
from bot.formatting import notices
from bot.handlers.admin import admins_only
from bot.i18n import translator_for_update, translator_for_user
from bot.ratelimit import Verdict
from bot.replies import reply
from index.errors import CitebotError
from index.service import IndexInfo

logger = logging.getLogger(__name__)


async def start(update: Update, context: CitebotContext) -> None:
    """/start: what the bot does and how to ask."""
    if update.effective_message:
        translator = translator_for_update(update)
        languages = context.state.service.question_languages()
        text = notices.start_text(translator, context.bot.username, languages)
        await reply(update.effective_message, text)


async def help_command(update: Update, context: CitebotContext) -> None:
    """/help: how to ask, leading with /ask and replies, and the languages questions may be in."""
    if update.effective_message:
        translator = translator_for_update(update)
        languages = context.state.service.question_languages()
        text = notices.help_text(translator, context.bot.username, languages)
        await reply(update.effective_message, text)


async def sources(update: Update, context: CitebotContext) -> None:
    """/sources: the articles in the live index, with dates."""
    if update.effective_message is None:
        return
    translator = translator_for_update(update)
    try:
        listed = await asyncio.to_thread(context.state.service.sources)
    except CitebotError as error:
        await reply(update.effective_message, notices.rejected_question(translator, str(error)))
        return
    await reply(update.effective_message, notices.sources_text(translator, listed))


async def stats(update: Update, context: CitebotContext) -> None:
    """/stats (admins): questions, not-found rate, latency, feedback and the index."""
    message = update.effective_message
    if message is None:
        return
    state = context.state
    if not await admins_only(update, state, "/stats", notices.NOT_ADMIN):
        return
    votes = await asyncio.to_thread(state.feedback.vote_counts)
    info = await asyncio.to_thread(_index_info, state)
    translator = translator_for_update(update)
    await reply(message, notices.stats_text(translator, state.stats.snapshot(), votes, info))


def _index_info(state: BotState) -> IndexInfo | None:
    try:
        return state.service.info()
    except CitebotError:
        return None


async def unknown_command(update: Update, context: CitebotContext) -> None:
    """A command the bot does not have, in a private chat."""
    if update.effective_message:
        text = translator_for_update(update).gettext(notices.UNKNOWN_COMMAND)
        await reply(update.effective_message, text)


async def non_text_hint(update: Update, context: CitebotContext) -> None:
    """A photo, sticker or other non-text message in a private chat: a one-line hint."""
    if update.effective_message:
        text = translator_for_update(update).gettext(notices.NON_TEXT_HINT)
        await reply(update.effective_message, text)


def _is_present(member: ChatMember) -> bool:
    if member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        return True
    return member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))


def joined_group(change: ChatMemberUpdated) -> bool:
    """Whether this change of the bot's own membership is it being added to a group.

    Promotions and other changes while already present are not, so the greeting comes once.
    """
    if change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return False
    return not _is_present(change.old_chat_member) and _is_present(change.new_chat_member)


async def greet_group(update: Update, context: CitebotContext) -> None:
    """my_chat_member: greet a group once when the bot is added, saying how to ask (in the
    language of whoever added it)."""
    change = update.my_chat_member
    if change is None or not joined_group(change):
        return
    if await context.state.greeted.take(change.chat.id) is not Verdict.ALLOW:
        logger.info("chat %s: added to group again; greeted it recently", change.chat.id)
        return
    logger.info("chat %s: added to group", change.chat.id)
    greeting = notices.group_greeting(translator_for_user(change.from_user))
    await context.bot.send_message(change.chat.id, greeting)
