"""Questions: private texts, /ask, group messages that address the bot, and edited questions.

The bot's own words in a reply are in the asker's language; in a group each asker gets theirs.
"""

from __future__ import annotations

import logging
import time

from telegram import Update

from bot.addressing import group_question, is_reply_to_bot, private_question
from bot.addressing import question_after_command as command_question
from bot.context import BotState, CitebotContext, asker_key
from bot.formatting import notices
from bot.formatting.answers import format_reply
from bot.i18n import translator_for_update
from bot.keyboards import answer_keyboard
from bot.ratelimit import Verdict
from bot.replies import reply, typing
from index.errors import CitebotError, DatabaseUnavailableError
from index.models import Answer

logger = logging.getLogger(__name__)


async def ask(update: Update, context: CitebotContext) -> None:
    """/ask <question>, in any chat (PTB already skips /ask@some_other_bot)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    question = command_question(message.text)
    if not question:
        await reply(message, _ask_usage(update, context))
        return
    await answer_question(update, context, question)


async def private_text(update: Update, context: CitebotContext) -> None:
    """Any text in a private chat is a question (an edited one is answered again)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    question = private_question(message.text, context.bot.username)
    if not question:
        await reply(message, translator_for_update(update).gettext(notices.EMPTY_QUESTION_HINT))
        return
    await answer_question(update, context, question)


async def group_text(update: Update, context: CitebotContext) -> None:
    """A group message: answered only when it mentions the bot or replies to it."""
    message = update.effective_message
    if message is None or not message.text:
        return
    replies_to_bot = is_reply_to_bot(message, context.bot.id)
    question = group_question(message.text, context.bot.username, replies_to_bot)
    if question is None:
        return
    if not question:
        await reply(message, _ask_usage(update, context))
        return
    await answer_question(update, context, question)


def _ask_usage(update: Update, context: CitebotContext) -> str:
    languages = context.state.service.question_languages()
    return notices.ask_usage(translator_for_update(update), context.bot.username, languages)


async def answer_question(update: Update, context: CitebotContext, question: str) -> None:
    """Answer one question, within the asker's rate limit, with "typing…" shown meanwhile."""
    message = update.effective_message
    assert message is not None
    state = context.state
    translator = translator_for_update(update)
    verdict = await state.limiter.take(asker_key(update))
    if verdict is not Verdict.ALLOW:
        logger.info(
            "chat %s: rate limit (%s) for %s", message.chat_id, verdict.value, asker_key(update)
        )
        state.metrics.refused("rate_limit")
        if verdict is Verdict.NOTIFY:
            await reply(message, translator.gettext(notices.RATE_LIMITED))
        return
    verdict = await state.check_chat(message.chat)
    if verdict is not Verdict.ALLOW:
        logger.info("chat %s: group rate limit (%s)", message.chat_id, verdict.value)
        state.metrics.refused("group_rate_limit")
        if verdict is Verdict.NOTIFY:
            await reply(message, translator.gettext(notices.GROUP_RATE_LIMITED))
        return
    started = time.perf_counter()
    shown = state.config.answer.max_citations
    answer: Answer | None = None
    async with typing(message, state.config.telegram.typing_after_seconds):
        try:
            answer, answer_id = await state.off_loop(
                _answer_and_record, state, message.chat_id, question, shown
            )
        except DatabaseUnavailableError:
            raise  # not a refusal: the error handler says "temporarily unavailable" and the
            # update is delivered again (replicas), answered once the database is back
        except CitebotError as error:
            logger.warning("chat %s: question not answered: %s", message.chat_id, error)
            state.metrics.refused("rejected")
            refusal = notices.rejected_question(translator, str(error))
    if answer is None:
        await reply(message, refusal)
        return
    more_from = shown if len(answer.citations) > shown else None
    keyboard = answer_keyboard(translator, answer_id, more_from) if answer_id is not None else None
    await reply(message, format_reply(translator, answer, shown), keyboard)
    seconds = time.perf_counter() - started
    state.stats.record(answer.found, seconds)
    state.metrics.answered(answer.found, seconds)
    logger.info(
        "chat %s: answered (found=%s, %d citations) in %.0f ms",
        message.chat_id,
        answer.found,
        len(answer.citations),
        seconds * 1000,
    )


def _answer_and_record(
    state: BotState, chat_id: int, question: str, shown: int
) -> tuple[Answer, int | None]:
    """Runs on a worker thread: the answer (one citation more than shown, to know whether
    "More" has anything), stored with the build that gave it when it gets buttons."""
    answer = state.service.answer(question, max_citations=shown + 1)
    if not (answer.found and answer.citations):
        return answer, None
    build_id = state.service.info().build_id
    doc_id = answer.citations[0].doc_id
    return answer, state.feedback.record_answer(chat_id, question, build_id, doc_id)
