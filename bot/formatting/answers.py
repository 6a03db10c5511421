"""Answers as Telegram HTML: the answer text, numbered citations, "More" pages, articles, inline.

The bot's own words (labels, headings, the not-found line) are in the reader's language, from the
Translator each function takes; what the articles say is quoted as it is, never translated.
"""

from __future__ import annotations

from bot.formatting.markup import (
    MAX_TEXT,
    escape,
    http_url,
    split_pages,
    truncate,
    truncate_start,
    utf16_len,
    visible_length,
)
from bot.i18n import N_, Translator
from index.models import Answer, Citation, Document

# Caps on each dynamic piece, chosen so that the answer text plus one fully capped citation
# always fit in one message; further citations are added only while the whole still fits.
ANSWER_MAX = 1200
SNIPPET_MAX = 1800
TITLE_MAX = 200
META_MAX = 100
ALSO_IN_MAX = 300
QUESTION_MAX = 200
ARTICLE_PAGE_MAX = 3500

NOT_FOUND = N_(
    "I found nothing in my articles that answers this. "
    "Try other words, or see /sources for what I know about."
)


def format_reply(translator: Translator, answer: Answer, shown: int) -> str:
    """The reply to a question: the cited answer, or the plain not-found line."""
    if not answer.found:
        return translator.gettext(NOT_FOUND)
    return format_answer(translator, answer, shown)


def format_answer(translator: Translator, answer: Answer, shown: int) -> str:
    """The answer text, then its first `shown` citations (as many as fit in one message)."""
    header = escape(truncate(answer.answer.strip(), ANSWER_MAX))
    return _with_citations(translator, header, answer.citations[:shown], first_number=1)


def format_more(translator: Translator, answer: Answer, first: int, count: int) -> str:
    """The citations after the first `first` ones, for the "More" button."""
    question = f"<i>{escape(truncate(answer.question.strip(), QUESTION_MAX))}</i>"
    citations = answer.citations[first : first + count]
    if not citations:
        return translator.gettext("No more sources for {question}.").format(question=question)
    header = translator.gettext("More sources for {question}").format(question=question)
    return _with_citations(translator, header, citations, first_number=first + 1)


def format_inline_result(translator: Translator, question: str, citation: Citation) -> str:
    """The message an inline result sends: the question and one citation."""
    header = f"<i>{escape(truncate(question.strip(), QUESTION_MAX))}</i>"
    return _with_citations(translator, header, (citation,), first_number=citation.rank or 1)


def inline_result_summary(citation: Citation) -> tuple[str, str]:
    """Plain title and description of an inline result (fields Telegram does not parse)."""
    title = truncate(citation.title or citation.doc_id, 100)
    return title, truncate(" ".join(citation.snippet.split()), 150)


def format_citation(translator: Translator, number: int, citation: Citation) -> str:
    """One numbered citation: snippet with its best sentence in bold, title, source, date."""
    snippet = _snippet_html(citation.snippet.strip(), citation.highlight)
    title = escape(truncate(citation.title or citation.doc_id, TITLE_MAX))
    url = http_url(citation.url)
    if url:
        title = f'<a href="{escape(url)}">{title}</a>'
    meta = [escape(truncate(part, META_MAX)) for part in (citation.source, citation.date) if part]
    source_line = f"— <i>{title}</i>" + (f", {', '.join(meta)}" if meta else "")
    lines = [f"[{number}] “{snippet}”", source_line]
    if citation.also_in:
        also_in = escape(
            truncate("; ".join(citation.also_in_titles or citation.also_in), ALSO_IN_MAX)
        )
        lines.append(translator.gettext("also in: {titles}").format(titles=also_in))
    return "\n".join(lines)


def article_pages(translator: Translator, document: Document) -> list[str]:
    """The article's text as messages, each within the limit, headed by title and page number."""
    title = escape(truncate(document.title or document.doc_id, TITLE_MAX))
    meta = ", ".join(escape(truncate(p, META_MAX)) for p in (document.source, document.date) if p)
    chunks = split_pages(document.text, ARTICLE_PAGE_MAX)
    pages = []
    for number, chunk in enumerate(chunks, start=1):
        head = f"<b>{title}</b>" + (f"\n{meta}" if meta else "")
        page = translator.gettext("Page {number} of {count}").format(
            number=number, count=len(chunks)
        )
        pages.append(f"{head}\n<i>{page}</i>\n\n{escape(chunk)}")
    return pages


def _with_citations(
    translator: Translator, header: str, citations: tuple[Citation, ...], first_number: int
) -> str:
    text = header
    for offset, citation in enumerate(citations):
        candidate = f"{text}\n\n{format_citation(translator, first_number + offset, citation)}"
        if visible_length(candidate) > MAX_TEXT:
            break
        text = candidate
    return text


def _snippet_html(snippet: str, highlight: tuple[int, int]) -> str:
    start, end = highlight
    if not 0 <= start < end <= len(snippet):
        return escape(truncate(snippet, SNIPPET_MAX))
    before, best, after = snippet[:start], snippet[start:end], snippet[end:]
    best = truncate(best, SNIPPET_MAX)
    room = SNIPPET_MAX - utf16_len(best)
    before = truncate_start(before, min(utf16_len(before), room // 2))
    after = truncate(after, room - utf16_len(before))
    best_html = escape(best)
    if not best_html.strip():
        return escape(before) + best_html + escape(after)
    return f"{escape(before)}<b>{best_html}</b>{escape(after)}"
