"""Admin stories: /reindex with its progress message, files sent from chat, /stats, refusals.

These change the corpus, so they run on a library of their own (its own copy and index).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import AppConfig
from index.service import CitebotService
from tests.bot_fixtures import (
    ADMIN_ID,
    OTHER_USER_ID,
    USER_ID,
    BotHarness,
    bot_story,
    copy_corpus,
    make_config,
)
from tests.telegram_emulator import SentMessage

ISS_QUESTION = "who will save the ISS from an uncontrolled deorbit?"
OCTOPUS_TITLE = "Lisbon aquarium breeds giant Pacific octopus for the first time"
OCTOPUS_QUESTION = "Which aquarium managed to breed the giant Pacific octopus?"
OCTOPUS_ARTICLE = f"""---
title: "{OCTOPUS_TITLE}"
date: 2022-03-06
source: "Test Wire"
---
The Lisbon Oceanarium said on Sunday that its biologists had bred the giant Pacific octopus in
captivity for the first time, after three years of work on water temperature and feeding. The
hatchlings, barely the size of a grain of rice, are kept in cold tanks behind the main exhibit.
The aquarium's director said the octopus eggs were guarded by their mother for six months and
that keepers fed the young ones live shrimp larvae every two hours. Researchers from the
University of Lisbon will study how the young octopuses learn to hunt and hide.
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[AppConfig, CitebotService]:
    root = tmp_path_factory.mktemp("library")
    copy_corpus(root / "corpus")
    config = make_config(root)
    service = CitebotService.from_config(config)
    service.rebuild()
    return config, service


@pytest.fixture
async def admin_bot(library: tuple[AppConfig, CitebotService]) -> AsyncIterator[BotHarness]:
    async with bot_story(*library) as harness:
        yield harness


@pytest.fixture
def corpus(library: tuple[AppConfig, CitebotService]) -> Iterator[Path]:
    """The library's corpus folder; files a test adds are removed and the index rebuilt after."""
    config, service = library
    folder = config.corpus.path
    before = set(folder.iterdir())
    yield folder
    added = set(folder.iterdir()) - before
    for path in added:
        path.unlink()
    if added:
        service.rebuild()


def edited_to(bot: BotHarness, message: SentMessage, prefix: str) -> bool:
    return any(
        e.message_id == message.message_id and e.text is not None and e.text.startswith(prefix)
        for e in bot.emu.edits
    )


async def final_text(bot: BotHarness, progress: SentMessage, timeout: float = 60) -> str:
    """Wait for the progress message to show the outcome (✅ or ❌); return its text."""
    await bot.emu.wait_until(
        lambda: edited_to(bot, progress, "✅") or edited_to(bot, progress, "❌"), timeout
    )
    return next(
        m for m in bot.emu.messages_in(progress.chat_id) if m.message_id == progress.message_id
    ).text


async def test_non_admins_are_refused_politely_and_logged(
    admin_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for command in ("/reindex", "/stats"):
        reply = await admin_bot.ask(USER_ID, USER_ID, command)
        assert reply.text == "Sorry, only citebot's admins can do that."
    refusals = [r.getMessage() for r in caplog.records if "refused for non-admin" in r.getMessage()]
    assert len(refusals) == 2 and str(USER_ID) in refusals[0]


async def test_admin_reindex_reports_changes_and_the_new_article_is_used(
    admin_bot: BotHarness, corpus: Path
) -> None:
    before = await admin_bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)
    assert "found nothing" in before.text
    (corpus / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")
    progress = await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    assert progress.text.startswith("⏳ Reindexing")
    report = await final_text(admin_bot, progress)
    assert report.startswith("✅ Reindex done in")
    assert "Articles: 1 added, 0 changed, 0 removed — 7 in total" in report
    assert "Added: octopus.md" in report
    after = await admin_bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)
    assert OCTOPUS_TITLE in after.text
    again = await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    assert (await final_text(admin_bot, again)).startswith("✅ Index is up to date")


async def test_questions_are_answered_during_a_reindex_and_a_second_one_is_refused(
    admin_bot: BotHarness,
) -> None:
    progress = await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/reindex full")
    question = admin_bot.emu.user_sends(USER_ID, USER_ID, ISS_QUESTION)
    second = await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    assert second.text == "A reindex is already running; try again when it has finished."
    answer = await admin_bot.emu.wait_for_reply(USER_ID, after=question)
    assert "[1]" in answer.text
    report = await final_text(admin_bot, progress)
    assert report.startswith("✅ Reindex done")
    finished = next(e.time for e in admin_bot.emu.edits if e.text and e.text.startswith("✅"))
    assert answer.time < finished, "the question waited for the reindex"
    shown = [e.text or "" for e in admin_bot.emu.edits if e.message_id == progress.message_id]
    assert any("Passages embedded:" in text or "Files scanned:" in text for text in shown)
    assert len(shown) <= 2 + 2 * (finished - progress.time), "edits are throttled to ~1/s"


