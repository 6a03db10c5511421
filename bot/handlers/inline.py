"""Inline mode: `@bot question` in any chat offers the top cited snippets as results to send."""

from __future__ import annotations

import logging
import time

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.constants import ParseMode

from bot.addressing import clean_question
from bot.context import CitebotContext, asker_key
from bot.formatting.answers import format_inline_result, inline_result_summary
from bot.i18n import translator_for_user
from bot.ratelimit import Verdict
from index.errors import CitebotError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 10  # short: the index can change with a reindex


async def inline_query(update: Update, context: CitebotContext) -> None:
    """Answer an inline query with one result per cited snippet (none for an empty query).

    The result's own words are in the language of the user who sends it."""
    query = update.inline_query
    if query is None:
        return
    translator = translator_for_user(query.from_user)
    question = clean_question(query.query)
    state = context.state
    started = time.perf_counter()
    found: bool | None = None
    results: list[InlineQueryResultArticle] = []
    if question and await state.limiter.take(asker_key(update)) is Verdict.ALLOW:
        try:
            answer = await state.off_loop(
                state.service.answer, question, state.config.answer.max_citations
            )
        except CitebotError as error:
            logger.warning("inline query %s not answered: %s", query.id, error)
        else:
            found = answer.found
            citations = answer.citations if answer.found else ()
            for number, citation in enumerate(citations, start=1):
                title, description = inline_result_summary(citation)
                content = InputTextMessageContent(
                    format_inline_result(translator, question, citation),
                    parse_mode=ParseMode.HTML,
                )
                results.append(
                    InlineQueryResultArticle(
                        id=str(number),
                        title=title,
                        description=description,
                        input_message_content=content,
                    )
                )
    await query.answer(results, cache_time=CACHE_SECONDS, is_personal=False)
    if found is not None:
        state.stats.record(found, time.perf_counter() - started)
        state.metrics.answered(found, time.perf_counter() - started)
