"""Shows a running build's progress by editing one chat message, at most about once a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Message
from telegram.error import TelegramError

from bot.formatting.builds import progress_text
from bot.i18n import Translator
from bot.replies import edit
from index.models import BuildProgress

logger = logging.getLogger(__name__)


class ProgressMessage:
    """Edits `message` with the latest BuildProgress, in the admin's language.

    `report` is the build's progress callback: it runs on the build's worker thread and only
    hands the latest value to the event loop, where one task edits the message when it changed.
    """

    def __init__(self, message: Message, translator: Translator, min_interval: float = 1.0) -> None:
        self._message = message
        self._translator = translator
        self._min_interval = min_interval
        self._loop = asyncio.get_running_loop()
        self._latest: BuildProgress | None = None
        self._changed = asyncio.Event()
        self._shown = message.text_html if message.text else ""
        self._task = asyncio.create_task(self._keep_updated())

    def report(self, progress: BuildProgress) -> None:
        """Called from the build thread for each progress step."""
        self._latest = progress
        self._loop.call_soon_threadsafe(self._changed.set)

    async def finish(self, html: str) -> None:
        """Stop following the build and show its outcome."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._show(html, essential=True)

    async def _keep_updated(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await self._show(progress_text(self._translator, self._latest), essential=False)
            await asyncio.sleep(self._min_interval)

    async def _show(self, html: str, essential: bool) -> None:
        if html == self._shown:
            return
        try:
            await edit(self._message, html)
            self._shown = html
        except TelegramError as error:
            if essential:
                raise
            logger.info("chat %s: progress edit failed: %s", self._message.chat_id, error)
