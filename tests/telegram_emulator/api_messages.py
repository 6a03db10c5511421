"""Bot API methods that create or change messages: send, edit, delete, documents, actions.

Each handler validates in the order that matters to a bot author (chat, then text, then markup,
then the reply target) and raises the ApiError Telegram would send. Successful calls update the
world and the records, then return the Message JSON PTB will parse.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .errors import ApiError
from .keyboards import inline_keyboard_only, validate_reply_markup
from .params import Params, UploadedFile
from .records import DocumentRecord, EditRecord, SentMessage, now
from .state import ChatState, World
from .text import format_text

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip


def send_message(world: World, p: Params) -> dict[str, Any]:
    """sendMessage."""
    chat = world.chat_for_bot(p.chat_id())
    raw = p.string("text")
    text, entities = format_text(raw, p.string("parse_mode"), p.nested("entities"))
    markup = validate_reply_markup(p.nested("reply_markup"))
    reply_to = _reply_target(world, chat, p)
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    if inline_keyboard_only(markup):
        content["reply_markup"] = markup
    message = world.new_message(
        chat,
        world.bot_user,
        content,
        thread_id=p.integer("message_thread_id"),
        reply_to=reply_to,
    )
    world.records.add_sent(
        _sent_record("sendMessage", chat, message, raw or "", p, reply_to, markup, entities)
    )
    return message


def send_document(world: World, p: Params) -> dict[str, Any]:
    """sendDocument: an upload, a known file_id, or (recorded without content) a URL."""
    chat = world.chat_for_bot(p.chat_id())
    document = p.file("document")
    if document is None:
        raise ApiError.bad_request("there is no document in the request")
    raw_caption = p.string("caption") or ""
    caption, entities = format_text(
        raw_caption, p.string("parse_mode"), p.nested("caption_entities"), caption=True
    )
    markup = validate_reply_markup(p.nested("reply_markup"))
    reply_to = _reply_target(world, chat, p)
    if isinstance(document, UploadedFile):
        if not document.content:
            raise ApiError.bad_request("file must be non-empty")
        stored = world.add_file(
            document.content, "documents", document.filename, document.content_type
        )
    elif document in world.files:
        stored = world.files[document]
    elif document.startswith(("http://", "https://")):
        stored = world.add_file(b"", "documents", document.rsplit("/", 1)[-1], None)
    else:
        raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
    content: dict[str, Any] = {
        "document": {
            "file_name": stored.file_name,
            "mime_type": stored.mime_type or "application/octet-stream",
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
    }
    if caption:
        content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
    if inline_keyboard_only(markup):
        content["reply_markup"] = markup
    message = world.new_message(
        chat, world.bot_user, content, thread_id=p.integer("message_thread_id"), reply_to=reply_to
    )
    world.records.documents.append(
        DocumentRecord(
            chat_id=chat.id,
            message_id=message["message_id"],
            filename=stored.file_name,
            mime_type=stored.mime_type,
            content=stored.content if isinstance(document, UploadedFile) else None,
            caption=caption,
        )
    )
    world.records.add_sent(
        _sent_record("sendDocument", chat, message, raw_caption, p, reply_to, markup, entities)
    )
    return message


def edit_message_text(world: World, p: Params) -> dict[str, Any] | bool:
    """editMessageText; note that leaving out reply_markup removes the keyboard, as on Telegram."""
    raw = p.string("text")
    text, entities = format_text(raw, p.string("parse_mode"), p.nested("entities"))
    markup = inline_keyboard_only(validate_reply_markup(p.nested("reply_markup")))
    if "inline_message_id" in p:
        return True  # inline messages live outside any chat the emulator tracks
    chat, message = _message_to_edit(world, p)
    if "text" not in message:
        raise ApiError.bad_request("there is no text in the message to edit")
    same_text = (text, entities) == (message["text"], message.get("entities", []))
    if same_text and markup == message.get("reply_markup"):
        raise ApiError.bad_request(NOT_MODIFIED)
    message["text"] = text
    _set_optional(message, "entities", entities)
    _set_optional(message, "reply_markup", markup)
    message["edit_date"] = int(time.time())
    edit = EditRecord(
        "editMessageText", chat.id, message["message_id"], text, raw, p.string("parse_mode"),
        markup, now(),
    )  # fmt: skip
    world.records.add_edit(edit, entities)
    return copy.deepcopy(message)


def edit_message_reply_markup(world: World, p: Params) -> dict[str, Any] | bool:
    """editMessageReplyMarkup; without reply_markup it removes the keyboard."""
    markup = inline_keyboard_only(validate_reply_markup(p.nested("reply_markup")))
    if "inline_message_id" in p:
        return True
    chat, message = _message_to_edit(world, p)
    if markup == message.get("reply_markup"):
        raise ApiError.bad_request(NOT_MODIFIED)
    _set_optional(message, "reply_markup", markup)
    message["edit_date"] = int(time.time())
    edit = EditRecord(
        "editMessageReplyMarkup", chat.id, message["message_id"], None, None, None, markup, now()
    )
    world.records.add_edit(edit, [])
    return copy.deepcopy(message)


def delete_message(world: World, p: Params) -> bool:
    """deleteMessage, with Telegram's rules on whose messages a bot may delete."""
    chat = world.chat_for_bot(p.chat_id())
    message_id = p.required_integer("message_id")
    message = chat.messages.get(message_id)
    if message is None:
        raise ApiError.bad_request("message to delete not found")
    own = message.get("from", {}).get("id") == world.bot_id
    if not own and chat.type != "private" and chat.bot_status != "administrator":
        raise ApiError.bad_request("message can't be deleted")
    del chat.messages[message_id]
    world.records.add_deletion(chat.id, message_id)
    return True


