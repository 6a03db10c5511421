"""The bot's shared state and the typed accessor handlers read it through (`context.state`)."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from telegram import Chat, Update
from telegram.constants import ChatType
from telegram.ext import CallbackContext, ExtBot

from bot.config import AppConfig
from bot.gate_state import UpdateGate
from bot.metrics import BotMetrics
from bot.ratelimit import Verdict
from bot.reindex_record import ReindexRecord
from bot.shared_state import Feedback, RateLimit, ReindexGuard, SharedState
from bot.stats import QuestionStats
from index.service import CitebotService

logger = logging.getLogger(__name__)

STATE_KEY = "citebot"
# Answering is CPU work, done one question at a time, first come first served: the model
# already spreads one question over every core, and the rest of answering holds the GIL. With 20
# questions at once (bench/bot_latency.py, 2 cores) the median reply took 145-166 ms on one
# thread and 180-207 ms on two, in alternating runs.
ANSWER_THREADS = 1
T = TypeVar("T")

# Telegram's account that stands in for anonymous group admins; it is never one of ours.
GROUP_ANONYMOUS_BOT_ID = 1087968824


@dataclass
class BotState:
    """Everything the handlers share; one per Application, built in `bot.app`."""

    config: AppConfig
    service: CitebotService
    # Limits, answers and votes, the reindex lock and update claims: in this process, or in
    # the database replicas share (bot/shared_state.py).
    shared: SharedState
    stats: QuestionStats = field(default_factory=QuestionStats)
    metrics: BotMetrics = field(default_factory=BotMetrics)
    gate: UpdateGate = field(default_factory=UpdateGate)
    reindex_record: ReindexRecord = field(init=False)
    # Set by a stop signal (bot/shutdown.py): a running build stops at its next check.
    stopping: threading.Event = field(default_factory=threading.Event)
    answer_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ANSWER_THREADS, thread_name_prefix="answer")
    )

    def __post_init__(self) -> None:
        self.reindex_record = ReindexRecord(self.config.index.path)

    @property
    def feedback(self) -> Feedback:
        return self.shared.feedback

    @property
    def limiter(self) -> RateLimit:
        """Questions per user."""
        return self.shared.user_limit

    @property
    def group_limiter(self) -> RateLimit:
        """Replies to a group wait for Telegram's group flood limit while holding one of the
        concurrent-update slots; without this limit one busy group could hold them all."""
        return self.shared.group_limit

    @property
    def greeted(self) -> RateLimit:
        return self.shared.greeting_limit

    @property
    def reindex_guard(self) -> ReindexGuard:
        """Held while a reindex (or an upload and its reindex) runs; a second one is refused."""
        return self.shared.reindex_guard

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Run answering work on the answer threads, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.answer_threads, functools.partial(function, *args))

    def close(self) -> None:
        if self.gate.renewal is not None:
            self.gate.renewal.cancel()
        self.answer_threads.shutdown(wait=False, cancel_futures=True)
        self.shared.close()

    async def check_chat(self, chat: Chat) -> Verdict:
        """Whether a group may have another answer now (private chats always may)."""
        if chat.type == ChatType.PRIVATE:
            return Verdict.ALLOW
        return await self.group_limiter.take(chat.id)

    def is_admin(self, update: Update) -> bool:
        """Whether a real user listed by numeric id in `telegram.admins` sent this update.

        Anonymous group admins (sent on behalf of the group) and channel posts never are.
        """
        message = update.effective_message
        if message is not None and message.sender_chat is not None:
            return False
        user = update.effective_user
        if user is None or user.is_bot or user.id == GROUP_ANONYMOUS_BOT_ID:
            return False
        return user.id in self.config.telegram.admins


def asker_key(update: Update) -> int:
    """Whom a question is counted against for the per-user limit.

    Anonymous admins all appear as one account, so they are counted per group they speak for.
    """
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat else 0


class CitebotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's CallbackContext with one typed way to reach the shared state."""

    @property
    def state(self) -> BotState:
        return cast(BotState, self.bot_data[STATE_KEY])
