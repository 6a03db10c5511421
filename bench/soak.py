"""Soak: 50 users ask 2,000 questions of a real `citebot serve` process through the Bot API
emulator, with an admin's /reindex in the middle and 10 s of Bot API 502s later on.

Questions arrive at a fixed rate (open loop, seeded), in private chats and in groups (as /ask,
an @mention or a reply to the bot), mixed with group chatter that addresses no one; the bot is
an admin in every group, so it sees the chatter and must stay quiet on its own. Reported: lost,
duplicated and unwanted replies (all must be 0), emulator rejections (0), reply latency p50/p95
before, during and after the reindex, during and after the fault, how long the bot took to
recover from the fault, and the bot's resident memory over the run.

Usage:  HF_HUB_OFFLINE=1 python -m bench.soak [--questions 2000] [--users 50] [--rate 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.formatting.notices import GROUP_RATE_LIMITED, RATE_LIMITED
from bot.stats import percentile
from index.service import CitebotService
from tests.bot_fixtures import ADMIN_ID, copy_corpus
from tests.serve_harness import BotHome, ServedBot, start_bot
from tests.telegram_emulator import BotAPIEmulator

QUESTIONS = [
    "Why did Roscosmos cover the flags on the rocket at Baikonur?",
    "who will save the ISS from an uncontrolled deorbit?",
    "Why did Russia stop delivering rocket engines to the US?",
    "What did Rogozin demand from OneWeb?",
    "Which country's flag was kept on the rocket?",
    "What were the Z markings on the Soyuz transporter?",
    "How is construction going at the Vostochny cosmodrome launch pads?",
    "What is a good recipe for lemon cake?",
]
CHATTER = ["morning all", "did anyone see the launch?", "lunch at 1?", "lol", "brb"]
FIRST_USER, FIRST_GROUP = 9001, -1003000000001
USERS_PER_GROUP = 1  # each group well under Telegram's 20 messages a minute there
NORMAL_FACTOR = 1.5  # back to normal: a 1 s window's median within 1.5x the pre-fault p95


@dataclass
class Asked:
    kind: str  # private, ask, mention, reply or chatter
    chat_id: int
    message_id: int
    sent_at: float  # time.monotonic, the emulator's clock too

    @property
    def addressed(self) -> bool:
        return self.kind != "chatter"


@dataclass
class Run:
    asked: list[Asked] = field(default_factory=list)
    reindex: tuple[float, float] = (0.0, 0.0)  # /reindex sent, its report shown
    fault: tuple[float, float] = (0.0, 0.0)  # first and last moment of 502s
    rss: list[tuple[float, int]] = field(default_factory=list)  # (when, bytes)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def plan(questions: int, users: int, seed: int) -> list[tuple[str, int, int, str]]:
    """(kind, chat, user, text) for each message: the questions plus ~10% chatter."""
    rng = random.Random(seed)
    items = []
    for number in range(questions):
        user = FIRST_USER + rng.randrange(users)
        group = FIRST_GROUP - (user - FIRST_USER) // USERS_PER_GROUP
        kind = rng.choices(["private", "ask", "mention", "reply"], [60, 20, 10, 10])[0]
        items.append((kind, user if kind == "private" else group, user, QUESTIONS[number % 8]))
        if rng.random() < 0.1:
            items.append(("chatter", group, user, rng.choice(CHATTER)))
    return items


def send(emu: BotAPIEmulator, kind: str, chat: int, user: int, text: str) -> dict[str, Any]:
    if kind in ("private", "chatter"):
        return emu.user_sends(chat, user, text)
    if kind == "mention":
        return emu.user_sends(chat, user, f"@{emu.bot_username} {text}")
    answers = [m for m in emu.messages_in(chat) if m.reply_markup]
    if kind == "reply" and answers:
        return emu.user_sends(chat, user, text, reply_to_message_id=answers[-1].message_id)
    return emu.user_sends(chat, user, f"/ask {text}")


async def reindex(emu: BotAPIEmulator, run: Run) -> None:
    """The admin's /reindex full; its start and the moment its report is shown."""
    started = time.monotonic()
    sent = emu.user_sends(ADMIN_ID, ADMIN_ID, "/reindex full")
    progress = await emu.wait_for_reply(ADMIN_ID, after=sent, timeout=60)

    def done() -> list[float]:
        ours = [e for e in emu.edits if e.message_id == progress.message_id]
        return [e.time for e in ours if (e.text or "").startswith("✅")]

    await emu.wait_until(lambda: bool(done()), timeout=600)
    run.reindex = (started, done()[0])
    log(f"reindex done in {run.reindex[1] - started:.1f} s")


