"""One build at a time: two /reindex at once, /reindex during an admin's upload, and the bot and
`citebot index` working on the same index directory.

Whoever comes second is told a reindex is already running, and the first build completes. A
build published by `citebot index` while the bot runs is served by the bot within about two
seconds, without a restart. Where a story needs a build caught in the middle, it pauses the
building process (SIGSTOP) instead of hoping the build is slow enough.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from bot.formatting.notices import ALREADY_RUNNING
from index.embedder import Embedder
from index.service import CitebotService
from index.store import IndexLayout
from tests.bot_fixtures import ADMIN_ID, USER_ID, BotHarness, new_emulator
from tests.serve_harness import (
    CHUNK,
    SMALL_PASSAGES,
    BotHome,
    build,
    reindex_until,
    saved_chunks,
    start_bot,
    start_citebot,
    write_news,
    write_town_notes,
)
from tests.telegram_emulator import BotAPIEmulator, SentMessage
from tests.test_bot_admin import OCTOPUS_ARTICLE, OCTOPUS_QUESTION, OCTOPUS_TITLE

RELOAD_WITHIN_SECONDS = CitebotService.RELOAD_CHECK_SECONDS + 2.0  # loading and answering, 2 cores


def current_text(emu: BotAPIEmulator, message: SentMessage) -> str:
    """A bot message as it reads now (after its edits)."""
    return next(
        m.text for m in emu.messages_in(message.chat_id) if m.message_id == message.message_id
    )


async def reply_to(emu: BotAPIEmulator, message: dict[str, Any]) -> SentMessage:
    """The bot's reply to this message (threaded to it), once it is there."""

    def found() -> list[SentMessage]:
        return [m for m in emu.sent if m.reply_to_message_id == message["message_id"]
                and m.chat_id == message["chat"]["id"]]  # fmt: skip

    await emu.wait_until(lambda: bool(found()), timeout=30)
    return found()[0]


async def outcome(emu: BotAPIEmulator, progress: SentMessage, timeout: float = 60) -> str:
    """Wait until a progress message shows how its build ended; return that text."""
    await emu.wait_until(
        lambda: current_text(emu, progress).startswith(("✅", "❌", "A reindex")), timeout
    )
    return current_text(emu, progress)


async def test_two_reindexes_at_once_run_one_build(library_bot: BotHarness) -> None:
    bot = library_bot
    first = bot.emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
    second = bot.emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
    progress = await reply_to(bot.emu, first)
    refusal = await reply_to(bot.emu, second)
    assert progress.text.startswith("⏳ Reindexing")
    assert refusal.text == ALREADY_RUNNING
    assert (await outcome(bot.emu, progress)).startswith("✅ Reindex done")
    assert len(bot.emu.messages_in(ADMIN_ID)) == 2


async def test_a_reindex_during_an_upload_waits_its_turn(library_bot: BotHarness) -> None:
    bot = library_bot
    emu = bot.emu
    sent = emu.user_sends_document(ADMIN_ID, ADMIN_ID, "octopus.md", OCTOPUS_ARTICLE.encode())
    saved = await emu.wait_for_reply(ADMIN_ID, after=sent)
    assert saved.text.startswith("Saved octopus.md")
    refusal = await reply_to(emu, emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex"))
    assert refusal.text == ALREADY_RUNNING
    progress = next(m for m in emu.messages_in(ADMIN_ID) if m.text.startswith("⏳"))
    report = await outcome(emu, progress)
    assert report.startswith("✅ Reindex done") and "Added: octopus.md" in report
    assert OCTOPUS_TITLE in (await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)).text


def lock_holder(index_dir: Path) -> int | None:
    """The pid the build lock file names (the last process that took the lock)."""
    try:
        return int((index_dir / "build.lock").read_text() or 0) or None
    except FileNotFoundError:
        return None


async def test_the_bot_and_citebot_index_take_turns_and_the_bot_serves_the_cli_build(
    tmp_path: Path, core_embedder: Embedder
) -> None:
    home = BotHome(tmp_path, admins=(ADMIN_ID,), passages=SMALL_PASSAGES, chunk_size=CHUNK)
    write_news(home.corpus)
    write_town_notes(home.corpus)
    build(home, core_embedder)
    emu = new_emulator()
    await emu.start()
    env = home.env(emu, CITEBOT_TELEGRAM__USER_QUESTIONS_PER_MINUTE="1000")
    bot = await start_bot(emu, env, tmp_path / "serve.log")
    try:
        # The bot is building (paused in the middle): `citebot index` is told and exits 4.
        # The bot builds in a worker process of its own: that is the one to pause.
        progress = await reindex_until(emu, home.index, lambda: bool(saved_chunks(home.index)))
        worker = lock_holder(home.index)
        assert worker is not None and worker != bot.pid
        os.kill(worker, signal.SIGSTOP)
        try:
            cli = await start_citebot(home.env(), "index")
            _, err = await asyncio.wait_for(cli.communicate(), 60)
        finally:
            os.kill(worker, signal.SIGCONT)
        assert cli.returncode == 4
        assert err.decode().strip().splitlines()[-1] == (
            "citebot: another build of this index is already running"
        )
        assert (await outcome(emu, progress)).startswith("✅ Reindex done")

        # `citebot index` is building (paused in the middle): the admin's /reindex is told.
        (home.corpus / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")
        cli = await start_citebot(home.env(), "index")
        await emu.wait_until(lambda: lock_holder(home.index) == cli.pid, timeout=60)
        os.kill(cli.pid, signal.SIGSTOP)
        try:
            refused = await reindex_until(emu, home.index, lambda: True, command="/reindex")
            assert await outcome(emu, refused) == ALREADY_RUNNING
        finally:
            os.kill(cli.pid, signal.SIGCONT)
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        published = time.monotonic()
        assert cli.returncode == 0, err.decode()
        assert "added: octopus.md" in out.decode()

        # The bot serves the build `citebot index` published, without a restart.
        seen = ""
        while OCTOPUS_TITLE not in seen and time.monotonic() - published < 10:
            seen = (await bot_ask(emu, OCTOPUS_QUESTION)).text
            await asyncio.sleep(0.1)
        assert OCTOPUS_TITLE in seen
        assert time.monotonic() - published < RELOAD_WITHIN_SECONDS
        assert IndexLayout(home.index).current_build() is not None
    finally:
        await bot.stop()
        await emu.stop()
    assert [tuple(r) for r in emu.rejections] == []


async def bot_ask(emu: BotAPIEmulator, question: str) -> SentMessage:
    sent = emu.user_sends(USER_ID, USER_ID, question)
    return await emu.wait_for_reply(USER_ID, after=sent, timeout=30)
