"""Bot API methods about the bot itself: identity, updates, webhook, commands, profile texts."""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError
from .params import Params
from .state import World
from .updates import DEFAULT_UPDATE_TYPES

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_SCOPES_WITH_CHAT = {"chat", "chat_administrators", "chat_member"}
_SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}


def get_me(world: World, p: Params) -> dict[str, Any]:
    """getMe, with the capability flags PTB reads."""
    return {
        **world.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": not world.privacy_mode,
        "supports_inline_queries": True,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def get_updates(world: World, p: Params) -> list[dict[str, Any]]:
    """getUpdates long polling."""
    if world.webhook.get("url"):
        raise ApiError(409, WEBHOOK_CONFLICT)
    limit = min(max(p.integer("limit", 100) or 100, 1), 100)
    timeout = max(p.number("timeout", 0.0), 0.0)
    allowed = p.nested("allowed_updates")
    if allowed is not None and not isinstance(allowed, list):
        raise ApiError.bad_request("can't parse allowed_updates JSON object")
    return await world.updates.get_updates(p.integer("offset"), limit, timeout, allowed)


def set_webhook(world: World, p: Params) -> bool:
    """setWebhook: updates are then POSTed to it (webhook.py), once a test routes it."""
    url = p.string("url") or ""
    if url and not url.startswith("https://"):
        raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if p.flag("drop_pending_updates"):
        world.updates.drop_pending()
    allowed = p.nested("allowed_updates")
    if isinstance(allowed, list):
        world.updates.allowed = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
    world.webhook = {
        "url": url,
        "secret_token": p.string("secret_token"),
        "max_connections": p.integer("max_connections", 40),
        "allowed_updates": p.nested("allowed_updates"),
    }
    return True


def delete_webhook(world: World, p: Params) -> bool:
    """deleteWebhook, optionally dropping pending updates."""
    if p.flag("drop_pending_updates"):
        world.updates.drop_pending()
    world.webhook = {}
    return True


def get_webhook_info(world: World, p: Params) -> dict[str, Any]:
    """getWebhookInfo."""
    info: dict[str, Any] = {
        "url": world.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": world.updates.pending_count,
    }
    if info["url"]:
        info["max_connections"] = world.webhook["max_connections"]
        if world.webhook.get("allowed_updates"):
            info["allowed_updates"] = world.webhook["allowed_updates"]
    return info


def accept(world: World, p: Params) -> bool:
    """Methods that only need to succeed: logOut, close, profile texts, menu button."""
    return True


def scope_key(world: World, scope: Any, language_code: str | None) -> str:
    """Where setMyCommands stores a list: "default", "chat:<id>", "chat_member:<id>:<user>",
    with "@<language>" appended when a language_code was given."""
    if scope is None:
        scope = {"type": "default"}
    kind = scope.get("type") if isinstance(scope, dict) else None
    if kind in _SCOPES:
        key = str(kind)
    elif kind in _SCOPES_WITH_CHAT:
        chat = world.find_chat(scope.get("chat_id", ""))
        if chat is None:
            raise ApiError.bad_request("chat not found")
        key = f"{kind}:{chat.id}"
        if kind == "chat_member":
            key += f":{int(scope.get('user_id', 0))}"
    else:
        raise ApiError.bad_request("can't parse BotCommandScope JSON object")
    return f"{key}@{language_code}" if language_code else key


def set_my_commands(world: World, p: Params) -> bool:
    """setMyCommands, validating each command like Telegram."""
    commands = p.nested("commands")
    if not isinstance(commands, list):
        raise ApiError.bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise ApiError.bad_request("too many commands specified")
    for command in commands:
        name = command.get("command") if isinstance(command, dict) else None
        description = command.get("description") if isinstance(command, dict) else None
        if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = scope_key(world, p.nested("scope"), p.string("language_code"))
    world.commands[key] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    world.records.notify()
    return True


def delete_my_commands(world: World, p: Params) -> bool:
    """deleteMyCommands."""
    world.commands.pop(scope_key(world, p.nested("scope"), p.string("language_code")), None)
    world.records.notify()
    return True


def get_my_commands(world: World, p: Params) -> list[dict[str, Any]]:
    """getMyCommands for exactly the given scope and language."""
    key = scope_key(world, p.nested("scope"), p.string("language_code"))
    return list(world.commands.get(key, []))


HANDLERS = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "logout": accept,
    "close": accept,
    "setmycommands": set_my_commands,
    "deletemycommands": delete_my_commands,
    "getmycommands": get_my_commands,
    "setmydescription": accept,
    "setmyshortdescription": accept,
    "setmyname": accept,
    "setchatmenubutton": accept,
}
