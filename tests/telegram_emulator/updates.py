"""The bot's update queue and getUpdates long polling, with Telegram's confirmation rules.

An update stays in the queue until a later getUpdates passes an offset above its update_id, so
a bot that crashes mid-batch sees the batch again, as on Telegram. A second getUpdates while
one is still waiting ends the first with 409 Conflict, which is how Telegram reports two bot
instances polling at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .errors import ApiError

ALL_UPDATE_TYPES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post",
        "business_connection", "business_message", "edited_business_message",
        "deleted_business_messages", "message_reaction", "message_reaction_count",
        "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
        "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member",
        "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
    }
)  # fmt: skip
# What Telegram sends when a bot never said what it wants: everything but these three.
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
FIRST_UPDATE_ID = 1000


class UpdateQueue:
    """Pending updates for the bot, and the long-poll waiting on them."""

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._next_id = FIRST_UPDATE_ID
        self._wakeup = asyncio.Event()
        self._generation = 0
        self._closing = False
        self.allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.filtered_out: list[dict[str, Any]] = []  # updates allowed_updates excluded

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of the given kind ("message", "callback_query", ...)."""
        update = {"update_id": self._next_id, kind: payload}
        self._next_id += 1
        self._pending.append(update)
        self._wake()
        return update

    def deliverable(self) -> list[dict[str, Any]]:
        """The pending updates of allowed kinds, for webhook delivery (oldest first)."""
        return self._ready(len(self._pending))

    def acknowledge(self, update_id: int) -> None:
        """The webhook answered 2xx for this update: it is delivered."""
        self._pending = [u for u in self._pending if u["update_id"] != update_id]

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep until an update is queued or the timeout, whichever is first."""
        event = self._wakeup
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def drop_pending(self) -> None:
        """deleteWebhook/setWebhook with drop_pending_updates."""
        self._pending.clear()

    def close(self) -> None:
        """Release every waiting long-poll so the server can stop promptly."""
        self._closing = True
        self._wake()

    def reopen(self) -> None:
        """Long polls wait again (the server was started again after a stop)."""
        self._closing = False

    def _wake(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def get_updates(
        self, offset: int | None, limit: int, timeout: float, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """Confirm updates below offset, then return up to `limit`, waiting up to `timeout`."""
        self._generation += 1
        generation = self._generation
        self._wake()  # an older poll still waiting now ends with 409
        if allowed is not None:
            self.allowed = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._confirm(offset)
            ready = self._ready(limit)
            remaining = deadline - loop.time()
            if ready or self._closing or remaining <= 0:
                return ready
            event = self._wakeup
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return self._ready(limit)
            if generation != self._generation:
                raise ApiError(409, CONFLICT)

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]

    def _ready(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` updates of allowed kinds; other kinds are dropped for good."""
        kept = []
        for update in self._pending:
            kind = next(key for key in update if key != "update_id")
            if kind in self.allowed:
                kept.append(update)
            else:
                self.filtered_out.append(update)
        self._pending = kept
        return kept[:limit]
