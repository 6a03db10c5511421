"""Fixtures for the bot's stories: one real index per session, the real Application per test.

The service is built once from a temporary copy of corpus/ (the real model, the real index);
each test gets a fresh Bot API emulator on loopback and the bot's own Application polling it,
and ends by checking that Telegram (the emulator) refused nothing the bot sent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import AppConfig, TelegramConfig
from index.config import CorpusConfig, IndexConfig
from index.service import CitebotService
from tests.telegram_emulator import BotAPIEmulator, SentMessage

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ADMIN_ID = 1001
USER_ID = 2001
OTHER_USER_ID = 2002


LONG_ARTICLE_TITLE = "Vostochny cosmodrome: a year of construction, pad by pad"
LONG_ARTICLE_QUESTION = "How is construction going at the Vostochny cosmodrome launch pads?"


def copy_corpus(target: Path) -> Path:
    """The five seed articles (not the README) plus one long article, in a folder of their own.

    The long one (about 9,000 characters, on a topic of its own) is there so that "Article"
    has more than one page to turn.
    """
    target.mkdir(parents=True)
    for article in CORPUS.glob("*.md"):
        if article.name.lower() != "readme.md":
            shutil.copy(article, target / article.name)
    (target / "vostochny-construction-report.md").write_text(long_article(), encoding="utf-8")
    return target


def long_article() -> str:
    paragraphs = [
        f"Work on launch pad {n} at the Vostochny cosmodrome in the Amur region continued through "
        f"the winter, the construction company said. Crews poured {n * 120} cubic metres of "
        f"concrete for the pad's flame trench and installed {n + 3} of the planned service "
        f"towers. Engineers said the cold, which reached minus {30 + n} degrees, slowed the "
        f"welding of the fuel lines but did not stop it. Inspectors from the state commission "
        f"visited pad {n} in the spring and asked for changes to the drainage system."
        for n in range(1, 17)
    ]
    front = f'---\ntitle: "{LONG_ARTICLE_TITLE}"\ndate: 2022-03-05\nsource: "Test Wire"\n---\n'
    return front + "\n\n".join(paragraphs) + "\n"


def make_config(root: Path, **telegram: Any) -> AppConfig:
    """Settings for a bot over the corpus and index under `root`."""
    # typing_after_seconds=0: every answer shows "typing…", so stories can see it.
    settings: dict[str, Any] = {
        "admins": (ADMIN_ID,),
        "user_questions_per_minute": 30,
        "typing_after_seconds": 0,
    }
    settings.update(telegram)
    return AppConfig(
        corpus=CorpusConfig(path=root / "corpus"),
        index=IndexConfig(path=root / "index"),
        telegram=TelegramConfig(**settings),
    )


@pytest.fixture(scope="session")
def bot_config(tmp_path_factory: pytest.TempPathFactory) -> AppConfig:
    root = tmp_path_factory.mktemp("citebot")
    copy_corpus(root / "corpus")
    return make_config(root)


@pytest.fixture(scope="session")
def bot_service(bot_config: AppConfig) -> CitebotService:
    """The real answer service over the seed articles, built once for the whole session."""
    service = CitebotService.from_config(bot_config)
    service.rebuild()
    return service


@dataclass
class BotHarness:
    """What a bot story holds: the emulated Telegram, the running bot and its settings."""

    emu: BotAPIEmulator
    app: Application  # type: ignore[type-arg]
    config: AppConfig
    service: CitebotService

    async def ask(
        self, chat_id: int, user_id: int, text: str, timeout: float = 15, **kwargs: Any
    ) -> SentMessage:
        """A user writes; returns the bot's first message after it."""
        sent = self.emu.user_sends(chat_id, user_id, text, **kwargs)
        return await self.emu.wait_for_reply(chat_id, after=sent, timeout=timeout)


def new_emulator() -> BotAPIEmulator:
    """An emulator with the cast every story uses: an admin and two users, in private chats."""
    emu = BotAPIEmulator()
    for user_id, name in ((ADMIN_ID, "Ada"), (USER_ID, "Bob"), (OTHER_USER_ID, "Cyd")):
        emu.add_user(user_id, name, name.lower())
        emu.add_private_chat(user_id)
    return emu


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    """A started `new_emulator()`; the test fails if the bot made a request Telegram rejects.
    (Modules with a cast of their own define their own `emu`.)"""
    emulator = new_emulator()
    await emulator.start()
    yield emulator
    await emulator.stop()
    assert [tuple(r) for r in emulator.rejections] == []


@asynccontextmanager
async def running_bot(
    emu: BotAPIEmulator, config: AppConfig, service: CitebotService
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The bot's real Application, started and long-polling the emulator, as `run_bot` does."""
    app = build_application(
        config, service, emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


@asynccontextmanager
async def bot_story(config: AppConfig, service: CitebotService) -> AsyncIterator[BotHarness]:
    """An emulator and the bot running against it; on leaving, nothing may have been refused."""
    emu = new_emulator()
    await emu.start()
    try:
        async with running_bot(emu, config, service) as app:
            yield BotHarness(emu, app, config, service)
        assert [tuple(r) for r in emu.rejections] == []
    finally:
        await emu.stop()


@pytest.fixture
async def bot(bot_config: AppConfig, bot_service: CitebotService) -> AsyncIterator[BotHarness]:
    """The running bot over the shared session index."""
    async with bot_story(bot_config, bot_service) as harness:
        yield harness
