"""Inline mode: `@bot question` in any chat offers cited snippets to send."""

from __future__ import annotations

from tests.bot_fixtures import USER_ID, BotHarness
from tests.telegram_emulator.html_check import parse_html

QUESTION = "Why did Russia stop delivering rocket engines to the US?"


async def test_an_inline_query_offers_the_top_cited_snippets(bot: BotHarness) -> None:
    query_id = bot.emu.inline_query(USER_ID, QUESTION)
    await bot.emu.wait_until(lambda: query_id in bot.emu.inline_answers)
    answered = bot.emu.inline_answers[query_id]
    results = answered["results"]
    assert 1 <= len(results) <= bot.config.answer.max_citations
    assert answered["cache_time"] <= 60
    answer = bot.service.answer(QUESTION, max_citations=bot.config.answer.max_citations)
    for result, citation in zip(results, answer.citations, strict=False):
        assert result["type"] == "article"
        assert result["title"] == citation.title
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML"
        shown = parse_html(content["message_text"]).text
        assert shown.startswith(QUESTION)
        assert citation.title in shown
        assert " ".join(citation.snippet.split())[:50] in " ".join(shown.split())


async def test_empty_and_unanswerable_inline_queries_offer_nothing(bot: BotHarness) -> None:
    for text in ("", "   ", "lemon cake recipe with <b>butter</b> & sugar"):
        query_id = bot.emu.inline_query(USER_ID, text)
        await bot.emu.wait_until(lambda q=query_id: q in bot.emu.inline_answers)
        assert bot.emu.inline_answers[query_id]["results"] == []