async def inject_502s(emu: BotAPIEmulator, seconds: float, run: Run) -> None:
    """Every Bot API call (getUpdates too) answers 502 Bad Gateway for `seconds`."""
    started = time.monotonic()
    emu.fail_next("*", count=10**9, status=502)
    await asyncio.sleep(seconds)
    emu.clear_faults()
    run.fault = (started, time.monotonic())


async def sample_rss(bot: ServedBot, run: Run) -> None:
    while bot.running:
        run.rss.append((time.monotonic(), bot.rss_bytes()))
        await asyncio.sleep(1.0)


async def offer(
    emu: BotAPIEmulator, items: list[tuple[str, int, int, str]], rate: float, fault: float, run: Run
) -> None:
    """Send every message on schedule; start the reindex and the fault on the way."""
    background = []
    reindex_at, fault_at = len(items) * 2 // 5, len(items) * 3 // 4
    started = time.monotonic()
    for number, (kind, chat, user, text) in enumerate(items):
        await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
        if number == reindex_at:
            background.append(asyncio.create_task(reindex(emu, run)))
        if number == fault_at:
            log(f"message {number}: the Bot API answers 502 for {fault:.0f} s")
            background.append(asyncio.create_task(inject_502s(emu, fault, run)))
        message = send(emu, kind, chat, user, text)
        run.asked.append(Asked(kind, chat, message["message_id"], time.monotonic()))
        if number % 500 == 0:
            log(f"message {number} of {len(items)}")
    await asyncio.gather(*background)


async def drain(emu: BotAPIEmulator, run: Run, timeout: float) -> None:
    """Wait until every question has its reply (or the timeout)."""
    deadline = time.monotonic() + timeout
    wanted = {(a.chat_id, a.message_id) for a in run.asked if a.addressed}
    while time.monotonic() < deadline and not wanted <= replies(emu).keys():
        await asyncio.sleep(0.5)


def replies(emu: BotAPIEmulator) -> dict[tuple[int, int], list[float]]:
    """Reply times by the (chat, message) they answer."""
    found: dict[tuple[int, int], list[float]] = {}
    for sent in emu.sent:
        if sent.reply_to_message_id is not None:
            found.setdefault((sent.chat_id, sent.reply_to_message_id), []).append(sent.time)
    return found


def row(name: str, latencies: list[float]) -> str:
    ms = sorted(1000 * x for x in latencies)
    if not ms:
        return f"| {name} | 0 | – | – | – |"
    return (
        f"| {name} | {len(ms)} | {statistics.median(ms):.0f} | {percentile(ms, 0.95):.0f} "
        f"| {ms[-1]:.0f} |"
    )


def recovery_seconds(points: list[tuple[float, float]], fault_end: float, normal: float) -> float:
    """From the fault's end to the start of the first 1 s window of questions (asked after the
    end) whose median latency is back within `normal`, and stays so for the next windows."""
    after = [(asked - fault_end, latency) for asked, latency in points if asked >= fault_end]
    windows: dict[int, list[float]] = {}
    for offset, latency in after:
        windows.setdefault(int(offset), []).append(latency)
    keys = sorted(windows)
    for index, key in enumerate(keys):
        if all(statistics.median(windows[k]) <= normal for k in keys[index : index + 5]):
            return float(key)
    return float("nan")


