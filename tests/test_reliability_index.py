"""When the index is hurt: the bot killed with kill -9 in the middle of /reindex, a disk that
fills up during a build, and an index damaged on disk when `citebot serve` starts.

Each story runs the real `citebot` in a child process, and checks what people would see: the
index that was serving answers exactly as before, the next build completes and leaves no
staging folders behind, an operator reads one clear line — and nothing half-written is loaded.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from index.answering import answer_question
from index.embedder import Embedder
from index.retriever import LoadedIndex
from index.store import IndexLayout, JsonlTable, file_digest, read_manifest
from tests.bot_fixtures import ADMIN_ID, USER_ID
from tests.index_fixtures import NEWS_ARTICLES
from tests.serve_harness import (
    CHUNK,
    SMALL_PASSAGES,
    BotHome,
    build,
    complete_chunks,
    reindex_until,
    run_citebot,
    saved_chunks,
    start_bot,
    start_citebot,
    write_news,
    write_town_notes,
)
from tests.telegram_emulator import BotAPIEmulator, SentMessage

QUESTIONS = (
    "How many people booked lighthouse tours?",
    "Who won the national chess championship?",
    "What did the frost do to the apples?",
    "What is a good recipe for lemon cake?",
)
STDERR_PREFIX = "citebot: "


def answers(home: BotHome, embedder: Embedder) -> list[str]:
    """What the published index answers to QUESTIONS, as comparable JSON."""
    config = home.config()
    index = LoadedIndex.open_current(config.index)
    return [
        json.dumps(answer_question(q, index, embedder, config.retrieval, config.answer).to_json())
        for q in QUESTIONS
    ]


def error_lines(stderr: str) -> list[str]:
    """What citebot itself said (progress bars aside)."""
    return [line for line in stderr.splitlines() if line.startswith(STDERR_PREFIX)]


def no_staging_left(index_dir: Path) -> bool:
    staging = IndexLayout(index_dir).staging
    leftovers = list(staging.iterdir()) if staging.exists() else []
    return leftovers == [] and list(index_dir.glob(".current-*")) == []


# ------------------------------------------------------------------------------- a full disk


def file_size_limit(limit: int) -> Callable[[], None]:
    """In the child: writes past `limit` bytes fail with EFBIG, as on a disk that is full."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


async def test_a_disk_that_fills_up_during_a_build_leaves_the_old_index_serving(
    tmp_path: Path, core_embedder: Embedder
) -> None:
    home = BotHome(tmp_path)
    write_news(home.corpus)
    build(home, core_embedder)
    serving = IndexLayout(home.index).current_build()
    before = answers(home, core_embedder)

    env = home.env()
    code, _, err = await run_citebot(env, "index", "--full", preexec_fn=file_size_limit(16_000))

    assert code == 4, err
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert line.startswith("citebot: the build failed and the previous index keeps serving: ")
    assert "File too large" in line or "is the disk full?" in line
    assert IndexLayout(home.index).current_build() == serving
    assert no_staging_left(home.index), "the failed build left what it wrote on the full disk"
    assert answers(home, core_embedder) == before
    # With room again, the next build completes and tidies up after the failed one.
    report = build(home, core_embedder, full=True)
    assert report.articles == len(NEWS_ARTICLES)
    assert IndexLayout(home.index).current_build() != serving
    assert no_staging_left(home.index)
    assert answers(home, core_embedder) == before


# ----------------------------------------------------------------------- kill -9 mid-/reindex


async def ask_each(emu: BotAPIEmulator) -> list[str]:
    """USER_ID asks every question in turn; returns the reply texts."""
    texts = []
    for question in QUESTIONS:
        sent = emu.user_sends(USER_ID, USER_ID, question)
        texts.append((await emu.wait_for_reply(USER_ID, after=sent, timeout=30)).text)
    return texts


def chunks_saved_by(index_dir: Path) -> Callable[[], bool]:
    return lambda: bool(complete_chunks(index_dir))


def assert_told_of_interruption(emu: BotAPIEmulator, progress: SentMessage) -> None:
    """After a restart: the killed reindex's progress message says it was interrupted, and so
    does a message under it."""
    shown = {m.message_id: m for m in emu.messages_in(ADMIN_ID)}
    assert shown[progress.message_id].text.startswith("⏹ Reindex interrupted")
    notice = emu.messages_in(ADMIN_ID)[-1]
    assert notice.reply_to_message_id == progress.message_id
    assert notice.text == shown[progress.message_id].text


def newly_embedded(report: str) -> int:
    found = re.search(r"\((\d+) newly embedded\)", report)
    assert found, report
    return int(found.group(1))


def town_note_passages(layout: IndexLayout) -> int:
    build_dir = layout.current_build()
    assert build_dir is not None
    sources = read_manifest(build_dir).sources
    return sum(info["passages"] for name, info in sources.items() if name.startswith("town"))


