"""Telegram's HTML parse mode, byte for byte as TDLib's `parse_html` reads it.

The emulator must reject exactly what Telegram rejects and accept exactly what it accepts, so
this follows TDLib (td/telegram/MessageEntity.cpp) rather than a browser's forgiving parser:
offsets in error texts are byte offsets into the UTF-8 text, entity offsets are UTF-16 units,
only &lt; &gt; &amp; &quot; and numeric references are decoded (an unknown `&...` stays literal),
and unknown attributes are ignored while unknown tags are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .entities import checked_link, entity_sort_key

SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
        "tg-emoji", "tg-time", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_SIMPLE_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
}  # fmt: skip
_NAMED_REFERENCES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACES = frozenset(b" \t\r\n\v\f\0")  # TDLib's is_space counts the terminating NUL as space
_DEC_DIGITS = frozenset(b"0123456789")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_ASCII_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_TOKEN = _DEC_DIGITS | _ASCII_LETTERS | frozenset(b".-")
_DATE_TIME_FORMAT = re.compile(r"r|w?[dD]?[tT]?")
_USER_LINK = re.compile(r"tg://user\?id=(\d+)$", re.IGNORECASE)


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; the message is TDLib's own wording."""


@dataclass
class ParsedText:
    """Plain text plus the entities (UTF-16 offsets) that the markup described."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _OpenTag:
    name: str
    argument: str
    unix_time: int
    utf16_offset: int
    output_start: int  # byte position in the output, to recover an <a>'s text as its URL


class _Bytes:
    """UTF-8 bytes readable past the end as NUL, like TDLib's C string."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8", "surrogatepass")

    def at(self, i: int) -> int:
        return self.data[i] if i < len(self.data) else 0


