"""Starting `citebot serve` as a user would: a bad token, no network, webhook mode.

Each story runs the real command in a child process against the emulator on loopback, and
checks what the person starting it reads — and that the token appears nowhere in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.config import AppConfig
from index.service import CitebotService
from tests.bot_fixtures import ADMIN_ID, USER_ID, new_emulator, running_bot
from tests.telegram_emulator import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(config: AppConfig, base_url: str, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "TELEGRAM_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        TELEGRAM_BOT_TOKEN=token,
        CITEBOT_CORPUS__PATH=str(config.corpus.path),
        CITEBOT_INDEX__PATH=str(config.index.path),
        CITEBOT_TELEGRAM__BASE_URL=base_url,
        CITEBOT_TELEGRAM__BASE_FILE_URL=base_url.replace("/bot", "/file/bot"),
        # Defaults plus the settings above, exactly as the session's index was built with.
        CITEBOT_CONFIG=str(config.index.path.parent / "empty-config.yaml"),
    )
    env.update(extra)
    return env


async def start_serve(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def serve(env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    process = await start_serve(env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def emu() -> BotAPIEmulator:
    emulator = new_emulator()
    await emulator.start()
    yield emulator  # type: ignore[misc]
    await emulator.stop()


@pytest.fixture
def built_config(bot_config: AppConfig, bot_service: CitebotService) -> AppConfig:
    """The session's settings, whose index is already built (the child only loads it)."""
    (bot_config.index.path.parent / "empty-config.yaml").write_text("{}\n")
    return bot_config


async def test_a_rejected_token_is_one_clear_line_and_never_shown(
    built_config: AppConfig, emu: BotAPIEmulator
) -> None:
    wrong = "654321:WRONG-secret-token"
    code, out, err = await serve(serve_env(built_config, emu.base_url, wrong))
    assert code != 0
    assert "Telegram rejected the bot token in $TELEGRAM_BOT_TOKEN" in err
    assert len(err.strip().splitlines()) == 1
    assert "WRONG-secret-token" not in out + err
    assert [r.method for r in emu.rejections] == ["getMe"]


async def test_an_unreachable_api_is_one_clear_line(built_config: AppConfig) -> None:
    closed = f"http://127.0.0.1:{free_port()}/bot"
    code, out, err = await serve(serve_env(built_config, closed, "123456:TEST-TOKEN"))
    assert code != 0
    assert err.strip().splitlines() == [
        f"citebot: cannot reach the Telegram Bot API at {closed}"
        " (httpx.ConnectError: All connection attempts failed)"
    ]
    assert "TEST-TOKEN" not in out + err


async def test_webhook_mode_refuses_to_start_without_a_secret(
    built_config: AppConfig, emu: BotAPIEmulator
) -> None:
    env = serve_env(
        built_config, emu.base_url, emu.token,
        CITEBOT_TELEGRAM__MODE="webhook",
        CITEBOT_TELEGRAM__WEBHOOK_URL="https://bot.example.org/telegram",
    )  # fmt: skip
    code, _, err = await serve(env)
    assert code == 2
    assert "webhook mode needs $TELEGRAM_WEBHOOK_SECRET" in err
    assert emu.world.webhook == {}


async def test_webhook_mode_checks_telegrams_secret_token(
    built_config: AppConfig, emu: BotAPIEmulator
) -> None:
    port = free_port()
    env = serve_env(
        built_config, emu.base_url, emu.token,
        CITEBOT_TELEGRAM__MODE="webhook",
        CITEBOT_TELEGRAM__WEBHOOK_URL="https://bot.example.org/telegram",
        CITEBOT_TELEGRAM__WEBHOOK_PORT=str(port),
        TELEGRAM_WEBHOOK_SECRET="s3cret-Token_1",
    )  # fmt: skip
    process = await start_serve(env)
    try:
        await emu.wait_until(lambda: bool(emu.world.webhook.get("url")), timeout=30)
        assert emu.world.webhook["secret_token"] == "s3cret-Token_1"
        message = emu.user_sends(USER_ID, USER_ID, "who will save the ISS?")
        update = json.dumps({"update_id": 1, "message": message})
        url = f"http://127.0.0.1:{port}/telegram"
        headers = {"Content-Type": "application/json"}
        async with aiohttp.ClientSession() as http:
            wrong = {**headers, "X-Telegram-Bot-Api-Secret-Token": "guess"}
            async with http.post(url, data=update, headers=wrong) as response:
                assert response.status == 403
            right = {**headers, "X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            async with http.post(url, data=update, headers=right) as response:
                assert response.status == 200
        reply = await emu.wait_for_reply(USER_ID, after=message, timeout=30)
        assert "[1]" in reply.text
        assert len(emu.messages_in(USER_ID)) == 1  # the forged-secret update was dropped
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert emu.token.split(":")[1] not in stderr.decode()


async def test_an_admin_who_never_wrote_to_the_bot_does_not_stop_it(
    bot_config: AppConfig, bot_service: CitebotService, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = 4242  # an admin id with no private chat: Telegram says "chat not found"
    telegram = bot_config.telegram.model_copy(update={"admins": (ADMIN_ID, stranger)})
    config = bot_config.model_copy(update={"telegram": telegram})
    emulator = new_emulator()
    await emulator.start()
    try:
        async with running_bot(emulator, config, bot_service):
            asked = emulator.user_sends(USER_ID, USER_ID, "who will save the ISS?")
            assert "[1]" in (await emulator.wait_for_reply(USER_ID, after=asked)).text
    finally:
        await emulator.stop()
    assert [(r.method, r.description) for r in emulator.rejections] == [
        ("setMyCommands", "Bad Request: chat not found")
    ]
    assert f"chat:{ADMIN_ID}" in emulator.commands
    assert any(f"admin commands not shown to {stranger}" in r.getMessage() for r in caplog.records)
