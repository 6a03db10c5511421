"""Tables for the emulator's pure parts: Telegram HTML, text clean-up, entities, keyboards.

The HTML cases are TDLib's own (td/test/message_entities.cpp, `parse_html`), so the emulator
accepts and refuses exactly what Telegram does, byte offsets and wording included.
"""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.telegram_emulator.errors import ApiError
from tests.telegram_emulator.html_check import HtmlParseError, parse_html
from tests.telegram_emulator.keyboards import validate_reply_markup
from tests.telegram_emulator.text import detect_entities, format_text, utf16_len


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "🏟 🏟&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("<p>para</p>", 'Unsupported start tag "p" at byte offset 0'),
        ('<span class="x">a</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<tg-emoji emoji-id="abc">👍</tg-emoji>', "Invalid custom emoji identifier specified"),
        (
            "&#xDFDF;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
    ],
)
def test_invalid_html_gets_tdlib_error(markup: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(markup)
    assert str(caught.value) == error


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        ("", "", []),
        ("&ge;&lt;&gt;&amp;&quot;&laquo;&#12345678;", '&ge;<>&"&laquo;&#12345678;', []),
        ("AT&T &amp c&#39;est", "AT&T & c'est", []),  # unknown & stays, ; is optional
        ("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", [("italic", 5, 5)]),
        ("<B>x</b><STRONG>y</strong>", "xy", [("bold", 0, 1), ("bold", 1, 1)]),
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [("italic", 5, 7), ("bold", 9, 3)],
        ),
        ("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;'>a</>", "🏟 🏟<a", [("italic", 6, 1)]),
        (
            "<u>u</u><ins>i</ins><s>s</s><del>d</del>",
            "uisd",
            [
                ("underline", 0, 1),
                ("underline", 1, 1),
                ("strikethrough", 2, 1),
                ("strikethrough", 3, 1),
            ],
        ),
        (
            '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
            "st",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<a href=telegram.org> </a>", " ", [("text_link", 0, 1)]),
        ("<a>telegram.org </a>", "telegram.org ", []),  # invalid URL: text kept, no entity
        ("<a href='tg://user?id=42'>Al</a>", "Al", [("text_mention", 0, 2)]),
        ("<pre><code>x</code></pre>", "x", [("pre", 0, 1), ("code", 0, 1)]),
        ('<pre><code class="language-py">x</code></pre>', "x", [("pre", 0, 1)]),
        (
            "<blockquote expandable>a<pre>b</pre></blockquote>",
            "ab",
            [("expandable_blockquote", 0, 2), ("pre", 1, 1)],
        ),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", [("custom_emoji", 0, 2)]),
        ("<b></b>x", "x", []),  # empty tags make no entity
    ],
)
def test_valid_html_gives_text_and_entities(
    markup: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    parsed = parse_html(markup)
    assert parsed.text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == entities


def test_links_are_normalised_like_telegram() -> None:
    (link,) = parse_html("<a href='telegram.org?&lt;'>x</a>").entities
    assert link["url"] == "http://telegram.org/?<"
    (code,) = parse_html('<pre><code class="language-python">x</code></pre>').entities
    assert code["language"] == "python"


@given(st.text())
def test_escaped_text_always_parses_back_to_itself(text: str) -> None:
    """The contract citebot's formatter relies on: html.escape makes any text safe."""
    assert parse_html(html.escape(text)).text == text


@pytest.mark.parametrize(
    ("raw", "text", "entities"),
    [
        ("  \n hello \n ", "hello", []),
        ("a\r\nb", "a\nb", []),  # \r is dropped
        ("tab\there", "tab here", []),  # control characters become spaces
        ("<b> bold </b> tail", " bold  tail", [("bold", 0, 6)]),  # no trim into an entity
        ("x <i>y </i>  ", "x y", [("italic", 2, 1)]),  # trailing trim cuts the entity
    ],
)
def test_text_is_cleaned_like_telegram(
    raw: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    cleaned, found = format_text(raw, "HTML", None)
    assert cleaned == text
    assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


@pytest.mark.parametrize(
    ("raw", "parse_mode", "error"),
    [
        (" \n ", None, "Bad Request: message text is empty"),
        ("<i></i>", "HTML", "Bad Request: message text is empty"),
        ("x" * 4097, None, "Bad Request: message is too long"),
        (
            "x",
            "Markdown",
            "Bad Request: emulator: parse_mode Markdown is not emulated; only HTML is validated",
        ),
        ("x", "html5", "Bad Request: unsupported parse_mode"),
    ],
)
def test_text_rejections(raw: str, parse_mode: str | None, error: str) -> None:
    with pytest.raises(ApiError) as caught:
        format_text(raw, parse_mode, None)
    assert caught.value.description == error


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("/ask@citebot_test_bot hi", [("bot_command", 0, 21)]),
        ("/start", [("bot_command", 0, 6)]),
        ("see @alice and @bob.", [("mention", 4, 6), ("mention", 15, 4)]),
        ("mail me@example.org", []),  # not a mention inside a word
        ("😀 /help", [("bot_command", 3, 5)]),  # offsets count UTF-16 units
        ("read https://example.org/a.", [("url", 5, 21)]),
        ("1/2 and a/b", []),
    ],
)
def test_entities_detected_in_user_text(text: str, entities: list[tuple[str, int, int]]) -> None:
    found = detect_entities(text)
    assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


@pytest.mark.parametrize(
    ("button", "error"),
    [
        ({"text": "a", "callback_data": "x" * 65}, "Bad Request: BUTTON_DATA_INVALID"),
        ({"text": "a", "callback_data": ""}, "Bad Request: BUTTON_DATA_INVALID"),
        (
            {"text": "a"},
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
        ({"text": "", "callback_data": "x"}, "Bad Request: BUTTON_TEXT_INVALID"),
        (
            {"text": "a", "url": "not a url"},
            "Bad Request: inline keyboard button URL 'not a url' is invalid",
        ),
    ],
)
def test_bad_inline_buttons(button: dict[str, str], error: str) -> None:
    with pytest.raises(ApiError) as caught:
        validate_reply_markup({"inline_keyboard": [[button]]})
    assert caught.value.description == error


def test_good_keyboard_passes() -> None:
    markup = {"inline_keyboard": [[{"text": "Source", "url": "https://example.org"},
                                   {"text": "More", "callback_data": "ж" * 32}]]}  # fmt: skip
    assert validate_reply_markup(markup) == markup


@pytest.mark.parametrize(("text", "units"), [("abc", 3), ("😀", 2), ("é", 1), ("👩‍👩‍👧", 8)])
def test_utf16_length(text: str, units: int) -> None:
    assert utf16_len(text) == units
