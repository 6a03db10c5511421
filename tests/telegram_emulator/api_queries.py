"""Answers to queries: answerCallbackQuery and answerInlineQuery.

A query can be answered once. Answering an unknown or already-answered one gives Telegram's
"query is too old" error, which is what a bot that answers twice (or answers a query from a
previous run) sees in production.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .keyboards import validate_reply_markup
from .params import Params
from .state import World
from .text import format_text

QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_RESULTS = 50
MAX_ID_BYTES = 64
RESULT_TYPES = frozenset(
    {
        "article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document",
        "location", "venue", "contact", "game", "sticker",
    }
)  # fmt: skip
_PARSE_PREFIX = "can't parse inline query result: "


def answer_callback_query(world: World, p: Params) -> bool:
    """answerCallbackQuery: once per query, text up to 200 characters."""
    query_id = p.required_string("callback_query_id")
    if query_id not in world.open_callback_queries:
        raise ApiError.bad_request(QUERY_TOO_OLD)
    text = p.string("text")
    if text and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
        raise ApiError.bad_request("MESSAGE_TOO_LONG")
    del world.open_callback_queries[query_id]
    answer: dict[str, Any] = {"text": text, "show_alert": p.flag("show_alert")}
    for name in ("url", "cache_time"):
        if name in p:
            answer[name] = p.string(name)
    world.records.callback_answers[query_id] = answer
    world.records.notify()
    return True


def answer_inline_query(world: World, p: Params) -> bool:
    """answerInlineQuery: at most 50 results, unique ids of 1-64 bytes, valid message texts."""
    query_id = p.required_string("inline_query_id")
    results = p.nested("results")
    if not isinstance(results, list):
        raise ApiError.bad_request("can't parse results JSON object")
    if query_id not in world.open_inline_queries:
        raise ApiError.bad_request(QUERY_TOO_OLD)
    if len(results) > MAX_INLINE_RESULTS:
        raise ApiError.bad_request("RESULTS_TOO_MUCH")
    seen: set[str] = set()
    for result in results:
        _validate_result(result, seen)
    next_offset = p.string("next_offset") or ""
    if len(next_offset.encode("utf-8")) > MAX_ID_BYTES:
        raise ApiError.bad_request("NEXT_OFFSET_INVALID")
    del world.open_inline_queries[query_id]
    world.records.inline_answers[query_id] = {
        "results": results,
        "cache_time": p.integer("cache_time"),
        "is_personal": p.flag("is_personal"),
        "next_offset": next_offset,
        "button": p.nested("button"),
    }
    world.records.notify()
    return True


def _validate_result(result: Any, seen: set[str]) -> None:
    if not isinstance(result, dict):
        raise ApiError.bad_request(_PARSE_PREFIX + "Object expected")
    result_id = result.get("id")
    if not isinstance(result_id, str) or not 1 <= len(result_id.encode("utf-8")) <= MAX_ID_BYTES:
        raise ApiError.bad_request("RESULT_ID_INVALID")
    if result_id in seen:
        raise ApiError.bad_request("RESULT_ID_DUPLICATE")
    seen.add(result_id)
    kind = result.get("type")
    if kind not in RESULT_TYPES:
        raise ApiError.bad_request(_PARSE_PREFIX + f'Unsupported inline query result type "{kind}"')
    markup = result.get("reply_markup")
    if markup is not None:
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            raise ApiError.bad_request(_PARSE_PREFIX + "Inline keyboard expected")
        validate_reply_markup(markup)
    if kind == "article":
        if not isinstance(result.get("title"), str) or not result["title"]:
            raise ApiError.bad_request(_PARSE_PREFIX + 'Field "title" must be of type String')
        content = result.get("input_message_content")
        if not isinstance(content, dict):
            raise ApiError.bad_request(
                _PARSE_PREFIX + 'Field "input_message_content" must be of type Object'
            )
        if "message_text" in content:
            _check_text(content["message_text"], content.get("parse_mode"), content, False)
    elif "caption" in result:
        _check_text(result["caption"], result.get("parse_mode"), result, True)


def _check_text(text: Any, parse_mode: Any, holder: dict[str, Any], caption: bool) -> None:
    """Validate a result's text like a message, with the error names inline results get."""
    entities = holder.get("caption_entities" if caption else "entities")
    try:
        format_text(text, parse_mode, entities, caption=caption)
    except ApiError as error:
        detail = error.description.removeprefix("Bad Request: ")
        if detail.startswith("can't parse entities: "):
            detail = _PARSE_PREFIX + "Can't parse entities: " + detail.split(": ", 1)[1]
        else:
            detail = {
                "message text is empty": "MESSAGE_EMPTY",
                "message is too long": "MESSAGE_TOO_LONG",
                "message caption is too long": "MEDIA_CAPTION_TOO_LONG",
            }.get(detail, detail)
        raise ApiError.bad_request(detail) from error


HANDLERS = {
    "answercallbackquery": answer_callback_query,
    "answerinlinequery": answer_inline_query,
}