def report(emu: BotAPIEmulator, run: Run, args: argparse.Namespace, wall: float) -> None:
    got = replies(emu)
    addressed = [a for a in run.asked if a.addressed]
    counts = [len(got.get((a.chat_id, a.message_id), [])) for a in addressed]
    for asked, count in zip(addressed, counts, strict=True):
        if count != 1:
            log(f"{count} replies to {asked} (reindex {run.reindex}, fault {run.fault})")
    unwanted = sum(
        len(got.get((a.chat_id, a.message_id), [])) for a in run.asked if not a.addressed
    )
    points = [
        (a.sent_at, got[(a.chat_id, a.message_id)][0] - a.sent_at)
        for a in addressed
        if (a.chat_id, a.message_id) in got
    ]
    (r_start, r_end), (f_start, f_end) = run.reindex, run.fault

    def hit(
        asked: float, latency: float
    ) -> bool:  # asked before the fault ended, answered after it began
        return asked < f_end and asked + latency > f_start

    phases = {
        "before the reindex": [x for t, x in points if t < r_start],
        "during the reindex": [x for t, x in points if r_start <= t < r_end],
        "after the reindex": [x for t, x in points if r_end <= t < f_start and not hit(t, x)],
        "caught by the 502s": [x for t, x in points if r_end <= t and hit(t, x)],
        "after the 502s": [x for t, x in points if t >= f_end],
    }
    before = sorted(phases["before the reindex"])
    normal = NORMAL_FACTOR * percentile(before, 0.95)
    recovered = recovery_seconds(points, f_end, normal)
    in_fault = [got[(a.chat_id, a.message_id)][0] for a in addressed
                if f_start <= a.sent_at < f_end and (a.chat_id, a.message_id) in got]  # fmt: skip
    backlog = max(in_fault, default=f_end) - f_end
    rss_start, rss_end = run.rss[0][1], run.rss[-1][1]
    rss_after = next((b for t, b in run.rss if t >= r_end + 10), rss_end)
    chatter = len(run.asked) - len(addressed)
    print(f"\n### Soak: {len(addressed)} questions from {args.users} users, {chatter} chatter "
          f"messages, {args.rate:g} messages/s offered")  # fmt: skip
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
          f"{wall:.0f} s in all; the reindex (full) took {r_end - r_start:.1f} s\n")  # fmt: skip
    print("| | count |\n|---|---:|")
    print(f"| questions answered exactly once | {counts.count(1)} |")
    print(f"| lost (no reply) | {counts.count(0)} |")
    print(f"| duplicated (more than one reply) | {sum(1 for c in counts if c > 1)} |")
    print(f"| replies to unaddressed chatter | {unwanted} |")
    limited = sum(m.text in (RATE_LIMITED, GROUP_RATE_LIMITED) for m in emu.sent)
    print(f"| rate-limit notices among the replies | {limited} |")
    print(f"| emulator rejections | {len(emu.rejections)} |")
    print(f"| injected 502s | {len(emu.injected_failures)} |")
    print("\n| reply latency | questions | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|")
    for name, latencies in phases.items():
        print(row(name, latencies))
    print("\n| recovery from 10 s of 502s | seconds after the fault ended |\n|---|---:|")
    print(f"| latency back to normal (1 s windows, median ≤ {normal * 1000:.0f} ms) "
          f"| {recovered:.1f} |")  # fmt: skip
    print(f"| last question asked during the fault answered | {backlog:.1f} |")
    print("\n| bot RSS | MB |\n|---|---:|")
    print(f"| start (after warm-up, before any build) | {rss_start / 1e6:.0f} |")
    print(f"| highest (while building) | {max(b for _, b in run.rss) / 1e6:.0f} |")
    print(f"| 10 s after the reindex | {rss_after / 1e6:.0f} |")
    print(f"| end | {rss_end / 1e6:.0f} |")
    print(f"| growth start → end | {100 * (rss_end - rss_start) / rss_start:+.1f}% |")
    print(f"| growth after the reindex → end | {100 * (rss_end - rss_after) / rss_after:+.1f}% |")


async def main_async(root: Path, args: argparse.Namespace) -> None:
    home = BotHome(root, admins=(ADMIN_ID,))
    copy_corpus(home.corpus)
    log("building the index…")
    CitebotService.from_config(home.config()).rebuild()
    emu = BotAPIEmulator()
    await emu.start()
    emu.add_user(ADMIN_ID, "Ada")
    emu.add_private_chat(ADMIN_ID)
    for user in range(FIRST_USER, FIRST_USER + args.users):
        emu.add_user(user, f"User {user}")
        emu.add_private_chat(user)
    for group in range(args.users // USERS_PER_GROUP + 1):
        emu.add_group(FIRST_GROUP - group, f"Group {group}", bot_is_admin=True)
    # Load, not abuse: no per-user limit; groups keep Telegram's (their share stays below it).
    env = home.env(emu, CITEBOT_TELEGRAM__USER_QUESTIONS_PER_MINUTE="100000")
    bot = await start_bot(emu, env, root / "serve.log")
    try:
        for user in range(FIRST_USER, FIRST_USER + 10):  # warm-up: model, caches, connections
            sent = emu.user_sends(user, user, QUESTIONS[user % 8])
            await emu.wait_for_reply(user, after=sent, timeout=60)
        emu.reset_records()
        items = plan(args.questions, args.users, args.seed)
        started = time.monotonic()
        run = Run()
        sampler = asyncio.create_task(sample_rss(bot, run))
        await offer(emu, items, args.rate, args.fault_seconds, run)
        await drain(emu, run, args.drain_timeout)
        await asyncio.sleep(3.0)  # room for late duplicates
        run.rss.append((time.monotonic(), bot.rss_bytes()))
        sampler.cancel()
        wall = time.monotonic() - started
    finally:
        await bot.stop()
        await emu.stop()
    problems = [line for line in bot.stderr().splitlines() if "ERROR" in line or "rror" in line]
    log(f"the bot logged {len(problems)} error lines" + "".join(f"\n  {p}" for p in problems[:20]))
    report(emu, run, args, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=12.0, help="messages offered per second")
    parser.add_argument("--fault-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main_async(Path(folder), args))


if __name__ == "__main__":
    main()