async def test_a_failed_build_is_reported_and_the_old_index_keeps_serving(
    admin_bot: BotHarness, corpus: Path, library: tuple[AppConfig, CitebotService]
) -> None:
    config, _ = library
    (corpus / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")
    blocker = config.index.path / "staging"
    shutil.rmtree(blocker, ignore_errors=True)
    blocker.write_text("a file where the build wants its staging folder")
    try:
        progress = await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
        report = await final_text(admin_bot, progress)
    finally:
        blocker.unlink()
    assert report.startswith("❌ Reindex failed:")
    assert "previous index keeps answering" in report
    answer = await admin_bot.ask(USER_ID, USER_ID, ISS_QUESTION)
    assert "[1]" in answer.text
    assert "found nothing" in (await admin_bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)).text


async def test_a_build_started_elsewhere_is_reported_as_running(
    admin_bot: BotHarness, library: tuple[AppConfig, CitebotService]
) -> None:
    config, _ = library
    with open(config.index.path / "build.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `citebot index` holds it
        progress = await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
        await admin_bot.emu.wait_until(lambda: edited_to(admin_bot, progress, "A reindex is"))


async def test_an_admin_file_is_checked_saved_and_indexed(
    admin_bot: BotHarness, corpus: Path
) -> None:
    emu = admin_bot.emu
    sent = emu.user_sends_document(ADMIN_ID, ADMIN_ID, "octopus.md", OCTOPUS_ARTICLE.encode())
    saved = await emu.wait_for_reply(ADMIN_ID, after=sent)
    assert saved.text.startswith("Saved octopus.md")
    progress = await emu.wait_for_reply(ADMIN_ID, after=saved.message_id)
    report = await final_text(admin_bot, progress)
    assert "1 added" in report and "octopus.md" in report
    assert (corpus / "octopus.md").read_text(encoding="utf-8") == OCTOPUS_ARTICLE
    assert not [p for p in corpus.iterdir() if p.name.startswith(".")]
    answer = await admin_bot.ask(OTHER_USER_ID, OTHER_USER_ID, OCTOPUS_QUESTION)
    assert OCTOPUS_TITLE in answer.text


@pytest.mark.parametrize(
    ("file_name", "content", "reason"),
    [
        ("../../outside.md", b"some article text", "'..'"),
        (".hidden.md", b"some article text", "hidden"),
        ("slides.pdf", b"%PDF-1.4", "only .txt, .md, .html and .jsonl"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not UTF-8"),
        ("blank.txt", b"  \n\n  ", "empty"),
        ("feed.jsonl", b'{"text": "ok"}\n{oops\n', "line 2"),
        ("huge.txt", b"word " * 1_100_000, "limit"),
    ],
)
async def test_bad_files_are_refused_with_the_reason(
    admin_bot: BotHarness, corpus: Path, file_name: str, content: bytes, reason: str
) -> None:
    before = sorted(p.name for p in corpus.iterdir())
    sent = admin_bot.emu.user_sends_document(ADMIN_ID, ADMIN_ID, file_name, content)
    reply = await admin_bot.emu.wait_for_reply(ADMIN_ID, after=sent)
    assert reply.text.startswith("I can't add that file:")
    assert reason in reply.text
    assert sorted(p.name for p in corpus.iterdir()) == before
    assert not (corpus.parent / "outside.md").exists()


async def test_a_non_admin_file_gets_a_one_line_refusal(
    admin_bot: BotHarness, corpus: Path
) -> None:
    before = sorted(p.name for p in corpus.iterdir())
    sent = admin_bot.emu.user_sends_document(USER_ID, USER_ID, "octopus.md", b"text")
    reply = await admin_bot.emu.wait_for_reply(USER_ID, after=sent)
    assert reply.text == "Sorry, only citebot's admins can add articles."
    await asyncio.sleep(0.3)
    assert len(admin_bot.emu.messages_in(USER_ID)) == 1
    assert sorted(p.name for p in corpus.iterdir()) == before


async def test_admin_stats_show_questions_latency_feedback_and_the_index(
    admin_bot: BotHarness,
) -> None:
    await admin_bot.ask(USER_ID, USER_ID, ISS_QUESTION)
    await admin_bot.ask(USER_ID, USER_ID, "What is a good recipe for lemon cake?")
    stats = (await admin_bot.ask(ADMIN_ID, ADMIN_ID, "/stats")).text
    assert "Questions answered: 2" in stats
    assert "Not found: 1 (50%)" in stats
    assert "Latency: p50 " in stats and " ms, p95 " in stats
    assert "Feedback (all time): 👍" in stats
    assert "Index: 6 articles," in stats and "passages" in stats and "MB" in stats
    assert "Built 20" in stats
