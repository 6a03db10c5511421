"""Reply latency of the whole bot: question in → reply recorded, through the emulator on loopback.

The bot runs as it does in production, as its own `citebot serve` process (the real
Application, the real index built from a temporary copy of corpus/), long-polling the Bot API
emulator that this process serves on 127.0.0.1. 20 simulated users, each in a private chat,
ask at the same time, in two patterns:

  burst   all users ask at the same instant and wait for every reply; the next burst starts
          once Telegram's flood limit (30 messages a second) allows another 20 replies
  steady  each user asks again as soon as their reply arrives (closed loop): this saturates
          the flood limit, so it shows queueing behind it rather than the bot's own speed

Usage:  HF_HUB_OFFLINE=1 python -m bench.bot_latency [--users 20] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bot_fixtures import copy_corpus
from tests.telegram_emulator import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Why did Roscosmos cover the flags on the rocket at Baikonur?",
    "who will save the ISS from an uncontrolled deorbit?",
    "Why did Russia stop delivering rocket engines to the US?",
    "What did Rogozin demand from OneWeb?",
    "Which country's flag was kept on the rocket?",
    "Did Rogozin share a video of the Russian segment detaching from the ISS?",
    "What were the Z markings on the Soyuz transporter?",
    "How is construction going at the Vostochny cosmodrome launch pads?",
    "What is a good recipe for lemon cake?",
    "Who won the football world cup in 1998?",
]
FIRST_USER = 5001
FLOOD_LIMIT = 30  # messages a second in all: Telegram's limit, which PTB's AIORateLimiter keeps


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


async def ask(emu: BotAPIEmulator, user_id: int, question: str) -> float:
    """One question; seconds from the update being queued to the reply being recorded."""
    sent_at = time.monotonic()
    message = emu.user_sends(user_id, user_id, question)
    reply = await emu.wait_for_reply(user_id, after=message, timeout=60)
    return reply.time - sent_at


async def burst(emu: BotAPIEmulator, users: list[int], rounds: int) -> list[float]:
    latencies: list[float] = []
    for round_number in range(rounds):
        started = time.monotonic()
        asked = [
            ask(emu, user, QUESTIONS[(round_number + index) % len(QUESTIONS)])
            for index, user in enumerate(users)
        ]
        latencies += await asyncio.gather(*asked)
        await asyncio.sleep(max(0.0, len(users) / FLOOD_LIMIT - (time.monotonic() - started)))
    return latencies


async def steady(emu: BotAPIEmulator, users: list[int], per_user: int) -> list[float]:
    async def user_loop(index: int, user: int) -> list[float]:
        return [
            await ask(emu, user, QUESTIONS[(index + n) % len(QUESTIONS)]) for n in range(per_user)
        ]

    results = await asyncio.gather(*(user_loop(i, u) for i, u in enumerate(users)))
    return [latency for result in results for latency in result]


def bot_environment(root: Path, emu: BotAPIEmulator) -> dict[str, str]:
    (root / "config.yaml").write_text("{}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "TELEGRAM_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        CITEBOT_CONFIG=str(root / "config.yaml"),
        CITEBOT_CORPUS__PATH=str(root / "corpus"),
        CITEBOT_INDEX__PATH=str(root / "index"),
        CITEBOT_TELEGRAM__BASE_URL=emu.base_url,
        CITEBOT_TELEGRAM__BASE_FILE_URL=emu.base_file_url,
        CITEBOT_TELEGRAM__ADMINS="[]",
        # One user asking 30 questions a minute would (rightly) be limited; here it is the point.
        CITEBOT_TELEGRAM__USER_QUESTIONS_PER_MINUTE="100000",
        TELEGRAM_BOT_TOKEN=emu.token,
    )
    return env


async def run(root: Path, users: int, rounds: int) -> None:
    emu = BotAPIEmulator()
    await emu.start()
    user_ids = list(range(FIRST_USER, FIRST_USER + users))
    for user in user_ids:
        emu.add_user(user, f"User {user}")
        emu.add_private_chat(user)
    env = bot_environment(root, emu)
    command = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*command, "index"], cwd=ROOT, env=env, check=True, capture_output=True)
    bot = await asyncio.create_subprocess_exec(*command, "serve", cwd=ROOT, env=env)
    rows = []
    try:
        await emu.wait_until(lambda: "default" in emu.commands, timeout=120)
        await burst(emu, user_ids, 2)  # warm-up: model, caches, connections
        for name, pattern in (("burst", burst), ("steady", steady)):
            started = time.monotonic()
            latencies = await pattern(emu, user_ids, rounds)
            rows.append((name, latencies, time.monotonic() - started))
    finally:
        bot.terminate()
        await bot.wait()
        await emu.stop()
    assert not emu.rejections, emu.rejections
    print(
        f"\ncitebot reply latency: {users} users at once, emulator on loopback, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'pattern':<8} {'questions':>9} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'q/s':>6}")
    for name, latencies, elapsed in rows:
        ms = [1000 * latency for latency in latencies]
        print(
            f"{name:<8} {len(ms):>9} {statistics.median(ms):>7.0f} {percentile(ms, 0.95):>7.0f}"
            f" {max(ms):>7.0f} {len(ms) / elapsed:>6.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15, help="questions per user per pattern")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        copy_corpus(root / "corpus")
        asyncio.run(run(root, args.users, args.rounds))


if __name__ == "__main__":
    main()
