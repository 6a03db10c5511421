"""The shared state of a single bot process: limits in memory, answers in feedback.sqlite3.

The default (no `database.url`): exactly what the bot did before replicas existed. One process
receives every update once (long polling confirms by offset), so claims need no bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import AppConfig
from bot.feedback import FeedbackStore
from bot.ratelimit import UserRateLimiter, Verdict
from bot.shared_state import GREET_AGAIN_AFTER_SECONDS, MINUTE, Claim, SharedState
from bot.uploads import PendingUploads


class LocalClaims:
    """Every update is new: nobody else receives it."""

    async def claim(self, update_id: int) -> Claim:
        return Claim.NEW

    async def finish(self, update_id: int) -> None:
        return None

    def abandon(self, update_id: int) -> None:
        return None

    async def renew(self) -> None:
        return None


class LocalRateLimit:
    """A UserRateLimiter behind the async RateLimit interface (used from the event loop)."""

    def __init__(self, limit: int, period: float) -> None:
        self._limiter = UserRateLimiter(limit, period)

    async def take(self, subject: int) -> Verdict:
        return self._limiter.check(subject)

    def __len__(self) -> int:
        return len(self._limiter)


class LocalReindexGuard:
    """An asyncio lock: a second reindex in this process is refused, not queued."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        if self._lock.locked():
            yield False
            return
        async with self._lock:
            yield True


def local_shared_state(config: AppConfig) -> SharedState:
    telegram = config.telegram
    return SharedState(
        claims=LocalClaims(),
        user_limit=LocalRateLimit(telegram.user_questions_per_minute, MINUTE),
        group_limit=LocalRateLimit(telegram.group_questions_per_minute, MINUTE),
        greeting_limit=LocalRateLimit(1, GREET_AGAIN_AFTER_SECONDS),
        feedback=FeedbackStore(config.feedback_db),
        reindex_guard=LocalReindexGuard(),
        uploads=PendingUploads(),
        database=None,
        replicated=False,
    )
