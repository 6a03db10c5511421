"""The buttons under answers: More, Article (paged) and 👍/👎. Every press is answered.

A button names only an answer id; the stored answer must exist and belong to the chat the button
was pressed in, otherwise the press is answered as expired and reveals nothing. What a press shows
is in the language of whoever pressed it.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, Update

from bot.context import BotState, CitebotContext, asker_key
from bot.feedback import AnswerRecord
from bot.formatting import notices
from bot.formatting.answers import article_pages, format_more
from bot.i18n import Translator, translator_for_user
from bot.keyboards import Action, ButtonData, more_keyboard, page_keyboard, parse_button
from bot.ratelimit import Verdict
from bot.replies import edit, reply
from index.errors import CitebotError, DatabaseUnavailableError

logger = logging.getLogger(__name__)

MAX_CITATIONS_IN_ALL = 20  # "More" stops here, whatever a forged button asks for


async def button(update: Update, context: CitebotContext) -> None:
    """Any button press: find its answer, do what it asks, always answer the callback query."""
    query = update.callback_query
    if query is None:
        return
    translator = translator_for_user(query.from_user)
    notice: str | None = notices.EXPIRED
    unavailable = False
    try:
        request = parse_button(query.data)
        message = query.message if isinstance(query.message, Message) else None
        record = await _find_record(context.state, request, message)
        if request is not None and record is not None and message is not None:
            notice = await _carry_out(
                update, context.state, request, record, message, query, translator
            )
        else:
            logger.info("callback from %s: unknown or expired data", query.from_user.id)
    except DatabaseUnavailableError:
        unavailable = True  # the error handler answers the press: "temporarily unavailable"
        raise
    finally:
        if not unavailable:
            await query.answer(translator.gettext(notice) if notice else None)


async def _find_record(
    state: BotState, request: ButtonData | None, message: Message | None
) -> AnswerRecord | None:
    if request is None or message is None:
        return None
    record = await asyncio.to_thread(state.feedback.find_answer, request.answer_id)
    if record is None or record.chat_id != message.chat_id:
        return None
    return record


async def _carry_out(
    update: Update,
    state: BotState,
    request: ButtonData,
    record: AnswerRecord,
    message: Message,
    query: CallbackQuery,
    translator: Translator,
) -> str | None:
    """Do what the button asks; returns the notice (a message id) to show on the press, if any."""
    if request.action is Action.VOTE:
        saved = await asyncio.to_thread(
            state.feedback.vote, record.answer_id, query.from_user.id, request.argument
        )
        return notices.VOTE_THANKS if saved else notices.VOTE_NOT_SAVED
    if await state.check_chat(message.chat) is not Verdict.ALLOW:
        return notices.GROUP_RATE_LIMITED  # shown on the button: no message to wait for
    if request.action is Action.MORE:
        if await state.limiter.take(asker_key(update)) is not Verdict.ALLOW:
            return notices.RATE_LIMITED
        return await _show_more(state, record, request.argument, message, translator)
    return await _show_article_page(state, record, request, message, translator)


async def _show_more(
    state: BotState, record: AnswerRecord, offset: int, message: Message, translator: Translator
) -> str | None:
    count = state.config.telegram.more_citations
    if not 0 < offset < MAX_CITATIONS_IN_ALL:
        return notices.EXPIRED
    wanted = min(offset + count, MAX_CITATIONS_IN_ALL)
    try:
        # The question is asked again: the index may have changed since (a reindex, a restart).
        answer = await state.off_loop(state.service.answer, record.question, wanted + 1)
    except CitebotError:
        return notices.EXPIRED
    if not answer.found:
        return notices.EXPIRED
    if len(answer.citations) <= offset:
        return notices.NO_MORE
    next_from = wanted if len(answer.citations) > wanted and wanted < MAX_CITATIONS_IN_ALL else None
    text = format_more(translator, answer, offset, wanted - offset)
    await reply(message, text, more_keyboard(translator, record.answer_id, next_from))
    return None


async def _show_article_page(
    state: BotState,
    record: AnswerRecord,
    request: ButtonData,
    message: Message,
    translator: Translator,
) -> str | None:
    try:
        document = await asyncio.to_thread(state.service.article, record.doc_id)
    except CitebotError:
        document = None
    if document is None:
        return notices.EXPIRED
    pages = article_pages(translator, document)
    page = request.argument
    if page >= len(pages) or (request.action is Action.ARTICLE and page != 0):
        return notices.EXPIRED
    keyboard = page_keyboard(record.answer_id, page, len(pages))
    if request.action is Action.ARTICLE:
        await reply(message, pages[page], keyboard)
    else:
        await edit(message, pages[page], keyboard)
    return None
