"""Waiting for the bot: tests await a condition instead of sleeping and hoping.

Waiters wake on every recorded change (and re-check every 50 ms for state that does not notify),
and a timeout reports what the bot did instead, which is what a failing end-to-end test needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from .records import SentMessage
from .state import World

RECHECK_SECONDS = 0.05


async def wait_until(world: World, predicate: Callable[[], bool], timeout: float) -> None:
    """Return once predicate() is true; TimeoutError with a diagnosis after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"condition not met within {timeout}s; {diagnosis(world)}")
        await world.records.wait_for_change(min(remaining, RECHECK_SECONDS))


async def wait_for_reply(
    world: World,
    chat_id: int,
    after: int | Mapping[str, Any] | None,
    after_count: int | None,
    timeout: float,
) -> SentMessage:
    """The first bot message in the chat after a message id (see BotAPIEmulator)."""
    if isinstance(after, Mapping):
        after_id = int(after["message_id"])
    else:
        after_id = last_incoming_id(world, chat_id) if after is None else after
    start = after_count or 0
    found: list[SentMessage] = []

    def replied() -> bool:
        sent = world.records.sent[start:]
        found[:] = [m for m in sent if m.chat_id == chat_id and m.message_id > after_id]
        return bool(found)

    try:
        await wait_until(world, replied, timeout)
    except TimeoutError as error:
        raise TimeoutError(
            f"no bot message in chat {chat_id} after message {after_id} within {timeout}s; "
            f"{diagnosis(world)}"
        ) from error
    return found[0]


def last_incoming_id(world: World, chat_id: int) -> int:
    """The id of the chat's latest message not sent by the bot (0 if none)."""
    messages = world.test_chat(chat_id).messages
    incoming = [i for i, m in messages.items() if m.get("from", {}).get("id") != world.bot_id]
    return max(incoming, default=0)


def diagnosis(world: World) -> str:
    """What a failing test most needs to know: refusals, recent sends, undelivered updates."""
    records = world.records
    return (
        f"rejections={[tuple(r) for r in records.rejections[-5:]]}, "
        f"sent={[(m.chat_id, m.message_id, m.text[:60]) for m in records.sent[-5:]]}, "
        f"not_delivered={len(world.not_delivered)}, "
        f"pending_updates={world.updates.pending_count}"
    )
