"""Runs the real `citebot serve` as a child process against the Bot API emulator.

The reliability tests and bench/soak.py use it to run the bot exactly as in production — its
own process, its own event loop, settings from the environment — and to do to that process what
happens in production: SIGTERM, kill -9, restarts. Each start writes its standard error to a
file of its own, so a test can read what an operator would read (and search it for the token).
Also here: the small corpora those stories index, built in the test process with the session's
loaded model, and the admin's `/reindex` as those stories send it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.config import AppConfig, TelegramConfig
from index.builder import build_index
from index.config import CorpusConfig, IndexConfig, PassageConfig
from index.embedder import Embedder
from index.models import BuildReport
from index.service import CitebotService
from tests.bot_fixtures import ADMIN_ID, BotHarness, bot_story
from tests.index_fixtures import MODEL_CACHE, NEWS_ARTICLES, SHARES_MODEL_CACHE
from tests.telegram_emulator import BotAPIEmulator, SentMessage

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 120.0
# Small passages and chunks: a build of a few articles saves several chunks, so it can be
# caught (killed, paused) in the middle.
SMALL_PASSAGES = {"min_words": 10, "max_words": 20}
CHUNK = 16
TOWNS = ("Tartu", "Narva", "Viljandi", "Rakvere")
DEEDS = ("approved a new playground", "repaired the old bridge", "opened a reading room",
         "funded the river cleanup", "restored the town clock")  # fmt: skip


@dataclass
class BotHome:
    """One bot installation: a corpus folder, its index and a config file, under `root`.

    `config()` is the in-process view of the same settings `env()` gives the child, so an index
    built in the test process is exactly the one the child loads.
    """

    root: Path
    admins: tuple[int, ...] = ()
    passages: dict[str, int] = field(default_factory=dict)
    chunk_size: int | None = None

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def index(self) -> Path:
        return self.root / "index"

    def config(self) -> AppConfig:
        index: dict[str, Any] = {"path": self.index}
        if SHARES_MODEL_CACHE:
            index["model_cache"] = MODEL_CACHE  # one ONNX export for every test bot
        if self.chunk_size:
            index["chunk_size"] = self.chunk_size
        return AppConfig(
            corpus=CorpusConfig(path=self.corpus),
            passages=PassageConfig(**self.passages),
            index=IndexConfig(**index),
            telegram=TelegramConfig(admins=self.admins),
        )

    def env(self, emu: BotAPIEmulator | None = None, **extra: str) -> dict[str, str]:
        """The environment of `citebot serve` against `emu` (or of `citebot index`)."""
        config_file = self.root / "config.yaml"
        if not config_file.exists():
            config_file.write_text("{}\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "TELEGRAM_"))}
        env.update(
            HF_HUB_OFFLINE="1",
            CITEBOT_CONFIG=str(config_file),
            CITEBOT_CORPUS__PATH=str(self.corpus),
            CITEBOT_INDEX__PATH=str(self.index),
            CITEBOT_TELEGRAM__ADMINS=json.dumps(list(self.admins)),
        )
        if emu is not None:
            env.update(
                CITEBOT_TELEGRAM__BASE_URL=emu.base_url,
                CITEBOT_TELEGRAM__BASE_FILE_URL=emu.base_file_url,
                TELEGRAM_BOT_TOKEN=emu.token,
            )
        if SHARES_MODEL_CACHE:
            env["CITEBOT_INDEX__MODEL_CACHE"] = str(MODEL_CACHE)
        if self.chunk_size:
            env["CITEBOT_INDEX__CHUNK_SIZE"] = str(self.chunk_size)
        for key, value in self.passages.items():
            env[f"CITEBOT_PASSAGES__{key.upper()}"] = str(value)
        env.update(extra)
        return env


@dataclass
class ServedBot:
    """A running `citebot serve` process."""

    process: asyncio.subprocess.Process
    stderr_path: Path
    started: float

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory of the process now (VmRSS)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(row for row in status.splitlines() if row.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    async def stop(self, timeout: float = 60) -> float:
        """SIGTERM, as a service manager stops it; returns the seconds until it exited."""
        began = time.monotonic()
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), timeout)
        return time.monotonic() - began

    async def kill(self) -> None:
        """kill -9: no clean-up code runs."""
        if self.running:
            self.process.kill()
        await self.process.wait()


async def start_bot(
    emu: BotAPIEmulator,
    env: dict[str, str],
    stderr_path: Path,
    *args: str,
    prefix: Sequence[str] = (),
) -> ServedBot:
    """Start `citebot [args] serve` and wait until it has registered its commands (it polls
    right after that). Raises if it exits first, with what it printed. `prefix` is a command
    that runs it (tests/small_disk.py's, for one)."""
    emu.world.commands.clear()
    with open(stderr_path, "w", encoding="utf-8") as stderr:
        process = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, "-m", "bot.cli", *args, "serve",
            cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    bot = ServedBot(process, stderr_path, time.monotonic())
    try:
        await emu.wait_until(
            lambda: "default" in emu.commands or not bot.running, timeout=READY_TIMEOUT
        )
    except TimeoutError:
        await bot.kill()
        raise
    if not bot.running:
        raise RuntimeError(f"citebot serve exited with {process.returncode}:\n{bot.stderr()}")
    return bot


async def start_citebot(
    env: dict[str, str], *args: str, preexec_fn: Any = None
) -> asyncio.subprocess.Process:
    """Start `citebot args…` with its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args,
        cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
    )  # fmt: skip


async def run_citebot(
    env: dict[str, str], *args: str, timeout: float = 120, preexec_fn: Any = None
) -> tuple[int, str, str]:
    """Run `citebot args…` to the end; returns (exit code, stdout, stderr)."""
    process = await start_citebot(env, *args, preexec_fn=preexec_fn)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def replies_to(emu: BotAPIEmulator, chat_id: int, message_id: int) -> list[str]:
    """The texts of every bot message sent in reply to one message."""
    return [
        m.text for m in emu.sent if m.chat_id == chat_id and m.reply_to_message_id == message_id
    ]


def write_news(corpus: Path) -> None:
    """The three small news articles of the core tests."""
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in NEWS_ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")


def write_town_notes(corpus: Path, files: int = 2, revision: int = 0) -> None:
    """Articles of short sentences (two by default): with SMALL_PASSAGES, several chunks of
    CHUNK to embed. Another `revision` changes every one of them, so all are embedded again."""
    for number in range(files):
        first_day = 5 * (number // 2)
        lines = [
            f"The council of {town} {deed} on day {day} after {day + 12} residents asked."
            for day in range(first_day, first_day + 5)
            for town in (TOWNS[:2], TOWNS[2:])[number % 2]
            for deed in DEEDS
        ]
        lines += [f"The notes were revised {revision} times."] if revision else []
        text = f"---\ntitle: Town notes {number}\n---\n" + " ".join(lines)
        (corpus / f"town-notes-{number}.md").write_text(text, encoding="utf-8")


def build(home: BotHome, embedder: Embedder, full: bool = False) -> BuildReport:
    """Build the home's index in this process, with an already loaded model."""
    config = home.config()
    return build_index(config.corpus, config.passages, config.index, lambda: embedder, full=full)


def saved_chunks(index_dir: Path) -> set[str]:
    """The chunks of vectors a running (or killed) build has saved."""
    return {path.name for path in (index_dir / "staging").glob("*/chunks/[0-9]*.npy")}


def complete_chunks(index_dir: Path) -> set[str]:
    """The saved chunks a resumed build can use: every model's file is there (the English
    model's, saved last)."""
    return {name for name in saved_chunks(index_dir) if name.count(".") == 1}


async def reindex_until(
    emu: BotAPIEmulator,
    index_dir: Path,
    condition: Callable[[], bool],
    command: str = "/reindex full",
) -> SentMessage:
    """The admin sends /reindex; returns its progress message once `condition` holds."""
    sent = emu.user_sends(ADMIN_ID, ADMIN_ID, command)
    progress = await emu.wait_for_reply(ADMIN_ID, after=sent, timeout=30)
    assert progress.text.startswith("⏳ Reindexing")
    for _ in range(6000):  # 30 s
        if condition():
            return progress
        await asyncio.sleep(0.005)
    raise TimeoutError(f"the build never got there; chunks: {saved_chunks(index_dir)}")


@pytest.fixture
async def library_bot(tmp_path: Path, core_embedder: Embedder) -> AsyncIterator[BotHarness]:
    """The bot in this process over a small library of its own (stories may change it)."""
    home = BotHome(tmp_path, admins=(ADMIN_ID,))
    write_news(home.corpus)
    build(home, core_embedder)
    config = home.config()
    async with bot_story(config, CitebotService.from_config(config)) as harness:
        yield harness
