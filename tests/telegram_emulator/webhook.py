"""Webhook delivery as Telegram does it: each pending update POSTed to the webhook's URL.

Once setWebhook gave a URL, every pending update is sent there with the secret token header,
up to `max_connections` at once. An update leaves the queue only when the answer is a 2xx; any
other answer, a refused or broken connection or a timeout counts as a failure, and the update is
sent again after a pause (as Telegram does, only sooner). A test routes the webhook's https URL
to a loopback address (`BotAPIEmulator.route_webhook`), and may have some updates delivered
twice, as Telegram's at-least-once delivery sometimes does: the copy goes at once or a little
later, and is itself sent again until it is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from .state import World

logger = logging.getLogger(__name__)

RETRY_FIRST_PAUSE = 0.1
RETRY_MAX_PAUSE = 1.0
DELIVERY_TIMEOUT = 60.0
COPY_DELAYS = (0.0, 0.3)  # duplicate copies alternate: at once, and a little later


@dataclass(frozen=True)
class Delivery:
    """One POST of an update: its id, whether it was a duplicate copy, and the answer's status
    (0 when the connection failed)."""

    update_id: int
    copy: bool
    status: int


class WebhookDelivery:
    """Pushes the world's pending updates to the webhook while one is set and routed."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.route: str | None = None  # the loopback URL the webhook's URL stands for
        self.duplicate_every = 0  # every n-th update is delivered twice (0: never)
        self.deliveries: list[Delivery] = []
        self._sending: set[int] = set()
        self._due: dict[int, float] = {}  # update id -> when it may be sent again
        self._failures: Counter[int] = Counter()
        self._copies_made = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def acknowledged(self) -> list[int]:
        return [d.update_id for d in self.deliveries if not d.copy and 200 <= d.status < 300]

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="emulator-webhook")

    async def stop(self) -> None:
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            url = self.world.webhook.get("url")
            if url and self.route:
                limit = int(self.world.webhook.get("max_connections") or 40)
                now = loop.time()
                for update in self.world.updates.deliverable():
                    update_id = int(update["update_id"])
                    if len(self._sending) >= limit:
                        break
                    if update_id in self._sending or self._due.get(update_id, 0) > now:
                        continue
                    self._sending.add(update_id)
                    self._spawn(self._deliver(update, copy=False))
                    if self._should_copy(update_id):
                        delay = COPY_DELAYS[self._copies_made % len(COPY_DELAYS)]
                        self._copies_made += 1
                        self._spawn(self._deliver(update, copy=True, delay=delay))
            await self.world.updates.wait_for_change(RETRY_FIRST_PAUSE / 2)

    def _should_copy(self, update_id: int) -> bool:
        if not self.duplicate_every or self._failures[update_id]:
            return False  # one copy per update, made on its first delivery
        return update_id % self.duplicate_every == 0

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, update: dict[str, Any], copy: bool, delay: float = 0.0) -> None:
        update_id = int(update["update_id"])
        loop = asyncio.get_running_loop()
        pause = RETRY_FIRST_PAUSE
        if delay:
            await asyncio.sleep(delay)
        while True:
            status = await self._post(update)
            self.deliveries.append(Delivery(update_id, copy, status))
            self.world.records.notify()
            if 200 <= status < 300:
                if not copy:
                    self.world.updates.acknowledge(update_id)
                    self._sending.discard(update_id)
                return
            if not copy:
                self._failures[update_id] += 1
                backoff = RETRY_FIRST_PAUSE * 2 ** (self._failures[update_id] - 1)
                self._due[update_id] = loop.time() + min(backoff, RETRY_MAX_PAUSE)
                self._sending.discard(update_id)
                return  # the runner sends it again when it is due
            await asyncio.sleep(pause)
            pause = min(2 * pause, RETRY_MAX_PAUSE)

    async def _post(self, update: dict[str, Any]) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
            )
        headers = {"Content-Type": "application/json"}
        secret = self.world.webhook.get("secret_token")
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        assert self.route is not None
        try:
            async with self._session.post(self.route, json=update, headers=headers) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.info("webhook delivery of %s failed: %s", update["update_id"], error)
            return 0
