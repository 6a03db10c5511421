"""Checks on reply_markup, the other place bots commonly break Telegram's limits.

The one that matters most: callback_data must be 1-64 *bytes* of UTF-8. A bot that packs a
question or a passage id plus Cyrillic text into it works on a developer's short examples and
fails in production with BUTTON_DATA_INVALID.
"""

from __future__ import annotations

from typing import Any

from .entities import checked_link
from .errors import ApiError

MAX_CALLBACK_DATA_BYTES = 64
_ACTIONS = (
    "url", "callback_data", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "web_app", "login_url", "callback_game", "pay",
    "copy_text",
)  # fmt: skip
_KINDS = ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply")


def validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Return the markup if Telegram would accept it, else raise the ApiError it would send."""
    if markup is None:
        return None
    if not isinstance(markup, dict) or not any(kind in markup for kind in _KINDS):
        raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError.bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                _validate_inline_button(button)
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError.bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
            )
    return markup


def _validate_inline_button(button: Any) -> None:
    """One inline button: text, exactly one action, valid callback data and URL."""
    if not isinstance(button, dict):
        raise ApiError.bad_request("can't parse inline keyboard button: Object expected")
    if not isinstance(button.get("text"), str) or not button["text"].strip():
        raise ApiError.bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in _ACTIONS if name in button]
    if not actions:
        raise ApiError.bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str):
            raise ApiError.bad_request(
                'can\'t parse inline keyboard button: Field "callback_data" must be of type String'
            )
        if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise ApiError.bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url or checked_link(url) is None:
            raise ApiError.bad_request(f"inline keyboard button URL '{url}' is invalid")


def has_callback_button(markup: dict[str, Any] | None, data: str) -> bool:
    """Whether an inline keyboard holds a button that sends this callback_data."""
    if not markup or "inline_keyboard" not in markup:
        return False
    return any(
        button.get("callback_data") == data for row in markup["inline_keyboard"] for button in row
    )


def inline_keyboard_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Messages carry only inline keyboards in their reply_markup field; others are not echoed."""
    if markup and "inline_keyboard" in markup:
        return markup
    return None
