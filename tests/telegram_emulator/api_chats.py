"""Bot API methods that read chats, members and files, plus message reactions."""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .params import Params
from .state import ChatState, World

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses larger files on the cloud Bot API
_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics",
)  # fmt: skip


def get_file(world: World, p: Params) -> dict[str, Any]:
    """getFile: the path the bot then downloads from /file/bot<token>/<path>."""
    stored = world.files.get(p.required_string("file_id"))
    if stored is None:
        raise ApiError.bad_request("invalid file_id")
    if len(stored.content) > MAX_DOWNLOAD_BYTES:
        raise ApiError.bad_request("file is too big")
    return stored.as_file()


def get_chat(world: World, p: Params) -> dict[str, Any]:
    """getChat: the Chat plus the ChatFullInfo fields PTB requires."""
    chat = world.chat_for_bot(p.chat_id(), writing=False)
    return {
        **chat.chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


def get_chat_member(world: World, p: Params) -> dict[str, Any]:
    """getChatMember: owner/administrator from the chat's admins, the bot's own status, else
    member for any user the test created."""
    chat = world.chat_for_bot(p.chat_id(), writing=False)
    user_id = p.required_integer("user_id")
    if user_id != world.bot_id and user_id not in world.users:
        raise ApiError.bad_request("user not found")
    if chat.type == "private" and user_id not in (chat.id, world.bot_id):
        raise ApiError.bad_request("user not found")
    return _member(world, chat, user_id)


def get_chat_administrators(world: World, p: Params) -> list[dict[str, Any]]:
    """getChatAdministrators."""
    chat = world.chat_for_bot(p.chat_id(), writing=False)
    if chat.type == "private":
        raise ApiError.bad_request("there are no administrators in the private chat")
    ids = list(chat.admins)
    if chat.bot_status == "administrator":
        ids.append(world.bot_id)
    return [_member(world, chat, user_id) for user_id in ids]


def set_message_reaction(world: World, p: Params) -> bool:
    """setMessageReaction, recorded as (chat_id, message_id, reaction)."""
    chat = world.chat_for_bot(p.chat_id())
    message_id = p.required_integer("message_id")
    if message_id not in chat.messages:
        raise ApiError.bad_request("message to react not found")
    world.records.reactions.append((chat.id, message_id, p.nested("reaction")))
    world.records.notify()
    return True


def _member(world: World, chat: ChatState, user_id: int) -> dict[str, Any]:
    """A ChatMember object of the right status for this user in this chat."""
    user = world.user(user_id)
    if user_id == world.bot_id:
        status = chat.bot_status
    elif chat.admins and chat.admins[0] == user_id:
        return {"status": "creator", "user": user, "is_anonymous": False}
    else:
        status = "administrator" if user_id in chat.admins else "member"
    if status == "administrator":
        rights = dict.fromkeys(_ADMIN_RIGHTS, True)
        return {"status": status, "user": user, "can_be_edited": False, "is_anonymous": False,
                **rights}  # fmt: skip
    if status == "kicked":
        return {"status": status, "user": user, "until_date": 0}
    return {"status": status, "user": user}


HANDLERS = {
    "getfile": get_file,
    "getchat": get_chat,
    "getchatmember": get_chat_member,
    "getchatadministrators": get_chat_administrators,
    "setmessagereaction": set_message_reaction,
}
