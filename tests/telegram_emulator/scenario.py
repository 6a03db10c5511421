"""What people (and Telegram) do to the bot: messages, edits, files, button presses, queries.

Each function builds the Update Telegram would send, queues it for getUpdates and returns the
Message (or query id) so the test can refer to it. A scenario Telegram could not produce
(pressing a button that is not there, writing in someone else's private chat) raises
EmulatorError at once, because a test built on it would prove nothing.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .chats import deliver
from .errors import ApiError, EmulatorError
from .keyboards import has_callback_button
from .state import GROUP_ANONYMOUS_BOT, ChatState, World
from .text import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, detect_entities, utf16_len

# JPEG start/end markers around filler: enough for a download round trip; not decodable.
PHOTO_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"


def user_sends(
    world: World,
    chat_id: int,
    user_id: int,
    text: str,
    *,
    reply_to_message_id: int | None = None,
    message_thread_id: int | None = None,
) -> dict[str, Any]:
    """A user writes a text message; bot_command, mention and url entities are detected."""
    if not text or utf16_len(text) > MAX_TEXT_LENGTH:
        raise EmulatorError("Telegram clients send 1-4096 UTF-16 units of text")
    content: dict[str, Any] = {"text": text}
    entities = detect_entities(text)
    if entities:
        content["entities"] = entities
    return _user_message(world, chat_id, user_id, content, reply_to_message_id, message_thread_id)


def user_sends_document(
    world: World,
    chat_id: int,
    user_id: int,
    filename: str,
    content: bytes,
    *,
    caption: str | None = None,
    mime_type: str | None = None,
    declare_size: bool = True,
) -> dict[str, Any]:
    """A user sends a file; the bot can fetch it with getFile and download it. Telegram's
    `file_size` is optional: `declare_size=False` leaves it out."""
    stored = world.add_file(content, "documents", filename, mime_type)
    document: dict[str, Any] = {
        "file_name": filename,
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
    }
    if declare_size:
        document["file_size"] = len(content)
    if mime_type:
        document["mime_type"] = mime_type
    fields: dict[str, Any] = {"document": document}
    fields.update(_caption(caption))
    return _user_message(world, chat_id, user_id, fields, None, None)


def user_sends_photo(
    world: World, chat_id: int, user_id: int, *, caption: str | None = None
) -> dict[str, Any]:
    """A user sends a photo (two sizes, as Telegram provides)."""
    sizes = []
    for width, height in ((90, 68), (800, 600)):
        stored = world.add_file(PHOTO_BYTES, "photos", f"photo_{width}.jpg", "image/jpeg")
        sizes.append(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(PHOTO_BYTES),
                "width": width,
                "height": height,
            }
        )
    fields: dict[str, Any] = {"photo": sizes}
    fields.update(_caption(caption))
    return _user_message(world, chat_id, user_id, fields, None, None)


def user_sends_sticker(world: World, chat_id: int, user_id: int) -> dict[str, Any]:
    """A user sends a plain (static) sticker."""
    stored = world.add_file(b"RIFF\x00\x00\x00\x00WEBP", "stickers", "sticker.webp", "image/webp")
    sticker = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
        "file_size": len(stored.content),
    }
    return _user_message(world, chat_id, user_id, {"sticker": sticker}, None, None)


def user_edits(world: World, chat_id: int, message_id: int, new_text: str) -> dict[str, Any]:
    """A user edits their own text message: an edited_message update."""
    chat = world.test_chat(chat_id)
    message = chat.messages.get(message_id)
    if message is None or "text" not in message:
        raise EmulatorError(f"no text message {message_id} in chat {chat_id}")
    if message.get("from", {}).get("id") in (world.bot_id, None):
        raise EmulatorError("users can only edit their own messages")
    message["text"] = new_text
    entities = detect_entities(new_text)
    if entities:
        message["entities"] = entities
    else:
        message.pop("entities", None)
    message["edit_date"] = int(time.time())
    edited = copy.deepcopy(message)
    deliver(world, chat, edited, "edited_message")
    return edited


def press_button(
    world: World, chat_id: int, message_id: int, user_id: int, callback_data: str
) -> str:
    """A user presses an inline button of a bot message; returns the callback query id."""
    chat = world.test_chat(chat_id)
    user = world.user(user_id)
    message = chat.messages.get(message_id)
    if message is None:
        raise EmulatorError(f"no message {message_id} in chat {chat_id} (deleted?)")
    if not has_callback_button(message.get("reply_markup"), callback_data):
        raise EmulatorError(
            f"message {message_id} has no button with callback_data {callback_data!r}; "
            f"its keyboard is {message.get('reply_markup')}"
        )
    query_id = str(4_000_000_000 + world.next_id())
    query = {
        "id": query_id,
        "from": dict(user),
        "message": copy.deepcopy(message),
        "chat_instance": str(abs(chat.id) * 7 + world.bot_id),
        "data": callback_data,
    }
    world.open_callback_queries[query_id] = query
    world.updates.push("callback_query", query)
    return query_id


def inline_query(
    world: World, user_id: int, query: str, offset: str = "", *, chat_type: str = "sender"
) -> str:
    """A user types "@bot query" in any chat; returns the inline query id."""
    query_id = str(5_000_000_000 + world.next_id())
    payload = {
        "id": query_id,
        "from": dict(world.user(user_id)),
        "query": query,
        "offset": offset,
        "chat_type": chat_type,
    }
    world.open_inline_queries[query_id] = payload
    world.updates.push("inline_query", payload)
    return query_id


def bot_membership_changes(world: World, chat_id: int, by_user_id: int, status: str) -> None:
    """Someone adds (status "member") or removes ("kicked") the bot: my_chat_member, and for
    an addition the new_chat_members service message too."""
    chat = world.test_chat(chat_id)
    user = world.user(by_user_id)
    old = chat.bot_status if chat.bot_status != status else "left"
    chat.bot_status = status
    bot = dict(world.bot_user)
    old_member: dict[str, Any] = {"user": bot, "status": old}
    new_member: dict[str, Any] = {"user": bot, "status": status}
    for member in (old_member, new_member):
        if member["status"] == "kicked":
            member["until_date"] = 0  # banned for ever; Telegram always sends the field
    world.updates.push(
        "my_chat_member",
        {
            "chat": dict(chat.chat),
            "from": dict(user),
            "date": int(time.time()),
            "old_chat_member": old_member,
            "new_chat_member": new_member,
        },
    )
    if status == "member":
        world.updates.push("message", world.new_message(chat, user, {"new_chat_members": [bot]}))


def channel_post(world: World, chat_id: int, text: str) -> dict[str, Any]:
    """A post in a channel (no sender user; sender_chat is the channel)."""
    chat = world.test_chat(chat_id)
    if chat.type != "channel":
        raise EmulatorError(f"chat {chat_id} is not a channel: add_channel() first")
    content: dict[str, Any] = {"text": text}
    if entities := detect_entities(text):
        content["entities"] = entities
    message = world.new_message(chat, None, content, sender_chat=chat.chat)
    if chat.bot_status == "administrator":
        world.updates.push("channel_post", message)
    return message


def anonymous_admin_sends(world: World, chat_id: int, text: str) -> dict[str, Any]:
    """An anonymous group admin writes: from GroupAnonymousBot, sender_chat = the group."""
    chat = world.test_chat(chat_id)
    if chat.type not in ("group", "supergroup"):
        raise EmulatorError("anonymous admins exist only in groups")
    content: dict[str, Any] = {"text": text}
    if entities := detect_entities(text):
        content["entities"] = entities
    message = world.new_message(chat, GROUP_ANONYMOUS_BOT, content, sender_chat=chat.chat)
    deliver(world, chat, message)
    return message


def _user_message(
    world: World,
    chat_id: int,
    user_id: int,
    content: dict[str, Any],
    reply_to_message_id: int | None,
    thread_id: int | None,
) -> dict[str, Any]:
    chat = world.test_chat(chat_id)
    user = world.user(user_id)
    _check_can_write(chat, user_id)
    reply_to = None
    if reply_to_message_id is not None:
        reply_to = chat.messages.get(reply_to_message_id)
        if reply_to is None:
            raise EmulatorError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
    try:
        message = world.new_message(chat, user, content, thread_id=thread_id, reply_to=reply_to)
    except ApiError as error:
        raise EmulatorError(f"{error.description} (use add_forum_topic first)") from error
    deliver(world, chat, message)
    return message


def _check_can_write(chat: ChatState, user_id: int) -> None:
    if chat.type == "private" and chat.id != user_id:
        raise EmulatorError(f"user {user_id} cannot write in user {chat.id}'s private chat")
    if chat.type == "channel":
        raise EmulatorError("users do not write in channels: use channel_post()")


def _caption(caption: str | None) -> dict[str, Any]:
    if not caption:
        return {}
    if utf16_len(caption) > MAX_CAPTION_LENGTH:
        raise EmulatorError("Telegram clients send captions of at most 1024 UTF-16 units")
    fields: dict[str, Any] = {"caption": caption}
    if entities := detect_entities(caption):
        fields["caption_entities"] = entities
    return fields
