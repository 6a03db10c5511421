"""When the bot's own disk lets it down: it fills up during a /reindex, or the answers database
beside the index (feedback.sqlite3) is damaged.

Each story runs the real `citebot serve` in a child process against the Bot API emulator. The
full disk is real: the index lives on a small tmpfs of the child's own (tests/small_disk.py), so
writes fail with ENOSPC as they would on a full disk. What must hold: a failed build removes
what it wrote, and every question is answered whatever the disk does — with the buttons when
the answer could be recorded for them, without them when it could not.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.feedback import FeedbackStore
from index.embedder import Embedder
from tests.bot_fixtures import ADMIN_ID, USER_ID
from tests.serve_harness import (
    CHUNK,
    SMALL_PASSAGES,
    BotHome,
    ServedBot,
    build,
    start_bot,
    write_news,
    write_town_notes,
)
from tests.small_disk import (
    bytes_used,
    fill_up,
    on_small_disk,
    seen_from_outside,
    small_disk_unavailable,
)
from tests.telegram_emulator import BotAPIEmulator, SentMessage

QUESTIONS = (
    "How many people booked lighthouse tours?",
    "Who won the national chess championship?",
    "What did the frost do to the apples?",
)
# Room beside the index for the answers database and a few answers, far too little for a
# second copy of the index (about 1.3 MB): a /reindex full runs out of space.
ROOM = 512 * 1024
NO_BUTTONS_LINE = "sent without its buttons"


async def ask(emu: BotAPIEmulator, question: str) -> SentMessage:
    sent = emu.user_sends(USER_ID, USER_ID, question)
    return await emu.wait_for_reply(USER_ID, after=sent, timeout=30)


def has_buttons(message: SentMessage) -> bool:
    return bool(message.reply_markup and message.reply_markup.get("inline_keyboard"))


async def assert_answered(emu: BotAPIEmulator, buttons: bool) -> None:
    for question in QUESTIONS:
        reply = await ask(emu, question)
        assert "went wrong" not in reply.text and "[1] “" in reply.text, reply.text
        assert has_buttons(reply) is buttons, reply.reply_markup


async def test_a_reindex_that_fills_the_disk_cleans_up_and_every_question_is_still_answered(
    tmp_path: Path, core_embedder: Embedder, emu: BotAPIEmulator
) -> None:
    unavailable = small_disk_unavailable()
    if unavailable:
        pytest.skip(f"no small disk for this test: {unavailable}")
    home = BotHome(tmp_path, admins=(ADMIN_ID,), passages=SMALL_PASSAGES, chunk_size=CHUNK)
    write_news(home.corpus)
    write_town_notes(home.corpus)
    build(home, core_embedder)
    prepared = tmp_path / "prepared-index"
    home.index.rename(prepared)
    home.index.mkdir()  # where the child mounts its small disk
    disk = on_small_disk(home.index, bytes_used(prepared) + ROOM, prepared)
    bot = await start_bot(emu, home.env(emu), tmp_path / "serve.log", prefix=disk)
    index = seen_from_outside(bot.pid, home.index)
    try:
        assert has_buttons(await ask(emu, QUESTIONS[0]))

        sent = emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
        progress = await emu.wait_for_reply(ADMIN_ID, after=sent, timeout=30)
        await emu.wait_until(lambda: text_of(emu, progress).startswith("❌"), timeout=120)
        failure = text_of(emu, progress)  # numpy reports a short write without the errno
        assert "No space left on device" in failure or "is the disk full?" in failure, failure

        # The failed build took back the space it used: answers, buttons and all, as before.
        await assert_answered(emu, buttons=True)
        assert staged(index) == []
        # A disk full for other reasons: answers still go out, only without their buttons.
        filler = fill_up(index)
        await assert_answered(emu, buttons=False)
        filler.unlink()
        await assert_answered(emu, buttons=True)
    finally:
        await bot.stop()
    assert bot.process.returncode == 0
    assert "Traceback" not in bot.stderr()
    assert bot.stderr().count(NO_BUTTONS_LINE) == len(QUESTIONS), bot.stderr()


def text_of(emu: BotAPIEmulator, message: SentMessage) -> str:
    """A bot message as it reads now (after edits)."""
    shown = emu.messages_in(message.chat_id)
    return next(m.text for m in shown if m.message_id == message.message_id)


def staged(index: Path) -> list[str]:
    staging = index / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


# ------------------------------------------------------------- a damaged answers database


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a database at all\x13" * 400)


def folder(path: Path) -> None:
    path.mkdir()
    (path / "something.txt").write_text("a folder where the database should be")


def damaged_pages(path: Path) -> None:
    """The bot's own database of 200 answers, with every page after the first overwritten."""
    store = FeedbackStore(path)
    for number in range(200):
        store.record_answer(USER_ID, f"question {number} " + "q" * 500, "build", "doc")
    store.close()
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xab" * (len(data) - 4096)
    path.write_bytes(bytes(data))


DAMAGES = {"garbage bytes": garbage, "a folder": folder, "damaged pages": damaged_pages}


@pytest.fixture(scope="module")
def news_index(tmp_path_factory: pytest.TempPathFactory, core_embedder: Embedder) -> BotHome:
    home = BotHome(tmp_path_factory.mktemp("news"), admins=(ADMIN_ID,))
    write_news(home.corpus)
    build(home, core_embedder)
    return home


def snapshot(path: Path) -> bytes | list[str]:
    """A damaged file's bytes, or a folder's file names."""
    return sorted(p.name for p in path.rglob("*")) if path.is_dir() else path.read_bytes()


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_each_kind_of_damage_is_set_aside_and_a_new_database_made(
    tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "feedback.sqlite3"
    damage(database)
    before = snapshot(database)

    store = FeedbackStore(database)

    answer_id = store.record_answer(USER_ID, "Who won the chess final?", "build", "chess-final")
    assert answer_id is not None and store.vote(answer_id, USER_ID, 1)
    assert store.vote_counts() == (1, 0)
    store.close()
    (set_aside,) = tmp_path.glob("feedback.sqlite3.damaged-*")
    assert snapshot(set_aside) == before  # kept as it was, for whoever wants a look
    (warning,) = [r.getMessage() for r in caplog.records if "feedback.sqlite3" in r.getMessage()]
    assert "is damaged" in warning and set_aside.name in warning


async def test_the_bot_starts_on_a_damaged_answers_database_and_answers_with_buttons(
    tmp_path: Path, news_index: BotHome, emu: BotAPIEmulator
) -> None:
    home = BotHome(tmp_path, admins=(ADMIN_ID,))
    shutil.copytree(news_index.corpus, home.corpus)
    shutil.copytree(news_index.index, home.index, symlinks=True)
    garbage(home.index / "feedback.sqlite3")

    bot: ServedBot = await start_bot(emu, home.env(emu), tmp_path / "serve.log")
    try:
        reply = await ask(emu, QUESTIONS[1])
        assert "[1] “" in reply.text and has_buttons(reply)
    finally:
        await bot.stop()
    assert "Traceback" not in bot.stderr()
    (set_aside,) = home.index.glob("feedback.sqlite3.damaged-*")
    (line,) = [line for line in bot.stderr().splitlines() if "feedback.sqlite3" in line]
    assert line.startswith("citebot: ") and set_aside.name in line
