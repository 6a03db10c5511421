"""Per-user question limits: a sliding window, one notice when exceeded, bounded memory."""

from __future__ import annotations

import enum
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


class Verdict(enum.Enum):
    """What to do with a user's question."""

    ALLOW = "allow"
    NOTIFY = "notify"  # over the limit: tell the user once
    SILENT = "silent"  # over the limit and already told: say nothing


@dataclass
class _Window:
    times: deque[float] = field(default_factory=deque)
    notified: bool = False


class UserRateLimiter:
    """Allows each user (or any other id: a group) `limit` questions per `period` seconds.

    Over the limit the first question gets a notice and the rest silence, until the window has
    room again. At most `max_users` users are tracked; the least recently seen are forgotten.
    Used only from the event loop, so it needs no lock.
    """

    def __init__(
        self,
        limit: int,
        period: float = 60.0,
        max_users: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._period = period
        self._max_users = max_users
        self._clock = clock
        self._windows: OrderedDict[int, _Window] = OrderedDict()

    def check(self, user_id: int) -> Verdict:
        """Record a question from the user and say whether to answer it."""
        now = self._clock()
        window = self._windows.pop(user_id, None) or _Window()
        self._windows[user_id] = window
        if len(self._windows) > self._max_users:
            self._windows.popitem(last=False)
        while window.times and window.times[0] <= now - self._period:
            window.times.popleft()
        if len(window.times) < self._limit:
            window.times.append(now)
            window.notified = False
            return Verdict.ALLOW
        if window.notified:
            return Verdict.SILENT
        window.notified = True
        return Verdict.NOTIFY

    def __len__(self) -> int:
        return len(self._windows)
