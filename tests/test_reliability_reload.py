"""A new build comes into service without holding up answers, and is built outside the bot.

Loading a published build (every file checksummed: about 8 s at 1M passages) runs on a thread of
its own: a question asked while it loads is answered from the build serving, and the next ones
from the new build. A build that cannot be loaded is logged once and the old one keeps serving.
A /reindex builds in a worker process: the bot's own process never takes the build lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from index.builder import build_index
from index.embedder import Embedder
from index.errors import IndexMismatchError
from index.service import CitebotService
from index.store import IndexLayout
from tests.bot_fixtures import ADMIN_ID, USER_ID, BotHarness
from tests.serve_harness import BotHome, build, write_news
from tests.test_bot_admin import OCTOPUS_ARTICLE, OCTOPUS_QUESTION, OCTOPUS_TITLE, final_text
from tests.test_reliability_concurrency import lock_holder

NOTHING_FOUND = "found nothing"


# Past the interval after which the service looks for a newer build again.
CHECK_INTERVAL = CitebotService.RELOAD_CHECK_SECONDS + 0.1


async def test_a_question_asked_while_a_build_loads_is_answered_from_the_serving_one(
    library_bot: BotHarness, core_embedder: Embedder
) -> None:
    bot = library_bot
    assert NOTHING_FOUND in (await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)).text
    serving = bot.service.live().build_id
    config = bot.config
    (config.corpus.path / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")
    # Published beside the bot, as `citebot index` publishes it.
    published = await asyncio.to_thread(
        build_index, config.corpus, config.passages, config.index, lambda: core_embedder
    )
    await asyncio.sleep(CHECK_INTERVAL)

    # This question is the one that notices the new build: it is answered at once, from the
    # build serving, and the new build loads meanwhile (a load in the answering path would
    # have answered it from the new build, after the load).
    during = await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)
    assert NOTHING_FOUND in during.text, during.text
    await bot.emu.wait_until(lambda: bot.service.live().build_id == published.build_id, 30)
    after = await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)
    assert OCTOPUS_TITLE in after.text
    assert serving != published.build_id


def test_a_build_that_cannot_be_loaded_is_logged_once_and_the_old_one_keeps_serving(
    tmp_path: Path, core_embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    home = BotHome(tmp_path)
    write_news(home.corpus)
    build(home, core_embedder)
    config = home.config()
    service = CitebotService.from_config(config)
    service.load()
    serving = service.live().build_id
    (home.corpus / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")
    damaged = build(home, core_embedder)
    passages = IndexLayout(home.index).builds / damaged.build_id / "passages.jsonl"
    data = bytearray(passages.read_bytes())
    data[10] ^= 0xFF  # same size, another checksum: only the sha256 check can tell
    passages.write_bytes(bytes(data))
    caplog.set_level(logging.INFO)

    for _ in range(3):  # three checks for a newer build, each after the interval
        time.sleep(CHECK_INTERVAL)
        answer = service.answer(OCTOPUS_QUESTION)
        assert not answer.found
        deadline = time.monotonic() + 30
        while service.loading_build is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert service.live().build_id == serving
    failures = [r for r in caplog.records if "cannot load build" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].levelno == logging.ERROR
    assert damaged.build_id in failures[0].getMessage()
    assert "damaged (checksum)" in failures[0].getMessage()
    with pytest.raises(IndexMismatchError, match="damaged"):
        service.use_build(damaged.build_id, timeout=30)
    assert service.live().build_id == serving


async def test_a_reindex_builds_in_a_process_of_its_own(library_bot: BotHarness) -> None:
    bot = library_bot
    index = bot.config.index.path
    assert lock_holder(index) == os.getpid()  # the fixture built the library in this process
    (bot.config.corpus.path / "octopus.md").write_text(OCTOPUS_ARTICLE, encoding="utf-8")
    progress = await bot.ask(ADMIN_ID, ADMIN_ID, "/reindex")
    report = await final_text(bot, progress)
    assert report.startswith("✅ Reindex done"), report
    builder = lock_holder(index)
    assert builder is not None and builder != os.getpid(), "the bot's own process built it"
    # Reported done only once the new build is serving.
    assert OCTOPUS_TITLE in (await bot.ask(USER_ID, USER_ID, OCTOPUS_QUESTION)).text
