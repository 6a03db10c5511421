"""What this replica remembers about updates it did not handle: which ones to have Telegram
deliver again (bot/replica_server.py answers those with 503), and whose askers it already told
the database is away (each is told once, however often the update comes back)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

REMEMBERED_IDS = 10_000


class UpdateGate:
    """Which updates this replica leaves for a later delivery, and whom it told why."""

    def __init__(self) -> None:
        self._deferred: set[int] = set()
        self._told: OrderedDict[int, None] = OrderedDict()
        self.renewal: asyncio.Task[None] | None = None

    def defer(self, update_id: int) -> None:
        self._deferred.add(update_id)

    def take_deferred(self, update_id: int) -> bool:
        """Whether the update is to be delivered again (asked once, by whoever received it)."""
        if update_id in self._deferred:
            self._deferred.discard(update_id)
            return True
        return False

    def is_deferred(self, update_id: int) -> bool:
        return update_id in self._deferred

    def first_telling(self, update_id: int) -> bool:
        """True the first time an update's asker is told about an outage (bounded memory)."""
        if update_id in self._told:
            return False
        self._told[update_id] = None
        if len(self._told) > REMEMBERED_IDS:
            self._told.popitem(last=False)
        return True
