"""What the bot did, as tests observe it: sent messages, edits, actions, answers, rejections.

Records are append-only logs plus a "current state" view of the bot's messages (after edits and
deletions). Every change wakes the waiters in BotAPIEmulator.wait_until/wait_for_reply, so tests
never sleep-and-poll blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SentMessage:
    """One message the bot sent (sendMessage or sendDocument), as a test wants to see it.

    `text` is what the user reads (markup removed, Telegram's trimming applied); `html` is the
    raw text parameter exactly as the bot sent it.
    """

    method: str
    chat_id: int
    message_id: int
    text: str
    html: str
    parse_mode: str | None
    reply_to_message_id: int | None
    message_thread_id: int | None
    reply_markup: dict[str, Any] | None
    time: float
    entities: list[dict[str, Any]] = field(default_factory=list)
    edited: bool = False


@dataclass(frozen=True)
class EditRecord:
    """One successful edit (editMessageText or editMessageReplyMarkup)."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    html: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    time: float


@dataclass(frozen=True)
class DocumentRecord:
    """A document the bot sent, with its bytes when it was uploaded."""

    chat_id: int
    message_id: int
    filename: str | None
    mime_type: str | None
    content: bytes | None
    caption: str


@dataclass(frozen=True)
class Rejection:
    """A request Telegram would refuse; unpacks as (method, params, description)."""

    method: str
    params: dict[str, Any]
    description: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.params, self.description))


class Records:
    """All observation logs, plus an event that fires on every change."""

    def __init__(self) -> None:
        self.current: dict[tuple[int, int], SentMessage] = {}
        self._changed = asyncio.Event()
        self._clear_logs()

    def _clear_logs(self) -> None:
        self.sent: list[SentMessage] = []
        self.edits: list[EditRecord] = []
        self.deletions: list[tuple[int, int]] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.inline_answers: dict[str, dict[str, Any]] = {}
        self.documents: list[DocumentRecord] = []
        self.reactions: list[tuple[int, int, Any]] = []
        self.rejections: list[Rejection] = []
        self.injected_failures: list[tuple[str, int]] = []

    def reset(self) -> None:
        """Forget everything observed so far (the chats and messages themselves stay)."""
        self._clear_logs()
        self.notify()

    def notify(self) -> None:
        """Wake everyone waiting for a change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep until the next change or the timeout, whichever is first."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def add_sent(self, message: SentMessage) -> None:
        self.sent.append(message)
        self.current[(message.chat_id, message.message_id)] = message
        self.notify()

    def add_edit(self, edit: EditRecord, entities: list[dict[str, Any]]) -> None:
        """Log an edit and update the current view of that message."""
        self.edits.append(edit)
        key = (edit.chat_id, edit.message_id)
        old = self.current.get(key)
        if old is not None:
            changes: dict[str, Any] = {"reply_markup": edit.reply_markup, "edited": True}
            if edit.text is not None:
                changes.update(
                    text=edit.text, html=edit.html, parse_mode=edit.parse_mode, entities=entities
                )
            self.current[key] = dataclasses.replace(old, **changes)
        self.notify()

    def add_deletion(self, chat_id: int, message_id: int) -> None:
        self.deletions.append((chat_id, message_id))
        self.current.pop((chat_id, message_id), None)
        self.notify()

    def add_rejection(self, method: str, params: dict[str, Any], description: str) -> None:
        self.rejections.append(Rejection(method, params, description))
        self.notify()

    def messages_in(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages still in a chat, as they read now, oldest first."""
        found = [m for (chat, _), m in self.current.items() if chat == chat_id]
        return sorted(found, key=lambda m: m.message_id)


def now() -> float:
    """The clock SentMessage.time uses (monotonic, so tests can measure pacing)."""
    return time.monotonic()
