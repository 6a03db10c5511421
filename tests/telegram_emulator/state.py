"""The emulated Telegram world: users, chats, topics, messages, files and the bot itself.

Message ids run in one sequence per chat shared by users and the bot, as on Telegram, so "the
bot's reply comes after the user's question" is a comparison of ids. Messages are stored as the
Bot API JSON dicts PTB will parse; what goes out is always a copy, so neither the bot nor a test
can change the world by mutating a dict it was given.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, EmulatorError
from .records import Records
from .updates import UpdateQueue

GROUP_ANONYMOUS_BOT: dict[str, Any] = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
_CHAT_WORD = {"group": "group chat", "supergroup": "supergroup chat", "channel": "channel chat"}


@dataclass
class ChatState:
    """One chat: its Chat object plus everything the emulator tracks about it."""

    chat: dict[str, Any]
    bot_status: str = "member"  # member | administrator | left | kicked
    admins: list[int] = field(default_factory=list)  # first one is the owner
    blocked: bool = False  # private chats: the user blocked the bot
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)  # thread id -> created msg
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    @property
    def type(self) -> str:
        return str(self.chat["type"])

    @property
    def is_forum(self) -> bool:
        return bool(self.chat.get("is_forum"))


@dataclass
class StoredFile:
    """A file Telegram holds: served by getFile and the /file/ route."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None

    def as_file(self) -> dict[str, Any]:
        """The File object getFile returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


class World:
    """All state shared by the HTTP handlers and the test-facing scenario methods."""

    def __init__(self, token: str, bot_username: str, bot_name: str, privacy_mode: bool) -> None:
        bot_id = token.split(":", 1)[0]
        if not bot_id.isdigit():
            raise EmulatorError(f"token must look like '<bot id>:<secret>', got {token!r}")
        self.token = token
        self.privacy_mode = privacy_mode
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, StoredFile] = {}
        self.updates = UpdateQueue()
        self.records = Records()
        self.webhook: dict[str, Any] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.open_callback_queries: dict[str, dict[str, Any]] = {}
        self.open_inline_queries: dict[str, dict[str, Any]] = {}
        self.not_delivered: list[dict[str, Any]] = []  # group messages privacy mode hid
        self._ids = itertools.count(1)

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    def next_id(self) -> int:
        """A fresh number for query ids, file ids and the like."""
        return next(self._ids)

    # -- looking things up -------------------------------------------------------------

    def user(self, user_id: int) -> dict[str, Any]:
        """A user the test created; EmulatorError for anyone else."""
        if user_id == self.bot_id:
            return self.bot_user
        if user_id not in self.users:
            raise EmulatorError(f"unknown user {user_id}: call add_user() first")
        return self.users[user_id]

    def find_chat(self, chat_id: int | str) -> ChatState | None:
        """A chat by numeric id (int or digits) or by "@username"."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if isinstance(chat_id, str):
            if not chat_id.startswith("@"):
                return None
            name = chat_id[1:].lower()
            return next(
                (c for c in self.chats.values() if str(c.chat.get("username", "")).lower() == name),
                None,
            )
        return self.chats.get(chat_id)

    def test_chat(self, chat_id: int) -> ChatState:
        """A chat a test refers to; EmulatorError if the test never created it."""
        chat = self.chats.get(chat_id)
        if chat is None:
            raise EmulatorError(f"unknown chat {chat_id}: add_private_chat/add_group first")
        return chat

    def chat_for_bot(self, chat_id: int | str, *, writing: bool = True) -> ChatState:
        """The chat a Bot API call names; Telegram's errors when the bot may not use it."""
        chat = self.find_chat(chat_id)
        if chat is None:
            raise ApiError.bad_request("chat not found")
        if chat.type == "private" and chat.blocked and writing:
            raise ApiError.forbidden("bot was blocked by the user")
        if chat.bot_status == "kicked":
            raise ApiError.forbidden(f"bot was kicked from the {_CHAT_WORD[chat.type]}")
        if chat.bot_status == "left":
            raise ApiError.forbidden(f"bot is not a member of the {_CHAT_WORD[chat.type]}")
        if chat.type == "channel" and writing and chat.bot_status != "administrator":
            raise ApiError.bad_request("need administrator rights in the channel chat")
        return chat

    def is_admin(self, chat: ChatState, user_id: int) -> bool:
        if user_id == self.bot_id:
            return chat.bot_status == "administrator"
        return user_id in chat.admins

    # -- making messages ---------------------------------------------------------------

    def resolve_thread(
        self, chat: ChatState, thread_id: int | None, reply_to: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Thread fields for a new message, and what it replies to (a topic's first message
        counts as the reply target of every plain message in that topic, as on Telegram)."""
        if chat.is_forum:
            if thread_id is None and reply_to is not None and reply_to.get("is_topic_message"):
                thread_id = reply_to.get("message_thread_id")
            if thread_id is None:
                return {}, reply_to
            if thread_id not in chat.topics:
                raise ApiError.bad_request("message thread not found")
            return {"message_thread_id": thread_id, "is_topic_message": True}, (
                reply_to or chat.topics[thread_id]
            )
        if thread_id is not None:
            raise ApiError.bad_request("message thread not found")
        if chat.type == "supergroup" and reply_to is not None:
            # Replies in ordinary supergroups carry the id of the reply chain's first message.
            root = reply_to.get("message_thread_id", reply_to["message_id"])
            return {"message_thread_id": root}, reply_to
        return {}, reply_to

    def new_message(
        self,
        chat: ChatState,
        sender: dict[str, Any] | None,
        content: dict[str, Any],
        *,
        thread_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        sender_chat: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create, store and return (a copy of) a message with the chat's next id."""
        thread, reply_to = self.resolve_thread(chat, thread_id, reply_to)
        message: dict[str, Any] = {"message_id": chat.next_message_id}
        if sender is not None:
            message["from"] = dict(sender)
        if sender_chat is not None:
            message["sender_chat"] = dict(sender_chat)
        message.update(date=int(time.time()), chat=dict(chat.chat), **thread)
        if reply_to is not None:
            message["reply_to_message"] = reply_snapshot(reply_to)
        message.update(content)
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        return copy.deepcopy(message)

    def add_file(
        self, content: bytes, folder: str, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        """Store bytes as a Telegram file with fresh ids and a download path."""
        number = self.next_id()
        suffix = file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
        stored = StoredFile(
            file_id=f"BQACAgIAAx-emulated-{number}",
            file_unique_id=f"AgAD{number}",
            file_path=f"{folder}/file_{number}.{suffix}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_by_path(self, file_path: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.file_path == file_path), None)


def reply_snapshot(message: dict[str, Any]) -> dict[str, Any]:
    """A message as it appears inside reply_to_message: without its own reply_to_message."""
    snapshot = copy.deepcopy(message)
    snapshot.pop("reply_to_message", None)
    return snapshot
