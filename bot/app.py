"""Wires the Telegram bot together: the Application, its handlers and commands, and `run_bot`."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, ContextTypes, Defaults

from bot.config import AppConfig, TelegramConfig
from bot.context import STATE_KEY, BotState, CitebotContext
from bot.handlers import add_handlers
from bot.handlers.admin import report_interrupted_reindex
from bot.menu import register_commands
from bot.polling import PollingRequest
from bot.replica_server import run_replica
from bot.shared_state import SendPacer, open_shared_state
from bot.shutdown import install_stop_signals
from bot.update_gate import add_update_gate, start_renewing
from index.errors import DatabaseUnavailableError
from index.service import CitebotService

logger = logging.getLogger(__name__)

WEBHOOK_SECRET_ENV = "TELEGRAM_WEBHOOK_SECRET"
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class FloodLimiter(AIORateLimiter):
    """PTB's AIORateLimiter (flood limits, 429 retry_after honoured), minus the chat actions,
    and with replicas, a moment reserved on the schedule they share before each message.

    Telegram's limits count messages; queueing "typing…" behind them would only delay replies
    (and a late one is worse than none), so those go straight out. The limits are per bot token,
    so N replicas each keeping them alone could send N times too much: `pacer` (the database's,
    bot/shared_pg.py) counts them all together. If the database cannot be asked, this replica's
    own limiter still applies.
    """

    def __init__(self, telegram: TelegramConfig, pacer: SendPacer | None = None) -> None:
        super().__init__(
            overall_max_rate=telegram.messages_per_second,
            group_max_rate=telegram.group_messages_per_minute,
            max_retries=3,
        )
        self._pacer = pacer

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        chat_id = data.get("chat_id")
        if self._pacer is not None and isinstance(chat_id, int | str):
            try:
                wait = await self._pacer.slot(chat_id)
            except DatabaseUnavailableError:
                wait = 0.0  # PTB's limiter below still paces this replica
            if wait > 0:
                await asyncio.sleep(wait)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


class _StartupFailureFilter(logging.Filter):
    """PTB logs a failed start (bad token, no network) with a long traceback; `run_bot` says
    what went wrong in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "(Bootstrap" not in record.getMessage()


class TokenRedactor(logging.Filter):
    """Replaces the bot token wherever a log record would show it (PTB's debug log prints the
    Bot API URL, which contains it; so may an exception). Installed on the output handlers, it
    covers every library's loggers, tracebacks included."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = record.exc_text.replace(self._token, "<token>")
        return True


def build_application(
    config: AppConfig,
    service: CitebotService,
    token: str,
    *,
    base_url: str | None = None,
    base_file_url: str | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot's Application, ready to initialize and start (polling or webhook)."""
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    state = BotState(config=config, service=service, shared=open_shared_state(config))
    application = (
        Application.builder()
        .token(token)
        .base_url(base_url or config.telegram.base_url)
        .base_file_url(base_file_url or config.telegram.base_file_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .get_updates_request(PollingRequest())
        .rate_limiter(FloodLimiter(config.telegram, state.shared.send_pacer))
        .concurrent_updates(config.telegram.concurrent_updates)
        .context_types(ContextTypes(context=CitebotContext))
        .post_init(start_up)
        .post_shutdown(close_state)
        .build()
    )
    application.bot_data[STATE_KEY] = state
    add_update_gate(application)
    add_handlers(application)
    return application


async def start_up(application: Application) -> None:  # type: ignore[type-arg]
    """Before the first update: report a reindex the last run left unfinished, then show the
    command menus (whose registration tells a test harness the bot is up)."""
    start_renewing(application.bot_data[STATE_KEY])
    await report_interrupted_reindex(application)
    await register_commands(application)


async def close_state(application: Application) -> None:  # type: ignore[type-arg]
    state: BotState = application.bot_data[STATE_KEY]
    state.close()


def run_bot(
    config: AppConfig, service: CitebotService, token: str, webhook_secret: str | None = None
) -> int:
    """Serve Telegram until stopped (long polling, or a webhook when `telegram.mode` says so).

    Returns the exit code. The webhook secret comes from $TELEGRAM_WEBHOOK_SECRET unless given.
    """
    telegram = config.telegram
    secret = ""
    if telegram.mode == "webhook":
        secret = (
            webhook_secret if webhook_secret is not None else os.environ.get(WEBHOOK_SECRET_ENV, "")
        )
        problem = webhook_problem(telegram.webhook_url, secret)
        if problem:
            print(f"citebot: {problem}", file=sys.stderr)
            return 2
    for handler in logging.getLogger().handlers:
        handler.addFilter(TokenRedactor(token))
    application = build_application(config, service, token)
    logging.getLogger("telegram.ext").addFilter(_StartupFailureFilter())
    # python-telegram-bot runs on the current event loop; its stop signals are ours (a stop
    # must first cancel a running build).
    asyncio.set_event_loop(loop := asyncio.new_event_loop())
    install_stop_signals(loop, application.bot_data[STATE_KEY].stopping)
    try:
        if telegram.mode == "webhook" and config.database.url is not None:
            # One of several replicas: the webhook is `citebot webhook set`'s, never touched here.
            run_replica(application, loop, secret)
        elif telegram.mode == "webhook":
            application.run_webhook(
                listen=telegram.webhook_listen,
                port=telegram.webhook_port,
                url_path=telegram.webhook_path,
                webhook_url=telegram.webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                stop_signals=None,
            )
        else:
            application.run_polling(
                allowed_updates=Update.ALL_TYPES,
                timeout=int(telegram.poll_timeout),
                stop_signals=None,
            )
    except InvalidToken:
        print(
            "citebot: Telegram rejected the bot token in $TELEGRAM_BOT_TOKEN "
            "(check it with @BotFather)",
            file=sys.stderr,
        )
        return 2
    except NetworkError as error:
        reason = str(error).replace(token, "<token>")
        print(
            f"citebot: cannot reach the Telegram Bot API at {telegram.base_url} ({reason})",
            file=sys.stderr,
        )
        return 3
    except TelegramError as error:
        reason = str(error).replace(token, "<token>")
        print(f"citebot: Telegram refused to start the bot ({reason})", file=sys.stderr)
        return 1
    return 0


def webhook_problem(webhook_url: str | None, secret: str) -> str | None:
    """Why webhook mode cannot start with these settings, or None."""
    if not secret:
        return (
            f"webhook mode needs ${WEBHOOK_SECRET_ENV} (Telegram's secret-token check); "
            "refusing to start without it"
        )
    if not _SECRET_TOKEN.fullmatch(secret):
        return f"${WEBHOOK_SECRET_ENV} may use only A-Z, a-z, 0-9, _ and - (1–256 characters)"
    if not webhook_url:
        return "webhook mode needs telegram.webhook_url (the public https address Telegram calls)"
    return None
