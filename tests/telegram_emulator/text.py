"""Message text as Telegram sees it: UTF-16 lengths, trimming, limits, and detected entities.

Telegram measures text in UTF-16 code units after markup is removed and after its own clean-up
(TDLib's `fix_formatted_text`: control characters become spaces, `\\r` disappears, leading and
trailing spaces and newlines are trimmed). A bot that counts Python characters, or counts the
markup, will hit "message is too long" in production; so the emulator counts like Telegram.
"""

from __future__ import annotations

import re
from typing import Any

from .entities import entity_sort_key
from .errors import ApiError
from .html_check import HtmlParseError, parse_html

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
_REMOVED = {"\r", "\u0333", "\u033f", "\u030a"} | {chr(c) for c in range(0x2028, 0x202F)}
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"@([A-Za-z0-9_]{2,32})")
_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)


class EmptyText(Exception):
    """Nothing but whitespace was left after clean-up."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram limit and entity offset."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of `text` an entity covers (entity offsets count UTF-16 units)."""
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "surrogatepass")


def clean_formatted_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict]]:
    """Apply Telegram's clean-up and trimming, moving entities along; raise if nothing is left."""
    chars: list[str] = []
    new_at: list[int] = []  # old UTF-16 offset -> new UTF-16 offset
    new_offset = 0
    for ch in text:
        units = 2 if ord(ch) > 0xFFFF else 1
        new_at.extend([new_offset] * units)
        if ch in _REMOVED:
            continue
        if ord(ch) < 32 and ch != "\n":
            ch = " "
        chars.append(ch)
        new_offset += units
    new_at.append(new_offset)
    moved = []
    for entity in entities:
        start = entity["offset"]
        end = start + entity["length"]
        if start < 0 or entity["length"] < 0 or end >= len(new_at):
            raise ApiError.bad_request(
                f"can't parse entities: Entity beginning at UTF-16 offset {start} ends after "
                f"the end of the text at UTF-16 offset {end}"
            )
        if new_at[end] > new_at[start]:
            moved.append({**entity, "offset": new_at[start], "length": new_at[end] - new_at[start]})
    cleaned = "".join(chars)
    body = cleaned.rstrip(" \n")
    if not body:
        raise EmptyText
    limit = utf16_len(body)
    kept = []
    for entity in moved:
        if entity["offset"] < limit:
            end = min(entity["offset"] + entity["length"], limit)
            kept.append({**entity, "length": end - entity["offset"]})
    first_entity = min((e["offset"] for e in kept), default=limit)
    lead = len(body) - len(body.lstrip(" \n"))
    lead = min(lead, first_entity)  # Telegram never trims into an entity
    for entity in kept:
        entity["offset"] -= lead
    kept.sort(key=entity_sort_key)
    return body[lead:], kept


def format_text(
    raw: object,
    parse_mode: object,
    entities: object,
    *,
    caption: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Turn a text or caption parameter into (plain text, entities), rejecting like Telegram."""
    if raw is None or raw == "":
        if caption:
            return "", []
        raise ApiError.bad_request("message text is empty")
    text = str(raw)
    mode = str(parse_mode) if parse_mode else ""
    found: list[dict[str, Any]] = []
    if mode.lower() == "html":
        try:
            parsed = parse_html(text)
        except HtmlParseError as error:
            raise ApiError.bad_request(f"can't parse entities: {error}") from error
        text, found = parsed.text, parsed.entities
    elif mode:
        if mode.lower() not in {"markdown", "markdownv2"}:
            raise ApiError.bad_request("unsupported parse_mode")
        raise ApiError.bad_request(
            f"emulator: parse_mode {mode} is not emulated; only HTML is validated"
        )
    elif isinstance(entities, list):
        found = [dict(e) for e in entities if isinstance(e, dict)]
    try:
        text, found = clean_formatted_text(text, found)
    except EmptyText:
        if caption:
            return "", []
        raise ApiError.bad_request("message text is empty") from None
    limit = MAX_CAPTION_LENGTH if caption else MAX_TEXT_LENGTH
    if utf16_len(text) > limit:
        what = "message caption is too long" if caption else "message is too long"
        raise ApiError.bad_request(what)
    return text, found


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram finds by itself in a user's text: bot commands, @mentions, URLs."""
    found: list[dict[str, Any]] = []
    for kind, pattern in (("bot_command", _COMMAND), ("mention", _MENTION), ("url", _URL)):
        for match in pattern.finditer(text):
            start, end = match.span()
            if kind == "url":  # trailing punctuation ends a sentence, not the link
                end = start + len(match.group().rstrip(".,;:!?)'"))
            before = text[start - 1] if start else ""
            after = text[end] if end < len(text) else ""
            if _is_word(before) or _is_word(after):
                continue
            if kind == "bot_command" and ({before, after} & {"/", "<", ">"}):
                continue
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[:start]),
                    "length": utf16_len(text[start:end]),
                }
            )
    found.sort(key=entity_sort_key)
    return found


def _is_word(ch: str) -> bool:
    """TDLib's is_word_character: letters, digits, other numbers and underscore."""
    return bool(ch) and (ch.isalnum() or ch == "_")
