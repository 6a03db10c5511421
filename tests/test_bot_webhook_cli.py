"""`citebot webhook set|info|delete`: the operator sets the webhook once for every replica."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot_fixtures import new_emulator
from tests.serve_harness import run_citebot
from tests.telegram_emulator import BotAPIEmulator

URL = "https://bot.example.org/telegram"
SECRET = "cli-Secret_7"


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    emulator = new_emulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


def cli_env(tmp_path: Path, emu: BotAPIEmulator, **extra: str) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text("{}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "TELEGRAM_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        CITEBOT_CONFIG=str(config),
        CITEBOT_INDEX__PATH=str(tmp_path / "index"),
        CITEBOT_TELEGRAM__BASE_URL=emu.base_url,
        CITEBOT_TELEGRAM__WEBHOOK_URL=URL,
        TELEGRAM_BOT_TOKEN=emu.token,
    )
    env.update(extra)
    return env


async def test_the_webhook_is_set_shown_and_deleted_without_printing_secrets(
    tmp_path: Path, emu: BotAPIEmulator
) -> None:
    env = cli_env(tmp_path, emu, TELEGRAM_WEBHOOK_SECRET=SECRET)
    code, out, err = await run_citebot(env, "webhook", "set", "--max-connections", "12")
    assert code == 0, err
    assert out.strip() == f"webhook set: {URL} (with the secret token, 12 connections at most)"
    assert emu.world.webhook["url"] == URL and emu.world.webhook["secret_token"] == SECRET
    assert emu.world.webhook["max_connections"] == 12
    emu.user_sends(2001, 2001, "a question waiting for delivery")
    code, out, err = await run_citebot(env, "webhook", "info")
    assert code == 0, err
    assert out.splitlines()[:3] == [f"url: {URL}", "pending updates: 1", "max connections: 12"]
    code, out, err = await run_citebot(env, "webhook", "delete")
    assert code == 0, err
    assert emu.world.webhook == {} and emu.world.updates.pending_count == 1
    secret_part = emu.token.split(":")[1]
    assert SECRET not in out + err and secret_part not in out + err
    assert [tuple(r) for r in emu.rejections] == []


async def test_setting_the_webhook_needs_its_secret(tmp_path: Path, emu: BotAPIEmulator) -> None:
    code, _, err = await run_citebot(cli_env(tmp_path, emu), "webhook", "set")
    assert code == 2
    assert "webhook mode needs $TELEGRAM_WEBHOOK_SECRET" in err
    assert emu.world.webhook == {}
