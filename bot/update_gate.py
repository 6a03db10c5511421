"""Each update handled once, whichever replica Telegram gives it to, however often.

A TypeHandler before every other handler (group -1) claims the update in the shared state; a
duplicate stops there (ApplicationHandlerStop), one another replica is handling now is left for
Telegram to deliver again, and a claimed update is marked done after the handlers (group 1).
Behind a webhook the replica acknowledges an update only once it is handled (bot/replica_server.py
answers 503 for the ones to deliver again), so a replica that dies mid-answer loses nothing:
Telegram delivers it again and its claim's lease runs out.

When the database is unreachable the asker is told so once, and, behind a webhook, the update
waits for Telegram's next delivery, which is answered when the database is back.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.addressing import group_question, is_reply_to_bot
from bot.context import BotState, CitebotContext
from bot.formatting import notices
from bot.i18n import translator_for_update
from bot.replies import reply
from bot.shared_state import Claim
from index.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

CLAIM_GROUP = -1
FINISH_GROUP = 1


def add_update_gate(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(TypeHandler(Update, claim_update), group=CLAIM_GROUP)
    application.add_handler(TypeHandler(Update, finish_update), group=FINISH_GROUP)


async def claim_update(update: Update, context: CitebotContext) -> None:
    """Let the handlers have the update only if this replica claimed it."""
    state = context.state
    try:
        claim = await state.shared.claims.claim(update.update_id)
    except DatabaseUnavailableError as error:
        logger.warning("update %s: cannot claim it: %s", update.update_id, error)
        await defer_unavailable(update, context)
        raise ApplicationHandlerStop from error
    if claim is Claim.NEW:
        state.metrics.update_seen("handled")
        return
    if claim is Claim.BUSY:
        state.gate.defer(update.update_id)
    state.metrics.update_seen(claim.value)
    logger.info("update %s: %s, not handled here", update.update_id, claim.value)
    raise ApplicationHandlerStop


async def finish_update(update: Update, context: CitebotContext) -> None:
    """After the handlers: a later delivery of this update is a duplicate."""
    state = context.state
    if state.gate.is_deferred(update.update_id):
        return  # the database failed mid-way: the next delivery is handled afresh
    try:
        await state.shared.claims.finish(update.update_id)
    except DatabaseUnavailableError as error:
        logger.warning("update %s: handled, but not marked so: %s", update.update_id, error)


async def defer_unavailable(update: Update, context: CitebotContext) -> None:
    """The database is away: behind a webhook the update waits for Telegram's next delivery;
    the asker is told once (in their language) either way."""
    state = context.state
    webhook = state.config.telegram.mode == "webhook"
    state.shared.claims.abandon(update.update_id)
    if webhook:
        state.gate.defer(update.update_id)
    state.metrics.update_seen("deferred")
    if not state.gate.first_telling(update.update_id):
        return
    text = notices.UNAVAILABLE_WILL_ANSWER if webhook else notices.UNAVAILABLE_ASK_AGAIN
    await _tell(update, context, translator_for_update(update).gettext(text))


async def _tell(update: Update, context: CitebotContext, text: str) -> None:
    """On the button that was pressed, or in reply to a question; nothing for the rest."""
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text)
            return
        message = update.effective_message
        if message is None or not message.text or not _asks_the_bot(update, context):
            return
        context.state.metrics.refused("unavailable")
        await reply(message, text)
    except TelegramError as error:
        logger.warning("update %s: cannot tell of the outage: %s", update.update_id, error)


def _asks_the_bot(update: Update, context: CitebotContext) -> bool:
    message = update.effective_message
    assert message is not None and message.text is not None
    if message.chat.type == ChatType.PRIVATE:
        return True
    if message.text.startswith("/"):
        return True
    replies_to_bot = is_reply_to_bot(message, context.bot.id)
    return group_question(message.text, context.bot.username, replies_to_bot) is not None


def start_renewing(state: BotState) -> None:
    """Renew this replica's claims a few times per lease while it runs."""
    if state.shared.replicated:
        state.gate.renewal = asyncio.create_task(_renew_forever(state), name="claim-renewal")


async def _renew_forever(state: BotState) -> None:
    pause = state.config.telegram.update_lease_seconds / 3
    while True:
        await asyncio.sleep(pause)
        try:
            await state.shared.claims.renew()
        except DatabaseUnavailableError as error:
            logger.warning("cannot renew this replica's claims: %s", error)
