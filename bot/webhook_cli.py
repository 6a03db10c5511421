"""`citebot webhook set|delete|info`: Telegram's webhook, managed once for all replicas.

Replicas (webhook mode with database.url) never set or delete the webhook themselves, so one
starting or stopping cannot undo it for the others. The token comes from $TELEGRAM_BOT_TOKEN
and the secret from $TELEGRAM_WEBHOOK_SECRET; neither is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from telegram import Bot, Update, WebhookInfo
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import WEBHOOK_SECRET_ENV, webhook_problem
from bot.config import AppConfig
from index.service import CitebotService

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
# Telegram's default; each connection is one update being handled by some replica.
DEFAULT_MAX_CONNECTIONS = 40


def add_webhook_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    webhook = commands.add_parser(
        "webhook", help="set, delete or show Telegram's webhook (once, for every replica)"
    )
    webhook.add_argument("action", choices=("set", "delete", "info"))
    webhook.add_argument(
        "--drop-pending", action="store_true", help="set/delete: drop the updates waiting"
    )
    webhook.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"set: updates Telegram sends at once, 1-100 (default {DEFAULT_MAX_CONNECTIONS})",
    )
    webhook.set_defaults(handler=run_webhook_command)


def run_webhook_command(
    args: argparse.Namespace, config: AppConfig, service: CitebotService
) -> int:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"citebot: webhook needs ${TOKEN_ENV}", file=sys.stderr)
        return 2
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if args.action == "set":
        problem = webhook_problem(config.telegram.webhook_url, secret)
        if problem:
            print(f"citebot: {problem}", file=sys.stderr)
            return 2
        if not 1 <= args.max_connections <= 100:
            print("citebot: --max-connections must be between 1 and 100", file=sys.stderr)
            return 2
    try:
        text = asyncio.run(_carry_out(args, config, token, secret))
    except InvalidToken:
        print(f"citebot: Telegram rejected the bot token in ${TOKEN_ENV}", file=sys.stderr)
        return 2
    except NetworkError as error:
        reason = str(error).replace(token, "<token>")
        where = config.telegram.base_url
        print(f"citebot: cannot reach the Telegram Bot API at {where} ({reason})", file=sys.stderr)
        return 3
    except TelegramError as error:
        reason = str(error).replace(token, "<token>").replace(secret or token, "<secret>")
        print(f"citebot: Telegram refused ({reason})", file=sys.stderr)
        return 1
    print(text)
    return 0


async def _carry_out(args: argparse.Namespace, config: AppConfig, token: str, secret: str) -> str:
    telegram = config.telegram
    async with Bot(token, base_url=telegram.base_url) as bot:
        if args.action == "set":
            await bot.set_webhook(
                url=str(telegram.webhook_url),
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                max_connections=args.max_connections,
                drop_pending_updates=args.drop_pending,
            )
            return (
                f"webhook set: {telegram.webhook_url} (with the secret token, "
                f"{args.max_connections} connections at most)"
            )
        if args.action == "delete":
            await bot.delete_webhook(drop_pending_updates=args.drop_pending)
            return "webhook deleted (updates wait for long polling now)"
        return describe(await bot.get_webhook_info())


def describe(info: WebhookInfo) -> str:
    """getWebhookInfo as lines of `name: value` (Telegram never returns the secret)."""
    lines = [f"url: {info.url or '(none: long polling)'}"]
    lines.append(f"pending updates: {info.pending_update_count}")
    if info.max_connections:
        lines.append(f"max connections: {info.max_connections}")
    if info.allowed_updates:
        lines.append(f"allowed updates: {', '.join(info.allowed_updates)}")
    if info.ip_address:
        lines.append(f"ip address: {info.ip_address}")
    if info.last_error_date:
        lines.append(f"last error: {info.last_error_date:%Y-%m-%d %H:%M:%S} UTC")
        lines.append(f"last error message: {info.last_error_message}")
    return "\n".join(lines)