def send_chat_action(world: World, p: Params) -> bool:
    """sendChatAction."""
    chat = world.chat_for_bot(p.chat_id())
    action = p.required_string("action")
    if action not in CHAT_ACTIONS:
        raise ApiError.bad_request("wrong parameter action in request")
    world.resolve_thread(chat, p.integer("message_thread_id"), None)
    world.records.chat_actions.append((chat.id, action))
    world.records.notify()
    return True


def _message_to_edit(world: World, p: Params) -> tuple[ChatState, dict[str, Any]]:
    chat = world.chat_for_bot(p.chat_id())
    message = chat.messages.get(p.required_integer("message_id"))
    if message is None:
        raise ApiError.bad_request("message to edit not found")
    if message.get("from", {}).get("id") != world.bot_id:
        raise ApiError.bad_request("message can't be edited")
    return chat, message


def _reply_target(world: World, chat: ChatState, p: Params) -> dict[str, Any] | None:
    """The message being replied to, from reply_parameters or the legacy reply_to_message_id."""
    parameters = p.nested("reply_parameters")
    quote = None
    message_id: int | None
    if parameters is not None:
        if not isinstance(parameters, dict) or "message_id" not in parameters:
            raise ApiError.bad_request("can't parse reply parameters JSON object")
        message_id = int(parameters["message_id"])
        allow_missing = bool(parameters.get("allow_sending_without_reply"))
        quote = parameters.get("quote")
        other = world.find_chat(parameters["chat_id"]) if "chat_id" in parameters else chat
        if other is not chat:
            if other is None or message_id not in other.messages:
                raise ApiError.bad_request("message to be replied not found")
            return None  # replies across chats become external replies; not modelled
    else:
        message_id = p.integer("reply_to_message_id")
        allow_missing = p.flag("allow_sending_without_reply")
    if message_id is None:
        return None
    message = chat.messages.get(message_id)
    if message is None:
        if allow_missing:
            return None
        raise ApiError.bad_request("message to be replied not found")
    if quote and quote not in (message.get("text") or message.get("caption") or ""):
        raise ApiError.bad_request("QUOTE_TEXT_INVALID")
    return message


def _sent_record(
    method: str,
    chat: ChatState,
    message: dict[str, Any],
    raw: str,
    p: Params,
    reply_to: dict[str, Any] | None,
    markup: dict[str, Any] | None,
    entities: list[dict[str, Any]],
) -> SentMessage:
    return SentMessage(
        method=method,
        chat_id=chat.id,
        message_id=message["message_id"],
        text=message.get("text", message.get("caption", "")),
        html=raw,
        parse_mode=p.string("parse_mode"),
        reply_to_message_id=reply_to["message_id"] if reply_to else None,
        message_thread_id=message.get("message_thread_id"),
        reply_markup=markup,
        time=now(),
        entities=entities,
    )


def _set_optional(message: dict[str, Any], key: str, value: Any) -> None:
    if value:
        message[key] = value
    else:
        message.pop(key, None)


HANDLERS = {
    "sendmessage": send_message,
    "senddocument": send_document,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "sendchataction": send_chat_action,
}