async def test_the_bot_killed_during_a_reindex_comes_back_on_the_old_index_and_resumes(
    tmp_path: Path, core_embedder: Embedder, emu: BotAPIEmulator
) -> None:
    home = BotHome(tmp_path, admins=(ADMIN_ID,), passages=SMALL_PASSAGES, chunk_size=CHUNK)
    write_news(home.corpus)
    write_town_notes(home.corpus)
    build(home, core_embedder)
    write_town_notes(home.corpus, revision=1)  # both notes to embed again at the next /reindex
    layout = IndexLayout(home.index)
    serving = layout.current_build()
    env = home.env(emu)
    bot = await start_bot(emu, env, tmp_path / "serve-1.log")
    before = await ask_each(emu)

    # Killed once while embedding the first chunk, once after the resumed build saved more.
    progress = await reindex_until(emu, home.index, chunks_saved_by(home.index), "/reindex")
    await bot.kill()
    first = saved_chunks(home.index)
    bot = await start_bot(emu, env, tmp_path / "serve-2.log")
    assert_told_of_interruption(emu, progress)
    assert await ask_each(emu) == before
    progress = await reindex_until(
        emu, home.index, lambda: len(saved_chunks(home.index)) > len(first), "/reindex"
    )
    await bot.kill()
    second = saved_chunks(home.index)
    assert first < second

    bot = await start_bot(emu, env, tmp_path / "serve-3.log")
    assert_told_of_interruption(emu, progress)
    admin_messages = len(emu.messages_in(ADMIN_ID))
    assert await ask_each(emu) == before
    assert layout.current_build() == serving
    assert len(emu.messages_in(ADMIN_ID)) == admin_messages, "a killed /reindex came back"
    progress = await reindex_until(emu, home.index, lambda: True, "/reindex")
    await emu.wait_until(lambda: emu.messages_in(ADMIN_ID)[-1].text.startswith("✅"), timeout=60)
    report = next(m for m in emu.messages_in(ADMIN_ID) if m.message_id == progress.message_id)
    assert report.text.startswith("✅ Reindex done"), report.text
    assert layout.current_build() != serving
    assert 0 < newly_embedded(report.text) < town_note_passages(layout), "not resumed"
    assert no_staging_left(home.index)
    assert await ask_each(emu) == before  # the same articles, embedded again
    await bot.stop()


async def test_a_full_build_embeds_everything_again_whatever_a_killed_build_had_saved(
    tmp_path: Path, core_embedder: Embedder
) -> None:
    home = BotHome(tmp_path, passages=SMALL_PASSAGES, chunk_size=CHUNK)
    write_news(home.corpus)
    write_town_notes(home.corpus)
    process = await start_citebot(home.env(), "index", "--full")
    for _ in range(6000):  # 60 s
        if complete_chunks(home.index) or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    process.kill()
    await process.wait()
    assert complete_chunks(home.index)

    report = build(home, core_embedder, full=True)

    assert report.passages_embedded == report.passages  # --full trusts nothing left behind
    assert no_staging_left(home.index)


# ------------------------------------------------------------------- a damaged index at start


def truncate_faiss(build_dir: Path) -> None:
    data = (build_dir / "dense.faiss").read_bytes()
    (build_dir / "dense.faiss").write_bytes(data[: len(data) // 2])


def remove_bm25(build_dir: Path) -> None:
    shutil.rmtree(build_dir / "bm25")


def passages_not_matching_vectors(build_dir: Path) -> None:
    """One passage fewer than there are vectors, with a manifest stamped to match the files —
    so only the cross-check of the files against each other can catch it."""
    records = list(JsonlTable(build_dir / "passages.jsonl"))
    JsonlTable.write(build_dir / "passages.jsonl", records[:-1])
    manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    for name in ("passages.jsonl", "passages.offsets.npy"):
        path = build_dir / name
        manifest["files"][name] = {"bytes": path.stat().st_size, "sha256": file_digest(path)}
    (build_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


DAMAGES = {
    "truncated dense.faiss": (truncate_faiss, "dense.faiss is truncated"),
    "bm25 files missing": (remove_bm25, "the index is missing bm25/"),
    "passages not matching the vectors": (passages_not_matching_vectors, "do not match"),
}


@pytest.fixture(scope="module")
def healthy_index(tmp_path_factory: pytest.TempPathFactory, core_embedder: Embedder) -> BotHome:
    home = BotHome(tmp_path_factory.mktemp("healthy"), admins=(ADMIN_ID,))
    write_news(home.corpus)
    build(home, core_embedder)
    return home


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
async def test_serve_rebuilds_a_damaged_index_says_so_in_one_line_and_answers(
    tmp_path: Path,
    healthy_index: BotHome,
    emu: BotAPIEmulator,
    damage: tuple[Callable[[Path], None], str],
) -> None:
    home = BotHome(tmp_path, admins=(ADMIN_ID,))
    shutil.copytree(healthy_index.corpus, home.corpus)
    shutil.copytree(healthy_index.index, home.index, symlinks=True)
    damaged = IndexLayout(home.index).current_build()
    assert damaged is not None
    damage_files, reason = damage
    damage_files(damaged)

    bot = await start_bot(emu, home.env(emu), tmp_path / "serve.log")
    try:
        sent = emu.user_sends(USER_ID, USER_ID, QUESTIONS[0])
        reply = await emu.wait_for_reply(USER_ID, after=sent, timeout=30)
    finally:
        await bot.stop()
    (line,) = error_lines(bot.stderr())
    assert reason in line and line.endswith("rebuilding it now…"), line
    assert "Traceback" not in bot.stderr()
    assert "[1] “" in reply.text and "Harbour lighthouse reopens" in reply.text
    assert IndexLayout(home.index).current_build() != damaged
    assert no_staging_left(home.index)
