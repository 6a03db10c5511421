"""The bot's shared state and the typed accessor handlers read it through (`context.state`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from telegram import Update
from telegram.ext import CallbackContext, ExtBot

from bot.config import AppConfig
from bot.feedback import FeedbackStore
from bot.ratelimit import UserRateLimiter
from bot.stats import QuestionStats
from index.service import CitebotService

logger = logging.getLogger(__name__)

STATE_KEY = "citebot"

# Telegram's account that stands in for anonymous group admins; it is never one of ours.
GROUP_ANONYMOUS_BOT_ID = 1087968824


@dataclass
class BotState:
    """Everything the handlers share; one per Application, built in `bot.app`."""

    config: AppConfig
    service: CitebotService
    feedback: FeedbackStore
    stats: QuestionStats = field(default_factory=QuestionStats)
    limiter: UserRateLimiter = field(init=False)
    # Held while a reindex (or an upload and its reindex) runs; a second one is refused.
    reindex_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.limiter = UserRateLimiter(self.config.telegram.user_questions_per_minute)

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
