"""Building the cast of a test: users, private chats, groups, forum topics and channels.

Ids follow Telegram's conventions (users positive, private chat id == user id, groups and
channels negative) and are checked, because a bot that confuses a user id with a chat id
should fail here exactly as it would in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import EmulatorError
from .state import GROUP_ANONYMOUS_BOT, ChatState, World
from .text import detect_entities, utf16_slice

TOPIC_ICON_COLOR = 7322096


def add_user(
    world: World,
    user_id: int,
    first_name: str,
    username: str | None = None,
    *,
    last_name: str | None = None,
    language_code: str | None = None,
) -> dict[str, Any]:
    """Create a Telegram user and return its User object."""
    if user_id <= 0 or user_id == world.bot_id:
        raise EmulatorError(f"user ids are positive and not the bot's own id, got {user_id}")
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    for key, value in (
        ("last_name", last_name),
        ("username", username),
        ("language_code", language_code),
    ):
        if value:
            user[key] = value
    world.users[user_id] = user
    return dict(user)


def add_private_chat(world: World, user_id: int) -> dict[str, Any]:
    """The user's private chat with the bot (as if they had pressed Start)."""
    user = world.user(user_id)
    chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    world.chats[user_id] = ChatState(chat=chat)
    return dict(chat)


def add_group(
    world: World,
    chat_id: int,
    title: str,
    *,
    supergroup: bool = True,
    forum: bool = False,
    admins: Iterable[int] = (),
    username: str | None = None,
    bot_is_member: bool = True,
    bot_is_admin: bool = False,
) -> dict[str, Any]:
    """A group or supergroup; the first admin is its owner. The bot is a member by default."""
    if chat_id >= 0:
        raise EmulatorError(f"group ids are negative (supergroups -100...), got {chat_id}")
    if forum and not supergroup:
        raise EmulatorError("only supergroups can be forums")
    admin_ids = list(admins)
    for admin in admin_ids:
        world.user(admin)
    chat: dict[str, Any] = {
        "id": chat_id,
        "type": "supergroup" if supergroup else "group",
        "title": title,
    }
    if username:
        chat["username"] = username
    if forum:
        chat["is_forum"] = True
    status = "administrator" if bot_is_admin else "member" if bot_is_member else "left"
    world.chats[chat_id] = ChatState(chat=chat, bot_status=status, admins=admin_ids)
    return dict(chat)


def add_channel(
    world: World,
    chat_id: int,
    title: str,
    *,
    username: str | None = None,
    bot_is_admin: bool = True,
) -> dict[str, Any]:
    """A channel; bots see its posts only as administrators, so that is the default."""
    if chat_id >= 0:
        raise EmulatorError(f"channel ids are negative (-100...), got {chat_id}")
    chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
    if username:
        chat["username"] = username
    status = "administrator" if bot_is_admin else "left"
    world.chats[chat_id] = ChatState(chat=chat, bot_status=status)
    return dict(chat)


def add_forum_topic(world: World, chat_id: int, name: str) -> int:
    """Open a topic in a forum supergroup; returns its message_thread_id.

    As on Telegram the thread id is the id of the topic's service message, which is delivered
    to the bot like any service message.
    """
    chat = world.test_chat(chat_id)
    if not chat.is_forum:
        raise EmulatorError(f"chat {chat_id} is not a forum: add_group(..., forum=True)")
    thread_id = chat.next_message_id
    creator = world.user(chat.admins[0]) if chat.admins else GROUP_ANONYMOUS_BOT
    content = {
        "message_thread_id": thread_id,
        "is_topic_message": True,
        "forum_topic_created": {"name": name, "icon_color": TOPIC_ICON_COLOR},
    }
    anonymous = creator is GROUP_ANONYMOUS_BOT
    sender_chat = chat.chat if anonymous else None
    message = world.new_message(chat, creator, content, sender_chat=sender_chat)
    chat.topics[thread_id] = chat.messages[thread_id]
    deliver(world, chat, message)
    return thread_id


def block_bot(world: World, user_id: int) -> None:
    """The user blocks the bot: sending to them now fails with 403 like on Telegram."""
    world.test_chat(user_id).blocked = True


def deliver(world: World, chat: ChatState, message: dict[str, Any], kind: str = "message") -> bool:
    """Queue the message for the bot if Telegram would show it to the bot; else note it."""
    if should_deliver(world, chat, message):
        world.updates.push(kind, message)
        return True
    world.not_delivered.append(message)
    return False


def should_deliver(world: World, chat: ChatState, message: dict[str, Any]) -> bool:
    """Telegram's privacy mode: in groups a bot sees commands, replies to it, mentions of it
    and service messages, unless it is an administrator or privacy mode is off."""
    if chat.type in ("private", "channel"):
        return True
    if chat.bot_status in ("left", "kicked"):
        return False
    if not world.privacy_mode or chat.bot_status == "administrator":
        return True
    if not any(key in message for key in ("text", "caption", "photo", "document", "sticker")):
        return True  # service message
    reply = message.get("reply_to_message") or {}
    if reply.get("from", {}).get("id") == world.bot_id and "forum_topic_created" not in reply:
        return True
    text = message.get("text", message.get("caption", ""))
    username = str(world.bot_user["username"]).lower()
    for entity in detect_entities(text):
        piece = utf16_slice(text, entity["offset"], entity["length"]).lower()
        if entity["type"] == "bot_command" and entity["offset"] == 0:
            return "@" not in piece or piece.endswith("@" + username)
        if entity["type"] == "mention" and piece == "@" + username:
            return True
    return False
