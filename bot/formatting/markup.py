"""Primitives for Telegram HTML: escaping, measuring in UTF-16 units, trimming, plain rendering.

Everything here works on *plain* text before tags go around it, so a cut can never land inside a
tag or an entity; the HTML this package builds contains no `<` other than its own tags.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from telegram.constants import MessageLimit

MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH  # 4096, counted in UTF-16 units after entity parsing
ELLIPSIS = "…"

_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)
_BOLD = re.compile(r"<b>(.*?)</b>", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?…][\"'”»)]*\s")
# Control characters Telegram would turn into spaces, and lone surrogates it would reject.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def escape(text: str) -> str:
    """Escape a dynamic value for Telegram HTML (dropping characters it would mangle or reject)."""
    return html.escape(_UNSAFE.sub("", text), quote=True)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def visible_length(markup: str) -> int:
    """Length of this package's HTML after Telegram parses the entities out of it."""
    return utf16_len(html.unescape(_TAG.sub("", markup)))


def http_url(url: str | None) -> str | None:
    """The url if it is a well-formed http(s) address Telegram will accept in a link, else None."""
    if not url or len(url) > 2048 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _prefix_within(text: str, max_units: int) -> str:
    """The longest prefix of whole code points that fits in max_units UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > max_units:
            return text[:index]
    return text


def truncate(text: str, max_units: int) -> str:
    """Cut text to max_units, at a sentence end when one is near, else a word boundary, else hard.

    A cut text ends with an ellipsis (which counts toward max_units).
    """
    if utf16_len(text) <= max_units:
        return text
    if max_units <= 1:
        return ELLIPSIS[:max_units]
    prefix = _prefix_within(text, max_units - 1)
    half = len(prefix) // 2
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(prefix + " ") if m.end() > half]
    if sentence_ends:
        return prefix[: sentence_ends[-1]].rstrip() + " " + ELLIPSIS
    space = max(prefix.rfind(" "), prefix.rfind("\n"))
    if space > half:
        return prefix[:space].rstrip() + " " + ELLIPSIS
    return prefix + ELLIPSIS


def truncate_start(text: str, max_units: int) -> str:
    """Like truncate, but keeps the end of the text (for the part before a highlight)."""
    if utf16_len(text) <= max_units:
        return text
    if max_units <= 1:
        return ELLIPSIS[:max_units]
    reversed_prefix = _prefix_within(text[::-1], max_units - 1)
    tail = reversed_prefix[::-1]
    space = tail.find(" ")
    if 0 <= space < len(tail) // 2:
        tail = tail[space:].lstrip()
    return ELLIPSIS + tail


def split_pages(text: str, max_units: int) -> list[str]:
    """Split text into pages of at most max_units, at paragraph, sentence or word boundaries."""
    pages: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= max_units:
            pages.append(rest)
            break
        prefix = _prefix_within(rest, max_units)
        cut = _best_cut(prefix)
        pages.append(prefix[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pages or [""]


def _best_cut(prefix: str) -> int:
    floor = len(prefix) // 2
    paragraph = prefix.rfind("\n\n")
    if paragraph > floor:
        return paragraph
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(prefix) if m.end() > floor]
    if sentence_ends:
        return sentence_ends[-1]
    space = max(prefix.rfind(" "), prefix.rfind("\n"))
    return space if space > floor else len(prefix)


def to_plain(markup: str, *, bold: tuple[str, str] = ("", ""), show_urls: bool = False) -> str:
    """Render this package's HTML as plain text: for a re-send without parse mode, or a terminal.

    `bold` wraps what was bold (e.g. ("**", "**") or ANSI codes); `show_urls` prints link targets.
    """
    if show_urls:
        markup = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", markup)
    markup = _BOLD.sub(lambda m: f"{bold[0]}{m.group(1)}{bold[1]}", markup)
    plain = html.unescape(_TAG.sub("", markup))
    return _prefix_within(plain, MAX_TEXT) if not show_urls else plain
