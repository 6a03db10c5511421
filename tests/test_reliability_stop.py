"""Stopping `citebot serve` in the middle of a /reindex, as a service manager does: SIGTERM.

The real bot runs in a child process against the Bot API emulator. It must exit within 10 s
(a service manager kills it after 90 s) however long the build had still to go, keep the
vectors it had embedded, tell the admin the reindex was interrupted, tell them again after the
restart, and finish the work with the next /reindex without embedding the saved part again.
"""

from __future__ import annotations

import re
from pathlib import Path

from index.embedder import Embedder
from tests.bot_fixtures import ADMIN_ID, USER_ID
from tests.serve_harness import (
    CHUNK,
    SMALL_PASSAGES,
    BotHome,
    build,
    complete_chunks,
    reindex_until,
    start_bot,
    write_news,
    write_town_notes,
)
from tests.telegram_emulator import BotAPIEmulator, SentMessage

STOP_SECONDS = 10.0  # what the issue asks for; a service manager waits 90 s
# Enough new articles that the build has well over STOP_SECONDS of embedding to go when it is
# stopped: about 400 passages and their sentences.
NEW_FILES = 4
RUNNING_REINDEX = "running-reindex.json"


def text_of(emu: BotAPIEmulator, message: SentMessage) -> str:
    shown = emu.messages_in(message.chat_id)
    return next(m.text for m in shown if m.message_id == message.message_id)


async def test_sigterm_during_a_reindex_stops_the_bot_in_10_s_and_the_next_reindex_resumes(
    tmp_path: Path, core_embedder: Embedder, emu: BotAPIEmulator
) -> None:
    home = BotHome(tmp_path, admins=(ADMIN_ID,), passages=SMALL_PASSAGES, chunk_size=CHUNK)
    write_news(home.corpus)
    before = build(home, core_embedder)
    write_town_notes(home.corpus, files=NEW_FILES)
    env = home.env(emu)
    bot = await start_bot(emu, env, tmp_path / "serve-1.log")

    progress = await reindex_until(
        emu, home.index, lambda: bool(complete_chunks(home.index)), command="/reindex"
    )
    seconds = await bot.stop(timeout=120)
    assert seconds < STOP_SECONDS, f"{seconds:.1f} s to stop"
    assert bot.process.returncode == 0, bot.stderr()
    assert "Traceback" not in bot.stderr()
    assert complete_chunks(home.index), "the vectors embedded before the stop were thrown away"
    stopped = text_of(emu, progress)
    assert stopped.startswith("⏹ Reindex interrupted"), stopped
    assert "/reindex" in stopped

    # After the restart the admin is told again, in a message of its own under the progress.
    bot = await start_bot(emu, env, tmp_path / "serve-2.log")
    (notice,) = [m for m in emu.messages_in(ADMIN_ID) if m.message_id > progress.message_id]
    assert notice.reply_to_message_id == progress.message_id
    assert "interrupted" in notice.text and "/reindex" in notice.text
    assert text_of(emu, progress) == notice.text
    assert not (home.index / RUNNING_REINDEX).exists(), "told once, then forgotten"

    # The next /reindex embeds only what the stopped one had not saved.
    resumed = await reindex_until(emu, home.index, lambda: True, command="/reindex")
    await emu.wait_until(lambda: text_of(emu, resumed).startswith(("✅", "❌")), timeout=180)
    report = text_of(emu, resumed)
    assert report.startswith("✅ Reindex done"), report
    passages, embedded = map(int, re.search(r"Passages: (\d+) \((\d+) newly", report).groups())
    assert 0 < embedded < passages - before.passages
    sent = emu.user_sends(USER_ID, USER_ID, "What did the council of Narva repair?")
    answer = await emu.wait_for_reply(USER_ID, after=sent, timeout=30)
    assert "Town notes" in answer.text
    await bot.stop()
    assert not (home.index / RUNNING_REINDEX).exists()