def parse_html(text: str) -> ParsedText:
    """Parse Telegram HTML into plain text and entities, raising HtmlParseError like Telegram."""
    src = _Bytes(text)
    out = bytearray()
    entities: list[dict[str, Any]] = []
    code_languages: dict[int, str] = {}  # id(code entity) -> language, until a <pre> claims it
    stack: list[_OpenTag] = []
    utf16 = 0
    saw_surrogate = False
    i = 0
    size = len(src.data)
    while i < size:
        c = src.data[i]
        if c == ord("&"):
            decoded = _decode_reference(src, i)
            if decoded is not None:
                code_point, i = decoded
                utf16 += 2 if code_point > 0xFFFF else 1
                saw_surrogate |= 0xD800 <= code_point <= 0xDFFF
                out += chr(code_point).encode("utf-8", "surrogatepass")
                continue
        if c != ord("<"):
            if c & 0xC0 != 0x80:  # first byte of a UTF-8 character
                utf16 += 2 if c >= 0xF0 else 1
            out.append(c)
            i += 1
            continue
        begin = i
        i += 1
        if src.at(i) != ord("/"):
            tag, i = _read_start_tag(src, begin, i, utf16, len(out))
            stack.append(tag)
            continue
        if not stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
        while src.at(i) not in _SPACES and src.at(i) != ord(">"):
            i += 1
        end_name = src.data[begin + 2 : i].decode("utf-8", "replace").lower()
        while src.at(i) in _SPACES and src.at(i) != 0:
            i += 1
        if src.at(i) != ord(">"):
            raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        open_tag = stack[-1]
        if end_name and end_name != open_tag.name:
            raise HtmlParseError(
                f"Unmatched end tag at byte offset {begin}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        if utf16 > open_tag.utf16_offset:
            _close_tag(open_tag, utf16 - open_tag.utf16_offset, entities, code_languages, out)
        stack.pop()
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    if saw_surrogate:
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    entities.sort(key=entity_sort_key)
    return ParsedText(out.decode("utf-8"), entities)


def _read_start_tag(
    src: _Bytes, begin: int, i: int, utf16: int, output_size: int
) -> tuple[_OpenTag, int]:
    """Read `<name attr=value ...>` starting after the `<`; return the tag and the next index."""
    while src.at(i) not in _SPACES and src.at(i) != ord(">"):
        i += 1
    if src.at(i) == 0:
        raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
    name = src.data[begin + 1 : i].decode("utf-8", "replace").lower()
    if name not in SUPPORTED_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
    argument = ""
    unix_time = 0
    while src.at(i) != ord(">"):
        while src.at(i) != 0 and src.at(i) in _SPACES:
            i += 1
        if src.at(i) == ord(">"):
            break
        attr_begin = i
        while src.at(i) not in _SPACES and src.at(i) not in b"=>/\"'":
            i += 1
        attr = src.data[attr_begin:i].decode("utf-8", "replace")
        if not attr:
            raise HtmlParseError(f'Empty attribute name in the tag "{name}" at byte offset {begin}')
        while src.at(i) != 0 and src.at(i) in _SPACES:
            i += 1
        if src.at(i) != ord("="):
            if src.at(i) == 0:
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {begin}')
            if name == "blockquote" and attr == "expandable":
                argument = "1"
            continue
        i += 1
        while src.at(i) != 0 and src.at(i) in _SPACES:
            i += 1
        if src.at(i) == 0:
            raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {begin}')
        value, i = _read_attribute_value(src, i)
        if src.at(i) == 0:
            raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
        if name == "tg-time" and attr == "unix":
            match = re.match(r"-?\d+", value)
            unix_time = int(match.group()) if match else 0
        argument = _tag_argument(name, attr, value, argument)
    if name == "span" and argument != "spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    return _OpenTag(name, argument, unix_time, utf16, output_size), i + 1


def _read_attribute_value(src: _Bytes, i: int) -> tuple[str, int]:
    """Read a quoted string (references decoded) or a bare name token (lower-cased)."""
    quote = src.at(i)
    if quote not in (ord("'"), ord('"')):
        start = i
        while src.at(i) in _NAME_TOKEN:
            i += 1
        if src.at(i) not in _SPACES and src.at(i) != ord(">"):
            raise HtmlParseError(f"Unexpected end of name token at byte offset {start}")
        return src.data[start:i].decode("ascii").lower(), i
    i += 1
    value = bytearray()
    while src.at(i) != quote and src.at(i) != 0:
        if src.at(i) == ord("&"):
            decoded = _decode_reference(src, i)
            if decoded is not None:
                value += chr(decoded[0]).encode("utf-8", "surrogatepass")
                i = decoded[1]
                continue
        value.append(src.at(i))
        i += 1
    if src.at(i) == quote:
        i += 1
    return value.decode("utf-8", "replace"), i


def _tag_argument(name: str, attr: str, value: str, current: str) -> str:
    """The one attribute each tag cares about; every other attribute is ignored."""
    if name == "a" and attr == "href":
        return value
    if name == "code" and attr == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if name == "span" and attr == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if (name, attr) in {("tg-emoji", "emoji-id"), ("tg-time", "format")}:
        return value
    if name == "blockquote" and attr == "expandable":
        return "1"
    return current


def _decode_reference(src: _Bytes, pos: int) -> tuple[int, int] | None:
    """Decode `&lt;`, `&#123;`, `&#x1F600;` (semicolon optional); None leaves `&` literal."""
    end = pos + 1
    if src.at(end) == ord("#"):
        end += 1
        base = 10
        if src.at(end) == ord("x"):
            base = 16
            end += 1
        digits = _HEX_DIGITS if base == 16 else _DEC_DIGITS
        code_point = 0
        while src.at(end) in digits:
            code_point = code_point * base + int(chr(src.at(end)), base)
            end += 1
        if code_point == 0 or code_point >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while src.at(end) in _ASCII_LETTERS:
            end += 1
        named = _NAMED_REFERENCES.get(src.data[pos + 1 : end])
        if named is None:
            return None
        code_point = ord(named)
    return code_point, end + 1 if src.at(end) == ord(";") else end


def _close_tag(
    tag: _OpenTag,
    length: int,
    entities: list[dict[str, Any]],
    code_languages: dict[int, str],
    out: bytearray,
) -> None:
    """Append the entity a closed, non-empty tag stands for (links Telegram rejects give none)."""
    offset = tag.utf16_offset
    previous = entities[-1] if entities else None
    same_span = previous is not None and (previous["offset"], previous["length"]) == (
        offset,
        length,
    )
    entity: dict[str, Any] = {"type": "", "offset": offset, "length": length}
    if tag.name in _SIMPLE_TYPES:
        entity["type"] = _SIMPLE_TYPES[tag.name]
    elif tag.name == "tg-emoji":
        if not tag.argument.isdigit() or int(tag.argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
    elif tag.name == "tg-time":
        if not _DATE_TIME_FORMAT.fullmatch(tag.argument):
            raise HtmlParseError("Invalid date format used")
        if tag.unix_time <= 0:
            return
        entity.update(type="date_time", unix_time=tag.unix_time)
        if tag.argument:
            entity["date_time_format"] = tag.argument
    elif tag.name == "a":
        url = tag.argument or out[tag.output_start :].decode("utf-8", "replace")
        user = _USER_LINK.match(url)
        if user:
            user_dict = {"id": int(user.group(1)), "is_bot": False, "first_name": ""}
            entity.update(type="text_mention", user=user_dict)
        else:
            checked = checked_link(url)
            if checked is None:
                return
            entity.update(type="text_link", url=checked)
    elif tag.name == "pre":
        if (
            same_span
            and previous
            and previous["type"] == "code"
            and code_languages.get(id(previous))
        ):
            previous.update(type="pre", language=code_languages.pop(id(previous)))
            return
        entity["type"] = "pre"
    elif tag.name == "code":
        if same_span and previous and previous["type"] == "pre" and tag.argument:
            previous.setdefault("language", tag.argument)
            return
        entity["type"] = "code"
        code_languages[id(entity)] = tag.argument
    else:  # blockquote
        entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
    entities.append(entity)
