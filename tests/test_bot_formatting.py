"""The one module that makes Telegram HTML: hostile text stays text, and every message fits.

Each rendering is parsed the way Telegram parses it (the emulator's TDLib-faithful parser), so a
malformed entity or an over-long message fails here before it could fail in a chat.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.formatting import builds, notices
from bot.formatting.answers import (
    NOT_FOUND,
    article_pages,
    format_answer,
    format_inline_result,
    format_more,
    format_reply,
)
from bot.formatting.markup import (
    MAX_TEXT,
    split_pages,
    to_plain,
    truncate,
    utf16_len,
    visible_length,
)
from bot.i18n import ENGLISH, translator_for
from bot.stats import StatsSnapshot
from index.models import Answer, BuildProgress, BuildReport, Citation, Document
from index.service import IndexInfo, SourceInfo
from tests.telegram_emulator.html_check import parse_html

HOSTILE = [
    "<b>bold?</b>",
    "a & b &amp; &lt; &#x41; &unknown;",
    "*_[markdown](x)_* `code` ~strike~ ||spoiler||",
    "</a></b><a href='javascript:alert(1)'>",
    "quotes \" and ' and <i",
    "🚀👨‍👩‍👧‍👦🇺🇦 emoji only",
    "مرحبا بالعالم — שלום עולם",
    "\u202eevil\u202c override",
    "control \x00\x07\x1b chars",
    "lone surrogate \ud800 here",
    "x" * 5000,
    "word " * 1000,
]


def make_citation(rank: int = 1, **changes: object) -> Citation:
    values: dict[str, object] = {
        "rank": rank,
        "doc_id": f"doc-{rank}",
        "title": f"Title {rank}",
        "date": "2022-03-04",
        "source": "Jagran",
        "url": None,
        "also_in": (),
        "snippet": "Before. The best sentence is here. After it.",
        "passage": "Before. The best sentence is here. After it.",
        "score": 0.8,
        "highlight": (8, 34),
    }
    values.update(changes)
    return Citation(**values)  # type: ignore[arg-type]


def make_answer(*citations: Citation, text: str = "The answer.", question: str = "Q?") -> Answer:
    return Answer(question=question, found=True, answer=text, citations=citations)


def telegram_text(html: str) -> str:
    """What a chat shows for this HTML; fails the test the way Telegram would reject it."""
    parsed = parse_html(html)
    assert utf16_len(parsed.text) <= MAX_TEXT
    return parsed.text


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(
    "field", ["text", "question", "title", "source", "date", "snippet", "also_in", "url"]
)
def test_hostile_values_render_as_text_within_limits(field: str, hostile: str) -> None:
    changes: dict[str, object] = {}
    if field in ("title", "source", "date", "snippet", "url"):
        changes[field] = hostile
    if field == "also_in":
        changes["also_in"] = (hostile, "Other")
    citation = make_citation(**changes)
    answer = make_answer(
        citation,
        make_citation(2),
        text=hostile if field == "text" else "The answer.",
        question=hostile if field == "question" else "Q?",
    )
    for html in (
        format_answer(ENGLISH, answer, 3),
        format_more(ENGLISH, answer, 1, 3),
        format_inline_result(ENGLISH, answer.question, citation),
    ):
        telegram_text(html)
    if field in ("text", "title") and hostile.isprintable() and len(hostile) < 100:
        assert hostile in telegram_text(format_answer(ENGLISH, answer, 3))


def test_answer_lists_numbered_citations_with_best_sentence_bold() -> None:
    answer = make_answer(make_citation(1), make_citation(2, title="Second & <more>"))
    html = format_answer(ENGLISH, answer, 3)
    parsed = parse_html(html)
    assert parsed.text.startswith("The answer.")
    assert "[1] “Before. The best sentence is here. After it.”" in parsed.text
    assert "— Title 1, Jagran, 2022-03-04" in parsed.text
    assert "Second & <more>" in parsed.text
    bold = [e for e in parsed.entities if e["type"] == "bold"]
    first = bold[0]
    assert parsed.text[first["offset"] : first["offset"] + first["length"]] == (
        "The best sentence is here."
    )


def test_shows_only_the_requested_number_of_citations() -> None:
    answer = make_answer(*(make_citation(rank) for rank in range(1, 5)))
    text = telegram_text(format_answer(ENGLISH, answer, 3))
    assert "[3]" in text and "[4]" not in text
    more = telegram_text(format_more(ENGLISH, answer, 3, 3))
    assert "[4]" in more and "[3]" not in more


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ('https://example.com/a?b=1&c="2"', True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ("ftp://example.com/file", False),
        ("https://exa mple.com", False),
        ("not a url", False),
        (None, False),
    ],
)
def test_titles_are_linked_only_to_http_urls(url: str | None, linked: bool) -> None:
    parsed = parse_html(format_answer(ENGLISH, make_answer(make_citation(url=url)), 3))
    links = [e for e in parsed.entities if e["type"] == "text_link"]
    assert bool(links) is linked
    if linked:
        assert links[0]["url"].rstrip("/") == url


def test_also_in_names_the_other_articles() -> None:
    answer = make_answer(make_citation(also_in=("Other paper", "Third paper")))
    assert "also in: Other paper; Third paper" in telegram_text(format_answer(ENGLISH, answer, 3))


def test_long_citations_are_dropped_or_trimmed_to_fit() -> None:
    long_snippet = ("A sentence that goes on. " * 200).strip()
    citations = [
        make_citation(rank, snippet=long_snippet, highlight=(25, 50)) for rank in range(1, 6)
    ]
    answer = make_answer(*citations, text="Answer. " * 400)
    text = telegram_text(format_answer(ENGLISH, answer, 5))
    assert "[1]" in text
    assert utf16_len(text) <= MAX_TEXT


def test_not_found_points_to_sources_and_shows_no_snippet() -> None:
    answer = Answer(question="?", found=False, answer="nothing", citations=(make_citation(),))
    text = telegram_text(format_reply(ENGLISH, answer, 3))
    assert text == NOT_FOUND
    assert text == translator_for("en-GB").gettext(NOT_FOUND)
    assert "/sources" in text


def test_article_is_split_into_pages_that_each_fit() -> None:
    body = "\n\n".join(f"Paragraph {n}. " + "Some words & <tags>. " * 60 for n in range(20))
    document = Document("d", "A <title>", body, "d.md", "2022-03-03", "Src")
    pages = article_pages(ENGLISH, document)
    assert len(pages) > 1
    texts = [telegram_text(page) for page in pages]
    assert all(t.startswith("A <title>") for t in texts)
    assert f"Page 2 of {len(pages)}" in texts[1]
    assert "Paragraph 19." in texts[-1]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("One sentence. Two sentence. Three", 30, "One sentence. Two sentence. …"),
        ("many small words here and there", 20, "many small words …"),
        ("x" * 50, 10, "x" * 9 + "…"),
        ("🚀" * 10, 5, "🚀🚀…"),
        ("anything", 1, "…"),
        ("anything", 0, ""),
    ],
)
def test_truncate_cuts_at_sentence_or_word_boundaries(text: str, limit: int, expected: str) -> None:
    result = truncate(text, limit)
    assert result == expected
    assert utf16_len(result) <= limit


@given(st.text(max_size=3000), st.integers(min_value=20, max_value=600))
@settings(max_examples=200, deadline=None)
def test_split_pages_keeps_every_word_within_limits(text: str, limit: int) -> None:
    pages = split_pages(text, limit)
    assert all(utf16_len(page) <= limit for page in pages)
    assert "".join("".join(pages).split()) == "".join(text.split())


@given(
    st.text(max_size=500),
    st.text(max_size=2500),
    st.text(max_size=300),
    st.lists(st.text(max_size=100), max_size=5),
    st.integers(min_value=0, max_value=2600),
    st.integers(min_value=0, max_value=2600),
)
@settings(max_examples=300, deadline=None)
def test_any_text_in_any_field_renders_valid_html(
    answer_text: str, snippet: str, title: str, also_in: list[str], start: int, end: int
) -> None:
    citation = make_citation(
        snippet=snippet, title=title, also_in=tuple(also_in), highlight=(start, end)
    )
    answer = make_answer(citation, citation, citation, text=answer_text, question=answer_text)
    for html in (format_answer(ENGLISH, answer, 3), format_more(ENGLISH, answer, 1, 2)):
        telegram_text(html)
        assert visible_length(html) <= MAX_TEXT


@pytest.mark.parametrize("hostile", HOSTILE[:9])
def test_plain_rendering_gives_back_the_original_text(hostile: str) -> None:
    answer = make_answer(make_citation(title=hostile), text=hostile)
    plain = to_plain(format_answer(ENGLISH, answer, 3))
    expected = "".join(ch for ch in hostile if ch >= " " or ch == "\n")
    assert plain.startswith(expected.replace("\x7f", ""))


def test_terminal_rendering_marks_bold_and_shows_links() -> None:
    answer = make_answer(make_citation(url="https://example.com/x?a=1&b=2"))
    plain = to_plain(format_answer(ENGLISH, answer, 3), bold=("**", "**"), show_urls=True)
    assert "**The best sentence is here.**" in plain
    assert "Title 1 (https://example.com/x?a=1&b=2)" in plain


def test_sources_list_fits_however_many_articles() -> None:
    sources = [
        SourceInfo(
            f"d{n}", f"Article <{n}> " + "long " * 20, "2022-03-04", "Src & Co", None, "p", 3
        )
        for n in range(500)
    ]
    text = telegram_text(notices.sources_text(ENGLISH, sources))
    assert text.startswith("Articles I know (500)")
    assert text.rstrip().endswith("more")


def test_admin_texts_render() -> None:
    snapshot = StatsSnapshot(questions=10, not_found=3, p50_ms=120.0, p95_ms=300.0)
    info = IndexInfo("b<1>", "2026-01-01T00:00:00+00:00", 2.5, 5, 19, "m", "flat", 123456)
    stats = telegram_text(notices.stats_text(ENGLISH, snapshot, (4, 1), info))
    assert "Not found: 3 (30%)" in stats and "p95 300 ms" in stats and "👍 4" in stats
    report = BuildReport(
        "b1", 6, 25, 6, files_added=("new <file>.md",) * 300, skipped=("x: bad & ugly",)
    )
    text = telegram_text(builds.report_text(ENGLISH, report))
    assert "300 added" in text and "new <file>.md" in text and "bad & ugly" in text
    progress = builds.progress_text(ENGLISH, BuildProgress("embedding", 5, 6, 10, 40))
    progress = telegram_text(progress)
    assert "Files scanned: 5/6" in progress and "Passages embedded: 10/40" in progress
